//! `iso8583 encode`: JSON lines in, messages out.

use anyhow::{Context, Result};
use iso8583::{OwnedMessage, Spec};
use std::io::{BufRead, Write};

pub(crate) fn run(spec: &Spec, hex_lines: bool) -> Result<bool> {
    let mut ok = true;
    let mut out = std::io::stdout().lock();
    for (i, line) in std::io::stdin().lock().lines().enumerate() {
        let line = line.context("reading stdin")?;
        if line.trim().is_empty() {
            continue;
        }
        let result = serde_json::from_str::<serde_json::Value>(&line)
            .map_err(|e| format!("not JSON: {e}"))
            .and_then(|v| OwnedMessage::from_json(spec, &v).map_err(|e| e.to_string()))
            .and_then(|m| m.encode(spec).map_err(|e| e.to_string()));
        match result {
            Ok(bytes) if hex_lines => writeln!(out, "{}", hex::encode_upper(bytes))?,
            Ok(bytes) => out.write_all(&bytes)?,
            Err(e) => {
                ok = false;
                eprintln!("line {}: {e}", i + 1);
            }
        }
    }
    out.flush()?;
    Ok(ok)
}
