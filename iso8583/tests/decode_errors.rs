//! Every decode error names the field and the byte offset, is checked before bytes are taken,
//! and never shows card data.

use hex_literal::hex;
use iso8583::{decode, decode_partial, DecodeError, Spec};

fn binary() -> &'static Spec {
    Spec::builtin("iso87-binary").unwrap()
}

/// "0100", bitmap with fields 2 and 3.
const HEAD: [u8; 12] = hex!("30313030 6000000000000000");

fn with_head(rest: &[u8]) -> Vec<u8> {
    [&HEAD[..], rest].concat()
}

#[test]
fn truncated_value_says_how_much_is_missing() {
    let e = decode(binary(), &with_head(b"164761739001")).unwrap_err();
    assert_eq!(
        e,
        DecodeError::Truncated {
            field: Some(2),
            offset: 14,
            needed: 6
        }
    );
    assert_eq!((e.field(), e.offset()), (Some(2), 14));
}

#[test]
fn length_above_maximum_is_refused_before_taking_bytes() {
    // 20 > 19 for DE 2; the input is short too, but the length is checked first.
    let e = decode(binary(), &with_head(b"20")).unwrap_err();
    assert_eq!(
        e,
        DecodeError::InvalidLength {
            field: Some(2),
            offset: 12,
            len: 20,
            max: 19
        }
    );
}

#[test]
fn non_numeric_prefix() {
    let e = decode(binary(), &with_head(b"1A4761739001010119")).unwrap_err();
    assert_eq!(
        e,
        DecodeError::InvalidLengthPrefix {
            field: Some(2),
            offset: 12
        }
    );
}

#[test]
fn content_error_points_at_the_bad_byte_and_hides_the_value() {
    let e = decode(binary(), &with_head(b"164761739001010X19000000")).unwrap_err();
    assert_eq!(
        e,
        DecodeError::InvalidContent {
            field: Some(2),
            offset: 14 + 13
        }
    );
    let shown = e.to_string();
    assert!(shown.contains("field 2") && shown.contains("27"), "{shown}");
    assert!(!shown.contains("4761"), "{shown}");
}

#[test]
fn bad_bcd_nibble() {
    let spec = Spec::builtin("iso87-bcd").unwrap();
    // MTI 0100, bitmap (3), DE 3 with a nibble A
    let e = decode(spec, &hex!("0100 2000000000000000 00A000")).unwrap_err();
    assert_eq!(
        e,
        DecodeError::InvalidContent {
            field: Some(3),
            offset: 11
        }
    );
}

#[test]
fn undefined_field() {
    let spec = Spec::from_toml(
        r#"
name = "t"
mti = "ascii"
bitmap = "binary"
[defaults]
numeric = "ascii"
text = "ascii"
binary = "binary"
prefix = "ascii"
[fields]
3 = { name = "pc", class = "n", max = 6 }
"#,
        "t",
    )
    .unwrap();
    let e = decode(&spec, &hex!("30313030 3000000000000000 303030303030")).unwrap_err();
    assert_eq!(
        e,
        DecodeError::UndefinedField {
            field: Some(4),
            offset: 18
        }
    );
}

#[test]
fn trailing_bytes() {
    let mut wire = with_head(b"164761739001010119000000");
    wire.extend_from_slice(b"XY");
    let e = decode(binary(), &wire).unwrap_err();
    assert_eq!(
        e,
        DecodeError::TrailingBytes {
            field: None,
            offset: 36,
            count: 2
        }
    );
}

#[test]
fn bad_mti_and_bad_bitmap() {
    assert_eq!(
        decode(binary(), b"01A0").unwrap_err(),
        DecodeError::InvalidMti {
            field: None,
            offset: 0
        }
    );
    let ascii = Spec::builtin("iso87-ascii").unwrap();
    assert_eq!(
        decode(ascii, b"010060000000000G0000").unwrap_err(),
        DecodeError::InvalidBitmap {
            field: None,
            offset: 4 + 11
        }
    );
    // a 1993 spec refuses a 1987 MTI
    let iso93 = Spec::builtin("iso93-ascii").unwrap();
    assert!(matches!(
        decode(iso93, b"01000000000000000000").unwrap_err(),
        DecodeError::InvalidMti { .. }
    ));
}

#[test]
fn truncated_secondary_bitmap() {
    let e = decode(binary(), &hex!("30313030 8000000000000000 0000")).unwrap_err();
    assert_eq!(
        e,
        DecodeError::Truncated {
            field: Some(1),
            offset: 12,
            needed: 6
        }
    );
    assert!(e.to_string().contains("secondary bitmap"));
}

#[test]
fn oversized_input() {
    let big = vec![b'0'; iso8583::limits::MAX_MESSAGE_LEN + 1];
    assert!(matches!(
        decode(binary(), &big).unwrap_err(),
        DecodeError::MessageTooLong { .. }
    ));
}

#[test]
fn partial_decode_keeps_what_was_read() {
    // DE 2 fine, DE 3 has a letter: MTI and DE 2 are recovered, DE 3 is not passed on.
    let p = decode_partial(binary(), &with_head(b"16476173900101011900A000"));
    let m = p.message().unwrap();
    assert_eq!(m.mti().as_str(), "0100");
    assert_eq!(m.get_str(2), Some("4761739001010119"));
    assert!(!m.has(3));
    assert_eq!(p.error().unwrap().field(), Some(3));
    assert_eq!(p.faults().len(), 1);
    // no MTI, nothing
    let p = decode_partial(binary(), b"01");
    assert!(p.message().is_none() && p.error().is_some());
    // complete
    let p = decode_partial(binary(), &with_head(b"164761739001010119000000"));
    assert!(p.message().is_some() && p.error().is_none() && p.is_complete());
}

#[test]
fn accepted_non_canonical_forms_re_encode_canonically() {
    // lowercase hex bitmap and lowercase hex field (iso87-ascii DE 52)
    let ascii = Spec::builtin("iso87-ascii").unwrap();
    // fields 49..52: bitmap byte 6 is F0, written "f0"
    let lower = b"0100000000000000f000840840410a1b2c3d4e5f60718".to_vec();
    let m = decode(ascii, &lower).unwrap();
    assert_eq!(m.text(52).as_deref(), Some("A1B2C3D4E5F60718"));
    let canonical = m.to_owned_message().encode(ascii).unwrap();
    assert_eq!(canonical, b"0100000000000000F000840840410A1B2C3D4E5F60718");
    // a secondary bitmap announcing nothing is dropped
    let wire = hex!("30313030 A000000000000000 0000000000000000 303030303030");
    let m = decode(binary(), &wire).unwrap();
    assert_eq!(m.fields().collect::<Vec<_>>(), [3]);
    assert_eq!(
        m.to_owned_message().encode(binary()).unwrap(),
        hex!("30313030 2000000000000000 303030303030")
    );
}

#[test]
fn debug_output_masks_card_data() {
    let wire = with_head(b"164761739001010119000000");
    let m = decode(binary(), &wire).unwrap();
    let shown = format!("{m:?} {:?}", m.to_owned_message());
    assert!(shown.contains("476173******0119"), "{shown}");
    assert!(!shown.contains("4761739001010119"), "{shown}");
    let owned = m
        .to_owned_message()
        .with(48, "CVV2=123")
        .with(52, vec![0xA1; 8]);
    let shown = format!("{owned:?}");
    assert!(
        shown.contains("48: <8 bytes>") && shown.contains("52: <8 bytes>"),
        "{shown}"
    );
    assert!(!shown.contains("CVV2"), "{shown}");
}
