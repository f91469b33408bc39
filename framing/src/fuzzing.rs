//! The check behind the `frames` fuzz target (`fuzz/fuzz_targets/frames.rs`), here so that the
//! ordinary test suite (`framing/tests/fuzz_regressions.rs`) replays every saved fuzz input
//! through exactly the same code. It panics when a property breaks: that is how libFuzzer (and
//! the test) learn of a bug. Enabled by the `fuzzing` feature; not a stable API.

use bytes::BytesMut;
use tokio_util::codec::{Decoder, Encoder};

use super::{Frame, FrameCodec, LengthPrefix};

/// Frame limits an input can choose: the edges and the sizes in use.
const MAX_FRAME_LENS: [usize; 8] = [0, 1, 2, 16, 255, 256, 8192, 65535];

/// Largest read the chunked runs feed at once (a TCP segment is rarely smaller).
const MAX_CHUNK: usize = 64;

/// Feeds a byte stream to [`FrameCodec`] whole, in 1-byte reads and in reads of pseudo-random
/// sizes, and checks that:
/// - every way of cutting the stream yields the same frames, the same error (or none) and
///   leaves the same bytes unconsumed (incomplete is not an error);
/// - every frame respects the limit and carries the configured header;
/// - the read buffer never grows towards a length the peer merely claims: its capacity stays
///   within `4 * (prefix + header + limit + largest read) + 1024` bytes;
/// - encoding the frames gives back exactly the bytes they were read from.
///
/// Input layout: byte 0 chooses the prefix (`% 3`: binary2, ascii4, bcd2) and the header
/// length (`/ 3 % 5`); byte 1 the frame limit (an index into 0, 1, 2, 16, 255, 256, 8192,
/// 65535); byte 2 seeds the read sizes; the rest is the stream. Shorter inputs are ignored.
pub fn frames(data: &[u8]) {
    let [a, b, seed, ref stream @ ..] = *data else {
        return;
    };
    let prefix = [
        LengthPrefix::Binary2,
        LengthPrefix::Ascii4,
        LengthPrefix::Bcd2,
    ][usize::from(a % 3)];
    let header_len = usize::from(a / 3 % 5);
    let limit = MAX_FRAME_LENS[usize::from(b) % MAX_FRAME_LENS.len()];
    let codec = FrameCodec::new(prefix, header_len, limit);

    let whole = run(&codec, stream, |_| stream.len());
    let bytewise = run(&codec, stream, |_| 1);
    let mut s = u32::from(seed).wrapping_mul(0x9E37_79B9) | 1;
    let random = run(&codec, stream, |_| {
        s ^= s << 13;
        s ^= s >> 17;
        s ^= s << 5;
        (s as usize) % MAX_CHUNK + 1
    });
    for other in [&bytewise, &random] {
        assert_eq!(
            other.frames, whole.frames,
            "frames depend on how reads are cut"
        );
        assert_eq!(
            other.error, whole.error,
            "errors depend on how reads are cut"
        );
        assert_eq!(other.consumed, whole.consumed);
    }

    let head = prefix.width() + header_len;
    for (run, largest_read) in [(&whole, stream.len()), (&bytewise, 1), (&random, MAX_CHUNK)] {
        let bound = 4 * (head + codec.max_frame_len() + largest_read) + 1024;
        assert!(
            run.max_capacity <= bound,
            "read buffer grew to {} bytes (bound {bound})",
            run.max_capacity
        );
    }
    let mut encoder = codec.clone();
    let mut wire = BytesMut::new();
    for f in &whole.frames {
        assert!(
            f.body.len() <= codec.max_frame_len(),
            "frame over the limit"
        );
        assert_eq!(f.header.len(), header_len);
        encoder
            .encode(f.clone(), &mut wire)
            .expect("a frame read within the limit encodes");
    }
    assert_eq!(
        &wire[..],
        &stream[..whole.consumed],
        "frames re-encode to their bytes"
    );
}

/// What one way of reading a stream produced.
struct Outcome {
    frames: Vec<Frame>,
    /// The error's text (the error itself is not comparable).
    error: Option<String>,
    /// Bytes taken out of the buffer as frames.
    consumed: usize,
    /// Largest capacity the read buffer had.
    max_capacity: usize,
}

fn run(codec: &FrameCodec, stream: &[u8], mut read_len: impl FnMut(usize) -> usize) -> Outcome {
    let mut codec = codec.clone();
    let mut buf = BytesMut::new();
    let mut out = Outcome {
        frames: Vec::new(),
        error: None,
        consumed: 0,
        max_capacity: 0,
    };
    let mut fed = 0;
    while fed < stream.len() {
        let n = read_len(fed).clamp(1, stream.len() - fed);
        buf.extend_from_slice(&stream[fed..fed + n]);
        fed += n;
        loop {
            let r = codec.decode(&mut buf);
            out.max_capacity = out.max_capacity.max(buf.capacity());
            match r {
                Ok(Some(f)) => out.frames.push(f),
                Ok(None) => break,
                Err(e) => {
                    out.error = Some(e.to_string());
                    out.consumed = fed - buf.len();
                    return out;
                }
            }
        }
    }
    out.consumed = fed - buf.len();
    out
}
