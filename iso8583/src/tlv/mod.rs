//! Composite fields, read as views over a field's bytes (nothing is copied):
//! BER-TLV for ICC data (DE 55, EMV tags such as 9F26 and 5F2A with one- to three-byte tags and
//! one- to three-byte lengths) and text tag-length-value sub-fields for private fields such as
//! DE 48. Neither is needed for a plain decode.

pub mod ber;
pub mod subfield;
