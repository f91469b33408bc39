//! `iso8583 decode`: one JSON line per message.

use crate::input::read_messages;
use anyhow::Result;
use iso8583::Spec;
use std::io::Write;

pub(crate) fn run(spec: &Spec, hex_lines: bool) -> Result<bool> {
    let mut ok = true;
    let mut out = std::io::stdout().lock();
    for item in read_messages(hex_lines)? {
        let result = match &item.bytes {
            Ok(bytes) => iso8583::decode(spec, bytes)
                .map(|m| m.to_owned_message().to_json_string(spec))
                .map_err(|e| format!("{e}{}", item.hint(hex_lines))),
            Err(e) => Err(e.clone()),
        };
        match result {
            Ok(json) => writeln!(out, "{json}")?,
            Err(e) => {
                ok = false;
                eprintln!("{}: {e}", item.origin);
            }
        }
    }
    Ok(ok)
}
