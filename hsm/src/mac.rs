//! ISO/IEC 9797-1 MACs with a 64-bit block cipher: algorithm 1 (CBC-MAC) and algorithm 3
//! (the "retail MAC", ANSI X9.19), padding methods 1 and 2.
//!
//! - Padding method 1: append 0x00 bytes to a whole number of blocks (nothing if already
//!   whole; one block of zeros for empty data).
//! - Padding method 2: append 0x80, then 0x00 bytes to a whole number of blocks.
//! - Algorithm 1: CBC encryption with zero IV under the whole key (DES or TDES); the MAC is
//!   the last block.
//! - Algorithm 3: CBC with single DES under K (= K1) over all blocks, then the last block is
//!   decrypted under K' (= K2) and encrypted under K again. Needs a double-length key.
//!
//! DE 64/128 (DESIGN.md "Card security") use algorithm 3 with padding method 1.

use crate::cipher::KeyOps;
use crate::error::HsmError;
use crate::secret::KeyKind;

/// ISO/IEC 9797-1 padding method.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Padding {
    /// Method 1: zeros.
    Method1,
    /// Method 2: 0x80 then zeros.
    Method2,
}

/// An ISO/IEC 9797-1 MAC algorithm with its padding.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MacAlgorithm {
    /// Algorithm 1: CBC-MAC under the whole key.
    Iso9797Alg1(Padding),
    /// Algorithm 3: the retail MAC (single-DES CBC under K1, final D K2 / E K1).
    Iso9797Alg3(Padding),
}

impl MacAlgorithm {
    /// The DE 64/128 algorithm of DESIGN.md: algorithm 3, padding method 1.
    pub const DE64: MacAlgorithm = MacAlgorithm::Iso9797Alg3(Padding::Method1);
}

/// `data` padded to a whole number of 8-byte blocks.
pub fn pad(data: &[u8], padding: Padding) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 8);
    out.extend_from_slice(data);
    match padding {
        Padding::Method1 => {
            if out.is_empty() || out.len() % 8 != 0 {
                out.resize(out.len().div_ceil(8).max(1) * 8, 0);
            }
        }
        Padding::Method2 => {
            out.push(0x80);
            out.resize(out.len().div_ceil(8) * 8, 0);
        }
    }
    out
}

/// Algorithm 3 over data that is already a whole number of blocks.
pub(crate) fn retail_mac_blocks(key: &dyn KeyOps, blocks: &[u8]) -> Result<[u8; 8], HsmError> {
    if key.kind() != KeyKind::Tdes2 {
        return Err(HsmError::KeyUse {
            name: String::new(),
            reason: "ISO 9797-1 MAC algorithm 3 needs a double-length TDES key",
        });
    }
    let mut h = key.cbc_mac_k1(blocks)?;
    key.decrypt_k2(&mut h)?;
    key.encrypt_k1(&mut h)?;
    Ok(h)
}

/// The 8-byte MAC of `data` under `key`.
pub fn generate(
    key: &dyn KeyOps,
    algorithm: MacAlgorithm,
    data: &[u8],
) -> Result<[u8; 8], HsmError> {
    match algorithm {
        MacAlgorithm::Iso9797Alg3(p) => retail_mac_blocks(key, &pad(data, p)),
        MacAlgorithm::Iso9797Alg1(p) => {
            if key.kind().is_aes() {
                return Err(HsmError::KeyUse {
                    name: String::new(),
                    reason: "ISO 9797-1 MAC algorithm 1 is implemented for DES-family keys",
                });
            }
            let padded = pad(data, p);
            let mut chain = [0u8; 8];
            for block in padded.chunks_exact(8) {
                chain.iter_mut().zip(block).for_each(|(c, d)| *c ^= d);
                key.encrypt(&mut chain)?;
            }
            Ok(chain)
        }
    }
}

/// Whether `mac` (4 to 8 bytes: a MAC may be truncated to its leftmost bytes) is right.
pub fn verify(
    key: &dyn KeyOps,
    algorithm: MacAlgorithm,
    data: &[u8],
    mac: &[u8],
) -> Result<bool, HsmError> {
    if !(4..=8).contains(&mac.len()) {
        return Err(HsmError::input("MAC", "must be 4 to 8 bytes"));
    }
    let expected = generate(key, algorithm, data)?;
    Ok(crate::ct_eq(&expected[..mac.len()], mac))
}
