//! The checks behind the fuzz targets in `fuzz/`, kept in the library so that the ordinary test
//! suite (`tests/fuzz_regressions.rs`) replays every saved fuzz input through exactly the same
//! code. Each function panics when a property breaks: that is how libFuzzer (and the test)
//! learn of a bug. Enabled by the `fuzzing` feature; not a stable API.

use arbitrary::Unstructured;

use crate::codec::hex;
use crate::limits::{MAX_FIELD_LEN, MAX_TLV_TAG_LEN};
use crate::spec::{ContentClass, DataEncoding, FieldSpec, HeaderEncoding, LengthType, Sensitivity};
use crate::tlv::{ber, subfield};
use crate::{decode, decode_partial, mask, EncodeError, Mti, OwnedMessage, Spec, VersionRule};

/// Longest variable value [`arbitrary_message`] draws: past every one-byte prefix boundary,
/// short enough to keep executions fast.
const MAX_GENERATED: usize = 512;

/// Most fields [`arbitrary_message`] sets in one message.
const MAX_GENERATED_FIELDS: usize = 24;

/// Target `decode`: `data` as one message in every built-in spec (see [`decode_with`]).
pub fn decode_builtin(data: &[u8]) {
    for name in Spec::builtin_names() {
        if let Some(spec) = Spec::builtin(name) {
            decode_with(spec, data);
        }
    }
}

/// Decodes `data` with `spec` and checks what a caller relies on:
/// - `decode` and `decode_partial` agree: the same message and no fault where `decode`
///   succeeds; where it fails, its error is the first fault (see [`check_partial`] for the
///   rest), error offsets lie within the input, and errors, Debug output and [`mask::render`]
///   never show a PAN read;
/// - a message that decodes re-encodes, the re-encoded bytes decode to the same message, and
///   encoding that again gives the same bytes (the canonical form is a fixed point);
/// - every accessor agrees with the owned copy, and the JSON form round trips.
pub fn decode_with(spec: &Spec, data: &[u8]) {
    let full = decode(spec, data);
    let partial = decode_partial(spec, data);
    let msg = match full {
        Err(e) => {
            assert_eq!(
                partial.error(),
                Some(e),
                "decode and decode_partial disagree"
            );
            check_partial(spec, data, &partial);
            return;
        }
        Ok(m) => m,
    };
    let owned = msg.to_owned_message();
    assert_eq!(
        partial.faults(),
        [],
        "decode_partial finds faults where decode succeeds"
    );
    assert_eq!(
        partial.message(),
        Some(&owned),
        "decode_partial reads another message"
    );
    assert_no_pan(spec, "", &owned);
    for n in msg.fields() {
        assert!(msg.has(n));
        assert_eq!(msg.bytes(n).as_deref(), owned.get(n), "field {n}: bytes()");
        assert!(msg.raw(n).is_some(), "field {n}: raw()");
        let text = msg.text(n);
        if spec.is_binary_field(n) {
            let hex = text.map(|t| t.into_owned());
            assert_eq!(hex, owned.get(n).map(hex::upper), "field {n}: text()");
        } else {
            assert_eq!(
                text.as_deref().map(str::as_bytes),
                owned.get(n),
                "field {n}: text()"
            );
        }
        if let Some(v) = owned.get(n) {
            let _ = mask::render(spec, n, v);
        }
    }
    assert_eq!(msg.fields().count(), owned.fields().count());

    let wire = owned
        .encode(spec)
        .unwrap_or_else(|e| panic!("a decoded message does not re-encode: {e}"));
    let again = decode(spec, &wire)
        .unwrap_or_else(|e| panic!("a re-encoded message does not decode: {e}"))
        .to_owned_message();
    assert_eq!(again, owned, "decode(encode(decode(b))) != decode(b)");
    assert_eq!(
        again.encode(spec).ok(),
        Some(wire),
        "canonical form is not stable"
    );

    // The JSON form is text: an ASCII header that is not UTF-8 cannot survive it.
    let header_is_text = owned.header().is_none_or(|h| {
        spec.header().map(|s| s.encoding) == Some(HeaderEncoding::Binary)
            || std::str::from_utf8(h).is_ok()
    });
    if header_is_text {
        let json = owned.to_json(spec);
        let back = OwnedMessage::from_json(spec, &json)
            .unwrap_or_else(|e| panic!("the JSON form does not read back: {e}"));
        assert_eq!(back, owned, "JSON round trip");
    }
}

