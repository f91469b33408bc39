//! BER-TLV as EMV uses it (EMV Book 3, Annex B): a tag whose first byte's low five bits all set
//! means "more tag bytes follow, each with bit 8 set except the last"; a length below 0x80 is
//! the length itself, 0x81..0x84 say how many length bytes follow. Bit 6 of the first tag byte
//! marks a constructed object whose value is itself BER-TLV. 0x00 bytes between objects are
//! padding and skipped.

use crate::error::TlvError;
use crate::limits::{MAX_TLV_DEPTH, MAX_TLV_TAG_LEN};

/// One BER-TLV object borrowing from the field bytes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Tlv<'a> {
    tag: &'a [u8],
    value: &'a [u8],
    offset: usize,
}

impl<'a> Tlv<'a> {
    /// The tag's bytes, e.g. `[0x9F, 0x26]`.
    pub fn tag(&self) -> &'a [u8] {
        self.tag
    }

    /// The tag as a number, e.g. `0x9F26`.
    pub fn tag_u32(&self) -> u32 {
        self.tag.iter().fold(0, |t, &b| (t << 8) | u32::from(b))
    }

    /// The tag as uppercase hex, e.g. `"9F26"`.
    pub fn tag_hex(&self) -> String {
        crate::codec::hex::upper(self.tag)
    }

    /// The value's bytes.
    pub fn value(&self) -> &'a [u8] {
        self.value
    }

    /// Offset of the tag's first byte within the bytes iterated over.
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// Whether the value is itself BER-TLV (bit 6 of the first tag byte).
    pub fn is_constructed(&self) -> bool {
        self.tag.first().is_some_and(|b| b & 0x20 != 0)
    }

    /// The objects inside a constructed object's value.
    pub fn children(&self) -> Iter<'a> {
        iter(self.value)
    }
}

/// Values are not shown: ICC data includes the PAN and track 2 equivalent.
impl std::fmt::Debug for Tlv<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Tlv({} len {})", self.tag_hex(), self.value.len())
    }
}

/// Iterator over the BER-TLV objects at one level; stops after the first error.
pub struct Iter<'a> {
    data: &'a [u8],
    pos: usize,
    failed: bool,
}

/// The objects of `data` at the top level.
pub fn iter(data: &[u8]) -> Iter<'_> {
    Iter {
        data,
        pos: 0,
        failed: false,
    }
}

impl<'a> Iterator for Iter<'a> {
    type Item = Result<Tlv<'a>, TlvError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        while self.data.get(self.pos) == Some(&0x00) {
            self.pos += 1;
        }
        if self.pos >= self.data.len() {
            return None;
        }
        let r = read_one(self.data, self.pos);
        match r {
            Ok((tlv, next)) => {
                self.pos = next;
                Some(Ok(tlv))
            }
            Err(e) => {
                self.failed = true;
                Some(Err(e))
            }
        }
    }
}

fn read_one(data: &[u8], start: usize) -> Result<(Tlv<'_>, usize), TlvError> {
    let truncated = |offset| TlvError::Truncated { offset };
    let mut p = start;
    let first = *data.get(p).ok_or(truncated(p))?;
    p += 1;
    if first & 0x1F == 0x1F {
        loop {
            let b = *data.get(p).ok_or(truncated(p))?;
            p += 1;
            if p - start > MAX_TLV_TAG_LEN {
                return Err(TlvError::TagTooLong { offset: start });
            }
            if b & 0x80 == 0 {
                break;
            }
        }
    }
    let tag = &data[start..p];
    let len_at = p;
    let l0 = *data.get(p).ok_or(truncated(p))?;
    p += 1;
    let len = match l0 {
        0x00..=0x7F => usize::from(l0),
        0x81..=0x84 => {
            let count = usize::from(l0 & 0x7F);
            let bytes = data.get(p..p + count).ok_or(truncated(p))?;
            p += count;
            bytes.iter().fold(0usize, |v, &b| (v << 8) | usize::from(b))
        }
        _ => return Err(TlvError::InvalidLength { offset: len_at }),
    };
    // Checked against what is left before the value is taken.
    let end = p
        .checked_add(len)
        .filter(|&e| e <= data.len())
        .ok_or(truncated(p))?;
    let value = &data[p..end];
    Ok((
        Tlv {
            tag,
            value,
            offset: start,
        },
        end,
    ))
}

/// The first object with tag `tag` (e.g. `0x9F26`), searching constructed objects too.
pub fn find(data: &[u8], tag: u32) -> Result<Option<Tlv<'_>>, TlvError> {
    find_at(data, tag, 0)
}

