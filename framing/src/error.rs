//! The one error of framing: a stream that cannot be split into frames.
//!
//! The gateway's `error` module re-exports it; the harness wraps it in its own error.

use std::io;

use super::LengthPrefix;

/// A stream that cannot be split into frames: the connection must close.
#[derive(Debug, thiserror::Error)]
pub enum FramingError {
    /// The length prefix holds something that is not a length.
    #[error("{prefix} length prefix is not a length: {raw}")]
    BadLength {
        /// The prefix kind in use.
        prefix: LengthPrefix,
        /// The prefix bytes, in hex (a length is not card data).
        raw: String,
    },
    /// The peer claimed (or we tried to send) more than the limit.
    #[error("frame of {len} bytes exceeds the limit of {max}")]
    TooLarge {
        /// Claimed length.
        len: usize,
        /// The limit in force.
        max: usize,
    },
    /// A framing name nobody knows.
    #[error("unknown framing {0:?}: expected one of binary2, ascii4, bcd2")]
    UnknownFraming(String),
    /// The socket failed.
    #[error("i/o: {0}")]
    Io(#[from] io::Error),
}
