//! Reading frames with two clocks: an idle timeout while no frame has started, and a read
//! timeout from a frame's first byte to its last (a slow-drip peer cannot hold a connection
//! by sending one byte per idle period).

use bytes::BytesMut;
use framing::{Frame, FrameCodec};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::time::{timeout_at, Duration, Instant};
use tokio_util::codec::Decoder;

use crate::error::FramingError;

/// Initial read buffer; grows only to what the codec accepts as one frame.
const READ_BUFFER: usize = 4096;

/// What one read attempt produced.
#[derive(Debug)]
pub(crate) enum ReadOutcome {
    /// A complete frame.
    Frame(Frame),
    /// Nothing arrived within the idle timeout (no frame started).
    Idle,
    /// A frame started but did not complete within the read timeout.
    ReadTimeout,
    /// The peer closed (cleanly, between frames).
    Closed,
    /// The stream cannot be framed or the socket failed.
    Error(FramingError),
}

/// Frames from a byte stream, with timeouts.
#[derive(Debug)]
pub(crate) struct FrameReader<R> {
    io: R,
    codec: FrameCodec,
    buf: BytesMut,
    frame_started: Option<Instant>,
}

impl<R: AsyncRead + Unpin> FrameReader<R> {
    pub(crate) fn new(io: R, codec: FrameCodec) -> Self {
        FrameReader {
            io,
            codec,
            buf: BytesMut::with_capacity(READ_BUFFER),
            frame_started: None,
        }
    }

    /// The next frame if it is already in the buffer, without reading or a clock: `None` when
    /// [`Self::next`] has to read.
    pub(crate) fn buffered(&mut self) -> Option<ReadOutcome> {
        match self.codec.decode(&mut self.buf) {
            Ok(Some(f)) => {
                self.frame_started = None;
                Some(ReadOutcome::Frame(f))
            }
            Ok(None) => None,
            Err(e) => Some(ReadOutcome::Error(e)),
        }
    }

    /// The next frame. Cancel-safe: bytes already read stay in the buffer.
    pub(crate) async fn next(&mut self, idle: Duration, read_timeout: Duration) -> ReadOutcome {
        loop {
            match self.codec.decode(&mut self.buf) {
                Ok(Some(f)) => {
                    self.frame_started = None;
                    return ReadOutcome::Frame(f);
                }
                Ok(None) => {}
                Err(e) => return ReadOutcome::Error(e),
            }
            let deadline = if self.buf.is_empty() {
                Instant::now() + idle
            } else {
                *self.frame_started.get_or_insert_with(Instant::now) + read_timeout
            };
            match timeout_at(deadline, self.io.read_buf(&mut self.buf)).await {
                Err(_) if self.buf.is_empty() => return ReadOutcome::Idle,
                Err(_) => return ReadOutcome::ReadTimeout,
                Ok(Ok(0)) if self.buf.is_empty() => return ReadOutcome::Closed,
                Ok(Ok(0)) => {
                    return ReadOutcome::Error(FramingError::Io(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        "peer closed in the middle of a frame",
                    )))
                }
                Ok(Ok(_)) => {
                    if self.frame_started.is_none() {
                        self.frame_started = Some(Instant::now());
                    }
                }
                Ok(Err(e)) => return ReadOutcome::Error(e.into()),
            }
        }
    }
}
