//! Packed BCD: two digits a byte, most significant first. An odd digit count carries one
//! filler nibble, first (left padding) or last (right padding). Track data (`z`) packs the
//! field separator as nibble 0xD, shown as `=`.

use crate::spec::{ContentClass, Padding};

/// The nibbles of a BCD value of `digits` logical digits, with the filler skipped.
fn nibbles(wire: &[u8], digits: usize, pad: Padding) -> impl Iterator<Item = u8> + '_ {
    let skip_first = digits % 2 == 1 && pad == Padding::Left;
    wire.iter()
        .flat_map(|&b| [b >> 4, b & 0x0F])
        .skip(usize::from(skip_first))
        .take(digits)
}

/// ASCII character for a nibble of `class`, or `None` when the nibble is not allowed.
fn char_of(class: ContentClass, n: u8) -> Option<u8> {
    match (class, n) {
        (_, 0..=9) => Some(b'0' + n),
        (ContentClass::Z, 0xD) => Some(b'='),
        _ => None,
    }
}

/// Bytes whose two nibbles are both decimal digits (`n`), or digits or the separator 0xD (`z`).
static PAIR_N: [bool; 256] = pair_table(false);
static PAIR_Z: [bool; 256] = pair_table(true);

const fn pair_table(track: bool) -> [bool; 256] {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        let (hi, lo) = (b >> 4, b & 0x0F);
        t[b] = (hi <= 9 || (track && hi == 0xD)) && (lo <= 9 || (track && lo == 0xD));
        b += 1;
    }
    t
}

fn nibble_ok(class: ContentClass, n: u8) -> bool {
    n <= 9 || (class == ContentClass::Z && n == 0xD)
}

/// Checks a BCD value; returns the byte index (within `wire`) of the first bad nibble. The
/// filler nibble may be 0x0 or 0xF whatever the spec writes (documented non-canonical form).
/// A byte at a time through a table: this is the decoder's inner loop for BCD specs.
pub(crate) fn first_invalid(
    class: ContentClass,
    wire: &[u8],
    digits: usize,
    pad: Padding,
) -> Option<usize> {
    let table = if class == ContentClass::Z {
        &PAIR_Z
    } else {
        &PAIR_N
    };
    let filler_ok = |n: u8| n == 0x0 || n == 0xF;
    let (body, offset) = match (digits % 2 == 1, pad, wire) {
        (true, Padding::Left, [first, rest @ ..]) => {
            if !filler_ok(first >> 4) || !nibble_ok(class, first & 0x0F) {
                return Some(0);
            }
            (rest, 1)
        }
        (true, Padding::Right, [rest @ .., last]) => {
            if !nibble_ok(class, last >> 4) || !filler_ok(last & 0x0F) {
                return Some(wire.len() - 1);
            }
            (rest, 0)
        }
        _ => (wire, 0),
    };
    body.iter()
        .position(|&b| !table[usize::from(b)])
        .map(|i| i + offset)
}

/// The logical ASCII digits of a validated BCD value.
pub(crate) fn to_ascii(class: ContentClass, wire: &[u8], digits: usize, pad: Padding) -> Vec<u8> {
    nibbles(wire, digits, pad)
        .map(|n| char_of(class, n).unwrap_or(b'?'))
        .collect()
}

/// Packs validated ASCII digits (and `=`/`D` separators for track data) into `out`.
pub(crate) fn pack_into(value: &[u8], pad: Padding, filler: u8, out: &mut Vec<u8>) {
    let nib = |c: u8| if c.is_ascii_digit() { c - b'0' } else { 0xD };
    out.reserve(value.len().div_ceil(2));
    let mut rest = value;
    if value.len() % 2 == 1 && pad == Padding::Left {
        if let Some((&first, tail)) = value.split_first() {
            out.push((filler << 4) | nib(first));
            rest = tail;
        }
    }
    let pairs = rest.chunks_exact(2);
    let last = pairs.remainder();
    out.extend(pairs.map(|p| (nib(p[0]) << 4) | nib(p[1])));
    if let [last] = last {
        out.push((nib(*last) << 4) | filler);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hex_literal::hex;

    #[test]
    fn packs_even_and_odd_lengths() {
        let mut out = Vec::new();
        pack_into(b"123456", Padding::Left, 0, &mut out);
        assert_eq!(out, hex!("123456"));
        out.clear();
        pack_into(b"123", Padding::Left, 0, &mut out);
        assert_eq!(out, hex!("0123"));
        out.clear();
        pack_into(b"123", Padding::Right, 0xF, &mut out);
        assert_eq!(out, hex!("123F"));
        out.clear();
        pack_into(b"4761=22", Padding::Right, 0xF, &mut out);
        assert_eq!(out, hex!("4761D22F"));
    }

    #[test]
    fn unpacks_with_filler_skipped() {
        assert_eq!(
            to_ascii(ContentClass::N, &hex!("0123"), 3, Padding::Left),
            b"123"
        );
        assert_eq!(
            to_ascii(ContentClass::N, &hex!("123F"), 3, Padding::Right),
            b"123"
        );
        assert_eq!(
            to_ascii(ContentClass::Z, &hex!("4761D22F"), 7, Padding::Right),
            b"4761=22"
        );
    }

    #[test]
    fn rejects_bad_nibbles_with_their_byte_index() {
        assert_eq!(
            first_invalid(ContentClass::N, &hex!("12A4"), 4, Padding::Left),
            Some(1)
        );
        assert_eq!(
            first_invalid(ContentClass::N, &hex!("123D"), 4, Padding::Left),
            Some(1)
        );
        assert_eq!(
            first_invalid(ContentClass::Z, &hex!("123D"), 4, Padding::Left),
            None
        );
        // the filler must be 0 or F
        assert_eq!(
            first_invalid(ContentClass::N, &hex!("5123"), 3, Padding::Left),
            Some(0)
        );
        assert_eq!(
            first_invalid(ContentClass::N, &hex!("F123"), 3, Padding::Left),
            None
        );
        assert_eq!(
            first_invalid(ContentClass::N, &hex!("1230"), 3, Padding::Right),
            None
        );
        assert_eq!(
            first_invalid(ContentClass::N, &hex!("1235"), 3, Padding::Right),
            Some(1)
        );
    }
}
