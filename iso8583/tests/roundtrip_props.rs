//! Property tests over generated messages for every built-in spec:
//! `decode(encode(m)) == m`, `encode(decode(b)) == b` for canonical bytes, the JSON form round
//! trips, and decoding arbitrary or corrupted bytes never panics.

use iso8583::spec::{ContentClass, FieldSpec, LengthType};
use iso8583::{decode, Mti, OwnedMessage, Spec, VersionRule};
use proptest::prelude::*;
use proptest::sample::subsequence;

/// Longest variable value generated: long enough to cross one-byte prefix boundaries, short
/// enough to keep the run fast.
const MAX_GENERATED: usize = 300;

fn chars(class: ContentClass) -> Vec<u8> {
    match class {
        ContentClass::N => (b'0'..=b'9').collect(),
        ContentClass::A => (b'A'..=b'Z').chain(b'a'..=b'z').chain([b' ']).collect(),
        ContentClass::An => (b'0'..=b'9')
            .chain(b'A'..=b'Z')
            .chain([b' ', b'q'])
            .collect(),
        ContentClass::Ans => (0x20..0x7F).collect(),
        // '=' is the canonical separator (BCD shows nibble D as '=').
        ContentClass::Z => (b'0'..=b'9').chain([b'=']).collect(),
        ContentClass::Xn | ContentClass::B => Vec::new(),
    }
}

fn value(f: &FieldSpec) -> BoxedStrategy<Vec<u8>> {
    let max = usize::from(f.max);
    let len = if f.length == LengthType::Fixed {
        (max..=max).boxed()
    } else {
        (0..=max.min(MAX_GENERATED)).boxed()
    };
    match f.class {
        ContentClass::B => len
            .prop_flat_map(|n| proptest::collection::vec(any::<u8>(), n))
            .boxed(),
        ContentClass::Xn => {
            let digits = if f.length == LengthType::Fixed {
                (max - 1..=max - 1).boxed()
            } else {
                (1..=max.min(MAX_GENERATED) - 1).boxed()
            };
            (prop::sample::select(vec![b'C', b'D']), digits)
                .prop_flat_map(|(sign, n)| {
                    proptest::collection::vec(b'0'..=b'9', n).prop_map(move |mut d| {
                        d.insert(0, sign);
                        d
                    })
                })
                .boxed()
        }
        class => {
            let set = chars(class);
            len.prop_flat_map(move |n| {
                proptest::collection::vec(prop::sample::select(set.clone()), n)
            })
            .boxed()
        }
    }
}

fn message(spec: &'static Spec) -> impl Strategy<Value = OwnedMessage> {
    let numbers: Vec<u16> = spec.fields().map(|f| f.number).collect();
    let version = match spec.version() {
        VersionRule::Iso1993 => b'1',
        VersionRule::Iso2003 => b'2',
        _ => b'0',
    };
    (
        subsequence(numbers, 0..=20),
        prop::sample::select(vec![b'1', b'2', b'4', b'8']),
        prop::sample::select(vec![b'0', b'1', b'2', b'3']),
        0u8..=5,
    )
        .prop_flat_map(move |(ns, class, function, origin)| {
            let mti = Mti::from_digits([version, class, function, b'0' + origin]).unwrap();
            let values: Vec<_> = ns
                .into_iter()
                .map(|n| value(spec.field(n).unwrap()).prop_map(move |v| (n, v)))
                .collect();
            values.prop_map(move |fields| {
                let mut m = OwnedMessage::new(mti);
                for (n, v) in fields {
                    m.set(n, v);
                }
                m
            })
        })
}

fn round_trip(spec: &'static Spec, m: &OwnedMessage) -> Result<(), TestCaseError> {
    let bytes = m
        .encode(spec)
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    let decoded = decode(spec, &bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let owned = decoded.to_owned_message();
    prop_assert_eq!(&owned, m);
    for n in decoded.fields() {
        let value = decoded.bytes(n);
        prop_assert_eq!(value.as_deref(), m.get(n));
    }
    prop_assert_eq!(owned.encode(spec).unwrap(), bytes);
    let json = m.to_json(spec);
    prop_assert_eq!(&OwnedMessage::from_json(spec, &json).unwrap(), m);
    let line: serde_json::Value = serde_json::from_str(&m.to_json_string(spec)).unwrap();
    prop_assert_eq!(line, json);
    Ok(())
}

fn no_panic(spec: &'static Spec, bytes: &[u8]) {
    if let Ok(m) = decode(spec, bytes) {
        // whatever decodes must re-encode and decode to the same values
        let owned = m.to_owned_message();
        let again = owned.encode(spec).expect("a decoded message encodes");
        let back = decode(spec, &again).unwrap().to_owned_message();
        assert_eq!(back, owned);
    }
    // decode_partial agrees with decode, and what it keeps of a faulty message is sound.
    iso8583::fuzzing::decode_with(spec, bytes);
}

macro_rules! spec_props {
    ($module:ident, $name:literal) => {
        mod $module {
            use super::*;

            fn spec() -> &'static Spec {
                Spec::builtin($name).unwrap()
            }

            proptest! {
                #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

                #[test]
                fn decode_encode_round_trip(m in message(spec())) {
                    round_trip(spec(), &m)?;
                }

                #[test]
                fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
                    no_panic(spec(), &bytes);
                }

                #[test]
                fn corrupted_messages_never_panic(
                    m in message(spec()),
                    flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
                    cut in any::<prop::sample::Index>(),
                ) {
                    let mut bytes = m.encode(spec()).unwrap();
                    for (at, b) in &flips {
                        let i = at.index(bytes.len());
                        bytes[i] = *b;
                    }
                    no_panic(spec(), &bytes);
                    let cut = cut.index(bytes.len() + 1);
                    no_panic(spec(), &bytes[..cut]);
                }
            }
        }
    };
}

spec_props!(iso87_binary, "iso87-binary");
spec_props!(iso87_ascii, "iso87-ascii");
spec_props!(iso87_bcd, "iso87-bcd");
spec_props!(iso87_ebcdic, "iso87-ebcdic");
spec_props!(iso93_ascii, "iso93-ascii");
