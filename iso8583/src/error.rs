//! The crate's errors. Every decode error carries the data element number (when one is being
//! read) and the byte offset where the problem starts, and never the field's content: an error
//! message may end up in a log line, and a field may hold a PAN, track data or a PIN block.

use thiserror::Error;

/// A message that could not be decoded.
///
/// `field` is `None` while the MTI, header or primary bitmap is being read, `Some(1)` for the
/// secondary bitmap and `Some(n)` for data element `n`; `offset` is the byte offset into the
/// input where the faulty item starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum DecodeError {
    /// The input ends before the item is complete.
    #[error("{} at offset {offset}: input ends early ({needed} more bytes needed)", Where(*field))]
    Truncated {
        /// Field being read.
        field: Option<u16>,
        /// Byte offset of the item.
        offset: usize,
        /// How many more bytes the item needs.
        needed: usize,
    },
    /// The input is longer than [`MAX_MESSAGE_LEN`](crate::limits::MAX_MESSAGE_LEN).
    #[error("message of {len} bytes exceeds the limit of {max} bytes")]
    MessageTooLong {
        /// Always `None`.
        field: Option<u16>,
        /// Always 0.
        offset: usize,
        /// Input length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The MTI is not four decimal digits, or its version is not one the spec accepts.
    #[error("invalid MTI at offset {offset}")]
    InvalidMti {
        /// Always `None`.
        field: Option<u16>,
        /// Byte offset of the MTI.
        offset: usize,
    },
    /// A hex-encoded bitmap holds a character that is not a hex digit.
    #[error("{} at offset {offset}: bitmap is not hexadecimal", Where(*field))]
    InvalidBitmap {
        /// `None` for the primary bitmap, `Some(1)` secondary, `Some(65)` tertiary.
        field: Option<u16>,
        /// Byte offset of the bitmap.
        offset: usize,
    },
    /// The bitmap announces a data element that the spec does not define.
    #[error("field {} at offset {offset}: present in the bitmap but not defined by the spec", field.unwrap_or(0))]
    UndefinedField {
        /// The undefined field.
        field: Option<u16>,
        /// Byte offset where the field would start.
        offset: usize,
    },
    /// A length prefix is not a number in its encoding.
    #[error("{} at offset {offset}: malformed length prefix", Where(*field))]
    InvalidLengthPrefix {
        /// Field being read.
        field: Option<u16>,
        /// Byte offset of the prefix.
        offset: usize,
    },
    /// A length prefix exceeds the field's maximum, or cannot describe whole units.
    #[error("{} at offset {offset}: length {len} is not allowed (maximum {max})", Where(*field))]
    InvalidLength {
        /// Field being read.
        field: Option<u16>,
        /// Byte offset of the prefix.
        offset: usize,
        /// Length announced by the prefix, in the field's length units.
        len: usize,
        /// The field's maximum in the same units.
        max: usize,
    },
    /// A field's content breaks its content class (digits for `n`, the charset for `an`/`ans`,
    /// a BCD nibble above 9, ...). The offending byte is not shown.
    #[error("{} at offset {offset}: content does not match the field's class", Where(*field))]
    InvalidContent {
        /// Field being read.
        field: Option<u16>,
        /// Byte offset of the first offending byte.
        offset: usize,
    },
    /// Bytes remain after the last field the bitmap announces.
    #[error("{count} trailing bytes after the last field at offset {offset}")]
    TrailingBytes {
        /// Always `None`.
        field: Option<u16>,
        /// Byte offset of the first extra byte.
        offset: usize,
        /// How many bytes are left over.
        count: usize,
    },
}

impl DecodeError {
    /// The data element being read when the error occurred, if any.
    pub fn field(&self) -> Option<u16> {
        match *self {
            DecodeError::Truncated { field, .. }
            | DecodeError::MessageTooLong { field, .. }
            | DecodeError::InvalidMti { field, .. }
            | DecodeError::InvalidBitmap { field, .. }
            | DecodeError::UndefinedField { field, .. }
            | DecodeError::InvalidLengthPrefix { field, .. }
            | DecodeError::InvalidLength { field, .. }
            | DecodeError::InvalidContent { field, .. }
            | DecodeError::TrailingBytes { field, .. } => field,
        }
    }

    /// The byte offset into the input where the faulty item starts.
    pub fn offset(&self) -> usize {
        match *self {
            DecodeError::Truncated { offset, .. }
            | DecodeError::MessageTooLong { offset, .. }
            | DecodeError::InvalidMti { offset, .. }
            | DecodeError::InvalidBitmap { offset, .. }
            | DecodeError::UndefinedField { offset, .. }
            | DecodeError::InvalidLengthPrefix { offset, .. }
            | DecodeError::InvalidLength { offset, .. }
            | DecodeError::InvalidContent { offset, .. }
            | DecodeError::TrailingBytes { offset, .. } => offset,
        }
    }
}

/// Renders the "where" part of a message: "field 35", "secondary bitmap" or "message".
struct Where(Option<u16>);

impl std::fmt::Display for Where {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            None => f.write_str("message"),
            Some(1) => f.write_str("secondary bitmap"),
            Some(n) => write!(f, "field {n}"),
        }
    }
}

