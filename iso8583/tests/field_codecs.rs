//! One test per field codec: a one-field message in a tiny spec, its exact wire bytes as a
//! `hex!` literal, decoded to the expected logical value and encoded back to the same bytes.

use hex_literal::hex;
use iso8583::{decode, Mti, OwnedMessage, Spec};

/// A spec with ASCII MTI, binary bitmap and only field `n` as given.
fn one_field_spec(n: u16, field: &str) -> Spec {
    let text = format!(
        "name = \"t\"\nmti = \"ascii\"\nbitmap = \"binary\"\n\
         [defaults]\nnumeric = \"ascii\"\ntext = \"ascii\"\nbinary = \"binary\"\nprefix = \"ascii\"\n\
         [fields]\n{n} = {field}\n"
    );
    Spec::from_toml(&text, "test").unwrap()
}

/// "0100" + a primary bitmap with only field 2 set.
const HEAD_F2: [u8; 12] = hex!("30313030 4000000000000000");

fn check(field: &str, value: &[u8], text: &str, field_wire: &[u8]) {
    let spec = one_field_spec(2, field);
    let wire = [&HEAD_F2[..], field_wire].concat();
    let msg = decode(&spec, &wire).unwrap_or_else(|e| panic!("{field}: {e}"));
    assert_eq!(msg.bytes(2).as_deref(), Some(value), "{field}");
    assert_eq!(msg.text(2).as_deref(), Some(text), "{field}");
    let owned = OwnedMessage::new("0100".parse::<Mti>().unwrap()).with(2, value);
    assert_eq!(owned.encode(&spec).unwrap(), wire, "{field}");
    assert_eq!(msg.to_owned_message(), owned, "{field}");
}

#[test]
fn ascii_llvar_numeric() {
    check(
        r#"{ name = "PAN", class = "n", length = "LL", max = 19 }"#,
        b"4761739001010119",
        "4761739001010119",
        b"164761739001010119",
    );
}

#[test]
fn ascii_llllvar_text() {
    check(
        r#"{ name = "x", class = "ans", length = "LLLL", max = 9999 }"#,
        b"a-c",
        "a-c",
        b"0003a-c",
    );
}

#[test]
fn ebcdic_prefix_and_text() {
    check(
        r#"{ name = "x", class = "ans", length = "LL", max = 20, prefix = "ebcdic", data = "ebcdic" }"#,
        b"AB c",
        "AB c",
        &hex!("F0F4 C1C24083"),
    );
}

#[test]
fn bcd_llvar_odd_digits_left_filler() {
    check(
        r#"{ name = "x", class = "n", length = "LL", max = 19, prefix = "bcd", data = "bcd" }"#,
        b"123",
        "123",
        &hex!("03 0123"),
    );
}

#[test]
fn bcd_fixed_odd_digits() {
    check(
        r#"{ name = "x", class = "n", max = 3, data = "bcd" }"#,
        b"840",
        "840",
        &hex!("0840"),
    );
}

#[test]
fn bcd_track2_right_filler_f() {
    check(
        r#"{ name = "x", class = "z", length = "LL", max = 37, prefix = "bcd", data = "bcd" }"#,
        b"4761=22",
        "4761=22",
        &hex!("07 4761D22F"),
    );
}

#[test]
fn bcd_lllvar_prefix_counts_digits() {
    check(
        r#"{ name = "x", class = "n", length = "LLL", max = 104, prefix = "bcd", data = "bcd" }"#,
        b"1234",
        "1234",
        &hex!("0004 1234"),
    );
}

#[test]
fn binary_lllvar_with_binary_prefix() {
    check(
        r#"{ name = "x", class = "b", length = "LLL", max = 255, prefix = "binary" }"#,
        &hex!("ABCD"),
        "ABCD",
        &hex!("0002 ABCD"),
    );
}

#[test]
fn binary_with_bcd_prefix_counting_nibbles() {
    check(
        r#"{ name = "x", class = "b", length = "LL", max = 8, prefix = "bcd", unit = "nibbles" }"#,
        &hex!("AB01"),
        "AB01",
        &hex!("04 AB01"),
    );
}

#[test]
fn hex_ascii_binary_prefix_counts_characters() {
    check(
        r#"{ name = "x", class = "b", length = "LLL", max = 255, data = "hex-ascii" }"#,
        &hex!("ABCD"),
        "ABCD",
        b"004ABCD",
    );
}

#[test]
fn fixed_binary() {
    check(
        r#"{ name = "PIN", class = "b", max = 8 }"#,
        &hex!("A1B2C3D4E5F60718"),
        "A1B2C3D4E5F60718",
        &hex!("A1B2C3D4E5F60718"),
    );
}

#[test]
fn amount_with_sign() {
    check(
        r#"{ name = "fee", class = "x+n", max = 9 }"#,
        b"D00000100",
        "D00000100",
        b"D00000100",
    );
}

#[test]
fn bcd_mti_and_tertiary_bitmap() {
    let spec = Spec::from_toml(
        r#"
name = "t"
mti = "bcd"
bitmap = "binary"
tertiary_bitmap = true
[header]
length = 2
encoding = "binary"
[defaults]
numeric = "bcd"
text = "ascii"
binary = "binary"
prefix = "bcd"
[fields]
3 = { name = "pc", class = "n", max = 6 }
130 = { name = "ext", class = "an", length = "LL", max = 20 }
"#,
        "test",
    )
    .unwrap();
    // header, MTI, primary (1, 3), secondary (65), DE 3, tertiary (130), DE 130
    let wire = hex!(
        "ABCD 0200"
        "A000000000000000"
        "8000000000000000"
        "000000"
        "4000000000000000"
        "03 414243"
    );
    let msg = decode(&spec, &wire).unwrap();
    assert_eq!(msg.header(), Some(&hex!("ABCD")[..]));
    assert_eq!(msg.mti().as_str(), "0200");
    assert_eq!(msg.fields().collect::<Vec<_>>(), [3, 130]);
    assert_eq!(msg.text(130).as_deref(), Some("ABC"));
    let owned = msg.to_owned_message();
    assert_eq!(owned.encode(&spec).unwrap(), wire);
}

#[test]
fn ebcdic_mti_and_hex_ebcdic_bitmap() {
    let spec = Spec::from_toml(
        r#"
name = "t"
mti = "ebcdic"
bitmap = "hex-ebcdic"
[defaults]
numeric = "ebcdic"
text = "ebcdic"
binary = "binary"
prefix = "ebcdic"
[fields]
3 = { name = "pc", class = "n", max = 6 }
"#,
        "test",
    )
    .unwrap();
    let wire = hex!("F0F8F0F0 F2F0F0F0F0F0F0F0F0F0F0F0F0F0F0F0 F0F0F0F0F0F1");
    let msg = decode(&spec, &wire).unwrap();
    assert_eq!(msg.mti().as_str(), "0800");
    assert_eq!(msg.text(3).as_deref(), Some("000001"));
    assert_eq!(msg.to_owned_message().encode(&spec).unwrap(), wire);
}
