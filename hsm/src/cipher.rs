//! The block-cipher operations the payment algorithms ask of a key.
//!
//! Every algorithm in this crate is written once over [`KeyOps`], so that the same code runs
//! over a clear [`Key`] in memory (the software back end, sandbox tools, tests) and over a key
//! that never leaves a PKCS#11 token (`pkcs11::TokenKey`). A back end only supplies ECB on
//! whole blocks and, for the DES family, single DES under each half of a double-length key
//! (ISO 9797-1 MAC algorithm 3 and the CVV chain single-DES with K1 and K2 alone).

use aes::{Aes128, Aes192, Aes256};
use des::cipher::{BlockCipherDecrypt, BlockCipherEncrypt, KeyInit};
use des::{Des, TdesEde2, TdesEde3};

use crate::error::HsmError;
use crate::secret::{Key, KeyKind};

/// What the algorithms need from a key. Implementations must not expose key material.
pub trait KeyOps {
    /// The key's algorithm and length.
    fn kind(&self) -> KeyKind;
    /// ECB-encrypt `data` in place with the whole key (TDES EDE, DES or AES); `data` is a
    /// whole number of blocks.
    fn encrypt(&self, data: &mut [u8]) -> Result<(), HsmError>;
    /// ECB-decrypt `data` in place with the whole key.
    fn decrypt(&self, data: &mut [u8]) -> Result<(), HsmError>;
    /// DES family: single-DES ECB-encrypt one block under K1 (the left half).
    fn encrypt_k1(&self, block: &mut [u8; 8]) -> Result<(), HsmError>;
    /// DES family: single-DES ECB-decrypt one block under K2 (the second key; K1 for a
    /// single-length key).
    fn decrypt_k2(&self, block: &mut [u8; 8]) -> Result<(), HsmError>;
    /// DES family: single-DES CBC-MAC under K1 with a zero IV over whole blocks, returning
    /// the last ciphertext block. The default chains [`KeyOps::encrypt_k1`]; a token back end
    /// overrides it with one CBC call.
    fn cbc_mac_k1(&self, data: &[u8]) -> Result<[u8; 8], HsmError> {
        let mut chain = [0u8; 8];
        for block in data.chunks(8) {
            for (c, d) in chain.iter_mut().zip(block) {
                *c ^= d;
            }
            self.encrypt_k1(&mut chain)?;
        }
        Ok(chain)
    }
}

pub(crate) fn require_des(kind: KeyKind, reason: &'static str) -> Result<(), HsmError> {
    if kind.is_aes() {
        return Err(HsmError::KeyUse {
            name: String::new(),
            reason,
        });
    }
    Ok(())
}

fn check_blocks(data: &[u8], block: usize) -> Result<(), HsmError> {
    if !data.len().is_multiple_of(block) {
        return Err(HsmError::input(
            "cipher input",
            "not a whole number of blocks",
        ));
    }
    Ok(())
}

/// The bytes of K2 (single DES); K1 for a single-length key.
fn k2(key: &Key) -> &[u8] {
    let b = key.bytes();
    if b.len() >= 16 {
        &b[8..16]
    } else {
        &b[..8]
    }
}

macro_rules! ecb {
    ($cipher:ty, $key:expr, $data:expr, $bs:expr, $op:ident) => {{
        let c = <$cipher>::new_from_slice($key)
            .map_err(|_| HsmError::input("key", "wrong length for its algorithm"))?;
        for chunk in $data.chunks_exact_mut($bs) {
            c.$op(chunk.try_into().expect("chunk of block size"));
        }
    }};
}

impl Key {
    fn ecb(&self, data: &mut [u8], encrypt: bool) -> Result<(), HsmError> {
        let bs = self.kind().block_len();
        check_blocks(data, bs)?;
        let k = self.bytes();
        match (self.kind(), encrypt) {
            (KeyKind::Des, true) => ecb!(Des, k, data, 8, encrypt_block),
            (KeyKind::Des, false) => ecb!(Des, k, data, 8, decrypt_block),
            (KeyKind::Tdes2, true) => ecb!(TdesEde2, k, data, 8, encrypt_block),
            (KeyKind::Tdes2, false) => ecb!(TdesEde2, k, data, 8, decrypt_block),
            (KeyKind::Tdes3, true) => ecb!(TdesEde3, k, data, 8, encrypt_block),
            (KeyKind::Tdes3, false) => ecb!(TdesEde3, k, data, 8, decrypt_block),
            (KeyKind::Aes128, true) => ecb!(Aes128, k, data, 16, encrypt_block),
            (KeyKind::Aes128, false) => ecb!(Aes128, k, data, 16, decrypt_block),
            (KeyKind::Aes192, true) => ecb!(Aes192, k, data, 16, encrypt_block),
            (KeyKind::Aes192, false) => ecb!(Aes192, k, data, 16, decrypt_block),
            (KeyKind::Aes256, true) => ecb!(Aes256, k, data, 16, encrypt_block),
            (KeyKind::Aes256, false) => ecb!(Aes256, k, data, 16, decrypt_block),
        }
        Ok(())
    }
}