fn find_at(data: &[u8], tag: u32, depth: usize) -> Result<Option<Tlv<'_>>, TlvError> {
    for item in iter(data) {
        let t = item?;
        if t.tag_u32() == tag {
            return Ok(Some(t));
        }
        if t.is_constructed() {
            if depth + 1 >= MAX_TLV_DEPTH {
                return Err(TlvError::TooDeep { offset: t.offset });
            }
            if let Some(found) = find_at(t.value, tag, depth + 1)? {
                return Ok(Some(found));
            }
        }
    }
    Ok(None)
}

/// Checks that all of `data` is well-formed BER-TLV, nested objects included.
pub fn validate(data: &[u8]) -> Result<(), TlvError> {
    validate_at(data, 0)
}

fn validate_at(data: &[u8], depth: usize) -> Result<(), TlvError> {
    for item in iter(data) {
        let t = item?;
        if t.is_constructed() {
            if depth + 1 >= MAX_TLV_DEPTH {
                return Err(TlvError::TooDeep { offset: t.offset });
            }
            validate_at(t.value, depth + 1)?;
        }
    }
    Ok(())
}

/// Appends one object: `tag` given as its bytes (e.g. `&[0x9F, 0x26]`), the shortest length
/// form, then the value.
pub fn write(tag: &[u8], value: &[u8], out: &mut Vec<u8>) -> Result<(), TlvError> {
    if tag.is_empty() || tag.len() > MAX_TLV_TAG_LEN {
        return Err(TlvError::TagTooLong { offset: 0 });
    }
    out.extend_from_slice(tag);
    let len = value.len();
    match len {
        0..=0x7F => out.push(len as u8),
        0x80..=0xFF => out.extend_from_slice(&[0x81, len as u8]),
        0x100..=0xFFFF => out.extend_from_slice(&[0x82, (len >> 8) as u8, len as u8]),
        _ => return Err(TlvError::ValueTooLong { len }),
    }
    out.extend_from_slice(value);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use hex_literal::hex;

    /// A typical ARQC set: amount (9F02), currency (5F2A, two-byte tag), cryptogram (9F26),
    /// CID (9F27), TVR (95).
    const ICC: [u8; 36] = hex!(
        "9F02 06 000000001000"
        "5F2A 02 0840"
        "9F26 08 A1B2C3D4E5F60718"
        "9F27 01 80"
        "95 05 0000008000"
    );

    #[test]
    fn reads_multi_byte_tags() {
        let tags: Vec<u32> = iter(&ICC).map(|t| t.unwrap().tag_u32()).collect();
        assert_eq!(tags, [0x9F02, 0x5F2A, 0x9F26, 0x9F27, 0x95]);
        let ac = find(&ICC, 0x9F26).unwrap().unwrap();
        assert_eq!(ac.value(), hex!("A1B2C3D4E5F60718"));
        assert_eq!(ac.offset(), 14);
        assert_eq!(find(&ICC, 0x9F10).unwrap(), None);
    }

    #[test]
    fn long_lengths_and_nesting() {
        let value = [0x11u8; 200];
        let mut inner = Vec::new();
        write(&[0x9F, 0x10], &value, &mut inner).unwrap();
        assert_eq!(&inner[..4], &hex!("9F1081C8"));
        let mut outer = Vec::new();
        write(&[0x70], &inner, &mut outer).unwrap();
        assert_eq!(&outer[..4], &hex!("7081CC9F"));
        let t = find(&outer, 0x9F10).unwrap().unwrap();
        assert_eq!(t.value(), value);
        validate(&outer).unwrap();
    }

    #[test]
    fn skips_zero_padding() {
        let tags: Vec<u32> = iter(&hex!("00 9F2701 80 0000 9501 00"))
            .map(|t| t.unwrap().tag_u32())
            .collect();
        assert_eq!(tags, [0x9F27, 0x95]);
    }

    #[test]
    fn malformed_input_is_an_error_not_a_panic() {
        assert_eq!(
            iter(&hex!("9F26 08 A1B2")).next(),
            Some(Err(TlvError::Truncated { offset: 3 }))
        );
        assert_eq!(
            iter(&hex!("9F")).next(),
            Some(Err(TlvError::Truncated { offset: 1 }))
        );
        assert_eq!(
            iter(&hex!("9F 80 80 80 80 01 00")).next(),
            Some(Err(TlvError::TagTooLong { offset: 0 }))
        );
        assert_eq!(
            iter(&hex!("95 80")).next(),
            Some(Err(TlvError::InvalidLength { offset: 1 }))
        );
        assert_eq!(
            iter(&hex!("95 84 FFFFFFFF 00")).next(),
            Some(Err(TlvError::Truncated { offset: 6 }))
        );
        let mut deep = vec![0x95, 0x00];
        for _ in 0..MAX_TLV_DEPTH {
            let mut next = Vec::new();
            write(&[0x70], &deep, &mut next).unwrap();
            deep = next;
        }
        assert!(matches!(validate(&deep), Err(TlvError::TooDeep { .. })));
    }
}
