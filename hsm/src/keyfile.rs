//! `fixtures/keys.toml`: clear test keys by name (DESIGN.md "Cards and test data").
//!
//! ```toml
//! [keys.cvk]
//! value = "0123456789ABCDEFFEDCBA9876543210"   # hex; CVK A || CVK B
//! kcv = "08D7B4"                               # 6 hex digits: first 3 bytes of E(K, zeros)
//!
//! [keys.pvk]
//! value = "..."
//! kcv = "..."
//! pvki = 1                                     # the PVK index (Visa PVV)
//!
//! [keys.zpk_aes]
//! kind = "aes"                                 # default "tdes" (8, 16 or 24 bytes)
//! value = "..."
//! kcv = "..."
//!
//! [keys.zpk]                                   # during a rotation: two versions live
//! version = 2
//! value = "..."
//! kcv = "..."
//! [keys.zpk.previous]
//! version = 1
//! value = "..."
//! kcv = "..."
//! ```
//!
//! Every KCV is checked at load; a mismatch refuses the whole file and names the key and
//! version, never a value. Parse errors give the line and serde's reason, never the line's text
//! (which may hold a key). Production keys never sit in such a file: they live in the HSM and
//! the PKCS#11 back end names them by label.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;
use zeroize::Zeroizing;

use crate::error::HsmError;
use crate::secret::{Key, KeyKind, KeyName};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Doc {
    #[serde(default)]
    keys: BTreeMap<String, Entry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    value: Zeroizing<String>,
    kcv: String,
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    version: Option<u32>,
    #[serde(default)]
    pvki: Option<u8>,
    #[serde(default)]
    previous: Option<Previous>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Previous {
    value: Zeroizing<String>,
    kcv: String,
    #[serde(default)]
    version: Option<u32>,
    #[serde(default)]
    pvki: Option<u8>,
}

/// One version of a loaded key.
#[derive(Clone)]
pub struct LoadedKey {
    /// Version number.
    pub version: u32,
    /// PVK index, for PVKs.
    pub pvki: Option<u8>,
    /// The KCV (checked).
    pub kcv: [u8; 3],
    /// The clear key.
    pub key: Key,
    /// Its cipher instances, built at load.
    pub(crate) schedule: std::sync::Arc<crate::cipher::Schedule>,
}

impl std::fmt::Debug for LoadedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedKey")
            .field("version", &self.version)
            .field("pvki", &self.pvki)
            .field("kcv", &hex::encode_upper(self.kcv))
            .field("key", &self.key)
            .finish()
    }
}

/// A loaded, checked key file: each name with its current version and optionally the previous.
#[derive(Clone, Debug, Default)]
pub struct KeyFile {
    keys: BTreeMap<String, Vec<LoadedKey>>,
}

impl KeyFile {
    /// Reads and checks a key file.
    pub fn load(path: &Path) -> Result<KeyFile, HsmError> {
        let text = Zeroizing::new(std::fs::read_to_string(path).map_err(|e| HsmError::Config {
            origin: path.display().to_string(),
            reason: format!("cannot read: {}", e.kind()),
        })?);
        KeyFile::from_toml(&text, &path.display().to_string())
    }

    /// Parses and checks key-file text; `origin` names it in errors.
    pub fn from_toml(text: &str, origin: &str) -> Result<KeyFile, HsmError> {
        let config = |reason: String| HsmError::Config {
            origin: origin.to_string(),
            reason,
        };
        let doc: Doc = toml::from_str(text).map_err(|e| {
            let line = e
                .span()
                .map(|s| text[..s.start.min(text.len())].lines().count().max(1))
                .unwrap_or(0);
            config(format!("line {line}: {}", e.message()))
        })?;
        let mut keys = BTreeMap::new();
        for (name, entry) in doc.keys {
            let aes = match entry.kind.as_deref() {
                None | Some("tdes") | Some("des") => false,
                Some("aes") => true,
                Some(_) => {
                    return Err(config(format!(
                        "key '{name}': kind must be \"tdes\" or \"aes\""
                    )))
                }
            };
            let mut versions = vec![load_one(
                &name,
                &entry.value,
                &entry.kcv,
                aes,
                entry.version,
                entry.pvki,
                origin,
            )?];
            if let Some(prev) = &entry.previous {
                let (Some(cur), Some(old)) = (entry.version, prev.version) else {
                    return Err(config(format!(
                        "key '{name}': with a previous key both versions must be given"
                    )));
                };
                if cur == old {
                    return Err(config(format!(
                        "key '{name}': previous version equals the current one"
                    )));
                }
                let p = load_one(
                    &name,
                    &prev.value,
                    &prev.kcv,
                    aes,
                    prev.version,
                    prev.pvki.or(entry.pvki),
                    origin,
                )?;
                versions.push(p);
            }
            keys.insert(name, versions);
        }
        Ok(KeyFile { keys })
    }

    /// Key names, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.keys.keys().map(String::as_str)
    }

    /// The versions of `name` in trial order (the named version alone, else current then
    /// previous).
    pub fn versions(&self, name: &KeyName) -> Result<Vec<&LoadedKey>, HsmError> {
        let all = self
            .keys
            .get(name.as_str())
            .ok_or_else(|| HsmError::UnknownKey {
                name: name.to_string(),
            })?;
        let picked: Vec<&LoadedKey> = match name.version() {
            Some(v) => all.iter().filter(|k| k.version == v).collect(),
            None => all.iter().collect(),
        };
        if picked.is_empty() {
            return Err(HsmError::UnknownKey {
                name: name.to_string(),
            });
        }
        Ok(picked)
    }

    /// The current clear key of `name` (sandbox tools and tests).
    pub fn key(&self, name: &str) -> Result<&Key, HsmError> {
        Ok(&self.versions(&KeyName::new(name))?[0].key)
    }

    /// The kind of `name`.
    pub fn kind(&self, name: &str) -> Option<KeyKind> {
        self.keys.get(name).map(|v| v[0].key.kind())
    }
}

fn load_one(
    name: &str,
    value: &str,
    kcv_text: &str,
    aes: bool,
    version: Option<u32>,
    pvki: Option<u8>,
    origin: &str,
) -> Result<LoadedKey, HsmError> {
    let config = |reason: String| HsmError::Config {
        origin: origin.to_string(),
        reason,
    };
    let key = Key::from_hex(value, aes).map_err(|e| config(format!("key '{name}': {e}")))?;
    let stated = crate::kcv::parse(kcv_text).map_err(|e| config(format!("key '{name}': {e}")))?;
    let version = version.unwrap_or(1);
    if pvki.is_some_and(|p| p > 9) {
        return Err(config(format!("key '{name}': pvki must be one digit")));
    }
    let kcv = crate::kcv::kcv(&key)?;
    if !crate::ct_eq(&kcv, &stated) {
        return Err(HsmError::KcvMismatch {
            name: name.to_string(),
            version,
        });
    }
    let schedule = std::sync::Arc::new(crate::cipher::Schedule::new(&key)?);
    Ok(LoadedKey {
        version,
        pvki,
        kcv,
        key,
        schedule,
    })
}
