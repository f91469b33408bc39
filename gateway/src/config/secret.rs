//! Secrets in the config: the PAN key, the database and Redis passwords, and any token a later
//! setting needs, each from exactly one place.
//!
//! ```toml
//! pan_key = "..."                              # in the file (a sandbox)
//! pan_key = { file = "/run/secrets/pan_key" }  # a file: its text, trailing newlines dropped
//! pan_key = { env = "LEDGER_PAN_KEY" }         # an environment variable
//! ```
//!
//! A value never leaves a [`Secret`] except through [`Secret::resolve`]: `Debug` and
//! `Serialize` (what `gateway check-config` prints) show where it comes from, never what it
//! is, and errors name the setting, the file or the variable, never the value.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::ConfigError;

/// Where a secret comes from.
#[derive(Clone, PartialEq, Eq)]
pub enum Secret {
    /// In the config file itself.
    Value(String),
    /// The text of a file (relative paths resolve against `base_dir`); trailing `\n` and `\r`
    /// are dropped.
    File(PathBuf),
    /// An environment variable of the gateway's process.
    Env(String),
}

impl Secret {
    /// The secret's value; `key` (the setting, e.g. `ledger.pan_key`) names it in errors.
    /// An empty value is refused.
    pub fn resolve(&self, key: &str) -> Result<String, ConfigError> {
        let value = match self {
            Secret::Value(v) => v.clone(),
            Secret::File(path) => {
                // The io error says why (missing, permissions), never what the file holds.
                let text = std::fs::read_to_string(path).map_err(|e| {
                    ConfigError::invalid(key, format!("cannot read {}: {e}", path.display()))
                })?;
                text.trim_end_matches(['\n', '\r']).to_owned()
            }
            Secret::Env(name) => std::env::var(name).map_err(|e| {
                ConfigError::invalid(
                    key,
                    match e {
                        std::env::VarError::NotPresent => {
                            format!("environment variable {name} is not set")
                        }
                        std::env::VarError::NotUnicode(_) => {
                            format!("environment variable {name} is not valid UTF-8")
                        }
                    },
                )
            })?,
        };
        if value.is_empty() {
            return Err(ConfigError::invalid(
                key,
                format!("{} is empty", self.source()),
            ));
        }
        Ok(value)
    }

    /// Where the value comes from, for people: `the config file`, `file PATH`, `environment
    /// variable NAME`.
    pub fn source(&self) -> String {
        match self {
            Secret::Value(_) => "the value in the config file".to_owned(),
            Secret::File(p) => format!("file {}", p.display()),
            Secret::Env(n) => format!("environment variable {n}"),
        }
    }

    /// Makes a relative file path absolute from `base`.
    pub(crate) fn resolve_path(&mut self, base: &Path) {
        if let Secret::File(p) = self {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        }
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Secret::Value(_) => f.write_str("Secret(<redacted>)"),
            Secret::File(p) => write!(f, "Secret(file {})", p.display()),
            Secret::Env(n) => write!(f, "Secret(env {n})"),
        }
    }
}

/// `"<redacted>"`, `{ file = "PATH" }` or `{ env = "NAME" }`.
impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        match self {
            Secret::Value(_) => s.serialize_str("<redacted>"),
            Secret::File(p) => {
                let mut m = s.serialize_map(Some(1))?;
                m.serialize_entry("file", p)?;
                m.end()
            }
            Secret::Env(n) => {
                let mut m = s.serialize_map(Some(1))?;
                m.serialize_entry("env", n)?;
                m.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(SecretVisitor)
    }
}

struct SecretVisitor;