/// What a partial reading of a message that does not decode must be:
/// - its faults lie within the input, in wire order, and show no PAN that was read;
/// - no field named by a fault is in the partial message (a faulty value is never passed on);
/// - what it keeps is made of valid values: the partial message encodes, and that decodes to
///   the same message;
/// - it keeps fields after a fault it passed over only from a reading that held together to
///   the end: when fields are kept beside two faults or more, every fault is one the reading
///   can pass over (a content fault, or a length above the maximum that fits in the input).
pub fn check_partial(spec: &Spec, data: &[u8], partial: &crate::PartialMessage) {
    let faults = partial.faults();
    assert!(!faults.is_empty(), "a failed decode with no fault");
    let mut last = 0;
    for e in faults {
        assert!(e.offset() <= data.len(), "fault offset past the input: {e}");
        assert!(e.offset() >= last, "faults out of wire order: {faults:?}");
        last = e.offset();
    }
    let Some(m) = partial.message() else {
        return;
    };
    for e in faults {
        assert_no_pan(spec, &e.to_string(), m);
        if let Some(n) = e.field().filter(|&n| n != 1 && n != 65) {
            assert!(!m.has(n), "field {n} is faulty ({e}) and kept");
        }
    }
    match m.encode(spec) {
        Ok(wire) => {
            let back = decode(spec, &wire)
                .unwrap_or_else(|e| panic!("a partial message re-encoded does not decode: {e}"));
            assert_eq!(&back.to_owned_message(), m, "partial message round trip");
        }
        Err(EncodeError::MessageTooLong { .. }) => {}
        Err(e) => panic!("a partial message holds a value its field refuses: {e}"),
    }
    if m.fields().next().is_some() && faults.len() > 1 {
        for e in faults {
            assert!(
                matches!(
                    e,
                    crate::DecodeError::InvalidContent { .. }
                        | crate::DecodeError::InvalidLength { .. }
                ),
                "fields kept from a reading that did not hold together: {faults:?}"
            );
        }
    }
}

/// How [`damaged_field`] damages a field, keeping its extent known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Damage {
    /// One byte of the value outside the field's content class.
    Content,
    /// A length prefix one or two units above the field's maximum, followed by that many bytes.
    TooLong,
}

/// Target `round_trip`, second half: damages one field of a message that decodes (`wire`) so
/// that its extent is still known, and checks that `decode_partial` recovers every other field
/// as it was and nothing else, with that one fault (and the [`decode_with`] checks). `field`
/// picks the field (modulo their count), `at` the byte of a content damage, `extra` adds a
/// second unit to a length. Returns whether the damage applied: not every field allows each
/// kind (a binary field has no class; a fixed field has no prefix; a prefix may have no room
/// above the maximum).
pub fn damaged_field(
    spec: &Spec,
    wire: &[u8],
    field: usize,
    damage: Damage,
    at: usize,
    extra: bool,
) -> bool {
    let Ok(msg) = decode(spec, wire) else {
        return false;
    };
    let fields: Vec<u16> = msg.fields().collect();
    let Some(&n) = fields.get(field % fields.len().max(1)) else {
        return false;
    };
    let (Some(f), Some(raw)) = (spec.field(n), msg.raw(n)) else {
        return false;
    };
    let start = within(wire, raw);
    let mut expected = msg.to_owned_message();
    expected.remove(n);
    let damaged = match damage {
        Damage::Content => {
            if raw.is_empty() {
                return false;
            }
            let k = start + at % raw.len();
            // Try a few bytes; keep the first the decoder refuses as content of this field.
            let refused = |d: &Vec<u8>| {
                matches!(decode(spec, d),
                    Err(crate::DecodeError::InvalidContent { field, .. }) if field == Some(n))
            };
            let tried = [0x01u8, b'G', 0xAA, 0xFF, b'!', b'A', b'0']
                .into_iter()
                .map(|b| {
                    let mut d = wire.to_vec();
                    d[k] = b;
                    d
                })
                .find(refused);
            let Some(d) = tried else {
                return false;
            };
            d
        }
        Damage::TooLong => {
            if f.length == LengthType::Fixed {
                return false;
            }
            let v = f.max_prefix() + 1 + usize::from(extra);
            let Some((value_len, _)) = f.lengths_for_prefix(v) else {
                return false;
            };
            if v > f.prefix_capacity() as usize {
                return false;
            }
            let plen = f.prefix_len();
            let mut d = wire[..start - plen].to_vec();
            crate::codec::prefix::write(f.prefix, plen, v, &mut d);
            d.resize(d.len() + value_len, b'0');
            d.extend_from_slice(&wire[start + raw.len()..]);
            if d.len() > crate::limits::MAX_MESSAGE_LEN {
                return false;
            }
            let want = crate::DecodeError::InvalidLength {
                field: Some(n),
                offset: start - plen,
                len: v,
                max: f.max_prefix(),
            };
            assert_eq!(decode(spec, &d).err(), Some(want), "field {n}: the damage");
            d
        }
    };
    let partial = decode_partial(spec, &damaged);
    assert_eq!(
        partial.faults().len(),
        1,
        "field {n} damaged ({damage:?}): faults {:?}",
        partial.faults()
    );
    assert_eq!(
        partial.message(),
        Some(&expected),
        "field {n} damaged ({damage:?}): the rest is not recovered as it was"
    );
    decode_with(spec, &damaged);
    true
}

