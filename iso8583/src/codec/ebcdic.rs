//! EBCDIC code page 037 for the printable ASCII range (0x20..0x7E), the characters ISO 8583
//! text classes allow. Bytes outside that range have no mapping and fail every text class.

/// EBCDIC (CP037) code of each ASCII character 0x20..=0x7E, in ASCII order.
const PRINTABLE: [u8; 95] = [
    0x40, 0x5A, 0x7F, 0x7B, 0x5B, 0x6C, 0x50, 0x7D, 0x4D, 0x5D, 0x5C, 0x4E, 0x6B, 0x60, 0x4B, 0x61,
    0xF0, 0xF1, 0xF2, 0xF3, 0xF4, 0xF5, 0xF6, 0xF7, 0xF8, 0xF9, 0x7A, 0x5E, 0x4C, 0x7E, 0x6E, 0x6F,
    0x7C, 0xC1, 0xC2, 0xC3, 0xC4, 0xC5, 0xC6, 0xC7, 0xC8, 0xC9, 0xD1, 0xD2, 0xD3, 0xD4, 0xD5, 0xD6,
    0xD7, 0xD8, 0xD9, 0xE2, 0xE3, 0xE4, 0xE5, 0xE6, 0xE7, 0xE8, 0xE9, 0xBA, 0xE0, 0xBB, 0xB0, 0x6D,
    0x79, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x91, 0x92, 0x93, 0x94, 0x95, 0x96,
    0x97, 0x98, 0x99, 0xA2, 0xA3, 0xA4, 0xA5, 0xA6, 0xA7, 0xA8, 0xA9, 0xC0, 0x4F, 0xD0, 0xA1,
];

static TO_ASCII: [u8; 256] = build_to_ascii();
static FROM_ASCII: [u8; 256] = build_from_ascii();

const fn build_to_ascii() -> [u8; 256] {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < PRINTABLE.len() {
        t[PRINTABLE[i] as usize] = 0x20 + i as u8;
        i += 1;
    }
    t
}

const fn build_from_ascii() -> [u8; 256] {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < PRINTABLE.len() {
        t[0x20 + i] = PRINTABLE[i];
        i += 1;
    }
    t
}

/// ASCII for an EBCDIC byte, or 0 when the byte is outside the printable repertoire.
pub(crate) fn to_ascii(b: u8) -> u8 {
    TO_ASCII[usize::from(b)]
}

/// EBCDIC for a printable ASCII byte, or 0 for anything else (never reached for validated text).
pub(crate) fn from_ascii(b: u8) -> u8 {
    FROM_ASCII[usize::from(b)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_letters_and_space() {
        assert_eq!(from_ascii(b'0'), 0xF0);
        assert_eq!(from_ascii(b'9'), 0xF9);
        assert_eq!(from_ascii(b'A'), 0xC1);
        assert_eq!(from_ascii(b'a'), 0x81);
        assert_eq!(from_ascii(b' '), 0x40);
        assert_eq!(to_ascii(0xE9), b'Z');
    }

    #[test]
    fn round_trips_every_printable() {
        for b in 0x20u8..0x7F {
            assert_eq!(to_ascii(from_ascii(b)), b);
        }
    }

    #[test]
    fn unmapped_bytes_are_zero() {
        assert_eq!(to_ascii(0x00), 0);
        assert_eq!(to_ascii(0xFF), 0);
        assert_eq!(from_ascii(0x7F), 0);
    }
}
