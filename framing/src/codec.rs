//! `FrameCodec`: a tokio-util `Decoder`/`Encoder` for length-prefixed frames.
//!
//! Layout of one frame: `prefix | header | body`. The prefix holds `body.len()`; the header is
//! an optional fixed number of bytes some networks put after the length (2 reserved bytes, a
//! product header) and is present on every frame, keep-alives included, so that a Visa-style
//! keep-alive (`00 00 00 00`: length 0 and 2 reserved bytes) is one frame. A frame whose body
//! is empty is a keep-alive.

use bytes::{Buf, Bytes, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

use super::FramingError;
use super::LengthPrefix;

/// DESIGN.md: "Every listener has a maximum frame size (default 8192)".
pub const DEFAULT_MAX_FRAME_LEN: usize = 8192;

/// The largest fixed header we accept in configuration: headers in use are 2 to 22 bytes.
pub const MAX_HEADER_LEN: usize = 64;

/// One frame: the fixed header (possibly empty) and the message body.
#[derive(Clone, PartialEq, Eq)]
pub struct Frame {
    /// The fixed header after the length, as received (responses echo it).
    pub header: Bytes,
    /// The ISO 8583 message; empty for a keep-alive.
    pub body: Bytes,
}

impl Frame {
    /// A frame carrying `body` after `header`.
    pub fn new(header: Bytes, body: Bytes) -> Self {
        Frame { header, body }
    }

    /// Whether this is a keep-alive (zero-length body).
    pub fn is_keep_alive(&self) -> bool {
        self.body.is_empty()
    }
}

/// Bodies are card data: Debug shows sizes only.
impl std::fmt::Debug for Frame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Frame")
            .field("header_len", &self.header.len())
            .field("body_len", &self.body.len())
            .finish()
    }
}

/// Decodes and encodes [`Frame`]s with a length prefix, a fixed header and a size limit.
#[derive(Clone, Debug)]
pub struct FrameCodec {
    prefix: LengthPrefix,
    header_len: usize,
    max_frame_len: usize,
    /// The body length of the frame being read, once its prefix has been consumed, so a
    /// split read does not parse the prefix twice.
    pending: Option<usize>,
}

impl FrameCodec {
    /// A codec for `prefix` with a fixed header of `header_len` bytes and bodies of at most
    /// `max_frame_len` bytes (clamped to what the prefix can express).
    pub fn new(prefix: LengthPrefix, header_len: usize, max_frame_len: usize) -> Self {
        FrameCodec {
            prefix,
            header_len: header_len.min(MAX_HEADER_LEN),
            max_frame_len: max_frame_len.min(prefix.max_len()),
            pending: None,
        }
    }

    /// The largest body this codec accepts.
    pub fn max_frame_len(&self) -> usize {
        self.max_frame_len
    }

    /// Bytes before the body: prefix and header.
    fn head_len(&self) -> usize {
        self.prefix.width() + self.header_len
    }
}

impl Decoder for FrameCodec {
    type Item = Frame;
    type Error = FramingError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Frame>, FramingError> {
        let body_len = match self.pending {
            Some(n) => n,
            None => {
                if src.len() < self.prefix.width() {
                    return Ok(None);
                }
                let n = self.prefix.read(&src[..self.prefix.width()])?;
                // The limit is checked here, on the header alone, before any buffer grows
                // towards what the peer claims.
                if n > self.max_frame_len {
                    return Err(FramingError::TooLarge {
                        len: n,
                        max: self.max_frame_len,
                    });
                }
                self.pending = Some(n);
                n
            }
        };
        let total = self.head_len() + body_len;
        if src.len() < total {
            // Bounded: total <= width + MAX_HEADER_LEN + max_frame_len.
            src.reserve(total - src.len());
            return Ok(None);
        }
        self.pending = None;
        src.advance(self.prefix.width());
        let header = src.split_to(self.header_len).freeze();
        let body = src.split_to(body_len).freeze();
        Ok(Some(Frame { header, body }))
    }
}

impl Encoder<Frame> for FrameCodec {
    type Error = FramingError;

