//! IBM 3624 PIN offset (generation and verification).
//!
//! From IBM CCA's "IBM 3624 PIN Generation Algorithm" / "PIN Offset Generation Algorithm":
//! the validation data (1 to 16 hex digits, usually from the PAN) is right-padded with the pad
//! digit to 16 and encrypted under the PVK; each hex digit of the result is mapped through the
//! 16-digit decimalisation table, and the leftmost N digits are the "natural" PIN. The offset
//! is the customer's PIN minus the natural PIN, digit by digit, modulo 10; verification adds
//! the offset back and compares.

use crate::cipher::{encrypt8, KeyOps};
use crate::digits::nibbles;
use crate::error::HsmError;
use crate::secret::ClearPin;

/// The parameters an issuer fixes for its IBM 3624 PINs.
#[derive(Clone, Debug)]
pub struct Ibm3624Params {
    /// 16 decimal digits mapping hex 0..F to 0..9 (e.g. "0123456789012345").
    pub decimalisation_table: String,
    /// 1 to 16 hex digits of validation data (often PAN digits).
    pub validation_data: String,
    /// The hex digit that pads the validation data to 16.
    pub pad: char,
}

fn natural_pin(pvk: &dyn KeyOps, p: &Ibm3624Params, n: usize) -> Result<Vec<u8>, HsmError> {
    let table = crate::digits::decimal(&p.decimalisation_table, 16, "decimalisation table")?;
    let vd = p.validation_data.as_bytes();
    if vd.is_empty() || vd.len() > 16 || !vd.iter().all(u8::is_ascii_hexdigit) {
        return Err(HsmError::input(
            "validation data",
            "must be 1 to 16 hex digits",
        ));
    }
    if !p.pad.is_ascii_hexdigit() {
        return Err(HsmError::input("pad", "must be one hex digit"));
    }
    let mut text = vd.to_vec();
    text.resize(16, p.pad as u8);
    let mut block = [0u8; 8];
    crate::digits::pack(&text, &mut block);
    encrypt8(pvk, &mut block)?;
    let natural = nibbles(&block).take(n).map(|h| table[h as usize]).collect();
    zeroize::Zeroize::zeroize(&mut block);
    Ok(natural)
}

/// The offset (as many digits as the PIN) that turns the natural PIN into `pin`.
pub fn offset(pvk: &dyn KeyOps, p: &Ibm3624Params, pin: &ClearPin) -> Result<String, HsmError> {
    let natural = zeroize::Zeroizing::new(natural_pin(pvk, p, pin.len())?);
    Ok(pin
        .digits()
        .iter()
        .zip(natural.iter())
        .map(|(c, n)| char::from(b'0' + (c + 10 - n) % 10))
        .collect())
}

/// Whether `pin` matches `offset` (whose length is the PIN check length = the PIN length).
pub fn verify(
    pvk: &dyn KeyOps,
    p: &Ibm3624Params,
    pin: &ClearPin,
    offset_digits: &str,
) -> Result<bool, HsmError> {
    let off = crate::digits::decimal(offset_digits, offset_digits.len(), "offset")?;
    if off.len() != pin.len() {
        return Ok(false);
    }
    let expected = zeroize::Zeroizing::new(offset(pvk, p, pin)?);
    Ok(crate::ct_eq(expected.as_bytes(), offset_digits.as_bytes()))
}
