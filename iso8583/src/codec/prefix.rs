//! Length prefixes of variable fields: ASCII or EBCDIC digits, packed BCD, or big-endian binary.

use super::ebcdic;
use crate::spec::PrefixEncoding;

/// Reads a prefix of `len` bytes (already taken from the input). `None` when it is not a number
/// in its encoding.
pub(crate) fn read(enc: PrefixEncoding, bytes: &[u8]) -> Option<usize> {
    match enc {
        PrefixEncoding::Ascii => digits(bytes.iter().copied()),
        PrefixEncoding::Ebcdic => digits(bytes.iter().map(|&b| ebcdic::to_ascii(b))),
        PrefixEncoding::Bcd => {
            let mut v = 0usize;
            for &b in bytes {
                let (hi, lo) = (b >> 4, b & 0x0F);
                if hi > 9 || lo > 9 {
                    return None;
                }
                v = v * 100 + usize::from(hi) * 10 + usize::from(lo);
            }
            Some(v)
        }
        PrefixEncoding::Binary => {
            Some(bytes.iter().fold(0usize, |v, &b| (v << 8) | usize::from(b)))
        }
    }
}

fn digits(it: impl Iterator<Item = u8>) -> Option<usize> {
    let mut v = 0usize;
    for c in it {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + usize::from(c - b'0');
    }
    Some(v)
}

/// Writes `value` as a prefix of `len` bytes (at most 4). The caller has checked that it fits.
/// Digits are produced by constant divisions, which compile to multiplications: this runs once
/// per variable field on every encode.
pub(crate) fn write(enc: PrefixEncoding, len: usize, value: usize, out: &mut Vec<u8>) {
    let mut buf = [0u8; 4];
    let len = len.min(buf.len());
    let mut v = value;
    match enc {
        PrefixEncoding::Ascii | PrefixEncoding::Ebcdic => {
            let zero = if enc == PrefixEncoding::Ascii {
                b'0'
            } else {
                0xF0
            };
            for slot in buf[..len].iter_mut().rev() {
                *slot = zero + (v % 10) as u8;
                v /= 10;
            }
        }
        PrefixEncoding::Bcd => {
            for slot in buf[..len].iter_mut().rev() {
                let pair = v % 100;
                *slot = (((pair / 10) << 4) | (pair % 10)) as u8;
                v /= 100;
            }
        }
        PrefixEncoding::Binary => {
            for slot in buf[..len].iter_mut().rev() {
                *slot = v as u8;
                v >>= 8;
            }
        }
    }
    out.extend_from_slice(&buf[..len]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use hex_literal::hex;

    #[test]
    fn each_encoding_round_trips() {
        let cases: [(PrefixEncoding, usize, usize, &[u8]); 5] = [
            (PrefixEncoding::Ascii, 2, 16, b"16"),
            (PrefixEncoding::Ascii, 3, 7, b"007"),
            (PrefixEncoding::Ebcdic, 2, 16, &hex!("F1F6")),
            (PrefixEncoding::Bcd, 2, 255, &hex!("0255")),
            (PrefixEncoding::Binary, 2, 300, &hex!("012C")),
        ];
        for (enc, len, value, wire) in cases {
            let mut out = Vec::new();
            write(enc, len, value, &mut out);
            assert_eq!(out, wire, "{enc:?}");
            assert_eq!(read(enc, wire), Some(value), "{enc:?}");
        }
    }

    #[test]
    fn rejects_non_numbers() {
        assert_eq!(read(PrefixEncoding::Ascii, b"1A"), None);
        assert_eq!(read(PrefixEncoding::Ascii, b" 1"), None);
        assert_eq!(read(PrefixEncoding::Ebcdic, b"16"), None);
        assert_eq!(read(PrefixEncoding::Bcd, &hex!("1A")), None);
    }
}
