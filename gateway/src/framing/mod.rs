//! Framing: how one ISO 8583 message is delimited on a TCP stream.
//!
//! DESIGN.md: "Default framing `binary2`: 2-byte big-endian length of the message that follows
//! (not counting itself). Also: `ascii4` (4 ASCII digits), `bcd2` (2-byte BCD). A zero-length
//! frame is a keep-alive. Every listener has a maximum frame size (default 8192); a larger
//! header is refused before any allocation of that size."
//!
//! This directory uses nothing else of the gateway (only `bytes`, `tokio-util`, `serde` and
//! `thiserror`): the fuzz crate compiles it as it is, see `fuzz/fuzz_targets/frames.rs`.

mod codec;
mod error;
#[doc(hidden)]
pub mod fuzzing;
mod length;

pub use codec::{Frame, FrameCodec, DEFAULT_MAX_FRAME_LEN, MAX_HEADER_LEN};
pub use error::FramingError;
pub use length::LengthPrefix;
