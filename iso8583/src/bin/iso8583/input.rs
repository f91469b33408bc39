//! Reading messages from stdin: one raw message, or hex lines.

use anyhow::{Context, Result};
use std::io::{BufRead, Read};

/// One input message with where it came from, for error lines.
pub(crate) struct Item {
    /// "line 3" or "stdin".
    pub(crate) origin: String,
    /// The message bytes, or why the line could not be read as hex.
    pub(crate) bytes: Result<Vec<u8>, String>,
}

impl Item {
    /// What to add to a decode error: raw input made only of hex digits is most likely a hex
    /// dump given without `--hex` (said only on failure: an all-ASCII message such as an
    /// iso87-ascii echo can be all hex digits and still be a valid raw message).
    pub(crate) fn hint(&self, hex_lines: bool) -> &'static str {
        match &self.bytes {
            Ok(bytes) if !hex_lines && looks_like_hex(bytes) => {
                " (the input looks like hex: add --hex to read one hex message per line)"
            }
            _ => "",
        }
    }
}

/// Non-empty, and only hex digits and white space.
fn looks_like_hex(bytes: &[u8]) -> bool {
    bytes.iter().any(u8::is_ascii_hexdigit)
        && bytes
            .iter()
            .all(|b| b.is_ascii_hexdigit() || b.is_ascii_whitespace())
}

/// All messages on stdin.
pub(crate) fn read_messages(hex_lines: bool) -> Result<Vec<Item>> {
    let stdin = std::io::stdin();
    if !hex_lines {
        let mut buf = Vec::new();
        stdin
            .lock()
            .read_to_end(&mut buf)
            .context("reading stdin")?;
        return Ok(vec![Item {
            origin: "stdin".into(),
            bytes: Ok(buf),
        }]);
    }
    let mut items = Vec::new();
    for (i, line) in stdin.lock().lines().enumerate() {
        let line = line.context("reading stdin")?;
        let text: String = line.split_whitespace().collect();
        if text.is_empty() || text.starts_with('#') {
            continue;
        }
        items.push(Item {
            origin: format!("line {}", i + 1),
            bytes: hex::decode(&text).map_err(|e| format!("not hex: {e}")),
        });
    }
    Ok(items)
}