impl<'de> Visitor<'de> for SecretVisitor {
    type Value = Secret;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(r#"a string, { file = "PATH" } or { env = "NAME" }"#)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Secret, E> {
        Ok(Secret::Value(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Secret, E> {
        Ok(Secret::Value(v))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Secret, A::Error> {
        let mut found: Option<Secret> = None;
        while let Some(k) = map.next_key::<String>()? {
            let s = match k.as_str() {
                "file" => Secret::File(map.next_value()?),
                "env" => Secret::Env(map.next_value()?),
                other => {
                    return Err(de::Error::custom(format!(
                        "unknown key `{other}`: a secret is {{ file = \"PATH\" }} or \
                         {{ env = \"NAME\" }}"
                    )))
                }
            };
            if found.is_some() {
                return Err(de::Error::custom(
                    "a secret has one source: `file` or `env`, not both",
                ));
            }
            found = Some(s);
        }
        let s = found.ok_or_else(|| {
            de::Error::custom(r#"a secret needs a source: { file = "PATH" } or { env = "NAME" }"#)
        })?;
        if matches!(&s, Secret::Env(n) if n.is_empty())
            || matches!(&s, Secret::File(p) if p.as_os_str().is_empty())
        {
            return Err(de::Error::custom("a secret's file or env name is empty"));
        }
        Ok(s)
    }
}

/// A connection URL (or `key=value` string) fit to show: the password of a URL's user
/// information and of a `password=` query parameter replaced with `<redacted>`; a `key=value`
/// string that mentions a password is not shown at all.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return if url.contains("password") {
            "<redacted: a connection string with a password>".to_owned()
        } else {
            url.to_owned()
        };
    };
    let mut out = format!("{scheme}://");
    // User information: up to the last '@' anywhere. Parsers differ (tokio-postgres stops at
    // the first '@', even past a '/' or '?'; the url crate at the last one before the path),
    // so the widest reading is hidden: at worst more than the password is.
    let rest = match rest.rfind('@') {
        Some(at) => {
            match rest[..at].split_once(':') {
                Some((user, _)) => out.push_str(&format!("{user}:<redacted>")),
                None => out.push_str(&rest[..at]),
            }
            &rest[at..]
        }
        None => rest,
    };
    match rest.split_once('?') {
        None => out.push_str(rest),
        Some((before, query)) => {
            out.push_str(before);
            out.push('?');
            let params: Vec<String> = query
                .split('&')
                .map(|p| match p.split_once('=') {
                    Some((k, _)) if k.eq_ignore_ascii_case("password") => {
                        format!("{k}=<redacted>")
                    }
                    _ => p.to_owned(),
                })
                .collect();
            out.push_str(&params.join("&"));
        }
    }
    out
}

/// `serialize_with` for an optional URL: shown with [`redact_url`].
pub(crate) fn serialize_redacted_url<S: Serializer>(
    url: &Option<String>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match url {
        Some(u) => s.serialize_some(&redact_url(u)),
        None => s.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize, Serialize)]
    #[serde(deny_unknown_fields)]
    struct T {
        s: Secret,
    }

    fn parse(text: &str) -> Result<Secret, String> {
        toml::from_str::<T>(text)
            .map(|t| t.s)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn three_sources_and_nothing_else() {
        assert_eq!(parse(r#"s = "abc""#).unwrap(), Secret::Value("abc".into()));
        assert_eq!(
            parse(r#"s = { file = "/run/k" }"#).unwrap(),
            Secret::File("/run/k".into())
        );
        assert_eq!(
            parse(r#"s = { env = "K" }"#).unwrap(),
            Secret::Env("K".into())
        );
        assert!(parse(r#"s = { file = "/a", env = "K" }"#)
            .unwrap_err()
            .contains("one source"));
        assert!(parse(r#"s = { path = "/a" }"#)
            .unwrap_err()
            .contains("unknown key `path`"));
        assert!(parse(r#"s = {}"#).unwrap_err().contains("needs a source"));
        assert!(parse(r#"s = { env = "" }"#).unwrap_err().contains("empty"));
        assert!(parse("s = 3").is_err());
    }

    #[test]
    fn shown_by_source_never_by_value() {
        for (text, shown) in [
            (r#"s = "hunter2""#, Secret::Value("<redacted>".into())),
            (r#"s = { file = "/run/k" }"#, Secret::File("/run/k".into())),
            (r#"s = { env = "K" }"#, Secret::Env("K".into())),
        ] {
            let t: T = toml::from_str(text).unwrap();
            let out = toml::to_string(&t).unwrap();
            assert!(!out.contains("hunter2"), "{out}");
            // What is shown reads back as the same source.
            assert_eq!(parse(&out).unwrap(), shown, "{out}");
            assert!(!format!("{t:?}").contains("hunter2"));
        }
    }

    #[test]
    fn resolved_from_a_file_or_the_environment_with_named_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        std::fs::write(&path, "s3cret-value\r\n").unwrap();
        assert_eq!(
            Secret::File(path.clone()).resolve("x.k").unwrap(),
            "s3cret-value"
        );
        let missing = Secret::File(dir.path().join("none"))
            .resolve("x.k")
            .unwrap_err();
        assert_eq!(missing.key(), Some("x.k"));
        assert!(missing.to_string().contains("none"), "{missing}");
        std::fs::write(&path, "\n").unwrap();
        let empty = Secret::File(path).resolve("x.k").unwrap_err().to_string();
        assert!(empty.contains("empty"), "{empty}");

        // A variable name no other test sets.
        let var = "GATEWAY_SECRET_TEST_UNSET_4f1c";
        let e = Secret::Env(var.into()).resolve("x.k").unwrap_err();
        assert!(e.to_string().contains(var) && e.to_string().contains("not set"));
        let path_var = Secret::Env("PATH".into()).resolve("x.k").unwrap();
        assert_eq!(path_var, std::env::var("PATH").unwrap());
    }

    #[test]
    fn urls_are_shown_without_passwords() {
        assert_eq!(
            redact_url("postgres://app:hunter2@db:5432/x?sslmode=verify-full"),
            "postgres://app:<redacted>@db:5432/x?sslmode=verify-full"
        );
        assert_eq!(
            redact_url("postgres://app@db/x?password=hunter2&sslmode=require"),
            "postgres://app@db/x?password=<redacted>&sslmode=require"
        );
        assert_eq!(
            redact_url("rediss://:hunter2@r:6380/0"),
            "rediss://:<redacted>@r:6380/0"
        );
        assert_eq!(redact_url("redis://r:6379/"), "redis://r:6379/");
        // Unencoded '@', '/' or '?' in a password.
        for url in [
            "postgres://u:a@b@h/db",
            "postgres://u:a/b@h/db",
            "postgres://u:a?b@h/db",
        ] {
            let shown = redact_url(url);
            assert_eq!(shown, "postgres://u:<redacted>@h/db", "{url}");
        }
        assert!(!redact_url("host=db password='hunter2'").contains("hunter2"));
        assert_eq!(redact_url("host=db user=app"), "host=db user=app");
    }
}
