//! The decoder: nom parsers over the input slice, filling a [`Message`] with where each field
//! lies. Every length is checked against the field's maximum before any byte is taken, and every
//! value against its content class, so decoding never panics and never allocates.
//!
//! One walk serves both entry points: [`decode`] stops at the first fault, [`decode_partial`]
//! goes past the faults whose extent is known (see its rules) to find what else can be read.
//! The choice is a type parameter ([`Faults`]), so `decode`'s walk carries no trace of it.

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
    parse_message(spec, input, &mut msg, &mut Strict)?;
    Ok(msg)
}

/// Reads what can be trusted of a message that may not decode: enough, when its MTI and STAN
/// are among it, to answer it with response code 30 (format error) instead of leaving the
/// sender to time out. For a message that decodes, the same message as [`decode`] and no
/// fault.
///
/// The reading goes on past a fault whose extent is still known, so that the fields after it
/// (DE 11 among them) are found:
/// - a value that breaks its content class (letters in DE 2, DE 4 or DE 7) in a fixed field, or
///   in a variable field whose length prefix is readable and within the maximum;
/// - a readable length prefix above the field's maximum (a 20-digit PAN), when the length it
///   announces fits in the input: those bytes are passed over.
///
/// A faulty field is never in the partial message, and its value never in a fault. The
/// reading stops where the framing of the fields is lost: the input ends inside an item, a
/// length prefix is not a number, a length above the maximum runs past the input, the bitmap
/// announces a field the spec does not define, a hex bitmap holds a character that is not hex.
///
/// Which fields are kept, so that nothing read out of step with the sender is passed off as a
/// field (a missing secondary bitmap, a wrong length prefix, or a skipped length that was not
/// the field's puts every later field out of step, and such a reading soon fails):
/// - a reading that passed over faults is kept only when it holds together to the end: every
///   field the bitmaps announce read, the last one ending exactly where the input ends;
///   otherwise it was out of step somewhere, and none of its fields is kept;
/// - a reading that passed over no fault keeps the fields before its one fault (bytes left over
///   after the last field, or a lost framing), as [`decode`]'s error reports it; except that a
///   framing lost after a secondary (or tertiary) bitmap keeps none: any 8 bytes are a binary
///   bitmap and any 16 hex digits a text one, so the bitmap cannot vouch for itself, and a
///   bitmap that was announced but not sent is what most often puts the fields out of step.
///
/// The MTI (and a header the spec declares) is kept whenever it was read: it comes before any
/// of this. The faults are listed in wire order; the first is the error [`decode`] returns.
/// After a reading found out of step, the later faults are where that reading failed, not
/// necessarily faults of the fields they name.
pub fn decode_partial(spec: &Spec, input: &[u8]) -> PartialMessage {
    let mut msg = Message::empty(spec, input);
    let mut goes_on = GoesOn {
        input,
        faults: Vec::new(),
        extra_bitmap: false,
    };
    let end = parse_message(spec, input, &mut msg, &mut goes_on);
    let GoesOn {
        mut faults,
        extra_bitmap,
        ..
    } = goes_on;
    let passed_over = !faults.is_empty();
    let holds_together = match end {
        Ok(()) => true,
        Err(DecodeError::TrailingBytes { .. }) => !passed_over,
        Err(_) => !passed_over && !extra_bitmap,
    };
    if !holds_together {
        msg.clear_fields();
    }
    faults.extend(end.err());
    PartialMessage {
        message: msg.mti_read().then(|| msg.to_owned_message()),
        faults,
    }
}

/// What [`decode_partial`] could read of a message, and the faults it found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartialMessage {
    message: Option<OwnedMessage>,
    faults: Vec<DecodeError>,
}

impl PartialMessage {
    /// The MTI and the fields that were read and can be trusted: never a faulty field. `None`
    /// when not even the MTI could be read.
    pub fn message(&self) -> Option<&OwnedMessage> {
        self.message.as_ref()
    }

    /// [`PartialMessage::message`], by value.
    pub fn into_message(self) -> Option<OwnedMessage> {
        self.message
    }

    /// Every fault found, in wire order, each with its field and byte offset (never a value):
    /// empty for a message that decodes. The first one is the error [`decode`] returns.
    pub fn faults(&self) -> &[DecodeError] {
        &self.faults
    }

    /// The first fault: the error [`decode`] returns for the same input.
    pub fn error(&self) -> Option<DecodeError> {
        self.faults.first().copied()
    }

    /// Whether the message decoded without fault.
    pub fn is_complete(&self) -> bool {
        self.faults.is_empty()
    }
}

/// What the walk does at a fault after which it could go on (the faulty field's extent is
/// known): [`decode`] stops ([`Strict`]), [`decode_partial`] notes it and goes on ([`GoesOn`]).
trait Faults<'a> {
    /// Whether the walk goes past faults at all; a constant, so that `decode`'s walk has no
    /// trace of the recovery paths.
    const GOES_ON: bool;

    /// `Ok` to go on after `fail`, `Err` to stop the walk with it.
    fn pass(&mut self, fail: Fail<'a>) -> Result<(), nom::Err<Fail<'a>>>;

    /// A secondary or tertiary bitmap was read.
    fn extra_bitmap(&mut self) {}
}

/// [`decode`]: the first fault ends the walk.
struct Strict;

