//! The decoder: nom parsers over the input slice, filling a [`Message`] with where each field
//! lies. Every length is checked against the field's maximum before any byte is taken, and every
//! value against its content class, so decoding never panics and never allocates.

use crate::codec::{bcd, charset, ebcdic, hex, prefix};
use crate::error::DecodeError;
use crate::limits::MAX_MESSAGE_LEN;
use crate::message::Message;
use crate::mti::Mti;
use crate::owned::OwnedMessage;
use crate::spec::{BitmapEncoding, DataEncoding, FieldSpec, LengthType, MtiEncoding, Spec};
use nom::error::{ErrorKind, ParseError};
use nom::{IResult, Input};

/// Decodes one complete message. The input must hold exactly one message: bytes after the last
/// field are an error ([`DecodeError::TrailingBytes`]).
///
/// Non-canonical forms that are accepted (and re-encoded canonically, so `encode(decode(b))`
/// differs from `b` for them): lowercase hex digits in hex bitmaps and hex-ASCII fields; a BCD
/// filler nibble of 0 where the spec writes F or the reverse; a secondary (or tertiary) bitmap
/// that announces no field. (In the other direction, the encoder accepts `D` as well as `=` as
/// the separator of BCD track data, which decodes as `=`.)
pub fn decode<'a>(spec: &'a Spec, input: &'a [u8]) -> Result<Message<'a>, DecodeError> {
    let mut msg = Message::empty(spec, input);
    parse_message(spec, input, &mut msg)?;
    Ok(msg)
}

/// What could be read of a message that failed to decode: the MTI and the fields before the
/// fault (enough to answer with response code 30 when the STAN was read), and the error.
/// `(Some(m), None)` for a message that decodes completely.
pub fn decode_partial(spec: &Spec, input: &[u8]) -> (Option<OwnedMessage>, Option<DecodeError>) {
    let mut msg = Message::empty(spec, input);
    let result = parse_message(spec, input, &mut msg);
    let owned = msg.mti_read().then(|| msg.to_owned_message());
    (owned, result.err())
}

/// A parse failure: where (`at` is the rest of the input from the faulty byte on) and what.
struct Fail<'a> {
    at: &'a [u8],
    field: Option<u16>,
    kind: Kind,
}

enum Kind {
    Truncated(usize),
    Mti,
    Bitmap,
    Undefined,
    Prefix,
    Length(usize, usize),
    Content,
    Trailing,
}

impl<'a> ParseError<&'a [u8]> for Fail<'a> {
    fn from_error_kind(input: &'a [u8], _: ErrorKind) -> Self {
        // nom's `take` fails only at end of input; the caller knows how much was needed.
        Fail {
            at: input,
            field: None,
            kind: Kind::Truncated(1),
        }
    }

    fn append(_: &'a [u8], _: ErrorKind, other: Self) -> Self {
        other
    }
}

type Res<'a, T> = IResult<&'a [u8], T, Fail<'a>>;

fn fail<T>(at: &[u8], field: Option<u16>, kind: Kind) -> Res<'_, T> {
    Err(nom::Err::Error(Fail { at, field, kind }))
}

/// `n` bytes, or a truncation error saying how many are missing.
fn take_n(n: usize, field: Option<u16>) -> impl Fn(&[u8]) -> Res<'_, &[u8]> {
    move |i: &[u8]| {
        if i.len() < n {
            return fail(i, field, Kind::Truncated(n - i.len()));
        }
        // Length checked above, so nom's split cannot fail; `take_split` rather than the
        // `take` combinator because the combinator's generic machinery was 16% of a decode
        // in profiles (it was not inlined).
        Ok(i.take_split(n))
    }
}

fn parse_message<'a>(
    spec: &'a Spec,
    input: &'a [u8],
    msg: &mut Message<'a>,
) -> Result<(), DecodeError> {
    if input.len() > MAX_MESSAGE_LEN {
        return Err(DecodeError::MessageTooLong {
            field: None,
            offset: 0,
            len: input.len(),
            max: MAX_MESSAGE_LEN,
        });
    }
    fields(spec, input, msg).map(|_| ()).map_err(|e| match e {
        nom::Err::Error(f) | nom::Err::Failure(f) => to_error(input, f),
        // Only complete parsers are used; treat "incomplete" as truncation for safety.
        nom::Err::Incomplete(_) => DecodeError::Truncated {
            field: None,
            offset: input.len(),
            needed: 1,
        },
    })
}

fn to_error(input: &[u8], f: Fail<'_>) -> DecodeError {
    let (field, offset) = (f.field, input.len() - f.at.len());
    match f.kind {
        Kind::Truncated(needed) => DecodeError::Truncated {
            field,
            offset,
            needed,
        },
        Kind::Mti => DecodeError::InvalidMti { field, offset },
        Kind::Bitmap => DecodeError::InvalidBitmap { field, offset },
        Kind::Undefined => DecodeError::UndefinedField { field, offset },
        Kind::Prefix => DecodeError::InvalidLengthPrefix { field, offset },
        Kind::Length(len, max) => DecodeError::InvalidLength {
            field,
            offset,
            len,
            max,
        },
        Kind::Content => DecodeError::InvalidContent { field, offset },
        Kind::Trailing => DecodeError::TrailingBytes {
            field,
            offset,
            count: f.at.len(),
        },
    }
}