impl KeyOps for Key {
    fn kind(&self) -> KeyKind {
        Key::kind(self)
    }
    fn encrypt(&self, data: &mut [u8]) -> Result<(), HsmError> {
        self.ecb(data, true)
    }
    fn decrypt(&self, data: &mut [u8]) -> Result<(), HsmError> {
        self.ecb(data, false)
    }
    fn encrypt_k1(&self, block: &mut [u8; 8]) -> Result<(), HsmError> {
        require_des(self.kind(), "single DES needs a DES-family key")?;
        ecb!(Des, &self.bytes()[..8], block, 8, encrypt_block);
        Ok(())
    }
    fn decrypt_k2(&self, block: &mut [u8; 8]) -> Result<(), HsmError> {
        require_des(self.kind(), "single DES needs a DES-family key")?;
        ecb!(Des, k2(self), block, 8, decrypt_block);
        Ok(())
    }
    fn cbc_mac_k1(&self, data: &[u8]) -> Result<[u8; 8], HsmError> {
        require_des(self.kind(), "single DES needs a DES-family key")?;
        check_blocks(data, 8)?;
        // One key schedule for the whole chain (the default would build one per block).
        let c = Des::new_from_slice(&self.bytes()[..8])
            .map_err(|_| HsmError::input("key", "wrong length for its algorithm"))?;
        let mut chain = [0u8; 8];
        for block in data.chunks_exact(8) {
            for (x, d) in chain.iter_mut().zip(block) {
                *x ^= d;
            }
            c.encrypt_block((&mut chain).into());
        }
        Ok(chain)
    }
}

/// Encrypt one 8-byte block with the whole key (TDES EDE for double/triple length).
pub(crate) fn encrypt8(key: &dyn KeyOps, block: &mut [u8; 8]) -> Result<(), HsmError> {
    require_des(key.kind(), "this algorithm needs a DES-family key")?;
    key.encrypt(block)
}

/// Adjust each byte to odd parity (the DES key-parity convention; EMV option A asks for it).
pub fn adjust_parity(bytes: &mut [u8]) {
    for b in bytes {
        let ones = (*b & 0xFE).count_ones();
        *b = (*b & 0xFE) | u8::from(ones % 2 == 0);
    }
}

/// `KeyOps` of a reference or a shared pointer to a key: every operation the key's own.
macro_rules! delegate_key_ops {
    ($($header:tt)*) => {
        $($header)* {
            fn kind(&self) -> KeyKind {
                (**self).kind()
            }
            fn encrypt(&self, data: &mut [u8]) -> Result<(), HsmError> {
                (**self).encrypt(data)
            }
            fn decrypt(&self, data: &mut [u8]) -> Result<(), HsmError> {
                (**self).decrypt(data)
            }
            fn encrypt_k1(&self, block: &mut [u8; 8]) -> Result<(), HsmError> {
                (**self).encrypt_k1(block)
            }
            fn decrypt_k2(&self, block: &mut [u8; 8]) -> Result<(), HsmError> {
                (**self).decrypt_k2(block)
            }
            fn cbc_mac_k1(&self, data: &[u8]) -> Result<[u8; 8], HsmError> {
                (**self).cbc_mac_k1(data)
            }
        }
    };
}
delegate_key_ops!(impl<T: KeyOps + ?Sized> KeyOps for &T);
delegate_key_ops!(impl<T: KeyOps + ?Sized> KeyOps for std::sync::Arc<T>);

