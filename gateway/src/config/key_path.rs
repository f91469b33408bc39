//! Naming the key at fault in a TOML error.
//!
//! `toml` reports a byte span; operators want `listener[1].framing`. We recover the path from
//! the text: the last table header before the span (counting `[[array]]` entries) and the key
//! on the span's line.

/// The dotted key path of the setting at `offset` in `text`; the table alone when the line
/// holds no key (a missing field is reported on its table).
pub(crate) fn key_path_at(text: &str, offset: usize) -> String {
    let offset = offset.min(text.len());
    let before = &text[..floor_char_boundary(text, offset)];
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let line_end = text[line_start..]
        .find('\n')
        .map_or(text.len(), |i| line_start + i);
    let mut table = String::new();
    let mut counts: Vec<(String, usize)> = Vec::new();
    // Up to the end of the span's line, so a span inside a header still names it.
    for line in text[..line_end].lines() {
        let t = line.trim();
        if let Some(name) = t.strip_prefix("[[").and_then(|r| r.split("]]").next()) {
            let name = name.trim().to_owned();
            let n = match counts.iter_mut().find(|(k, _)| *k == name) {
                Some((_, c)) => {
                    *c += 1;
                    *c
                }
                None => {
                    counts.push((name.clone(), 0));
                    0
                }
            };
            table = format!("{name}[{n}]");
        } else if let Some(name) = t.strip_prefix('[').and_then(|r| r.split(']').next()) {
            table = name.trim().to_owned();
        }
    }
    let line = text[line_start..line_end].trim();
    let key = if line.starts_with('[') || line.starts_with('#') {
        None
    } else {
        line.split_once('=')
            .map(|(k, _)| k.trim().trim_matches('"').to_owned())
    };
    match (table.is_empty(), key) {
        (true, Some(k)) => k,
        (false, Some(k)) => format!("{table}.{k}"),
        (false, None) => table,
        (true, None) => "(top level)".to_owned(),
    }
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_in_a_plain_table() {
        let t = "[ledger]\npan_key = 3\n";
        assert_eq!(key_path_at(t, t.find('3').unwrap()), "ledger.pan_key");
    }

    #[test]
    fn key_in_the_second_array_entry() {
        let t = "[[listener]]\nname='a'\n[[listener]]\nname='b'\nframing='x'\n";
        assert_eq!(
            key_path_at(t, t.find("'x'").unwrap()),
            "listener[1].framing"
        );
    }

    #[test]
    fn top_level_key() {
        let t = "base_dir = 1\n[ledger]\n";
        assert_eq!(key_path_at(t, 11), "base_dir");
    }

    #[test]
    fn header_line_names_the_table() {
        let t = "[rates]\nfile='x'\n[ledger]\n";
        assert_eq!(key_path_at(t, t.find("[ledger]").unwrap() + 1), "ledger");
    }
}
