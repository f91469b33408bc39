//! The PKCS#11 back end's configuration: module, token, user PIN source, and a token label per
//! key name. No key material: in production the keys are created inside the HSM by its own
//! ceremony and only their labels (and, optionally, their KCVs) appear here.
//!
//! ```toml
//! module = "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so"
//! token = "switch"          # token label
//! pin_env = "HSM_PIN"       # or: pin_file = "/run/secrets/hsm-pin" (first line)
//!
//! [keys.zpk]
//! label = "ZPK-2025-02"
//! kcv = "83FFFF"            # optional: checked against the token at load
//! version = 2
//! [keys.zpk.previous]
//! label = "ZPK-2024-08"
//! version = 1
//!
//! [keys.pvk]
//! label = "PVK-1"
//! pvki = 1
//! ```
//!
//! Single-DES steps (CVV, ISO 9797-1 MAC algorithm 3) need each half of a double-length key
//! as its own object: `LABEL#L` holding K1 || K1 and `LABEL#R` holding K2 || K2 (see the
//! `pkcs11` module docs for why).

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

use crate::error::HsmError;

/// Where the token's user PIN comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PinSource {
    /// An environment variable's value.
    Env(String),
    /// The first line of a file.
    File(PathBuf),
}

/// One key version in the token.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Pkcs11KeyVersion {
    /// The object's CKA_LABEL.
    pub label: String,
    /// Version number (default 1; required for both when `previous` is given).
    #[serde(default)]
    pub version: Option<u32>,
    /// Expected KCV (6 hex digits), checked at load when given.
    #[serde(default)]
    pub kcv: Option<String>,
    /// PVK index, for PVKs.
    #[serde(default)]
    pub pvki: Option<u8>,
}

/// A key name's token objects: the current version and optionally the previous one.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Pkcs11Key {
    /// The current version.
    #[serde(flatten)]
    pub current: Pkcs11KeyVersion,
    /// The version being rotated out.
    #[serde(default)]
    pub previous: Option<Pkcs11KeyVersion>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    module: PathBuf,
    token: String,
    #[serde(default)]
    pin_env: Option<String>,
    #[serde(default)]
    pin_file: Option<PathBuf>,
    #[serde(default)]
    keys: BTreeMap<String, Pkcs11Key>,
}

/// The whole PKCS#11 configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pkcs11Config {
    /// Path of the PKCS#11 module (`libsofthsm2.so`, a vendor's library).
    pub module: PathBuf,
    /// The token's label.
    pub token: String,
    /// The user PIN's source.
    pub pin: PinSource,
    /// Key name -> token objects.
    pub keys: BTreeMap<String, Pkcs11Key>,
}

impl Pkcs11Config {
    /// Parses the TOML form above; `origin` names it in errors.
    pub fn from_toml(text: &str, origin: &str) -> Result<Pkcs11Config, HsmError> {
        let config = |reason: String| HsmError::Config {
            origin: origin.to_string(),
            reason,
        };
        let raw: Raw = toml::from_str(text).map_err(|e| config(e.message().to_string()))?;
        let pin = match (raw.pin_env, raw.pin_file) {
            (Some(v), None) => PinSource::Env(v),
            (None, Some(f)) => PinSource::File(f),
            _ => return Err(config("exactly one of pin_env and pin_file".into())),
        };
        let c = Pkcs11Config {
            module: raw.module,
            token: raw.token,
            pin,
            keys: raw.keys,
        };
        c.check(origin)?;
        Ok(c)
    }

    /// Checks versions and PVKIs.
    pub fn check(&self, origin: &str) -> Result<(), HsmError> {
        let config = |reason: String| HsmError::Config {
            origin: origin.to_string(),
            reason,
        };
        for (name, k) in &self.keys {
            if let Some(p) = &k.previous {
                match (k.current.version, p.version) {
                    (Some(a), Some(b)) if a != b => {}
                    _ => {
                        return Err(config(format!(
                        "key '{name}': with a previous key both versions must be given and differ"
                    )))
                    }
                }
            }
            for v in std::iter::once(&k.current).chain(&k.previous) {
                if v.pvki.is_some_and(|p| p > 9) {
                    return Err(config(format!("key '{name}': pvki must be one digit")));
                }
            }
        }
        Ok(())
    }

    /// Reads the user PIN from its source.
    pub(crate) fn read_pin(&self) -> Result<zeroize::Zeroizing<String>, HsmError> {
        let fail = |reason: String| HsmError::Config {
            origin: "PKCS#11 user PIN".into(),
            reason,
        };
        match &self.pin {
            PinSource::Env(var) => std::env::var(var)
                .map(zeroize::Zeroizing::new)
                .map_err(|_| fail(format!("environment variable {var} is not set"))),
            PinSource::File(path) => {
                let text = zeroize::Zeroizing::new(
                    std::fs::read_to_string(path)
                        .map_err(|e| fail(format!("{}: {}", path.display(), e.kind())))?,
                );
                Ok(zeroize::Zeroizing::new(
                    text.lines().next().unwrap_or("").to_string(),
                ))
            }
        }
    }
}
