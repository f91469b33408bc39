//! Hex text for binary data: written uppercase, read in either case.

const UPPER: &[u8; 16] = b"0123456789ABCDEF";

/// Value of one hex digit (either case).
pub(crate) fn nibble(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'A'..=b'F' => Some(c - b'A' + 10),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    }
}

/// Index of the first non-hex character.
pub(crate) fn first_invalid(text: &[u8]) -> Option<usize> {
    // Branch-free over the whole text so it vectorizes; the position only on failure.
    let bad = text.iter().fold(0u8, |bad, &c| {
        let digit = c.wrapping_sub(b'0') < 10;
        let letter = (c | 0x20).wrapping_sub(b'a') < 6;
        bad | u8::from(!(digit | letter))
    });
    if bad == 0 {
        return None;
    }
    text.iter().position(|&c| nibble(c).is_none())
}

/// Appends `bytes` as uppercase hex.
pub(crate) fn encode_upper_into(bytes: &[u8], out: &mut Vec<u8>) {
    out.reserve(bytes.len() * 2);
    for &b in bytes {
        out.push(UPPER[usize::from(b >> 4)]);
        out.push(UPPER[usize::from(b & 0x0F)]);
    }
}

/// `bytes` as an uppercase hex string.
pub(crate) fn upper(bytes: &[u8]) -> String {
    let mut out = Vec::with_capacity(bytes.len() * 2);
    encode_upper_into(bytes, &mut out);
    // Only ASCII hex digits were written.
    String::from_utf8(out).unwrap_or_default()
}

/// Decodes hex text of even length; `None` on odd length or a non-hex character.
pub(crate) fn decode(text: &[u8]) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    // Sized once: collecting into Option<Vec> would grow the vector step by step.
    let mut out = Vec::with_capacity(text.len() / 2);
    for p in text.chunks_exact(2) {
        out.push((nibble(p[0])? << 4) | nibble(p[1])?);
    }
    Some(out)
}

/// Whether `text` has no lowercase hex letter (so it is already canonical).
pub(crate) fn is_upper(text: &[u8]) -> bool {
    !text.iter().any(u8::is_ascii_lowercase)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_upper_and_decodes_both_cases() {
        assert_eq!(upper(&[0x00, 0xAB, 0x9f]), "00AB9F");
        assert_eq!(decode(b"00ab9F"), Some(vec![0x00, 0xAB, 0x9F]));
        assert_eq!(decode(b"0"), None);
        assert_eq!(decode(b"0G"), None);
        assert_eq!(first_invalid(b"01x"), Some(2));
    }
}
