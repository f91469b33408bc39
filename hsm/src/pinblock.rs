//! ISO 9564-1 PIN blocks: formats 0, 1 and 3 (8 bytes, for TDES) and format 4 (16 bytes, AES).
//!
//! From ISO 9564-1:2017 (9.3) and its public descriptions:
//!
//! - Every format starts with the control field C (the format number) and the PIN length N
//!   (4..=12), followed by the N PIN digits.
//! - **Format 0**: the plain text PIN field `0 N P..P F..F` is XORed with the account field
//!   `0000` + the 12 rightmost PAN digits excluding the check digit.
//! - **Format 1**: `1 N P..P` and fill of transaction-unique (here random) digits 0..F; no PAN.
//! - **Format 3**: as format 0, but the fill digits are random in A..F.
//! - **Format 4**: the 16-byte PIN field `4 N P..P A..A` (fill A up to nibble 16) then 8
//!   random bytes; the 16-byte PAN field `M` (PAN length - 12, 0 when shorter) + the whole PAN
//!   (left-padded with 0 to 12 digits) + 0s. Encipherment: `E(K, E(K, PIN field) XOR PAN
//!   field)`; decipherment reverses it. The fields are never XORed before the first
//!   encryption, which is what binds the PIN to the PAN under AES.
//!
//! Decoding checks C, N, the digits and the fill (F for 0, A..F for 3, A for 4's first half)
//! and says which check failed ([`PinBlockError`]) without showing any digit. Format 1 has no
//! fill to check, so a format 1 block decrypted under the wrong key is recognised as garbage
//! only when its control, length or digit checks fail (most of the time, not always).

use crate::cipher::KeyOps;
use crate::digits::{nibbles, pan_digits, rightmost_excluding_check};
use crate::error::{HsmError, PinBlockError};
use crate::secret::ClearPin;

/// An ISO 9564-1 PIN block format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PinBlockFormat {
    /// Format 0 (ANSI X9.8): PIN XOR PAN, fill F. 8 bytes.
    Iso0,
    /// Format 1: PIN and random fill, no PAN. 8 bytes.
    Iso1,
    /// Format 3: PIN XOR PAN, random fill A..F. 8 bytes.
    Iso3,
    /// Format 4: AES, 16 bytes, PIN and PAN fields enciphered in two steps.
    Iso4,
}

impl PinBlockFormat {
    /// The control field value (0, 1, 3, 4).
    pub fn control(self) -> u8 {
        match self {
            PinBlockFormat::Iso0 => 0,
            PinBlockFormat::Iso1 => 1,
            PinBlockFormat::Iso3 => 3,
            PinBlockFormat::Iso4 => 4,
        }
    }
    /// The format with that control field.
    pub fn from_control(c: u8) -> Option<Self> {
        match c {
            0 => Some(PinBlockFormat::Iso0),
            1 => Some(PinBlockFormat::Iso1),
            3 => Some(PinBlockFormat::Iso3),
            4 => Some(PinBlockFormat::Iso4),
            _ => None,
        }
    }
    /// Block length in bytes: 8, or 16 for format 4.
    pub fn len(self) -> usize {
        if self == PinBlockFormat::Iso4 {
            16
        } else {
            8
        }
    }
    /// Never true; for clippy's `len_without_is_empty`.
    pub fn is_empty(self) -> bool {
        false
    }
    /// Whether the format binds the PAN (all but format 1).
    pub fn uses_pan(self) -> bool {
        self != PinBlockFormat::Iso1
    }
}

impl std::str::FromStr for PinBlockFormat {
    type Err = HsmError;
    /// "0", "1", "3", "4", also "iso0" .. "iso4".
    fn from_str(s: &str) -> Result<Self, HsmError> {
        let d = s.trim().trim_start_matches("iso").trim_start_matches("ISO");
        d.parse::<u8>()
            .ok()
            .and_then(PinBlockFormat::from_control)
            .ok_or(HsmError::input("PIN block format", "expected 0, 1, 3 or 4"))
    }
}

/// A clear (decrypted or not yet encrypted) PIN block: wiped on drop; `Debug` shows only its
/// length.
pub struct ClearBlock(zeroize::Zeroizing<Vec<u8>>);

impl ClearBlock {
    fn new(bytes: Vec<u8>) -> ClearBlock {
        ClearBlock(zeroize::Zeroizing::new(bytes))
    }
}

impl std::ops::Deref for ClearBlock {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.0
    }
}

impl std::ops::DerefMut for ClearBlock {
    fn deref_mut(&mut self) -> &mut [u8] {
        &mut self.0
    }
}

impl std::fmt::Debug for ClearBlock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ClearBlock({} bytes)", self.0.len())
    }
}

