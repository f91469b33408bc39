//! Visa PIN Verification Value (PVV).
//!
//! The transformed security parameter (TSP) is 16 digits: the 11 rightmost PAN digits
//! excluding the check digit, the PVKI (one digit, Visa uses 1..=6) and the 4 leftmost PIN
//! digits. It is packed to 8 bytes and TDES-encrypted under the double-length PVK; the PVV is
//! the first 4 decimal digits of the result read left to right, completed if need be by the
//! hex digits A..F read left to right as 0..5 (IBM CCA "VISA PIN Validation Value
//! Calculation Method"; Thales "DG" command; public descriptions such as isofluent's PVV tool).

use crate::cipher::{encrypt8, KeyOps};
use crate::digits::{rightmost_excluding_check, visa_decimalise};
use crate::error::HsmError;
use crate::secret::ClearPin;

/// The 8-byte TSP for `pan`, `pvki` and the first 4 digits of `pin`.
pub fn tsp(pan: &str, pvki: u8, pin: &ClearPin) -> Result<[u8; 8], HsmError> {
    if pvki > 9 {
        return Err(HsmError::input("PVKI", "must be one digit"));
    }
    let mut text = rightmost_excluding_check(pan, 11)?;
    text.push(b'0' + pvki);
    text.extend(pin.digits()[..4].iter().map(|d| b'0' + d));
    let mut out = [0u8; 8];
    crate::digits::pack(&text, &mut out);
    zeroize::Zeroize::zeroize(&mut text);
    Ok(out)
}

/// The 4-digit PVV of `pin` for `pan` under `pvk` with index `pvki`.
pub fn generate(pvk: &dyn KeyOps, pan: &str, pvki: u8, pin: &ClearPin) -> Result<String, HsmError> {
    if pvk.kind() != crate::KeyKind::Tdes2 && pvk.kind() != crate::KeyKind::Tdes3 {
        return Err(HsmError::KeyUse {
            name: String::new(),
            reason: "the Visa PVV needs a double- or triple-length TDES key",
        });
    }
    let mut block = tsp(pan, pvki, pin)?;
    encrypt8(pvk, &mut block)?;
    let pvv = visa_decimalise(&block, 4);
    zeroize::Zeroize::zeroize(&mut block);
    Ok(String::from_utf8(pvv).expect("digits"))
}

/// Whether `pin` gives `pvv` (constant-time comparison).
pub fn verify(
    pvk: &dyn KeyOps,
    pan: &str,
    pvki: u8,
    pin: &ClearPin,
    pvv: &str,
) -> Result<bool, HsmError> {
    crate::digits::decimal(pvv, 4, "PVV")?;
    let expected = zeroize::Zeroizing::new(generate(pvk, pan, pvki, pin)?);
    Ok(crate::ct_eq(expected.as_bytes(), pvv.as_bytes()))
}