/// A PAN that was read must not appear in full where people read: the error (which shows no
/// content at all), Debug output and [`mask::render`]. Only the PAN fields' own rendering is
/// checked: the same digits may legitimately stand in another, non-secret field.
fn assert_no_pan(spec: &Spec, error: &str, m: &OwnedMessage) {
    for n in [2, 34] {
        // A PAN is digits; a text value may hold '*' and then equal its own masked form.
        let is_pan = |p: &&str| p.len() >= 13 && p.bytes().all(|b| b.is_ascii_digit());
        let Some(pan) = m.get_str(n).filter(is_pan) else {
            continue;
        };
        assert!(!error.contains(pan), "field {n} in an error message");
        let alone = OwnedMessage::new(m.mti()).with(n, pan);
        assert!(!format!("{alone:?}").contains(pan), "field {n} in Debug");
        if spec.field(n).map(|f| f.sensitivity) == Some(Sensitivity::Pan) {
            let shown = mask::render(spec, n, pan.as_bytes());
            assert!(!shown.contains(pan), "field {n} rendered in full");
        }
    }
}

/// Target `round_trip`: a message drawn from `data` for a built-in spec (see
/// [`arbitrary_message`] and [`round_trip`]), then one of its fields damaged (see
/// [`damaged_field`]).
pub fn round_trip_builtin(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let names = Spec::builtin_names();
    let Ok(name) = u.choose(names) else {
        return;
    };
    let Some(spec) = Spec::builtin(name) else {
        return;
    };
    if let Ok(g) = arbitrary_message(&mut u, spec) {
        round_trip(spec, &g);
        if let Ok(wire) = g.message.encode(spec) {
            let damage = if u.ratio(1, 2).unwrap_or(true) {
                Damage::Content
            } else {
                Damage::TooLong
            };
            let field = u.arbitrary().unwrap_or(0);
            let (at, extra) = (u.arbitrary().unwrap_or(0), u.arbitrary().unwrap_or(false));
            damaged_field(spec, &wire, field, damage, at, extra);
        }
    }
}

/// A message drawn by [`arbitrary_message`], with what decoding its encoding must give.
#[derive(Debug)]
pub struct Generated {
    /// The message as drawn.
    pub message: OwnedMessage,
    /// The message as the decoder shows it: BCD track data writes the separator `D` and `=`
    /// alike, and reads it back as `=`.
    pub expected: OwnedMessage,
    /// Whether every value was drawn valid for its field, so that encoding must succeed.
    pub valid: bool,
}