/// A message that could not be encoded in a spec. Never shows field content.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum EncodeError {
    /// The message sets a field the spec does not define (or one the spec reserves for a
    /// bitmap: 1, and 65 when the spec has a tertiary bitmap).
    #[error("field {field}: not defined by spec {spec}")]
    UndefinedField {
        /// The field.
        field: u16,
        /// The spec's name.
        spec: String,
    },
    /// A fixed field whose value has the wrong length, or a variable one above its maximum.
    #[error("field {field}: length {len} is not allowed ({rule})")]
    InvalidLength {
        /// The field.
        field: u16,
        /// The value's logical length (characters, digits or bytes).
        len: usize,
        /// What the spec allows, e.g. "exactly 6" or "at most 19".
        rule: String,
    },
    /// A value breaks the field's content class; `position` is the index of the first bad
    /// character in the logical value.
    #[error("field {field}: character at position {position} does not match the field's class")]
    InvalidContent {
        /// The field.
        field: u16,
        /// Index into the value.
        position: usize,
    },
    /// The MTI cannot be written in the spec's MTI encoding or version.
    #[error("MTI {mti} is not allowed by spec {spec}")]
    InvalidMti {
        /// The MTI.
        mti: String,
        /// The spec's name.
        spec: String,
    },
    /// The spec declares a fixed-length header and the message's header has another length.
    #[error("header of {len} bytes, spec requires {expected}")]
    InvalidHeader {
        /// Header length given.
        len: usize,
        /// Header length the spec requires.
        expected: usize,
    },
    /// The encoded message would exceed [`MAX_MESSAGE_LEN`](crate::limits::MAX_MESSAGE_LEN).
    #[error("encoded message of {len} bytes exceeds the limit of {max}")]
    MessageTooLong {
        /// Encoded length.
        len: usize,
        /// The limit.
        max: usize,
    },
}

/// A spec file that is refused at load. The message names the field at fault.
#[derive(Debug, Error)]
pub enum SpecError {
    /// Neither a built-in spec name nor a readable file.
    #[error("spec {name:?}: not a built-in spec ({builtins}) and cannot be read: {source}")]
    NotFound {
        /// What was asked for.
        name: String,
        /// The built-in names, comma separated.
        builtins: String,
        /// Why the file could not be read.
        source: std::io::Error,
    },
    /// The file is not valid TOML or JSON for the spec model.
    #[error("spec {origin}: {message}")]
    Syntax {
        /// File path or built-in name.
        origin: String,
        /// The parser's message.
        message: String,
    },
    /// The spec as a whole is inconsistent (bitmap, MTI, header).
    #[error("spec {origin}: {message}")]
    Invalid {
        /// File path or built-in name.
        origin: String,
        /// What is wrong.
        message: String,
    },
    /// One field's definition is inconsistent.
    #[error("spec {origin}: field {field}: {message}")]
    Field {
        /// File path or built-in name.
        origin: String,
        /// The field number (or the key as written when it is not a number).
        field: String,
        /// What is wrong.
        message: String,
    },
}

/// A JSON message form that cannot be turned into a message for the spec.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum JsonError {
    /// The document is not shaped like `{"mti":"0100","fields":{"2":"..."}}`.
    #[error("not a message object: {0}")]
    Shape(String),
    /// The MTI is missing or not four digits.
    #[error("invalid or missing \"mti\"")]
    InvalidMti,
    /// A field key is not a decimal field number the spec defines as a data field.
    #[error("field key {key:?}: {reason}")]
    InvalidKey {
        /// The key as written.
        key: String,
        /// Why it is refused.
        reason: &'static str,
    },
    /// A field value is not a string, or a binary field's value is not hexadecimal.
    #[error("field {field}: {reason}")]
    InvalidValue {
        /// The field.
        field: u16,
        /// Why it is refused (never the value itself).
        reason: &'static str,
    },
    /// The header is not a string or not hexadecimal for a binary header.
    #[error("invalid \"header\": {0}")]
    InvalidHeader(&'static str),
}

/// A BER-TLV or sub-field structure that cannot be read. Never shows content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum TlvError {
    /// The data ends inside a tag, length or value.
    #[error("TLV truncated at offset {offset}")]
    Truncated {
        /// Byte offset into the field value.
        offset: usize,
    },
    /// A tag longer than [`MAX_TLV_TAG_LEN`](crate::limits::MAX_TLV_TAG_LEN) bytes.
    #[error("TLV tag too long at offset {offset}")]
    TagTooLong {
        /// Byte offset into the field value.
        offset: usize,
    },
    /// An indefinite (0x80) or over-long (more than 4 length bytes) BER length; EMV uses neither.
    #[error("unsupported TLV length form at offset {offset}")]
    InvalidLength {
        /// Byte offset into the field value.
        offset: usize,
    },
    /// Constructed objects nested deeper than [`MAX_TLV_DEPTH`](crate::limits::MAX_TLV_DEPTH).
    #[error("TLV nested too deeply at offset {offset}")]
    TooDeep {
        /// Byte offset into the field value.
        offset: usize,
    },
    /// A sub-field's tag or length is not in the format's character set.
    #[error("malformed sub-field header at offset {offset}")]
    InvalidHeader {
        /// Byte offset into the field value.
        offset: usize,
    },
    /// A value too long for the format's length encoding.
    #[error("value of {len} bytes too long for the TLV length form")]
    ValueTooLong {
        /// The value's length.
        len: usize,
    },
}
