//! Character classes of ISO 8583 field attributes, checked over logical (ASCII) bytes with one
//! table lookup a byte.

use crate::spec::ContentClass;

const DIGIT: u8 = 1;
const ALPHA: u8 = 2;
const SPACE: u8 = 4;
const PRINT: u8 = 8;
/// Track data field separator: `=` (ISO 7813) or `D` as some hosts write it.
const TRACK_SEP: u8 = 16;

static TABLE: [u8; 256] = build_table();

const fn build_table() -> [u8; 256] {
    let mut t = [0u8; 256];
    let mut b = 0x20;
    while b < 0x7F {
        t[b] |= PRINT;
        b += 1;
    }
    let mut b = b'0';
    while b <= b'9' {
        t[b as usize] |= DIGIT;
        b += 1;
    }
    let mut b = b'A';
    while b <= b'Z' {
        t[b as usize] |= ALPHA;
        t[(b + 32) as usize] |= ALPHA;
        b += 1;
    }
    t[b' ' as usize] |= SPACE;
    t[b'=' as usize] |= TRACK_SEP;
    t[b'D' as usize] |= TRACK_SEP;
    t
}

fn mask(class: ContentClass) -> u8 {
    match class {
        ContentClass::N => DIGIT,
        ContentClass::A => ALPHA | SPACE,
        ContentClass::An => ALPHA | DIGIT | SPACE,
        ContentClass::Ans => PRINT,
        ContentClass::Z => DIGIT | TRACK_SEP,
        // The sign is checked separately; the rest are digits.
        ContentClass::Xn => DIGIT,
        ContentClass::B => 0xFF,
    }
}

/// Index of the first byte of `value` (ASCII) that breaks `class`, or `None` when it is valid.
pub(crate) fn first_invalid(class: ContentClass, value: &[u8]) -> Option<usize> {
    // Fast path: a branch-free pass over the whole value that the compiler vectorizes (this is
    // the decoder's inner loop); the exact position is only looked for when something is wrong.
    let valid = match class {
        ContentClass::B => return None,
        ContentClass::N => all(value, is_digit),
        ContentClass::A => all(value, |b| is_alpha(b) | (b == b' ')),
        ContentClass::An => all(value, |b| is_alpha(b) | is_digit(b) | (b == b' ')),
        ContentClass::Ans => all(value, |b| b.wrapping_sub(0x20) < 0x5F),
        ContentClass::Z => all(value, |b| is_digit(b) | (b == b'=') | (b == b'D')),
        ContentClass::Xn => false,
    };
    if valid {
        None
    } else {
        first_invalid_iter(class, value.iter().copied())
    }
}

fn is_digit(b: u8) -> bool {
    b.wrapping_sub(b'0') < 10
}

fn is_alpha(b: u8) -> bool {
    (b | 0x20).wrapping_sub(b'a') < 26
}

/// Whether every byte satisfies `ok`, without early exit (so the loop vectorizes).
#[inline(always)]
fn all(value: &[u8], ok: impl Fn(u8) -> bool) -> bool {
    value.iter().fold(0u8, |bad, &b| bad | u8::from(!ok(b))) == 0
}

/// As [`first_invalid`] over mapped bytes (EBCDIC translated to ASCII, 0 for unmapped).
pub(crate) fn first_invalid_iter(
    class: ContentClass,
    value: impl Iterator<Item = u8>,
) -> Option<usize> {
    if class == ContentClass::B {
        return None;
    }
    let m = mask(class);
    let mut it = value.enumerate();
    if class == ContentClass::Xn {
        match it.next() {
            Some((_, b'C' | b'D')) => {}
            Some((i, _)) => return Some(i),
            None => return None,
        }
    }
    it.find(|&(_, b)| TABLE[usize::from(b)] & m == 0)
        .map(|(i, _)| i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_accepts_digits_only() {
        assert_eq!(first_invalid(ContentClass::N, b"0123456789"), None);
        assert_eq!(first_invalid(ContentClass::N, b"12 4"), Some(2));
        assert_eq!(first_invalid(ContentClass::N, b"12a"), Some(2));
    }

    #[test]
    fn text_classes() {
        assert_eq!(first_invalid(ContentClass::A, b"Ab c"), None);
        assert_eq!(first_invalid(ContentClass::A, b"Ab1"), Some(2));
        assert_eq!(first_invalid(ContentClass::An, b"Ab 1"), None);
        assert_eq!(first_invalid(ContentClass::An, b"Ab-1"), Some(2));
        assert_eq!(first_invalid(ContentClass::Ans, b"Ab-1 ~!"), None);
        assert_eq!(first_invalid(ContentClass::Ans, b"Ab\x7f"), Some(2));
        assert_eq!(first_invalid(ContentClass::Ans, b"\x00"), Some(0));
    }

    #[test]
    fn track_and_amount_classes() {
        assert_eq!(first_invalid(ContentClass::Z, b"4761=2212D1"), None);
        assert_eq!(first_invalid(ContentClass::Z, b"4761^22"), Some(4));
        assert_eq!(first_invalid(ContentClass::Xn, b"C00001000"), None);
        assert_eq!(first_invalid(ContentClass::Xn, b"D1"), None);
        assert_eq!(first_invalid(ContentClass::Xn, b"X1"), Some(0));
        assert_eq!(first_invalid(ContentClass::Xn, b"C1C"), Some(2));
    }

    #[test]
    fn binary_accepts_anything() {
        assert_eq!(first_invalid(ContentClass::B, &[0, 255, 10]), None);
    }
}