/// Draws a message for `spec`: an MTI the spec allows, the header it declares, and up to
/// [`MAX_GENERATED_FIELDS`] of its fields; most values valid for their field (right length,
/// right characters), some raw bytes of about the right length that the encoder may refuse.
pub fn arbitrary_message(u: &mut Unstructured<'_>, spec: &Spec) -> arbitrary::Result<Generated> {
    let version = match spec.version() {
        VersionRule::Any => u.int_in_range(b'0'..=b'9')?,
        VersionRule::Iso1987 => b'0',
        VersionRule::Iso1993 => b'1',
        VersionRule::Iso2003 => b'2',
    };
    let mut digits = [version, 0, 0, 0];
    for d in &mut digits[1..] {
        *d = u.int_in_range(b'0'..=b'9')?;
    }
    let mti = Mti::from_digits(digits).ok_or(arbitrary::Error::IncorrectFormat)?;
    let mut message = OwnedMessage::new(mti);
    if let Some(h) = spec.header() {
        message.set_header(u.bytes(h.length)?.to_vec());
    }
    let mut expected = message.clone();
    let numbers: Vec<u16> = spec.fields().map(|f| f.number).collect();
    // Whether each field's current value was drawn valid (a field drawn twice keeps its last).
    let mut drawn_valid = std::collections::BTreeMap::new();
    if !numbers.is_empty() {
        let count = u.int_in_range(0..=MAX_GENERATED_FIELDS)?;
        for _ in 0..count {
            let n = *u.choose(&numbers)?;
            let Some(f) = spec.field(n) else { continue };
            let (value, ok) = if u.ratio(1, 8)? {
                (raw_value(u, f)?, false)
            } else {
                (valid_value(u, f)?, true)
            };
            message.set(n, &value);
            expected.set(n, as_decoded(f, value));
            drawn_valid.insert(n, ok);
        }
    }
    Ok(Generated {
        message,
        expected,
        valid: drawn_valid.values().all(|&ok| ok),
    })
}

fn as_decoded(f: &FieldSpec, mut value: Vec<u8>) -> Vec<u8> {
    if f.class == ContentClass::Z && f.data == DataEncoding::Bcd {
        for b in &mut value {
            if *b == b'D' {
                *b = b'=';
            }
        }
    }
    value
}

fn valid_len(u: &mut Unstructured<'_>, f: &FieldSpec, min: usize) -> arbitrary::Result<usize> {
    let max = usize::from(f.max);
    if f.length == LengthType::Fixed {
        Ok(max)
    } else {
        u.int_in_range(min.min(max)..=max.min(MAX_GENERATED).max(min.min(max)))
    }
}

fn valid_value(u: &mut Unstructured<'_>, f: &FieldSpec) -> arbitrary::Result<Vec<u8>> {
    let chars: &[u8] = match f.class {
        ContentClass::B => {
            let len = valid_len(u, f, 0)?;
            return (0..len).map(|_| u.arbitrary::<u8>()).collect();
        }
        ContentClass::Xn => {
            // The sign counts in the length; at least one digit follows it.
            let len = valid_len(u, f, 2)?;
            let mut v = vec![*u.choose(b"CD")?];
            for _ in 1..len {
                v.push(u.int_in_range(b'0'..=b'9')?);
            }
            return Ok(v);
        }
        ContentClass::N => b"0123456789",
        ContentClass::A => b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz ",
        ContentClass::An => b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz ",
        ContentClass::Ans => PRINTABLE,
        ContentClass::Z => b"0123456789=D",
    };
    let len = valid_len(u, f, 0)?;
    (0..len).map(|_| u.choose(chars).copied()).collect()
}

/// Printable ASCII, 0x20..=0x7E: the `ans` class.
const PRINTABLE: &[u8] = b" !\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~";

/// Any bytes, of a length around the field's limits.
fn raw_value(u: &mut Unstructured<'_>, f: &FieldSpec) -> arbitrary::Result<Vec<u8>> {
    let max = usize::from(f.max).min(MAX_GENERATED);
    let len = u.int_in_range(0..=max + 2)?;
    Ok(u.bytes(len)?.to_vec())
}

