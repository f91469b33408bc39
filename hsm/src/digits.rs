//! Decimal-digit helpers shared by the algorithms: PAN checks, nibble packing, the
//! decimalisation that PVV, CVV and IBM 3624 use, and PAN masking for messages.

use crate::error::HsmError;

/// Shortest PAN accepted (ISO/IEC 7812-1 allows 8 digits).
pub(crate) const MIN_PAN_DIGITS: usize = 8;
/// Longest PAN (ISO/IEC 7812-1).
pub(crate) const MAX_PAN_DIGITS: usize = 19;

/// The PAN's digits (values 0..=9) after checking it is 8 to 19 decimal digits.
pub(crate) fn pan_digits(pan: &str) -> Result<&[u8], HsmError> {
    let b = pan.as_bytes();
    if !(MIN_PAN_DIGITS..=MAX_PAN_DIGITS).contains(&b.len()) {
        return Err(HsmError::input("PAN", "must have 8 to 19 digits"));
    }
    if !b.iter().all(u8::is_ascii_digit) {
        return Err(HsmError::input("PAN", "must be decimal digits"));
    }
    Ok(b)
}

/// `n` rightmost digits of the PAN excluding its check digit (the last one), left-padded
/// with '0' when the PAN is shorter (ISO 9564-1 formats 0 and 3, Visa PVV).
pub(crate) fn rightmost_excluding_check(pan: &str, n: usize) -> Result<Vec<u8>, HsmError> {
    let b = pan_digits(pan)?;
    let body = &b[..b.len() - 1];
    let mut out = vec![b'0'; n.saturating_sub(body.len())];
    out.extend_from_slice(&body[body.len().saturating_sub(n)..]);
    Ok(out)
}

/// Packs ASCII hex digits (two per byte); `text` must have an even length and only 0-9A-F.
pub(crate) fn pack(text: &[u8], out: &mut [u8]) {
    for (i, pair) in text.chunks(2).enumerate() {
        out[i] = (nibble(pair[0]) << 4) | nibble(pair[1]);
    }
}

fn nibble(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        b'A'..=b'F' => c - b'A' + 10,
        b'a'..=b'f' => c - b'a' + 10,
        _ => 0,
    }
}

/// Nibbles of `bytes`, most significant first.
pub(crate) fn nibbles(bytes: &[u8]) -> impl Iterator<Item = u8> + '_ {
    bytes.iter().flat_map(|b| [b >> 4, b & 0x0F])
}

/// The Visa decimalisation used by PVV and CVV: the decimal nibbles of the block left to
/// right, then (if fewer than `n`) the nibbles A..F of the block left to right, each minus 10.
pub(crate) fn visa_decimalise(block: &[u8], n: usize) -> Vec<u8> {
    let mut out: Vec<u8> = nibbles(block).filter(|d| *d < 10).take(n).collect();
    if out.len() < n {
        out.extend(
            nibbles(block)
                .filter(|d| *d >= 10)
                .map(|d| d - 10)
                .take(n - out.len()),
        );
    }
    out.iter_mut().for_each(|d| *d += b'0');
    out
}

/// Parses `len` decimal digits (values 0..=9).
pub(crate) fn decimal(text: &str, len: usize, what: &'static str) -> Result<Vec<u8>, HsmError> {
    let b = text.as_bytes();
    if b.len() != len {
        return Err(HsmError::input(what, "wrong number of digits"));
    }
    if !b.iter().all(u8::is_ascii_digit) {
        return Err(HsmError::input(what, "must be decimal digits"));
    }
    Ok(b.iter().map(|c| c - b'0').collect())
}

/// A PAN for people: first 6 and last 4 digits (`400000******0018`); shorter input is fully
/// masked.
pub fn mask_pan(pan: &str) -> String {
    let n = pan.chars().count();
    if n < 11 {
        return "*".repeat(n);
    }
    pan.chars()
        .enumerate()
        .map(|(i, c)| if i < 6 || i >= n - 4 { c } else { '*' })
        .collect()
}