impl<'a> Faults<'a> for Strict {
    const GOES_ON: bool = false;

    #[inline(always)]
    fn pass(&mut self, fail: Fail<'a>) -> Result<(), nom::Err<Fail<'a>>> {
        Err(nom::Err::Error(fail))
    }
}

/// [`decode_partial`]: faults with a known extent are noted and passed over.
struct GoesOn<'a> {
    input: &'a [u8],
    faults: Vec<DecodeError>,
    extra_bitmap: bool,
}

impl<'a> Faults<'a> for GoesOn<'a> {
    const GOES_ON: bool = true;

    fn pass(&mut self, fail: Fail<'a>) -> Result<(), nom::Err<Fail<'a>>> {
        self.faults.push(to_error(self.input, fail));
        Ok(())
    }

    fn extra_bitmap(&mut self) {
        self.extra_bitmap = true;
    }
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

fn parse_message<'a, F: Faults<'a>>(
    spec: &'a Spec,
    input: &'a [u8],
    msg: &mut Message<'a>,
    faults: &mut F,
) -> Result<(), DecodeError> {
    if input.len() > MAX_MESSAGE_LEN {
        return Err(DecodeError::MessageTooLong {
            field: None,
            offset: 0,
            len: input.len(),
            max: MAX_MESSAGE_LEN,
        });
    }
    fields(spec, input, msg, faults)
        .map(|_| ())
        .map_err(|e| match e {
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

fn fields<'a, F: Faults<'a>>(
    spec: &'a Spec,
    input: &'a [u8],
    msg: &mut Message<'a>,
    faults: &mut F,
) -> Res<'a, ()> {
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
                faults.extra_bitmap();
                i = rest;
                continue;
            }
            let Some(f) = spec.field(n) else {
                return fail(i, Some(n), Kind::Undefined);
            };
            match parse_field(f, offset(i), i) {
                Ok((rest, v)) => {
                    match first_invalid(f, v.value, v.logical) {
                        None => msg.record(n, v.start, offset(rest), v.odd()),
                        // `v.from` (not `v.value`) so that the slice is a suffix of the input
                        // and gives the offset. The field's extent is known: the walk may go on.
                        Some(k) => faults.pass(Fail {
                            at: &v.from[k.min(v.from.len())..],
                            field: Some(n),
                            kind: Kind::Content,
                        })?,
                    }
                    i = rest;
                }
                Err(nom::Err::Error(e)) if F::GOES_ON => i = pass_over_long(f, i, e, faults)?,
                Err(e) => return Err(e),
            }
        }
    }
    if !i.is_empty() {
        return fail(i, None, Kind::Trailing);
    }
    Ok((i, ()))
}

/// After a field's prefix failed: a length above the maximum whose extent fits in the input is
/// passed over (it stays a fault); any other failure loses the framing and ends the walk.
#[cold]
fn pass_over_long<'a, F: Faults<'a>>(
    f: &FieldSpec,
    i: &'a [u8],
    e: Fail<'a>,
    faults: &mut F,
) -> Result<&'a [u8], nom::Err<Fail<'a>>> {
    if let Kind::Length(v, _) = e.kind {
        // `i` is where the prefix starts; the announced value follows it.
        let extent = f
            .lengths_for_prefix(v)
            .map(|(wire, _)| f.prefix_len() + wire);
        if let Some(rest) = extent.and_then(|x| i.get(x..)) {
            faults.pass(e)?;
            return Ok(rest);
        }
    }
    Err(nom::Err::Error(e))
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

/// Where one data element's value lies, its content not yet checked.
struct Value<'a> {
    /// The input from the value's first byte on.
    from: &'a [u8],
    /// The value's wire bytes.
    value: &'a [u8],
    /// Its logical length (characters, digits or bytes).
    logical: usize,
    /// Its offset in the input.
    start: usize,
    /// Whether the data is BCD: an odd digit count then has a filler nibble.
    bcd: bool,
}

impl Value<'_> {
    fn odd(&self) -> bool {
        self.bcd && self.logical % 2 == 1
    }
}

/// One data element's extent: prefix (checked against the field's maximum before the value is
/// taken), then the value. `at` is the offset of `i`. Inlined into each of the two walks
/// (called once in each): a call here cost `decode` about 8% more instructions (callgrind).
#[inline(always)]
fn parse_field<'a>(f: &FieldSpec, at: usize, i: &'a [u8]) -> Res<'a, Value<'a>> {
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
    Ok((
        rest,
        Value {
            from: i,
            value,
            logical,
            start: value_at,
            bcd: f.data == DataEncoding::Bcd,
        },
    ))
}

/// Index of the first byte of `value` that breaks the field's content class.
#[inline(always)]
fn first_invalid(f: &FieldSpec, value: &[u8], logical: usize) -> Option<usize> {
    match f.data {
        DataEncoding::Ascii => charset::first_invalid(f.class, value),
        DataEncoding::Ebcdic => {
            charset::first_invalid_iter(f.class, value.iter().map(|&b| ebcdic::to_ascii(b)))
        }
        DataEncoding::Bcd => bcd::first_invalid(f.class, value, logical, f.pad),
        DataEncoding::Binary => None,
        DataEncoding::HexAscii => hex::first_invalid(value),
    }
}