/// Checks a drawn message: a message drawn valid encodes (unless it is longer than any message
/// can be); whatever encodes decodes to the expected message and re-encodes to the same bytes;
/// a refused message leaves the output buffer untouched.
pub fn round_trip(spec: &Spec, g: &Generated) {
    let mut out = vec![0xA5];
    if let Err(e) = g.message.encode_into(spec, &mut out) {
        assert_eq!(out, [0xA5], "a failed encode_into changed its output");
        assert!(
            !g.valid || matches!(e, EncodeError::MessageTooLong { .. }),
            "a valid message was refused: {e}"
        );
        return;
    }
    let wire = &out[1..];
    let decoded = decode(spec, wire)
        .unwrap_or_else(|e| panic!("the decoder refuses what the encoder wrote: {e}"))
        .to_owned_message();
    assert_eq!(decoded, g.expected, "decode(encode(m)) != m");
    assert_eq!(
        decoded.encode(spec).as_deref().ok(),
        Some(wire),
        "encode(decode(encode(m))) != encode(m)"
    );
    decode_with(spec, wire);
}

/// Target `tlv`: `data` as DE 55 ICC data. Checks that BER-TLV reading stays within the input
/// and agrees with itself (iterating, validating, finding), that objects read re-write in the
/// shortest length form to bytes that read back the same, that DE 55 carries the bytes through
/// a message unchanged, that rendering for people shows no value, and that text sub-field
/// iteration (DE 48 style) stays in bounds.
pub fn tlv(data: &[u8]) {
    let items: Vec<_> = ber::iter(data).collect();
    let mut end = 0;
    for item in &items {
        match item {
            Ok(t) => {
                assert!(t.offset() >= end, "objects overlap");
                assert!(!t.tag().is_empty() && t.tag().len() <= MAX_TLV_TAG_LEN);
                let at = within(data, t.value());
                end = at + t.value().len();
                assert!(
                    at > t.offset() + t.tag().len(),
                    "value overlaps tag or length"
                );
            }
            Err(e) => {
                let _ = e.to_string();
            }
        }
    }
    let top_ok = items.iter().all(Result::is_ok);
    let valid = ber::validate(data).is_ok();
    assert!(!valid || top_ok, "validate accepts what iter refuses");
    if top_ok {
        let objects: Vec<(Vec<u8>, &[u8])> = items
            .iter()
            .flatten()
            .map(|t| (t.tag().to_vec(), t.value()))
            .collect();
        let mut out = Vec::new();
        let written = objects
            .iter()
            .try_for_each(|(tag, value)| ber::write(tag, value, &mut out));
        if written.is_ok() {
            let back: Vec<(Vec<u8>, &[u8])> = ber::iter(&out)
                .map(|t| t.expect("re-written TLV reads back"))
                .map(|t| (t.tag().to_vec(), t.value()))
                .collect();
            assert_eq!(back, objects, "TLV objects change when re-written");
            assert_eq!(ber::validate(&out).is_ok(), valid);
        }
    }
    if valid {
        for t in items.iter().flatten() {
            let found = ber::find(data, t.tag_u32()).expect("find fails on valid data");
            assert_eq!(found.map(|f| f.tag_u32()), Some(t.tag_u32()));
        }
    }
    let spec = Spec::builtin("iso87-binary").expect("built-in spec");
    if data.len() <= spec.field(55).map_or(0, |f| usize::from(f.max)) {
        let m = OwnedMessage::new(Mti::from_digits(*b"0100").expect("MTI")).with(55, data);
        let wire = m
            .encode(spec)
            .expect("DE 55 takes any bytes within its maximum");
        let msg = decode(spec, &wire).expect("DE 55 message decodes");
        assert_eq!(msg.bytes(55).as_deref(), Some(data));
    }
    let shown = mask::render(spec, 55, data);
    for t in items.iter().flatten() {
        if t.value().len() >= 8 {
            assert!(!shown.contains(&hex::upper(t.value())), "ICC value shown");
        }
    }
    for fmt in [
        subfield::SubfieldFormat::TAG2_LEN2,
        subfield::SubfieldFormat::TAG3_LEN3,
        subfield::SubfieldFormat {
            skip: 1,
            tag_len: 2,
            len_digits: 3,
        },
    ] {
        let _ = subfield::prefix(fmt, data);
        for s in subfield::iter(fmt, data).flatten() {
            within(data, s.tag);
            within(data, s.value);
            assert!(s.offset < data.len());
        }
    }
}