    fn encode(&mut self, frame: Frame, dst: &mut BytesMut) -> Result<(), FramingError> {
        if frame.body.len() > self.max_frame_len {
            return Err(FramingError::TooLarge {
                len: frame.body.len(),
                max: self.max_frame_len,
            });
        }
        let mut head = Vec::with_capacity(self.head_len());
        self.prefix.write(frame.body.len(), &mut head)?;
        // A response echoes the request's header; a frame we originate (an echo test) has
        // none and gets zeros, the reserved value.
        let mut header = frame.header.to_vec();
        header.resize(self.header_len, 0);
        head.extend_from_slice(&header);
        dst.reserve(head.len() + frame.body.len());
        dst.extend_from_slice(&head);
        dst.extend_from_slice(&frame.body);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hex_literal::hex;

    fn codec(prefix: LengthPrefix) -> FrameCodec {
        FrameCodec::new(prefix, 0, DEFAULT_MAX_FRAME_LEN)
    }

    fn body(frame: Option<Frame>) -> Vec<u8> {
        frame.expect("a frame").body.to_vec()
    }

    #[test]
    fn prefixes_are_written_as_the_contract_says() {
        let framed = |prefix, body: &'static [u8]| {
            let mut out = BytesMut::new();
            codec(prefix)
                .encode(Frame::new(Bytes::new(), Bytes::from_static(body)), &mut out)
                .unwrap();
            out
        };
        assert_eq!(&framed(LengthPrefix::Binary2, b"abc")[..], b"\x00\x03abc");
        assert_eq!(&framed(LengthPrefix::Ascii4, b"abc")[..], b"0003abc");
        assert_eq!(&framed(LengthPrefix::Bcd2, &[7; 42])[..2], &[0x00, 0x42]);
    }

    #[test]
    fn read_single_frame_one_packet() {
        let mut c = codec(LengthPrefix::Binary2);
        let mut buf = BytesMut::from(&hex!("0004 30313030")[..]);
        assert_eq!(body(c.decode(&mut buf).unwrap()), b"0100");
        assert!(buf.is_empty());
        assert_eq!(c.decode(&mut buf).unwrap(), None);
    }

    #[test]
    fn read_single_frame_multi_packet() {
        for prefix in [
            LengthPrefix::Binary2,
            LengthPrefix::Ascii4,
            LengthPrefix::Bcd2,
        ] {
            let mut c = codec(prefix);
            let mut wire = BytesMut::new();
            c.encode(
                Frame::new(Bytes::new(), Bytes::from_static(b"0800abc")),
                &mut wire,
            )
            .unwrap();
            let mut buf = BytesMut::new();
            // Feed one byte at a time: every prefix of the frame is "need more bytes".
            for (i, b) in wire.iter().enumerate() {
                buf.extend_from_slice(&[*b]);
                let got = c.decode(&mut buf).unwrap();
                if i + 1 < wire.len() {
                    assert_eq!(got, None, "{prefix} byte {i}");
                } else {
                    assert_eq!(body(got), b"0800abc");
                }
            }
        }
    }

    #[test]
    fn read_multi_frame_one_packet() {
        let mut c = codec(LengthPrefix::Ascii4);
        let mut buf = BytesMut::from(&b"0002ab00000003cde"[..]);
        assert_eq!(body(c.decode(&mut buf).unwrap()), b"ab");
        let ka = c.decode(&mut buf).unwrap().unwrap();
        assert!(ka.is_keep_alive());
        assert_eq!(body(c.decode(&mut buf).unwrap()), b"cde");
        assert_eq!(c.decode(&mut buf).unwrap(), None);
    }

    #[test]
    fn read_incomplete_head() {
        let mut c = codec(LengthPrefix::Ascii4);
        let mut buf = BytesMut::from(&b"00"[..]);
        assert_eq!(c.decode(&mut buf).unwrap(), None);
        assert_eq!(buf.len(), 2, "an incomplete prefix is left in the buffer");
    }

    #[test]
    fn read_zero_length_is_keep_alive() {
        let mut c = FrameCodec::new(LengthPrefix::Binary2, 2, 100);
        let mut buf = BytesMut::from(&hex!("0000 0000")[..]);
        let f = c.decode(&mut buf).unwrap().unwrap();
        assert!(f.is_keep_alive());
        assert_eq!(&f.header[..], &[0, 0]);
    }