/// A key's cipher instances, built once (the software back end keeps one per loaded key): a
/// TDES key schedule costs more than the block it encrypts. Wiped on drop (the `des` and
/// `aes` crates' `zeroize` features).
pub(crate) enum Schedule {
    Des(Des),
    Tdes2 { full: TdesEde2, k1: Des, k2: Des },
    Tdes3 { full: TdesEde3, k1: Des, k2: Des },
    Aes128(Aes128),
    Aes192(Aes192),
    Aes256(Aes256),
}

impl Schedule {
    pub(crate) fn new(key: &Key) -> Result<Schedule, HsmError> {
        let b = key.bytes();
        let bad = |_| HsmError::input("key", "wrong length for its algorithm");
        let des = |k: &[u8]| Des::new_from_slice(k).map_err(bad);
        Ok(match key.kind() {
            KeyKind::Des => Schedule::Des(des(b)?),
            KeyKind::Tdes2 => Schedule::Tdes2 {
                full: TdesEde2::new_from_slice(b).map_err(bad)?,
                k1: des(&b[..8])?,
                k2: des(&b[8..16])?,
            },
            KeyKind::Tdes3 => Schedule::Tdes3 {
                full: TdesEde3::new_from_slice(b).map_err(bad)?,
                k1: des(&b[..8])?,
                k2: des(&b[8..16])?,
            },
            KeyKind::Aes128 => Schedule::Aes128(Aes128::new_from_slice(b).map_err(bad)?),
            KeyKind::Aes192 => Schedule::Aes192(Aes192::new_from_slice(b).map_err(bad)?),
            KeyKind::Aes256 => Schedule::Aes256(Aes256::new_from_slice(b).map_err(bad)?),
        })
    }

    fn singles(&self) -> Result<(&Des, &Des), HsmError> {
        match self {
            Schedule::Des(d) => Ok((d, d)),
            Schedule::Tdes2 { k1, k2, .. } | Schedule::Tdes3 { k1, k2, .. } => Ok((k1, k2)),
            _ => Err(HsmError::KeyUse {
                name: String::new(),
                reason: "single DES needs a DES-family key",
            }),
        }
    }

    fn ecb(&self, data: &mut [u8], encrypt: bool) -> Result<(), HsmError> {
        check_blocks(data, KeyOps::kind(self).block_len())?;
        macro_rules! run {
            ($c:expr, $bs:expr) => {
                for chunk in data.chunks_exact_mut($bs) {
                    let block = chunk.try_into().expect("chunk of block size");
                    if encrypt {
                        $c.encrypt_block(block)
                    } else {
                        $c.decrypt_block(block)
                    }
                }
            };
        }
        match self {
            Schedule::Des(c) => run!(c, 8),
            Schedule::Tdes2 { full, .. } => run!(full, 8),
            Schedule::Tdes3 { full, .. } => run!(full, 8),
            Schedule::Aes128(c) => run!(c, 16),
            Schedule::Aes192(c) => run!(c, 16),
            Schedule::Aes256(c) => run!(c, 16),
        }
        Ok(())
    }
}

impl KeyOps for Schedule {
    fn kind(&self) -> KeyKind {
        match self {
            Schedule::Des(_) => KeyKind::Des,
            Schedule::Tdes2 { .. } => KeyKind::Tdes2,
            Schedule::Tdes3 { .. } => KeyKind::Tdes3,
            Schedule::Aes128(_) => KeyKind::Aes128,
            Schedule::Aes192(_) => KeyKind::Aes192,
            Schedule::Aes256(_) => KeyKind::Aes256,
        }
    }
    fn encrypt(&self, data: &mut [u8]) -> Result<(), HsmError> {
        self.ecb(data, true)
    }
    fn decrypt(&self, data: &mut [u8]) -> Result<(), HsmError> {
        self.ecb(data, false)
    }
    fn encrypt_k1(&self, block: &mut [u8; 8]) -> Result<(), HsmError> {
        self.singles()?.0.encrypt_block(block.into());
        Ok(())
    }
    fn decrypt_k2(&self, block: &mut [u8; 8]) -> Result<(), HsmError> {
        self.singles()?.1.decrypt_block(block.into());
        Ok(())
    }
    fn cbc_mac_k1(&self, data: &[u8]) -> Result<[u8; 8], HsmError> {
        check_blocks(data, 8)?;
        let k1 = self.singles()?.0;
        let mut chain = [0u8; 8];
        for block in data.chunks_exact(8) {
            chain.iter_mut().zip(block).for_each(|(x, d)| *x ^= d);
            k1.encrypt_block((&mut chain).into());
        }
        Ok(chain)
    }
}
