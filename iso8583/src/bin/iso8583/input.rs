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
