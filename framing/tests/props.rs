//! Properties of the framing codecs, without sockets: any sequence of frames, cut into any
//! reads, comes back identical; any bytes at all give frames within the limit or an error,
//! never a panic (the allocation check is `read_oversize_frame_is_refused_before_allocation`).

use bytes::{Bytes, BytesMut};
use framing::{Frame, FrameCodec, LengthPrefix};
use proptest::prelude::*;
use tokio_util::codec::{Decoder, Encoder};

fn prefix() -> impl Strategy<Value = LengthPrefix> {
    prop_oneof![
        Just(LengthPrefix::Binary2),
        Just(LengthPrefix::Ascii4),
        Just(LengthPrefix::Bcd2)
    ]
}

proptest! {
    #[test]
    fn frames_survive_any_split(
        p in prefix(),
        header_len in 0usize..5,
        bodies in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..300), 1..20),
        cuts in prop::collection::vec(1usize..64, 1..50),
    ) {
        let mut codec = FrameCodec::new(p, header_len, 512);
        let mut wire = BytesMut::new();
        let frames: Vec<Frame> = bodies
            .iter()
            .map(|b| Frame::new(Bytes::from(vec![7u8; header_len]), Bytes::from(b.clone())))
            .collect();
        for f in &frames {
            codec.encode(f.clone(), &mut wire).unwrap();
        }
        let mut got = Vec::new();
        let mut buf = BytesMut::new();
        let mut rest = &wire[..];
        let mut i = 0;
        while !rest.is_empty() {
            let n = cuts[i % cuts.len()].min(rest.len());
            buf.extend_from_slice(&rest[..n]);
            rest = &rest[n..];
            i += 1;
            while let Some(f) = codec.decode(&mut buf).unwrap() {
                got.push(f);
            }
        }
        prop_assert_eq!(got, frames);
        prop_assert!(buf.is_empty());
    }

    #[test]
    fn arbitrary_bytes_never_panic_and_frames_respect_the_limit(
        p in prefix(),
        header_len in 0usize..5,
        data in prop::collection::vec(any::<u8>(), 0..2000),
    ) {
        let max = 256;
        let mut codec = FrameCodec::new(p, header_len, max);
        let mut buf = BytesMut::new();
        for chunk in data.chunks(17) {
            buf.extend_from_slice(chunk);
            loop {
                match codec.decode(&mut buf) {
                    Ok(Some(f)) => prop_assert!(f.body.len() <= max),
                    Ok(None) => break,
                    Err(_) => return Ok(()),
                }
            }
        }
    }
}
