//! The JSON form of a simulated request or answer (DESIGN.md, "Wire contracts") as the API
//! shows it: every value rendered as `iso8583 describe` and the logs render it
//! (`iso8583::mask::render`: PAN first 6 + last 4, expiry, track data, PIN block and ICC data
//! masked), and DE 48's CVV2 (subelement 92) replaced by asterisks.

use iso8583::{OwnedMessage, Spec};
use serde_json::{Map, Value};

use crate::security::de48::{cvv2, Cvv2};

/// `msg` in the JSON form, masked.
pub(crate) fn masked_json(spec: &Spec, msg: &OwnedMessage) -> Value {
    let mut fields = Map::new();
    for (n, v) in msg.iter() {
        let shown = if n == 48 {
            masked_de48(&String::from_utf8_lossy(v))
        } else {
            iso8583::mask::render(spec, n, v)
        };
        fields.insert(n.to_string(), Value::String(shown));
    }
    let mut obj = Map::new();
    obj.insert("mti".into(), Value::String(msg.mti().as_str().to_owned()));
    obj.insert("fields".into(), Value::Object(fields));
    Value::Object(obj)
}

/// DE 48 with tag 92's value masked; a DE 48 that cannot be read as subelements is masked
/// whole (it might hold the CVV2 anywhere).
fn masked_de48(de48: &str) -> String {
    match cvv2(de48) {
        Cvv2::Absent => de48.to_owned(),
        Cvv2::Unreadable => format!("[masked, {} bytes]", de48.len()),
        Cvv2::Present(v) => {
            // `v` borrows from `de48`: its offset is where the CVV2 starts.
            let start = v.as_ptr() as usize - de48.as_ptr() as usize;
            let mut out = de48.to_owned();
            out.replace_range(start..start + v.len(), &"*".repeat(v.len()));
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn card_data_is_masked_and_the_rest_shown() {
        let spec = Spec::builtin("iso87-binary").unwrap();
        let m = OwnedMessage::new("0100".parse().unwrap())
            .with(2, "4000001000000018")
            .with(4, "000000015000")
            .with(14, "3012")
            .with(48, "R0102AB9203640")
            .with(52, vec![0x1F, 0xD5, 0x3E, 0x84, 0xDD, 0xA3, 0x96, 0x38]);
        let v = masked_json(spec, &m);
        let text = v.to_string();
        assert_eq!(v["fields"]["2"], "400000******0018");
        assert_eq!(v["fields"]["4"], "000000015000");
        assert_eq!(v["fields"]["48"], "R0102AB9203***");
        assert!(!text.contains("3012") && !text.contains("1FD5") && !text.contains("640"));
        assert_eq!(masked_de48("R92"), "[masked, 3 bytes]");
        assert_eq!(masked_de48("R"), "R");
    }
}
