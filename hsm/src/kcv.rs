//! Key check values: the first 3 bytes of the encryption of a block of zeros under the key
//! (DESIGN.md "Cards and test data": "3DES/AES of zeros, first 3 bytes").
//!
//! For AES this crate uses the same rule, AES-ECB of 16 zero bytes. ANSI X9.24-1:2017 also
//! defines an AES KCV as the CMAC of zeros; that variant is NOT what `kcv` computes, so a KCV
//! from a tool using it will not match here (the load error says which key).

use crate::cipher::KeyOps;
use crate::error::HsmError;

/// The 3-byte KCV of `key`.
pub fn kcv(key: &dyn KeyOps) -> Result<[u8; 3], HsmError> {
    let mut zeros = vec![0u8; key.kind().block_len()];
    key.encrypt(&mut zeros)?;
    Ok([zeros[0], zeros[1], zeros[2]])
}

/// Parses a KCV written as 6 hex digits.
pub fn parse(text: &str) -> Result<[u8; 3], HsmError> {
    let b = hex::decode(text.trim()).map_err(|_| HsmError::input("KCV", "not hexadecimal"))?;
    b.try_into()
        .map_err(|_| HsmError::input("KCV", "must be 6 hex digits"))
}