/// Offset of `part` in `whole`; panics when `part` is not a slice of `whole`.
fn within(whole: &[u8], part: &[u8]) -> usize {
    let at = (part.as_ptr() as usize).wrapping_sub(whole.as_ptr() as usize);
    assert!(
        at <= whole.len() && part.len() <= whole.len() - at,
        "a view points outside its input"
    );
    at
}

/// Target `spec_file`: a spec file followed, after a NUL byte, by a payload. The text is loaded
/// as TOML and as JSON; loading must fail cleanly or give a spec the codec can trust: the
/// payload decodes with it safely (see [`decode_with`]) and a message drawn from the payload
/// for it round trips (see [`round_trip`]).
pub fn spec_file(data: &[u8]) {
    let (text, payload) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let Ok(text) = std::str::from_utf8(text) else {
        return;
    };
    for loaded in [Spec::from_toml(text, "fuzz"), Spec::from_json(text, "fuzz")] {
        let spec = match loaded {
            Ok(spec) => spec,
            Err(e) => {
                let _ = e.to_string();
                continue;
            }
        };
        for f in spec.fields() {
            assert_eq!(spec.field(f.number), Some(f));
            assert!((2..=spec.max_field()).contains(&f.number));
            assert!(
                (1..=MAX_FIELD_LEN).contains(&f.max),
                "field {}: max",
                f.number
            );
        }
        decode_with(&spec, payload);
        let mut u = Unstructured::new(payload);
        if let Ok(g) = arbitrary_message(&mut u, &spec) {
            round_trip(&spec, &g);
        }
    }
}

/// Target `json`: any bytes as the JSON form of a message (what `iso8583 encode` and the
/// fixtures read), with every built-in spec: reading never panics; a message read writes back
/// to JSON that reads to the same message; and it passes the [`round_trip`] checks (whatever
/// encodes decodes to the same values).
pub fn json(data: &[u8]) {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    for name in Spec::builtin_names() {
        let Some(spec) = Spec::builtin(name) else {
            continue;
        };
        let Ok(message) = OwnedMessage::from_json(spec, &value) else {
            continue;
        };
        let back = OwnedMessage::from_json(spec, &message.to_json(spec))
            .unwrap_or_else(|e| panic!("written JSON does not read back: {e}"));
        assert_eq!(back, message, "JSON round trip");
        let mut expected = message.clone();
        for (n, v) in message.iter() {
            if let Some(f) = spec.field(n) {
                expected.set(n, as_decoded(f, v.to_vec()));
            }
        }
        let g = Generated {
            message,
            expected,
            valid: false,
        };
        round_trip(spec, &g);
    }
}

/// What [`replay`] ran, by directory.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Replayed {
    /// Files of `fuzz/regressions/<target>/`: inputs that once found a bug.
    pub regressions: usize,
    /// Files of `fuzz/seeds/<target>/`: the checked-in seed corpus.
    pub seeds: usize,
    /// Files of `fuzz/artifacts/<target>/`: what a local fuzz run left (absent in CI).
    pub artifacts: usize,
}

/// Runs `check` over every file of `fuzz/{regressions,seeds,artifacts}/<target>/` under
/// `fuzz_dir` and panics naming every file whose check panicked. Missing directories count
/// as empty.
pub fn replay(fuzz_dir: &std::path::Path, target: &str, check: impl Fn(&[u8])) -> Replayed {
    let mut counts = Replayed::default();
    let mut failed = Vec::new();
    for (dir, count) in [
        ("regressions", &mut counts.regressions),
        ("seeds", &mut counts.seeds),
        ("artifacts", &mut counts.artifacts),
    ] {
        let Ok(entries) = std::fs::read_dir(fuzz_dir.join(dir).join(target)) else {
            continue;
        };
        let mut paths: Vec<_> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        paths.sort();
        for path in paths.into_iter().filter(|p| p.is_file()) {
            let data = std::fs::read(&path)
                .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
            *count += 1;
            let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check(&data)));
            if run.is_err() {
                failed.push(path.display().to_string());
            }
        }
    }
    assert!(
        failed.is_empty(),
        "{target}: {} input(s) fail (replay one with `cargo fuzz run {target} PATH`):\n{}",
        failed.len(),
        failed.join("\n")
    );
    counts
}
