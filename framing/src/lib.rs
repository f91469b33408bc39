//! Framing: how one ISO 8583 message is delimited on a TCP stream.
//!
//! DESIGN.md: "Default framing `binary2`: 2-byte big-endian length of the message that follows
//! (not counting itself). Also: `ascii4` (4 ASCII digits), `bcd2` (2-byte BCD). A zero-length
//! frame is a keep-alive. Every listener has a maximum frame size (default 8192); a larger
//! header is refused before any allocation of that size."
//!
//! One codec for every side of the wire: the gateway's listeners and outbound links, the
//! harness (`fixtures`: client, load, echo server, replay) and the `frames` fuzz target. It
//! needs no tokio runtime, only tokio-util's codec traits and `bytes`.
//!
//! ```
//! use bytes::{Bytes, BytesMut};
//! use framing::{Frame, FrameCodec, LengthPrefix, DEFAULT_MAX_FRAME_LEN};
//! use tokio_util::codec::{Decoder, Encoder};
//!
//! let mut codec = FrameCodec::new(LengthPrefix::Binary2, 0, DEFAULT_MAX_FRAME_LEN);
//! let mut wire = BytesMut::new();
//! codec.encode(Frame::new(Bytes::new(), Bytes::from_static(b"0800")), &mut wire).unwrap();
//! assert_eq!(&wire[..], b"\x00\x040800");
//! let frame = codec.decode(&mut wire).unwrap().unwrap();
//! assert_eq!(&frame.body[..], b"0800");
//! ```
#![warn(missing_docs)]
#![warn(unreachable_pub)]

mod codec;
mod error;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod length;

pub use codec::{Frame, FrameCodec, DEFAULT_MAX_FRAME_LEN, MAX_HEADER_LEN};
pub use error::FramingError;
pub use length::LengthPrefix;
