//! `iso8583 decode`: one JSON line per message. A message that does not decode prints each of
//! its faults on stderr (field and byte offset, never a value), one line each: the first is
//! the decoder's error, the others those `decode_partial` found past it.

use crate::input::read_messages;
use anyhow::Result;
use iso8583::Spec;
use std::io::Write;

pub(crate) fn run(spec: &Spec, hex_lines: bool) -> Result<bool> {
    let mut ok = true;
    let mut out = std::io::stdout().lock();
    for item in read_messages(hex_lines)? {
        let hint = item.hint(hex_lines);
        let result = match &item.bytes {
            Ok(bytes) => match iso8583::decode(spec, bytes) {
                Ok(m) => Ok(m.to_owned_message().to_json_string(spec)),
                Err(_) => {
                    let mut faults: Vec<String> = iso8583::decode_partial(spec, bytes)
                        .faults()
                        .iter()
                        .map(ToString::to_string)
                        .collect();
                    // The hint (binary input that looks like hex) once, on the first fault.
                    if let Some(first) = faults.first_mut() {
                        first.push_str(hint);
                    }
                    Err(faults)
                }
            },
            Err(e) => Err(vec![e.clone()]),
        };
        match result {
            Ok(json) => writeln!(out, "{json}")?,
            Err(faults) => {
                ok = false;
                for e in faults {
                    eprintln!("{}: {e}", item.origin);
                }
            }
        }
    }
    Ok(ok)
}