fn fields<'a>(spec: &'a Spec, input: &'a [u8], msg: &mut Message<'a>) -> Res<'a, ()> {
    let offset = |rest: &[u8]| input.len() - rest.len();
    let mut i = input;
    if let Some(h) = spec.header() {
        let (rest, _) = take_n(h.length, None)(i)?;
        msg.set_header(0, offset(rest));
        i = rest;
    }
    let (rest, mti) = parse_mti(spec, i)?;
    msg.set_mti(mti);
    let (rest, primary) = parse_bitmap(spec.bitmap_encoding(), None, rest)?;
    i = rest;
    let mut words = [primary, 0u64, 0u64];
    for w in 0..words.len() {
        // Later words are filled in while earlier ones are walked (field 1 before field 2).
        let mut bits = words[w];
        while bits != 0 {
            let lz = bits.leading_zeros();
            bits &= !(1u64 << (63 - lz));
            let n = w as u16 * 64 + lz as u16 + 1;
            if n == 1 || (n == 65 && spec.has_tertiary_bitmap()) {
                let (rest, word) = parse_bitmap(spec.bitmap_encoding(), Some(n), i)?;
                words[usize::from(n / 64) + 1] = word;
                i = rest;
                continue;
            }
            let Some(f) = spec.field(n) else {
                return fail(i, Some(n), Kind::Undefined);
            };
            let (rest, (start, odd)) = parse_field(f, offset(i), i)?;
            msg.record(n, start, offset(rest), odd);
            i = rest;
        }
    }
    if !i.is_empty() {
        return fail(i, None, Kind::Trailing);
    }
    Ok((i, ()))
}

fn parse_mti<'a>(spec: &Spec, i: &'a [u8]) -> Res<'a, Mti> {
    let (rest, digits) = match spec.mti_encoding() {
        MtiEncoding::Ascii => {
            let (rest, b) = take_n(4, None)(i)?;
            (rest, [b[0], b[1], b[2], b[3]])
        }
        MtiEncoding::Ebcdic => {
            let (rest, b) = take_n(4, None)(i)?;
            let d = |k: usize| ebcdic::to_ascii(b[k]);
            (rest, [d(0), d(1), d(2), d(3)])
        }
        MtiEncoding::Bcd => {
            let (rest, b) = take_n(2, None)(i)?;
            let d = |x: u8| if x <= 9 { b'0' + x } else { b'?' };
            (
                rest,
                [d(b[0] >> 4), d(b[0] & 15), d(b[1] >> 4), d(b[1] & 15)],
            )
        }
    };
    match Mti::from_digits(digits) {
        Some(m) if spec.version().allows(digits[0]) => Ok((rest, m)),
        _ => fail(i, None, Kind::Mti),
    }
}

fn parse_bitmap(enc: BitmapEncoding, field: Option<u16>, i: &[u8]) -> Res<'_, u64> {
    let text = match enc {
        BitmapEncoding::Binary => {
            let (rest, b) = take_n(8, field)(i)?;
            let mut word = [0u8; 8];
            word.copy_from_slice(b);
            return Ok((rest, u64::from_be_bytes(word)));
        }
        BitmapEncoding::HexAscii | BitmapEncoding::HexEbcdic => take_n(16, field)(i)?,
    };
    let (rest, b) = text;
    let mut word = 0u64;
    for (k, &c) in b.iter().enumerate() {
        let c = if enc == BitmapEncoding::HexEbcdic {
            ebcdic::to_ascii(c)
        } else {
            c
        };
        match hex::nibble(c) {
            Some(v) => word = (word << 4) | u64::from(v),
            None => return fail(&i[k..], field, Kind::Bitmap),
        }
    }
    Ok((rest, word))
}

/// One data element: prefix (checked against the field's maximum before the value is taken),
/// value, content check. Returns the value's start offset and whether it is odd-length BCD.
fn parse_field<'a>(f: &FieldSpec, at: usize, i: &'a [u8]) -> Res<'a, (usize, bool)> {
    let n = Some(f.number);
    let (i, wire_len, logical, value_at) = if f.length == LengthType::Fixed {
        let logical = usize::from(f.max);
        (i, f.wire_len(logical), logical, at)
    } else {
        let plen = f.prefix_len();
        let (rest, p) = take_n(plen, n)(i)?;
        let Some(v) = prefix::read(f.prefix, p) else {
            return fail(i, n, Kind::Prefix);
        };
        let max = f.max_prefix();
        if v > max {
            return fail(i, n, Kind::Length(v, max));
        }
        match f.lengths_for_prefix(v) {
            Some((wire, logical)) if logical <= usize::from(f.max) => {
                (rest, wire, logical, at + plen)
            }
            _ => return fail(i, n, Kind::Length(v, max)),
        }
    };
    let (rest, value) = take_n(wire_len, n)(i)?;
    let bad = match f.data {
        DataEncoding::Ascii => charset::first_invalid(f.class, value),
        DataEncoding::Ebcdic => {
            charset::first_invalid_iter(f.class, value.iter().map(|&b| ebcdic::to_ascii(b)))
        }
        DataEncoding::Bcd => bcd::first_invalid(f.class, value, logical, f.pad),
        DataEncoding::Binary => None,
        DataEncoding::HexAscii => hex::first_invalid(value),
    };
    if let Some(k) = bad {
        // `i` (not `value`) so that the slice is a suffix of the input and gives the offset.
        return fail(&i[k.min(i.len())..], n, Kind::Content);
    }
    let odd = f.data == DataEncoding::Bcd && logical % 2 == 1;
    Ok((rest, (value_at, odd)))
}
