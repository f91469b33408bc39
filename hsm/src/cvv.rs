//! Card verification values: CVV/CVC (magnetic stripe), iCVV (chip track 2 equivalent,
//! service code 999) and CVV2 (printed, service code 000). One algorithm, three service codes.
//!
//! The Visa CVV method (also Mastercard's CVC1/CVC2; IBM CCA "CVV_Generate"): PAN, expiry
//! (YYMM) and service code are concatenated and right-filled with 0 to 32 digits, packed to
//! two 8-byte blocks B1, B2. With CVK = CVK A || CVK B:
//! `R = TDES(CVK, DES(CVK A, B1) XOR B2)`, and the CVV is the first 3 digits of R after the
//! Visa decimalisation (decimal digits left to right, then A..F as 0..5). That chain is ISO
//! 9797-1 MAC algorithm 3 over B1 || B2, which is how it is computed here (so a token back end
//! needs only single DES under each half). The widely published example: CVK
//! 0123456789ABCDEF / FEDCBA9876543210, PAN 4123456789012345, expiry 8701, service code 101
//! gives 561.

use crate::cipher::KeyOps;
use crate::digits::{pan_digits, visa_decimalise};
use crate::error::HsmError;

/// Service code for iCVV (the chip's track 2 equivalent data, tag 57).
pub const ICVV_SERVICE_CODE: &str = "999";
/// Service code for CVV2 (the printed code).
pub const CVV2_SERVICE_CODE: &str = "000";

/// The 3-digit CVV for `pan`, `expiry_yymm` and `service_code` under `cvk` (CVK A || CVK B).
pub fn generate(
    cvk: &dyn KeyOps,
    pan: &str,
    expiry_yymm: &str,
    service_code: &str,
) -> Result<String, HsmError> {
    if cvk.kind() != crate::KeyKind::Tdes2 {
        return Err(HsmError::KeyUse {
            name: String::new(),
            reason: "CVV needs a double-length key (CVK A || CVK B)",
        });
    }
    let mut text = pan_digits(pan)?.to_vec();
    crate::digits::decimal(expiry_yymm, 4, "expiry")?;
    crate::digits::decimal(service_code, 3, "service code")?;
    text.extend_from_slice(expiry_yymm.as_bytes());
    text.extend_from_slice(service_code.as_bytes());
    text.resize(32, b'0');
    let mut blocks = [0u8; 16];
    crate::digits::pack(&text, &mut blocks);
    let mut r = crate::mac::retail_mac_blocks(cvk, &blocks)?;
    let cvv = visa_decimalise(&r, 3);
    zeroize::Zeroize::zeroize(&mut r);
    Ok(String::from_utf8(cvv).expect("digits"))
}

/// Whether `cvv` is right (constant-time comparison). A malformed `cvv` is a mismatch only if
/// it is 3 digits; anything else is an input error.
pub fn verify(
    cvk: &dyn KeyOps,
    pan: &str,
    expiry_yymm: &str,
    service_code: &str,
    cvv: &str,
) -> Result<bool, HsmError> {
    crate::digits::decimal(cvv, 3, "CVV")?;
    let expected = zeroize::Zeroizing::new(generate(cvk, pan, expiry_yymm, service_code)?);
    Ok(crate::ct_eq(expected.as_bytes(), cvv.as_bytes()))
}
