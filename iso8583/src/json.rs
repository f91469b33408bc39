//! The JSON form of a message (DESIGN.md): `{"mti":"0100","fields":{"2":"...","52":"A1B2..."}}`.
//! Keys are decimal field numbers; values are strings, binary fields uppercase hex (lowercase
//! accepted on input); bitmaps are derived and never listed; `"header"` appears only for specs
//! with a header (hex when the header is binary).

use crate::codec::hex;
use crate::error::JsonError;
use crate::mti::Mti;
use crate::owned::OwnedMessage;
use crate::spec::{HeaderEncoding, Spec};
use serde_json::{Map, Value};

impl OwnedMessage {
    /// Reads the JSON form. Field keys must be fields the spec defines ("1", the secondary
    /// bitmap, is refused: bitmaps are derived).
    pub fn from_json(spec: &Spec, v: &Value) -> Result<Self, JsonError> {
        let obj = v
            .as_object()
            .ok_or_else(|| JsonError::Shape("expected a JSON object".into()))?;
        if let Some(k) = obj
            .keys()
            .find(|k| !matches!(k.as_str(), "mti" | "fields" | "header"))
        {
            return Err(JsonError::Shape(format!("unknown key {k:?}")));
        }
        let mti: Mti = obj
            .get("mti")
            .and_then(Value::as_str)
            .and_then(|s| s.parse().ok())
            .ok_or(JsonError::InvalidMti)?;
        let mut m = OwnedMessage::new(mti);
        if let Some(h) = obj.get("header") {
            let s = h.as_str().ok_or(JsonError::InvalidHeader("not a string"))?;
            let bytes = match spec.header().map(|h| h.encoding) {
                Some(HeaderEncoding::Binary) => {
                    hex::decode(s.as_bytes()).ok_or(JsonError::InvalidHeader("not hexadecimal"))?
                }
                _ => s.as_bytes().to_vec(),
            };
            m.set_header(bytes);
        }
        let fields = match obj.get("fields") {
            None => return Ok(m),
            Some(f) => f
                .as_object()
                .ok_or_else(|| JsonError::Shape("\"fields\" must be an object".into()))?,
        };
        for (key, value) in fields {
            let n = field_number(spec, key)?;
            let s = value.as_str().ok_or(JsonError::InvalidValue {
                field: n,
                reason: "value must be a string",
            })?;
            let bytes = if spec.is_binary_field(n) {
                hex::decode(s.as_bytes()).ok_or(JsonError::InvalidValue {
                    field: n,
                    reason: "binary field must be hexadecimal with an even number of digits",
                })?
            } else {
                s.as_bytes().to_vec()
            };
            m.set(n, bytes);
        }
        Ok(m)
    }

    /// Writes the JSON form.
    pub fn to_json(&self, spec: &Spec) -> Value {
        let mut fields = Map::new();
        for (n, v) in self.iter() {
            fields.insert(n.to_string(), Value::String(value_text(spec, n, v)));
        }
        let mut obj = Map::new();
        obj.insert("mti".into(), Value::String(self.mti().to_string()));
        if let Some(h) = self.header() {
            obj.insert("header".into(), Value::String(header_text(spec, h)));
        }
        obj.insert("fields".into(), Value::Object(fields));
        Value::Object(obj)
    }

    /// The JSON form as one line with fields in numeric order ("2" before "11"), as the CLI
    /// prints it; [`OwnedMessage::to_json`] orders keys as the JSON map does.
    pub fn to_json_string(&self, spec: &Spec) -> String {
        let q = |s: &str| Value::String(s.to_string()).to_string();
        let mut out = format!("{{\"mti\":{}", q(self.mti().as_str()));
        if let Some(h) = self.header() {
            out.push_str(&format!(",\"header\":{}", q(&header_text(spec, h))));
        }
        out.push_str(",\"fields\":{");
        for (i, (n, v)) in self.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(&format!("\"{n}\":{}", q(&value_text(spec, n, v))));
        }
        out.push_str("}}");
        out
    }
}

fn field_number(spec: &Spec, key: &str) -> Result<u16, JsonError> {
    let invalid = |reason| JsonError::InvalidKey {
        key: key.to_string(),
        reason,
    };
    let n: u16 = key
        .parse()
        .map_err(|_| invalid("not a decimal field number"))?;
    if n == 1 || (n == 65 && spec.has_tertiary_bitmap()) {
        return Err(invalid("bitmaps are derived, never listed"));
    }
    if spec.field(n).is_none() {
        return Err(invalid("field not defined by the spec"));
    }
    Ok(n)
}

fn value_text(spec: &Spec, n: u16, v: &[u8]) -> String {
    if spec.is_binary_field(n) {
        hex::upper(v)
    } else {
        String::from_utf8_lossy(v).into_owned()
    }
}

fn header_text(spec: &Spec, h: &[u8]) -> String {
    match spec.header().map(|h| h.encoding) {
        Some(HeaderEncoding::Binary) => hex::upper(h),
        _ => String::from_utf8_lossy(h).into_owned(),
    }
}
