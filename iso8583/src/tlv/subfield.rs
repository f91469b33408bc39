//! Text sub-fields of private fields (DE 48, 62, 63, 126 ...): a run of tag, decimal length and
//! value, the layout networks use for "additional data" (for instance a two-character tag and a
//! two-digit length, after a one-character category code). The layout is data, a
//! [`SubfieldFormat`], because every network sets its own.

use crate::error::TlvError;

/// How one private field lays out its sub-fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubfieldFormat {
    /// Bytes before the first sub-field (e.g. 1 for a category code); exposed by [`prefix`].
    pub skip: usize,
    /// Characters of each tag.
    pub tag_len: usize,
    /// Decimal digits of each length.
    pub len_digits: usize,
}

impl SubfieldFormat {
    /// Two-character tag, two-digit length, no leading bytes.
    pub const TAG2_LEN2: SubfieldFormat = SubfieldFormat {
        skip: 0,
        tag_len: 2,
        len_digits: 2,
    };
    /// Three-character tag, three-digit length, no leading bytes.
    pub const TAG3_LEN3: SubfieldFormat = SubfieldFormat {
        skip: 0,
        tag_len: 3,
        len_digits: 3,
    };
}

/// One sub-field borrowing from the field value.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Subfield<'a> {
    /// The tag's characters.
    pub tag: &'a [u8],
    /// The value's bytes.
    pub value: &'a [u8],
    /// Offset of the tag within the field value.
    pub offset: usize,
}

/// Values are not shown: private fields may carry card security codes.
impl std::fmt::Debug for Subfield<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Subfield({} len {})",
            String::from_utf8_lossy(self.tag),
            self.value.len()
        )
    }
}

/// The bytes before the first sub-field.
pub fn prefix(fmt: SubfieldFormat, data: &[u8]) -> Result<&[u8], TlvError> {
    data.get(..fmt.skip)
        .ok_or(TlvError::Truncated { offset: data.len() })
}

/// Iterator over the sub-fields; stops after the first error.
pub struct Iter<'a> {
    fmt: SubfieldFormat,
    data: &'a [u8],
    pos: usize,
    failed: bool,
}

/// The sub-fields of a private field's value.
pub fn iter(fmt: SubfieldFormat, data: &[u8]) -> Iter<'_> {
    Iter {
        fmt,
        data,
        pos: fmt.skip,
        failed: false,
    }
}

impl<'a> Iterator for Iter<'a> {
    type Item = Result<Subfield<'a>, TlvError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.pos >= self.data.len() {
            if self.pos > self.data.len() && !self.failed {
                self.failed = true;
                return Some(Err(TlvError::Truncated {
                    offset: self.data.len(),
                }));
            }
            return None;
        }
        let r = self.read();
        if r.is_err() {
            self.failed = true;
        }
        Some(r)
    }
}

impl<'a> Iter<'a> {
    fn read(&mut self) -> Result<Subfield<'a>, TlvError> {
        let start = self.pos;
        let f = self.fmt;
        let truncated = |offset| TlvError::Truncated { offset };
        let tag = self
            .data
            .get(start..start + f.tag_len)
            .ok_or(truncated(start))?;
        let len_at = start + f.tag_len;
        let digits = self
            .data
            .get(len_at..len_at + f.len_digits)
            .ok_or(truncated(len_at))?;
        if !tag.iter().all(|c| c.is_ascii_graphic()) || !digits.iter().all(u8::is_ascii_digit) {
            return Err(TlvError::InvalidHeader { offset: start });
        }
        let len = digits
            .iter()
            .fold(0usize, |v, &d| v * 10 + usize::from(d - b'0'));
        let value_at = len_at + f.len_digits;
        let value = self
            .data
            .get(value_at..value_at + len)
            .ok_or(truncated(value_at))?;
        self.pos = value_at + len;
        Ok(Subfield {
            tag,
            value,
            offset: start,
        })
    }
}

/// The first sub-field with tag `tag`.
pub fn find<'a>(
    fmt: SubfieldFormat,
    data: &'a [u8],
    tag: &[u8],
) -> Result<Option<Subfield<'a>>, TlvError> {
    for item in iter(fmt, data) {
        let s = item?;
        if s.tag == tag {
            return Ok(Some(s));
        }
    }
    Ok(None)
}

/// Appends one sub-field. The tag must have exactly `tag_len` characters and the value's
/// length must fit `len_digits` digits.
pub fn write(
    fmt: SubfieldFormat,
    tag: &[u8],
    value: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), TlvError> {
    if tag.len() != fmt.tag_len {
        return Err(TlvError::InvalidHeader { offset: out.len() });
    }
    let limit = 10usize.saturating_pow(fmt.len_digits as u32);
    if value.len() >= limit {
        return Err(TlvError::ValueTooLong { len: value.len() });
    }
    out.extend_from_slice(tag);
    out.extend_from_slice(format!("{:0w$}", value.len(), w = fmt.len_digits).as_bytes());
    out.extend_from_slice(value);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const CATEGORY_THEN_TAG2_LEN2: SubfieldFormat = SubfieldFormat {
        skip: 1,
        tag_len: 2,
        len_digits: 2,
    };

    #[test]
    fn reads_private_subfields() {
        let de48 = b"R0103ABC42071234567";
        assert_eq!(prefix(CATEGORY_THEN_TAG2_LEN2, de48).unwrap(), b"R");
        let all: Vec<_> = iter(CATEGORY_THEN_TAG2_LEN2, de48)
            .map(|s| s.map(|s| (s.tag, s.value)))
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(all, [(&b"01"[..], &b"ABC"[..]), (b"42", b"1234567")]);
        let s = find(CATEGORY_THEN_TAG2_LEN2, de48, b"42").unwrap().unwrap();
        assert_eq!((s.offset, s.value), (8, &b"1234567"[..]));
    }

    #[test]
    fn write_then_read() {
        let mut out = Vec::new();
        write(SubfieldFormat::TAG3_LEN3, b"ABC", b"hello", &mut out).unwrap();
        write(SubfieldFormat::TAG3_LEN3, b"XYZ", b"", &mut out).unwrap();
        assert_eq!(out, b"ABC005helloXYZ000");
        assert_eq!(iter(SubfieldFormat::TAG3_LEN3, &out).count(), 2);
        assert!(write(SubfieldFormat::TAG2_LEN2, b"A", b"", &mut out).is_err());
        assert!(write(SubfieldFormat::TAG2_LEN2, b"AB", &[b'x'; 100], &mut out).is_err());
    }

    #[test]
    fn malformed_is_an_error() {
        let f = SubfieldFormat::TAG2_LEN2;
        assert_eq!(
            iter(f, b"0105AB").next(),
            Some(Err(TlvError::Truncated { offset: 4 }))
        );
        assert_eq!(
            iter(f, b"01X5AB").next(),
            Some(Err(TlvError::InvalidHeader { offset: 0 }))
        );
        assert_eq!(
            iter(f, b"01").next(),
            Some(Err(TlvError::Truncated { offset: 2 }))
        );
        assert!(prefix(CATEGORY_THEN_TAG2_LEN2, b"").is_err());
        assert_eq!(
            iter(CATEGORY_THEN_TAG2_LEN2, b"").next(),
            Some(Err(TlvError::Truncated { offset: 0 }))
        );
    }
}