/// Account field of formats 0 and 3: `0000` + 12 rightmost PAN digits excluding the check digit.
pub fn account_field(pan: &str) -> Result<[u8; 8], HsmError> {
    let mut text = b"0000".to_vec();
    text.extend(rightmost_excluding_check(pan, 12)?);
    let mut out = [0u8; 8];
    crate::digits::pack(&text, &mut out);
    Ok(out)
}

/// PAN field of format 4: M = PAN length - 12 (0 for shorter PANs), the PAN left-padded to 12
/// digits, then zeros to 32 nibbles.
pub fn pan_field_iso4(pan: &str) -> Result<[u8; 16], HsmError> {
    let d = pan_digits(pan)?;
    let m = d.len().saturating_sub(12) as u8;
    let mut text = vec![b'0' + m];
    text.extend(std::iter::repeat_n(b'0', 12usize.saturating_sub(d.len())));
    text.extend_from_slice(d);
    text.resize(32, b'0');
    let mut out = [0u8; 16];
    crate::digits::pack(&text, &mut out);
    Ok(out)
}

fn set_nibble(block: &mut [u8], i: usize, v: u8) {
    let b = &mut block[i / 2];
    if i.is_multiple_of(2) {
        *b = (*b & 0x0F) | (v << 4);
    } else {
        *b = (*b & 0xF0) | (v & 0x0F);
    }
}

fn nibble_at(block: &[u8], i: usize) -> u8 {
    let b = block[i / 2];
    if i.is_multiple_of(2) {
        b >> 4
    } else {
        b & 0x0F
    }
}

/// The clear PIN block of `format` for `pin` (and `pan` for formats 0, 3 and 4), taking the
/// random fill from `fill` (16 bytes; each byte supplies one nibble where the format wants
/// random digits). For format 4 this is the plain PIN *field*; [`encipher_iso4`] binds the PAN.
pub fn encode_with_fill(
    format: PinBlockFormat,
    pin: &ClearPin,
    pan: &str,
    fill: &[u8; 16],
) -> Result<ClearBlock, HsmError> {
    let mut block = ClearBlock::new(vec![0u8; format.len()]);
    let n = pin.len();
    set_nibble(&mut block, 0, format.control());
    set_nibble(&mut block, 1, n as u8);
    for (i, d) in pin.digits().iter().enumerate() {
        set_nibble(&mut block, 2 + i, *d);
    }
    for (i, random) in fill.iter().enumerate().take(16).skip(2 + n) {
        let f = match format {
            PinBlockFormat::Iso0 => 0xF,
            PinBlockFormat::Iso1 => random & 0x0F,
            PinBlockFormat::Iso3 => 0xA + (random % 6),
            PinBlockFormat::Iso4 => 0xA,
        };
        set_nibble(&mut block, i, f);
    }
    match format {
        PinBlockFormat::Iso0 | PinBlockFormat::Iso3 => {
            let acct = account_field(pan)?;
            block.iter_mut().zip(acct).for_each(|(b, a)| *b ^= a);
        }
        PinBlockFormat::Iso1 => {}
        PinBlockFormat::Iso4 => block[8..].copy_from_slice(&fill[..8]),
    }
    Ok(block)
}

/// As [`encode_with_fill`] with fill from the operating system's random generator.
pub fn encode(format: PinBlockFormat, pin: &ClearPin, pan: &str) -> Result<ClearBlock, HsmError> {
    let mut fill = zeroize::Zeroizing::new([0u8; 16]);
    rand::fill(&mut fill[..]);
    encode_with_fill(format, pin, pan, &fill)
}

/// Decodes a clear PIN block (for format 4, the clear PIN *field* that [`decipher_iso4`]
/// returns), checking the control field, the length, the digits and the fill.
pub fn decode(format: PinBlockFormat, block: &[u8], pan: &str) -> Result<ClearPin, HsmError> {
    if block.len() != format.len() {
        return Err(PinBlockError::Length.into());
    }
    let mut clear = ClearBlock::new(block.to_vec());
    if matches!(format, PinBlockFormat::Iso0 | PinBlockFormat::Iso3) {
        let acct = account_field(pan)?;
        clear.iter_mut().zip(acct).for_each(|(b, a)| *b ^= a);
    }
    decode_field(format, &clear[..8]).map_err(HsmError::from)
}

