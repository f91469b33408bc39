//! The `iso8583` command line: decode, encode and describe as DESIGN.md fixes them.

use std::io::Write;
use std::process::{Command, Output, Stdio};

fn run(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_iso8583"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child.wait_with_output().unwrap()
}

const ECHO_JSON: &str = r#"{"mti":"0800","fields":{"7":"1125063015","11":"000001","70":"301"}}"#;
const ECHO_HEX: &str =
    "303830308220000000000000040000000000000031313235303633303135303030303031333031";

#[test]
fn encode_then_decode_hex_lines() {
    let out = run(
        &["encode", "--spec", "iso87-binary", "--hex"],
        format!("{ECHO_JSON}\n").as_bytes(),
    );
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        format!("{ECHO_HEX}\n")
    );
    let out = run(
        &["decode", "--spec", "iso87-binary", "--hex"],
        format!("{ECHO_HEX}\n").as_bytes(),
    );
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        format!("{ECHO_JSON}\n")
    );
}

#[test]
fn raw_stdin_and_raw_stdout() {
    let raw = hex::decode(ECHO_HEX).unwrap();
    let out = run(&["decode", "--spec", "iso87-binary"], &raw);
    assert!(out.status.success());
    assert_eq!(String::from_utf8(out.stdout).unwrap().trim(), ECHO_JSON);
    let out = run(&["encode", "--spec", "iso87-binary"], ECHO_JSON.as_bytes());
    assert_eq!(out.stdout, raw);
}

#[test]
fn failures_go_to_stderr_with_field_and_offset_and_the_rest_go_on() {
    // line 2 has a letter in DE 11: "00000A" at 4 + 16 + 10 = 30, the A at 35
    let bad = ECHO_HEX.replace("303030303031", "303030303041");
    let input = format!("{ECHO_HEX}\n{bad}\n{ECHO_HEX}\n");
    let out = run(
        &["decode", "--spec", "iso87-binary", "--hex"],
        input.as_bytes(),
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(String::from_utf8(out.stdout).unwrap().lines().count(), 2);
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("line 2") && err.contains("field 11") && err.contains("offset 35"),
        "{err}"
    );
}

#[test]
fn every_fault_of_a_message_is_printed_on_its_own_line() {
    // DE 7 "1125063015" -> "11250630AB" (offset 4 + 16 + 8) and DE 11 "000001" -> "00000A"
    // (offset 35): both are listed, the first one first; the value is never shown.
    let bad = ECHO_HEX
        .replace("31313235303633303135", "31313235303633304142")
        .replace("303030303031", "303030303041");
    let input = format!("{bad}\n{ECHO_HEX}\n");
    let out = run(
        &["decode", "--spec", "iso87-binary", "--hex"],
        input.as_bytes(),
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(String::from_utf8(out.stdout).unwrap().lines().count(), 1);
    let err = String::from_utf8(out.stderr).unwrap();
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 2, "{err}");
    assert!(
        lines[0].starts_with("line 1: field 7 at offset 28"),
        "{err}"
    );
    assert!(
        lines[1].starts_with("line 1: field 11 at offset 35"),
        "{err}"
    );
    assert!(!err.contains("AB") && !err.contains("11250630"), "{err}");
}

#[test]
fn encode_errors_name_the_line_and_field() {
    let input =
        format!("{ECHO_JSON}\n{{\"mti\":\"0800\",\"fields\":{{\"11\":\"12\"}}}}\nnot json\n");
    let out = run(
        &["encode", "--spec", "iso87-ascii", "--hex"],
        input.as_bytes(),
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(String::from_utf8(out.stdout).unwrap().lines().count(), 1);
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("line 2: field 11") && err.contains("line 3"),
        "{err}"
    );
}

#[test]
fn describe_masks_card_data_unless_unmasked() {
    let json = r#"{"mti":"0100","fields":{"2":"4761739001010119","35":"4761739001010119=2812201","52":"A1B2C3D4E5F60718"}}"#;
    let wire = run(&["encode", "--spec", "iso87-bcd", "--hex"], json.as_bytes()).stdout;
    let out = run(&["describe", "--spec", "iso87-bcd", "--hex"], &wire);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("MTI 0100") && text.contains("Primary Account Number"),
        "{text}"
    );
    assert!(text.contains("476173******0119"), "{text}");
    assert!(
        !text.contains("4761739001010119") && !text.contains("A1B2C3D4"),
        "{text}"
    );
    let out = run(
        &["describe", "--spec", "iso87-bcd", "--hex", "--unmask"],
        &wire,
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("4761739001010119=2812201") && text.contains("A1B2C3D4E5F60718"),
        "{text}"
    );
}

#[test]
fn unknown_spec_is_a_clear_error() {
    let out = run(&["decode", "--spec", "nope", "--hex"], b"");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8(out.stderr)
        .unwrap()
        .contains("iso87-binary"));
}

#[test]
fn unknown_spec_says_its_reason_once() {
    let out = run(&["decode", "--spec", "no-such-spec.toml"], b"");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    let reason = "No such file or directory";
    assert_eq!(err.matches(reason).count(), 1, "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
}

#[test]
fn help_says_the_input_comes_from_standard_input() {
    for args in [
        &["--help"][..],
        &["decode", "--help"],
        &["encode", "--help"],
        &["describe", "--help"],
    ] {
        let out = run(args, b"");
        assert!(out.status.success());
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(text.contains("standard input"), "{args:?}: {text}");
    }
}

#[test]
fn hex_given_without_hex_flag_suggests_it() {
    for cmd in ["decode", "describe"] {
        let out = run(
            &[cmd, "--spec", "iso87-binary"],
            format!("{ECHO_HEX}\n").as_bytes(),
        );
        assert_eq!(out.status.code(), Some(1), "{cmd}");
        let err = String::from_utf8(out.stderr).unwrap();
        assert!(err.contains("add --hex"), "{cmd}: {err}");
    }
    // Binary that fails for another reason gets no such hint.
    let out = run(&["decode", "--spec", "iso87-binary"], b"\x01\x02\xff");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(!err.contains("--hex"), "{err}");
    // A raw iso87-ascii echo is all hex digits and still decodes: no hint, no failure.
    let ascii = run(&["encode", "--spec", "iso87-ascii"], ECHO_JSON.as_bytes()).stdout;
    assert!(ascii.iter().all(u8::is_ascii_hexdigit));
    let out = run(&["decode", "--spec", "iso87-ascii"], &ascii);
    assert!(out.status.success(), "{out:?}");
    assert!(out.stderr.is_empty());
}
