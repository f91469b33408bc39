//! Primitive codecs: character classes, EBCDIC, packed BCD, hex text and length prefixes.
//! Each works on borrowed slices and reports the index of the first bad byte, so the decoder
//! can turn it into a byte offset without allocating.

pub(crate) mod bcd;
pub(crate) mod charset;
pub(crate) mod ebcdic;
pub(crate) mod hex;
pub(crate) mod prefix;
