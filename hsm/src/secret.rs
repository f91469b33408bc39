//! Secret values and key names: clear keys and clear PINs live only in these types, which
//! wipe their memory on drop (`zeroize`) and whose `Debug` shows nothing secret.

use std::fmt;
use std::sync::Arc;

use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::error::HsmError;

/// The name a key is known by (`zpk`, `pvk`, `cvk`, `imk_ac`, `mak`, or any name a
/// configuration gives), optionally pinned to one version (`KeyName::new("cvk").at_version(1)`,
/// shown as `cvk@1`). Without a version, verification tries the current key, then the previous
/// one still loaded (see the crate docs, "Key versions"); generation uses the current key.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyName {
    name: Arc<str>,
    version: Option<u32>,
}

impl KeyName {
    /// A key name (any non-empty text; names are not secret).
    pub fn new(name: &str) -> Self {
        KeyName {
            name: Arc::from(name),
            version: None,
        }
    }
    /// The same name pinned to `version`.
    pub fn at_version(&self, version: u32) -> Self {
        KeyName {
            name: self.name.clone(),
            version: Some(version),
        }
    }
    /// The name without a version.
    pub fn as_str(&self) -> &str {
        &self.name
    }
    /// The pinned version, if any.
    pub fn version(&self) -> Option<u32> {
        self.version
    }
}

impl From<&str> for KeyName {
    fn from(s: &str) -> Self {
        KeyName::new(s)
    }
}

impl fmt::Display for KeyName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.version {
            Some(v) => write!(f, "{}@{v}", self.name),
            None => f.write_str(&self.name),
        }
    }
}

impl fmt::Debug for KeyName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyName({self})")
    }
}

/// The algorithm and length of a key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeyKind {
    /// Single-length DES (8 bytes): legacy; the PVV, CVV and EMV algorithms need double length.
    Des,
    /// Double-length TDES, K1 || K2 (16 bytes): the payment industry's usual key.
    Tdes2,
    /// Triple-length TDES, K1 || K2 || K3 (24 bytes).
    Tdes3,
    /// AES-128.
    Aes128,
    /// AES-192.
    Aes192,
    /// AES-256.
    Aes256,
}

impl KeyKind {
    /// Length of the key in bytes.
    #[allow(clippy::len_without_is_empty)] // a key kind is never empty
    pub fn len(self) -> usize {
        match self {
            KeyKind::Des => 8,
            KeyKind::Tdes2 | KeyKind::Aes128 => 16,
            KeyKind::Tdes3 | KeyKind::Aes192 => 24,
            KeyKind::Aes256 => 32,
        }
    }
    /// Cipher block length in bytes (8 for DES/TDES, 16 for AES).
    pub fn block_len(self) -> usize {
        if self.is_aes() {
            16
        } else {
            8
        }
    }
    /// Whether this is an AES key.
    pub fn is_aes(self) -> bool {
        matches!(self, KeyKind::Aes128 | KeyKind::Aes192 | KeyKind::Aes256)
    }
    /// The DES-family kind for a key length (8, 16, 24).
    pub fn des_for_len(len: usize) -> Option<KeyKind> {
        match len {
            8 => Some(KeyKind::Des),
            16 => Some(KeyKind::Tdes2),
            24 => Some(KeyKind::Tdes3),
            _ => None,
        }
    }
    /// The AES kind for a key length (16, 24, 32).
    pub fn aes_for_len(len: usize) -> Option<KeyKind> {
        match len {
            16 => Some(KeyKind::Aes128),
            24 => Some(KeyKind::Aes192),
            32 => Some(KeyKind::Aes256),
            _ => None,
        }
    }
    /// Short name for messages and listings ("tdes2", "aes128", ...).
    pub fn name(self) -> &'static str {
        match self {
            KeyKind::Des => "des",
            KeyKind::Tdes2 => "tdes2",
            KeyKind::Tdes3 => "tdes3",
            KeyKind::Aes128 => "aes128",
            KeyKind::Aes192 => "aes192",
            KeyKind::Aes256 => "aes256",
        }
    }
}

