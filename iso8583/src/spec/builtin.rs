//! The built-in specs: the files under `iso8583/specs/`, compiled in and parsed on first use.

use super::Spec;
use std::sync::{Arc, LazyLock};

/// Names of the built-in specs, in the order `iso8583 --help` lists them.
pub(super) const NAMES: &[&str] = &[
    "iso87-binary",
    "iso87-ascii",
    "iso87-bcd",
    "iso87-ebcdic",
    "iso93-ascii",
    "iso93-ebcdic",
];

const SOURCES: [(&str, &str); 6] = [
    (
        "iso87-binary",
        include_str!("../../specs/iso87-binary.toml"),
    ),
    ("iso87-ascii", include_str!("../../specs/iso87-ascii.toml")),
    ("iso87-bcd", include_str!("../../specs/iso87-bcd.toml")),
    (
        "iso87-ebcdic",
        include_str!("../../specs/iso87-ebcdic.toml"),
    ),
    ("iso93-ascii", include_str!("../../specs/iso93-ascii.toml")),
    (
        "iso93-ebcdic",
        include_str!("../../specs/iso93-ebcdic.toml"),
    ),
];

static BUILTINS: LazyLock<Vec<(&'static str, Arc<Spec>)>> = LazyLock::new(|| {
    SOURCES
        .iter()
        .map(|(name, text)| {
            // The files are part of the crate and tested (`builtin_specs_load`); a failure here
            // is a build defect, never a reaction to input.
            let spec = Spec::from_toml(text, name).unwrap_or_else(|e| panic!("{e}"));
            (*name, Arc::new(spec))
        })
        .collect()
});

pub(super) fn get(name: &str) -> Option<&'static Arc<Spec>> {
    BUILTINS.iter().find(|(n, _)| *n == name).map(|(_, s)| s)
}
