//! The spec file format (TOML or JSON, one model) and its validation. Everything the codec
//! relies on is checked here, once, so that a wrong spec is refused at load with a message
//! naming the field instead of misbehaving on the first message.
//!
//! ```toml
//! name = "iso87-binary"
//! mti = "ascii"
//! bitmap = "binary"
//! [defaults]                 # data encodings by class; prefix encoding
//! numeric = "ascii"          # n and z
//! text = "ascii"             # a, an, ans, x+n
//! binary = "binary"          # b
//! prefix = "ascii"
//! [fields]
//! 2 = { name = "Primary Account Number", class = "n", length = "LL", max = 19 }
//! ```

use super::field::{
    ContentClass, DataEncoding, FieldSpec, LengthType, LengthUnit, Padding, PrefixEncoding,
    Sensitivity,
};
use super::{BitmapEncoding, HeaderEncoding, HeaderSpec, MtiEncoding, Spec, VersionRule};
use crate::error::SpecError;
use crate::limits::{MAX_FIELD, MAX_FIELD_LEN, MAX_HEADER_LEN};
use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SpecFile {
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    version: VersionRule,
    mti: MtiEncoding,
    bitmap: BitmapEncoding,
    #[serde(default)]
    tertiary_bitmap: bool,
    header: Option<HeaderFile>,
    defaults: Defaults,
    fields: BTreeMap<String, FieldFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HeaderFile {
    length: usize,
    encoding: HeaderEncoding,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Defaults {
    numeric: DataEncoding,
    text: DataEncoding,
    binary: DataEncoding,
    prefix: PrefixEncoding,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FieldFile {
    name: String,
    class: ContentClass,
    #[serde(default)]
    length: LengthType,
    max: u16,
    prefix: Option<PrefixEncoding>,
    data: Option<DataEncoding>,
    unit: Option<LengthUnit>,
    pad: Option<Padding>,
    /// "0" or "F".
    filler: Option<String>,
    mask: Option<Sensitivity>,
}

pub(super) fn from_toml(text: &str, origin: &str) -> Result<Spec, SpecError> {
    let file: SpecFile = toml::from_str(text).map_err(|e| SpecError::Syntax {
        origin: origin.to_string(),
        message: e.to_string(),
    })?;
    build(file, origin)
}

pub(super) fn from_json(text: &str, origin: &str) -> Result<Spec, SpecError> {
    let file: SpecFile = serde_json::from_str(text).map_err(|e| SpecError::Syntax {
        origin: origin.to_string(),
        message: e.to_string(),
    })?;
    build(file, origin)
}

fn build(file: SpecFile, origin: &str) -> Result<Spec, SpecError> {
    let invalid = |message: String| SpecError::Invalid {
        origin: origin.to_string(),
        message,
    };
    if file.name.trim().is_empty() {
        return Err(invalid("name is empty".into()));
    }
    let header = match file.header {
        Some(h) if h.length == 0 || h.length > MAX_HEADER_LEN => {
            return Err(invalid(format!(
                "header length {} must be 1..={MAX_HEADER_LEN}",
                h.length
            )))
        }
        Some(h) => Some(HeaderSpec {
            length: h.length,
            encoding: h.encoding,
        }),
        None => None,
    };
    let mut fields: Vec<Option<FieldSpec>> = vec![None; usize::from(MAX_FIELD) + 1];
    for (key, f) in file.fields {
        let field_err = |message: String| SpecError::Field {
            origin: origin.to_string(),
            field: key.clone(),
            message,
        };
        let number: u16 = key
            .parse()
            .map_err(|_| field_err("key is not a field number".into()))?;
        let limit = if file.tertiary_bitmap { MAX_FIELD } else { 128 };
        if !(2..=limit).contains(&number) {
            return Err(field_err(format!(
                "field numbers run 2..={limit} for this spec (1 is the secondary bitmap)"
            )));
        }
        if number == 65 && file.tertiary_bitmap {
            return Err(field_err(
                "field 65 is the tertiary bitmap when tertiary_bitmap = true".into(),
            ));
        }
        let spec = field_spec(number, f, &file.defaults).map_err(field_err)?;
        fields[usize::from(number)] = Some(spec);
    }
    Ok(Spec {
        name: file.name,
        description: file.description,
        version: file.version,
        mti: file.mti,
        bitmap: file.bitmap,
        tertiary_bitmap: file.tertiary_bitmap,
        header,
        fields,
    })
}

fn field_spec(number: u16, f: FieldFile, d: &Defaults) -> Result<FieldSpec, String> {
    let data = f.data.unwrap_or(match f.class {
        ContentClass::N | ContentClass::Z => d.numeric,
        ContentClass::B => d.binary,
        _ => d.text,
    });
    let allowed = match f.class {
        ContentClass::N | ContentClass::Z => {
            &[DataEncoding::Ascii, DataEncoding::Ebcdic, DataEncoding::Bcd][..]
        }
        ContentClass::B => &[DataEncoding::Binary, DataEncoding::HexAscii][..],
        _ => &[DataEncoding::Ascii, DataEncoding::Ebcdic][..],
    };
    if !allowed.contains(&data) {
        return Err(format!(
            "data encoding {data:?} cannot hold class {:?} (allowed: {allowed:?})",
            f.class
        ));
    }
    if f.name.trim().is_empty() {
        return Err("name is empty".into());
    }
    if f.max == 0 || f.max > MAX_FIELD_LEN {
        return Err(format!("max {} must be 1..={MAX_FIELD_LEN}", f.max));
    }
    if f.class == ContentClass::Xn && f.max < 2 {
        return Err("x+n needs room for the sign and at least one digit".into());
    }
    let unit = f.unit.unwrap_or(if data == DataEncoding::Bcd {
        LengthUnit::Nibbles
    } else {
        LengthUnit::Bytes
    });
    let variable = f.length != LengthType::Fixed;
    if variable {
        match (data, unit) {
            (DataEncoding::Bcd, LengthUnit::Bytes) => {
                return Err("a variable BCD field must count nibbles (digits), or a \
                            filler nibble would be indistinguishable from a digit"
                    .into())
            }
            (
                DataEncoding::Ascii | DataEncoding::Ebcdic | DataEncoding::HexAscii,
                LengthUnit::Nibbles,
            ) => {
                return Err(format!(
                    "unit nibbles needs BCD or binary data, not {data:?}"
                ))
            }
            _ => {}
        }
    } else if f.unit.is_some() || f.prefix.is_some() {
        return Err("a fixed field has no length prefix (drop prefix/unit)".into());
    }
    let pad = f.pad.unwrap_or(match f.class {
        ContentClass::Z => Padding::Right,
        _ => Padding::Left,
    });
    let filler = match f.filler.as_deref() {
        None if pad == Padding::Right => 0xF,
        None => 0x0,
        Some("0") => 0x0,
        Some("F" | "f") => 0xF,
        Some(other) => return Err(format!("filler {other:?} must be \"0\" or \"F\"")),
    };
    let spec = FieldSpec {
        number,
        name: f.name,
        class: f.class,
        length: f.length,
        max: f.max,
        prefix: f.prefix.unwrap_or(d.prefix),
        data,
        unit,
        pad,
        filler,
        sensitivity: f
            .mask
            .unwrap_or_else(|| crate::mask::default_sensitivity(number)),
    };
    if variable && spec.max_prefix() > spec.prefix_capacity() as usize {
        return Err(format!(
            "max {} needs a length prefix of {} which does not fit a {:?} {:?} prefix",
            spec.max,
            spec.max_prefix(),
            spec.length,
            spec.prefix
        ));
    }
    Ok(spec)
}