/// A clear key in memory (software back end, sandbox tools and tests). Wiped on drop;
/// `Debug` shows its kind only.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct Key {
    bytes: [u8; 32],
    #[zeroize(skip)]
    kind: KeyKind,
}

impl Key {
    /// A key of `kind` from its bytes (length must match the kind).
    pub fn new(kind: KeyKind, bytes: &[u8]) -> Result<Key, HsmError> {
        if bytes.len() != kind.len() {
            return Err(HsmError::input("key", "length does not match the key kind"));
        }
        let mut k = Key {
            bytes: [0; 32],
            kind,
        };
        k.bytes[..bytes.len()].copy_from_slice(bytes);
        Ok(k)
    }
    /// A DES-family key (8, 16 or 24 bytes).
    pub fn des(bytes: &[u8]) -> Result<Key, HsmError> {
        let kind = KeyKind::des_for_len(bytes.len())
            .ok_or_else(|| HsmError::input("key", "a DES key has 8, 16 or 24 bytes"))?;
        Key::new(kind, bytes)
    }
    /// An AES key (16, 24 or 32 bytes).
    pub fn aes(bytes: &[u8]) -> Result<Key, HsmError> {
        let kind = KeyKind::aes_for_len(bytes.len())
            .ok_or_else(|| HsmError::input("key", "an AES key has 16, 24 or 32 bytes"))?;
        Key::new(kind, bytes)
    }
    /// A key from hex text (DES family unless `aes`); the text is not echoed in errors.
    pub fn from_hex(hex_text: &str, aes: bool) -> Result<Key, HsmError> {
        let mut raw =
            hex::decode(hex_text.trim()).map_err(|_| HsmError::input("key", "not hexadecimal"))?;
        let key = if aes { Key::aes(&raw) } else { Key::des(&raw) };
        raw.zeroize();
        key
    }
    /// The key's kind.
    pub fn kind(&self) -> KeyKind {
        self.kind
    }
    /// The key bytes. Crate-internal callers and the PKCS#11 import tool only.
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.bytes[..self.kind.len()]
    }
    /// The key bytes, for test set-up tools that must hand a clear key to a token (the
    /// PKCS#11 import). Nothing in the authorization path calls this.
    pub fn expose_for_import(&self) -> &[u8] {
        self.bytes()
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Key({}, ..)", self.kind.name())
    }
}

/// A clear PIN (4 to 12 decimal digits). Wiped on drop; `Debug` shows nothing of it.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct ClearPin {
    digits: [u8; 12],
    len: u8,
}

impl ClearPin {
    /// A PIN from its digits as text ("1234").
    pub fn new(pin: &str) -> Result<ClearPin, HsmError> {
        let b = pin.as_bytes();
        if !(4..=12).contains(&b.len()) {
            return Err(HsmError::input("PIN", "must have 4 to 12 digits"));
        }
        let mut p = ClearPin {
            digits: [0; 12],
            len: b.len() as u8,
        };
        for (i, c) in b.iter().enumerate() {
            if !c.is_ascii_digit() {
                return Err(HsmError::input("PIN", "must be decimal digits"));
            }
            p.digits[i] = c - b'0';
        }
        Ok(p)
    }
    /// From digit values 0..=9 (crate-internal: PIN block decoding).
    pub(crate) fn from_digits(d: &[u8]) -> ClearPin {
        let mut p = ClearPin {
            digits: [0; 12],
            len: d.len() as u8,
        };
        p.digits[..d.len()].copy_from_slice(d);
        p
    }
    /// Digit values 0..=9.
    pub(crate) fn digits(&self) -> &[u8] {
        &self.digits[..self.len as usize]
    }
    /// Number of digits.
    pub fn len(&self) -> usize {
        self.len as usize
    }
    /// Always false (a PIN has at least 4 digits); for clippy's `len_without_is_empty`.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl fmt::Debug for ClearPin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClearPin(..)")
    }
}

impl PartialEq for ClearPin {
    fn eq(&self, other: &Self) -> bool {
        use subtle::ConstantTimeEq;
        self.len == other.len && bool::from(self.digits.ct_eq(&other.digits))
    }
}
