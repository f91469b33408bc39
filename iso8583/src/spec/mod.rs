//! The spec model: how one message format lays out its MTI, bitmaps, optional header and data
//! elements 2..192. Specs are data (TOML or JSON files, see `iso8583/specs/`), validated once at
//! load so that the codec can trust them.

mod builtin;
mod field;
mod file;

pub use field::{
    ContentClass, DataEncoding, FieldSpec, LengthType, LengthUnit, Padding, PrefixEncoding,
    Sensitivity,
};

use crate::error::SpecError;
use crate::limits::MAX_FIELD;
use serde::Deserialize;
use std::sync::Arc;

/// How the four MTI digits are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MtiEncoding {
    /// Four ASCII digits.
    Ascii,
    /// Four EBCDIC digits (0xF0..0xF9).
    Ebcdic,
    /// Two bytes of packed BCD.
    Bcd,
}

/// How each 64-bit bitmap is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BitmapEncoding {
    /// Eight raw bytes.
    Binary,
    /// Sixteen ASCII hex digits. Written uppercase; lowercase is accepted on decode.
    HexAscii,
    /// Sixteen EBCDIC hex digits. Written uppercase; lowercase is accepted on decode.
    HexEbcdic,
}

/// Which ISO 8583 version digits (the MTI's first digit) a spec accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum VersionRule {
    /// Any digit.
    #[default]
    Any,
    /// "0xxx": ISO 8583:1987.
    #[serde(rename = "1987")]
    Iso1987,
    /// "1xxx": ISO 8583:1993.
    #[serde(rename = "1993")]
    Iso1993,
    /// "2xxx": ISO 8583:2003.
    #[serde(rename = "2003")]
    Iso2003,
}

impl VersionRule {
    /// Whether an MTI whose version digit (ASCII) is `digit` is allowed.
    pub fn allows(self, digit: u8) -> bool {
        match self {
            VersionRule::Any => true,
            VersionRule::Iso1987 => digit == b'0',
            VersionRule::Iso1993 => digit == b'1',
            VersionRule::Iso2003 => digit == b'2',
        }
    }
}

/// How an optional fixed-length message header is written. Its content is not interpreted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HeaderEncoding {
    /// Text (ASCII); shown as-is in the JSON form.
    Ascii,
    /// Raw bytes; shown as uppercase hex in the JSON form.
    Binary,
}

/// A fixed-length message header before the MTI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeaderSpec {
    /// Length in bytes.
    pub length: usize,
    /// How it is shown.
    pub encoding: HeaderEncoding,
}

/// One message format. Built by [`Spec::load`] or [`Spec::builtin`] and immutable afterwards.
#[derive(Debug, Clone)]
pub struct Spec {
    name: String,
    description: String,
    version: VersionRule,
    mti: MtiEncoding,
    bitmap: BitmapEncoding,
    tertiary_bitmap: bool,
    header: Option<HeaderSpec>,
    /// Indexed by field number; entries 0 and 1 (and 65 with a tertiary bitmap) are `None`.
    fields: Vec<Option<FieldSpec>>,
}

impl Spec {
    /// A built-in spec by name: `iso87-binary`, `iso87-ascii`, `iso87-bcd`, `iso87-ebcdic`,
    /// `iso93-ascii`, `iso93-ebcdic` (the IPM-like clearing layout).
    pub fn builtin(name: &str) -> Option<&'static Spec> {
        builtin::get(name).map(|s| &**s)
    }

    /// A built-in spec by name, or else a TOML (`.toml`) or JSON (any other extension) spec file.
    pub fn load(name_or_path: &str) -> Result<Arc<Spec>, SpecError> {
        if let Some(spec) = builtin::get(name_or_path) {
            return Ok(spec.clone());
        }
        let text = std::fs::read_to_string(name_or_path).map_err(|source| SpecError::NotFound {
            name: name_or_path.to_string(),
            builtins: builtin::NAMES.join(", "),
            source,
        })?;
        let spec = if name_or_path.ends_with(".toml") {
            Spec::from_toml(&text, name_or_path)?
        } else {
            Spec::from_json(&text, name_or_path)?
        };
        Ok(Arc::new(spec))
    }

    /// Parses and validates a spec written in TOML; `origin` names it in error messages.
    pub fn from_toml(text: &str, origin: &str) -> Result<Spec, SpecError> {
        file::from_toml(text, origin)
    }

    /// Parses and validates a spec written in JSON; `origin` names it in error messages.
    pub fn from_json(text: &str, origin: &str) -> Result<Spec, SpecError> {
        file::from_json(text, origin)
    }

    /// Names of the built-in specs.
    pub fn builtin_names() -> &'static [&'static str] {
        builtin::NAMES
    }

    /// The spec's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// One line saying what the spec is for.
    pub fn description(&self) -> &str {
        &self.description
    }

    /// Which MTI version digits the spec accepts.
    pub fn version(&self) -> VersionRule {
        self.version
    }

    /// How the MTI is written.
    pub fn mti_encoding(&self) -> MtiEncoding {
        self.mti
    }

    /// How the bitmaps are written.
    pub fn bitmap_encoding(&self) -> BitmapEncoding {
        self.bitmap
    }

    /// Whether bit 65 announces a tertiary bitmap (fields 129..192) rather than a data field.
    pub fn has_tertiary_bitmap(&self) -> bool {
        self.tertiary_bitmap
    }

    /// The optional message header.
    pub fn header(&self) -> Option<HeaderSpec> {
        self.header
    }

    /// The definition of data element `n`, if the spec has one. Bitmap positions (1, and 65
    /// with a tertiary bitmap) have none.
    pub fn field(&self, n: u16) -> Option<&FieldSpec> {
        self.fields.get(usize::from(n)).and_then(Option::as_ref)
    }

    /// All defined data elements, ascending.
    pub fn fields(&self) -> impl Iterator<Item = &FieldSpec> + '_ {
        self.fields.iter().flatten()
    }

    /// Whether field `n` holds binary data (shown as uppercase hex in the JSON form).
    pub fn is_binary_field(&self, n: u16) -> bool {
        self.field(n).is_some_and(|f| f.class == ContentClass::B)
    }

    /// Highest field number a message in this spec can carry.
    pub fn max_field(&self) -> u16 {
        if self.tertiary_bitmap {
            MAX_FIELD
        } else {
            128
        }
    }
}
