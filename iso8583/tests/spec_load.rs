//! Specs load from TOML and JSON; a wrong spec is refused at load with a message naming the
//! field.

use iso8583::spec::{ContentClass, DataEncoding, LengthType, PrefixEncoding};
use iso8583::{Spec, SpecError};

#[test]
fn builtin_specs_load() {
    for name in Spec::builtin_names() {
        let spec = Spec::builtin(name).unwrap_or_else(|| panic!("{name}"));
        assert_eq!(spec.name(), *name);
        assert!(spec.field(2).is_some(), "{name}");
        assert!(spec.field(1).is_none(), "{name}");
        assert_eq!(Spec::load(name).unwrap().name(), *name);
    }
    assert!(Spec::builtin("nope").is_none());
}

#[test]
fn builtin_field_tables() {
    let bcd = Spec::builtin("iso87-bcd").unwrap();
    let pan = bcd.field(2).unwrap();
    assert_eq!(
        (pan.class, pan.length, pan.max, pan.prefix, pan.data),
        (
            ContentClass::N,
            LengthType::LL,
            19,
            PrefixEncoding::Bcd,
            DataEncoding::Bcd
        )
    );
    assert_eq!(bcd.field(55).unwrap().prefix, PrefixEncoding::Binary);
    let ascii = Spec::builtin("iso87-ascii").unwrap();
    assert_eq!(ascii.field(55).unwrap().data, DataEncoding::HexAscii);
    assert!(ascii.is_binary_field(52) && !ascii.is_binary_field(2));
    let iso93 = Spec::builtin("iso93-ascii").unwrap();
    assert_eq!(iso93.field(12).unwrap().max, 12);
    assert_eq!(iso93.field(39).unwrap().max, 3);
}

const GOOD: &str = r#"
name = "mine"
mti = "ascii"
bitmap = "binary"
[defaults]
numeric = "ascii"
text = "ascii"
binary = "binary"
prefix = "ascii"
[fields]
2 = { name = "PAN", class = "n", length = "LL", max = 19 }
"#;

fn refused(text: &str) -> String {
    match Spec::from_toml(text, "mine.toml") {
        Ok(_) => panic!("accepted: {text}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn wrong_specs_are_refused_naming_the_field() {
    let cases = [
        (
            r#"3 = { name = "PAN", class = "n", length = "LL", max = 100 }"#,
            "field 3",
        ),
        (
            r#"7 = { name = "x", class = "b", max = 8, data = "ascii" }"#,
            "field 7",
        ),
        (r#"8 = { name = "x", class = "n", max = 0 }"#, "field 8"),
        (r#"9 = { name = "x", class = "q", max = 1 }"#, "9"),
        (r#"1 = { name = "x", class = "n", max = 1 }"#, "field 1"),
        (r#"129 = { name = "x", class = "n", max = 1 }"#, "field 129"),
        (r#"x = { name = "x", class = "n", max = 1 }"#, "field x"),
        (
            r#"10 = { name = "x", class = "n", max = 4, prefix = "ascii" }"#,
            "field 10",
        ),
        (
            r#"11 = { name = "x", class = "n", length = "LL", max = 9, data = "bcd", unit = "bytes" }"#,
            "field 11",
        ),
        (
            r#"12 = { name = "x", class = "n", max = 6, filler = "7", data = "bcd" }"#,
            "field 12",
        ),
        (
            r#"13 = { name = "x", class = "ans", length = "LL", max = 300, prefix = "binary" }"#,
            "field 13",
        ),
        (
            r#"14 = { name = "x", class = "ans", length = "L", max = 10 }"#,
            "field 14",
        ),
    ];
    for (line, needle) in cases {
        let msg = refused(&format!("{GOOD}{line}\n"));
        assert!(
            msg.contains(needle) && msg.contains("mine.toml"),
            "{line}: {msg}"
        );
    }
    assert!(
        refused(&GOOD.replace("bitmap = \"binary\"", "bitmap = \"octal\"")).contains("mine.toml")
    );
    assert!(refused(&format!(
        "{GOOD}[header]\nlength = 0\nencoding = \"ascii\"\n"
    ))
    .contains("header"));
    let extra = refused(&GOOD.replace("max = 19 }", "max = 19, colour = \"red\" }"));
    assert!(extra.contains("colour"), "{extra}");
}

#[test]
fn loads_from_toml_and_json_files() {
    let dir = tempfile::tempdir().unwrap();
    let toml_path = dir.path().join("mine.toml");
    std::fs::write(&toml_path, GOOD).unwrap();
    let spec = Spec::load(toml_path.to_str().unwrap()).unwrap();
    assert_eq!(spec.name(), "mine");

    let json = r#"{"name":"j","mti":"bcd","bitmap":"hex-ascii",
        "defaults":{"numeric":"bcd","text":"ebcdic","binary":"binary","prefix":"bcd"},
        "fields":{"3":{"name":"pc","class":"n","max":6}}}"#;
    let json_path = dir.path().join("mine.json");
    std::fs::write(&json_path, json).unwrap();
    let spec = Spec::load(json_path.to_str().unwrap()).unwrap();
    assert_eq!(spec.field(3).unwrap().data, DataEncoding::Bcd);

    match Spec::load("/no/such/spec.toml") {
        Err(SpecError::NotFound { builtins, .. }) => assert!(builtins.contains("iso87-binary")),
        other => panic!("{other:?}"),
    }
}