    #[test]
    fn read_max_frame_len() {
        let mut c = FrameCodec::new(LengthPrefix::Binary2, 0, 4);
        let mut buf = BytesMut::from(&hex!("0004 01020304")[..]);
        assert_eq!(body(c.decode(&mut buf).unwrap()), [1, 2, 3, 4]);
    }

    #[test]
    fn read_oversize_frame_is_refused_before_allocation() {
        let mut c = FrameCodec::new(LengthPrefix::Binary2, 0, 8192);
        let mut buf = BytesMut::from(&hex!("FFFF 00")[..]);
        let cap_before = buf.capacity();
        let err = c.decode(&mut buf).unwrap_err();
        assert!(matches!(
            err,
            FramingError::TooLarge {
                len: 65535,
                max: 8192
            }
        ));
        assert_eq!(buf.capacity(), cap_before, "nothing reserved for the claim");
    }

    #[test]
    fn read_bad_ascii_length_is_an_error() {
        let mut c = codec(LengthPrefix::Ascii4);
        let mut buf = BytesMut::from(&b"12x4"[..]);
        assert!(matches!(
            c.decode(&mut buf),
            Err(FramingError::BadLength { .. })
        ));
    }

    #[test]
    fn header_is_read_and_echoed() {
        let mut c = FrameCodec::new(LengthPrefix::Bcd2, 5, 100);
        let mut buf = BytesMut::from(&hex!("0003 6000010000 414243")[..]);
        let f = c.decode(&mut buf).unwrap().unwrap();
        assert_eq!(&f.header[..], &hex!("6000010000"));
        assert_eq!(&f.body[..], b"ABC");
        let mut out = BytesMut::new();
        c.encode(f, &mut out).unwrap();
        assert_eq!(&out[..], &hex!("0003 6000010000 414243"));
    }

    #[test]
    fn header_split_across_reads() {
        let mut c = FrameCodec::new(LengthPrefix::Binary2, 2, 100);
        let mut buf = BytesMut::from(&hex!("0001 00")[..]);
        assert_eq!(c.decode(&mut buf).unwrap(), None);
        buf.extend_from_slice(&hex!("00 7A 0002"));
        assert_eq!(body(c.decode(&mut buf).unwrap()), b"z");
        assert_eq!(c.decode(&mut buf).unwrap(), None);
        buf.extend_from_slice(&hex!("0000 6869"));
        assert_eq!(body(c.decode(&mut buf).unwrap()), b"hi");
    }

    #[test]
    fn encode_originated_frame_zero_fills_header() {
        let mut c = FrameCodec::new(LengthPrefix::Binary2, 2, 100);
        let mut out = BytesMut::new();
        c.encode(Frame::new(Bytes::new(), Bytes::from_static(b"x")), &mut out)
            .unwrap();
        assert_eq!(&out[..], &hex!("0001 0000 78"));
    }

    #[test]
    fn encode_oversize_is_refused() {
        let mut c = FrameCodec::new(LengthPrefix::Binary2, 0, 2);
        let mut out = BytesMut::new();
        assert!(c
            .encode(
                Frame::new(Bytes::new(), Bytes::from_static(b"xyz")),
                &mut out
            )
            .is_err());
        assert!(out.is_empty());
    }

    #[test]
    fn the_limit_is_clamped_to_what_the_prefix_can_express() {
        let mut c = FrameCodec::new(LengthPrefix::Ascii4, 0, 20_000);
        assert_eq!(c.max_frame_len(), 9999);
        let mut out = BytesMut::new();
        let err = c
            .encode(
                Frame::new(Bytes::new(), Bytes::from(vec![0; 10_000])),
                &mut out,
            )
            .unwrap_err();
        assert!(matches!(err, FramingError::TooLarge { max: 9999, .. }));
        assert!(out.is_empty());
    }

    #[test]
    fn debug_never_shows_the_body() {
        let f = Frame::new(Bytes::new(), Bytes::from_static(b"4111111111111111"));
        assert!(!format!("{f:?}").contains("4111"));
    }
}
