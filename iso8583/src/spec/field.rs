//! One data element's definition and the arithmetic between its logical length, its length
//! prefix and its size on the wire.

use serde::Deserialize;

/// What characters a field may hold (ISO 8583 "attributes").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ContentClass {
    /// `n`: decimal digits.
    N,
    /// `a`: letters and space.
    A,
    /// `an`: letters, digits and space.
    An,
    /// `ans`: printable ASCII (0x20..0x7E).
    Ans,
    /// `z`: track 2/3 code set; digits and the field separator (`=`, or `D` in text forms).
    Z,
    /// `x+n`: an amount sign (`C` credit or `D` debit) followed by digits; the field's length
    /// counts the sign.
    #[serde(rename = "x+n")]
    Xn,
    /// `b`: binary data.
    B,
}

/// Fixed or variable length, and for variable fields how many digits the prefix has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
pub enum LengthType {
    /// Always exactly `max` units, no prefix.
    #[default]
    #[serde(rename = "fixed")]
    Fixed,
    /// One-digit prefix.
    L,
    /// Two-digit prefix (LLVAR).
    LL,
    /// Three-digit prefix (LLLVAR).
    LLL,
    /// Four-digit prefix (LLLLVAR).
    LLLL,
}

impl LengthType {
    /// Decimal digits in the prefix (0 for fixed fields).
    pub fn digits(self) -> u32 {
        match self {
            LengthType::Fixed => 0,
            LengthType::L => 1,
            LengthType::LL => 2,
            LengthType::LLL => 3,
            LengthType::LLLL => 4,
        }
    }
}

/// How a variable field's length prefix is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PrefixEncoding {
    /// One ASCII digit per length digit.
    Ascii,
    /// One EBCDIC digit per length digit.
    Ebcdic,
    /// Packed BCD, two digits a byte (L and LL take one byte, LLL and LLLL two).
    Bcd,
    /// Unsigned big-endian binary (L and LL take one byte, LLL and LLLL two).
    Binary,
}

/// How a field's value is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DataEncoding {
    /// ASCII text.
    Ascii,
    /// EBCDIC text (code page 037); the logical value is its ASCII equivalent.
    Ebcdic,
    /// Packed BCD, two digits a byte; odd digit counts carry one filler nibble.
    Bcd,
    /// Raw bytes (class `b` only).
    Binary,
    /// Each byte as two ASCII hex digits (class `b` only). Written uppercase; lowercase is
    /// accepted on decode.
    HexAscii,
}

/// Where the filler nibble of an odd-length BCD value goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Padding {
    /// Filler first: `123` -> `01 23`.
    Left,
    /// Filler last: `123` -> `12 3F`.
    Right,
}

/// What a field's length prefix (and `max` for fixed BCD fields) counts on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LengthUnit {
    /// Encoded bytes.
    Bytes,
    /// Encoded half-bytes: BCD digits, or twice the bytes of a binary value.
    Nibbles,
}

/// How [`crate::mask::render`] shows a field to people.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Sensitivity {
    /// Shown as is.
    None,
    /// A primary account number: first 6 and last 4 digits only.
    Pan,
    /// Track data, PIN blocks, security and ICC data: content never shown.
    Secret,
}

/// One data element's definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldSpec {
    /// Field number, 2..192.
    pub number: u16,
    /// Name for people ("Primary Account Number").
    pub name: String,
    /// Content class.
    pub class: ContentClass,
    /// Fixed or L/LL/LLL/LLLL variable.
    pub length: LengthType,
    /// Exact (fixed) or largest (variable) logical length: characters for text classes,
    /// digits for BCD numerics, bytes for `b`.
    pub max: u16,
    /// Length prefix encoding (unused for fixed fields).
    pub prefix: PrefixEncoding,
    /// Value encoding.
    pub data: DataEncoding,
    /// What the prefix counts.
    pub unit: LengthUnit,
    /// Filler position for odd-length BCD values.
    pub pad: Padding,
    /// Filler nibble written for odd-length BCD values (0x0 or 0xF).
    pub filler: u8,
    /// How the field is shown to people.
    pub sensitivity: Sensitivity,
}

impl FieldSpec {
    /// Bytes the length prefix takes on the wire.
    pub fn prefix_len(&self) -> usize {
        let digits = self.length.digits() as usize;
        match self.prefix {
            PrefixEncoding::Ascii | PrefixEncoding::Ebcdic => digits,
            PrefixEncoding::Bcd | PrefixEncoding::Binary => digits.div_ceil(2),
        }
    }

    /// Largest value the prefix could hold given its digits and encoding.
    pub(crate) fn prefix_capacity(&self) -> u32 {
        let decimal = 10u32.pow(self.length.digits()) - 1;
        match (self.prefix, self.prefix_len()) {
            (PrefixEncoding::Binary, 1) => 255,
            (PrefixEncoding::Binary, _) => 65_535,
            _ => decimal,
        }
    }

    /// Bytes a value of `logical` length takes on the wire.
    pub fn wire_len(&self, logical: usize) -> usize {
        match self.data {
            DataEncoding::Ascii | DataEncoding::Ebcdic | DataEncoding::Binary => logical,
            DataEncoding::Bcd => logical.div_ceil(2),
            DataEncoding::HexAscii => logical * 2,
        }
    }

    /// The prefix value that announces a value of `logical` length.
    pub(crate) fn prefix_value(&self, logical: usize) -> usize {
        match (self.unit, self.data) {
            (LengthUnit::Bytes, _) => self.wire_len(logical),
            (LengthUnit::Nibbles, DataEncoding::Bcd) => logical,
            (LengthUnit::Nibbles, _) => logical * 2,
        }
    }

    /// The prefix value of the longest allowed value: the named limit a decoded prefix is
    /// checked against before any byte of the value is taken.
    pub(crate) fn max_prefix(&self) -> usize {
        self.prefix_value(usize::from(self.max))
    }

    /// Turns a decoded prefix value into (wire bytes, logical length), or `None` when the
    /// value cannot describe whole units (an odd nibble count for binary data, an odd byte
    /// count for hex text).
    pub(crate) fn lengths_for_prefix(&self, v: usize) -> Option<(usize, usize)> {
        match (self.unit, self.data) {
            (LengthUnit::Bytes, DataEncoding::Bcd) => Some((v, v * 2)),
            (LengthUnit::Bytes, DataEncoding::HexAscii) => {
                v.is_multiple_of(2).then_some((v, v / 2))
            }
            (LengthUnit::Bytes, _) => Some((v, v)),
            (LengthUnit::Nibbles, DataEncoding::Bcd) => Some((v.div_ceil(2), v)),
            (LengthUnit::Nibbles, _) => v.is_multiple_of(2).then_some((v / 2, v / 2)),
        }
    }
}