/// Checks the first 8 bytes of a clear PIN field (PAN already removed).
fn decode_field(format: PinBlockFormat, field: &[u8]) -> Result<ClearPin, PinBlockError> {
    if nibble_at(field, 0) != format.control() {
        return Err(PinBlockError::ControlField);
    }
    let n = nibble_at(field, 1) as usize;
    if !(4..=12).contains(&n) {
        return Err(PinBlockError::PinLength);
    }
    let mut digits = zeroize::Zeroizing::new([0u8; 12]);
    for (i, d) in digits.iter_mut().enumerate().take(n) {
        *d = nibble_at(field, 2 + i);
        if *d > 9 {
            return Err(PinBlockError::PinDigit);
        }
    }
    let fill_ok = |f: u8| match format {
        PinBlockFormat::Iso0 => f == 0xF,
        PinBlockFormat::Iso1 => true,
        PinBlockFormat::Iso3 => f >= 0xA,
        PinBlockFormat::Iso4 => f == 0xA,
    };
    if !(2 + n..16).all(|i| fill_ok(nibble_at(field, i))) {
        return Err(PinBlockError::Filler);
    }
    Ok(ClearPin::from_digits(&digits[..n]))
}

/// Format 4 encipherment (ISO 9564-1:2017 9.4.2): `E(K, E(K, PIN field) XOR PAN field)`.
pub fn encipher_iso4(key: &dyn KeyOps, pin_field: &[u8], pan: &str) -> Result<[u8; 16], HsmError> {
    require_aes(key)?;
    if pin_field.len() != 16 {
        return Err(PinBlockError::Length.into());
    }
    let mut b = [0u8; 16];
    b.copy_from_slice(pin_field);
    key.encrypt(&mut b)?;
    b.iter_mut()
        .zip(pan_field_iso4(pan)?)
        .for_each(|(x, p)| *x ^= p);
    key.encrypt(&mut b)?;
    Ok(b)
}

/// Format 4 decipherment: `D(K, D(K, block) XOR PAN field)`, the clear PIN field.
pub fn decipher_iso4(key: &dyn KeyOps, block: &[u8], pan: &str) -> Result<ClearBlock, HsmError> {
    require_aes(key)?;
    if block.len() != 16 {
        return Err(PinBlockError::Length.into());
    }
    let mut b = ClearBlock::new(block.to_vec());
    key.decrypt(&mut b)?;
    b.iter_mut()
        .zip(pan_field_iso4(pan)?)
        .for_each(|(x, p)| *x ^= p);
    key.decrypt(&mut b)?;
    Ok(b)
}

fn require_aes(key: &dyn KeyOps) -> Result<(), HsmError> {
    if !key.kind().is_aes() {
        return Err(HsmError::KeyUse {
            name: String::new(),
            reason: "ISO 9564 format 4 needs an AES key",
        });
    }
    Ok(())
}

fn require_des_zpk(key: &dyn KeyOps) -> Result<(), HsmError> {
    if key.kind().is_aes() {
        return Err(HsmError::KeyUse {
            name: String::new(),
            reason: "ISO 9564 formats 0, 1 and 3 need a DES-family key",
        });
    }
    Ok(())
}

/// Encrypts a PIN into a block of `format` under `zpk` (TDES for 0, 1, 3; AES for 4).
pub fn encrypt_pin(
    zpk: &dyn KeyOps,
    format: PinBlockFormat,
    pin: &ClearPin,
    pan: &str,
) -> Result<Vec<u8>, HsmError> {
    let clear = encode(format, pin, pan)?;
    if format == PinBlockFormat::Iso4 {
        return Ok(encipher_iso4(zpk, &clear, pan)?.to_vec());
    }
    require_des_zpk(zpk)?;
    let mut out = clear.to_vec();
    zpk.encrypt(&mut out)?;
    Ok(out)
}

/// Decrypts a PIN block of `format` under `zpk` and decodes it. `Ok(Err(_))` is a block that
/// decrypted to something that is not a valid PIN block of that format (wrong key, wrong
/// format, garbage): a different answer from a valid block holding a wrong PIN.
pub fn decrypt_pin(
    zpk: &dyn KeyOps,
    format: PinBlockFormat,
    block: &[u8],
    pan: &str,
) -> Result<Result<ClearPin, PinBlockError>, HsmError> {
    if block.len() != format.len() {
        return Err(HsmError::input("PIN block", "wrong length for its format"));
    }
    if format.uses_pan() {
        pan_digits(pan)?;
    }
    if format == PinBlockFormat::Iso4 {
        let field = decipher_iso4(zpk, block, pan)?;
        return Ok(decode_field(format, &field[..8]));
    }
    require_des_zpk(zpk)?;
    let mut clear = ClearBlock::new(block.to_vec());
    zpk.decrypt(&mut clear)?;
    match decode(format, &clear, pan) {
        Ok(pin) => Ok(Ok(pin)),
        Err(HsmError::PinBlock(e)) => Ok(Err(e)),
        Err(e) => Err(e),
    }
}

/// The nibbles of a block, for tests and the fuzz checks.
#[doc(hidden)]
pub fn block_nibbles(block: &[u8]) -> Vec<u8> {
    nibbles(block).collect()
}
