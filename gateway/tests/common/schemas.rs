//! The events' JSON Schemas (docs/events/, one per type) checked against real events by an
//! independent validator: python3-jsonschema, from the python `scripts/test` provides
//! (`KAFKA_PYTHON`, with kafka-python and jsonschema), else the system's.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

/// Asserts that every CloudEvent in `events` (JSON text, one per item) is valid against the
/// schema of its `type`.
pub fn assert_valid<S: AsRef<str>>(events: impl IntoIterator<Item = S>) {
    const SCRIPT: &str = r#"
import json, os, sys
import jsonschema
schemas = {}
for line in sys.stdin:
    e = json.loads(line)
    path = os.path.join(sys.argv[1], e["type"] + ".schema.json")
    if path not in schemas:
        schemas[path] = json.load(open(path))
    jsonschema.validate(e, schemas[path])
"#;
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/events");
    let python = std::env::var("KAFKA_PYTHON").unwrap_or_else(|_| "/usr/bin/python3".into());
    let mut child = Command::new(&python)
        .args(["-c", SCRIPT])
        .arg(&dir)
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    {
        let mut stdin = child.stdin.take().unwrap();
        for e in events {
            writeln!(stdin, "{}", e.as_ref()).unwrap();
        }
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "an event does not match its schema: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
