//! Named limits: every length read from the wire is checked against one of these (or against
//! the field's own maximum from its spec) before any bytes are taken or any memory is sized.

/// Largest message the decoder accepts. Field positions are kept as `u16` offsets so that a
/// decoded [`Message`](crate::Message) stays small and allocation-free; the gateway's frame limit
/// (8192 by default) is far below this.
pub const MAX_MESSAGE_LEN: usize = u16::MAX as usize;

/// Highest data element number a spec can define: primary, secondary and tertiary bitmaps.
pub const MAX_FIELD: u16 = 192;

/// Longest optional message header a spec may declare, in bytes.
pub const MAX_HEADER_LEN: usize = 64;

/// Largest maximum length a spec may give any field (LLLL allows 9999 units).
pub const MAX_FIELD_LEN: u16 = 9999;

/// Deepest nesting of constructed BER-TLV objects that [`crate::tlv`] walks before refusing.
pub const MAX_TLV_DEPTH: usize = 8;

/// Longest BER-TLV tag accepted, in bytes (EMV tags are one to three bytes long).
pub const MAX_TLV_TAG_LEN: usize = 4;
