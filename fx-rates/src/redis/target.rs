//! Where Redis is and how to trust it: the URL, the CA of a `rediss://` server, a password
//! kept out of the URL.
//!
//! TLS is rustls (the redis crate's `tokio-rustls-comp`) with the *ring* provider. A
//! `rediss://` server's certificate must chain to [`RedisTarget::ca_file`] when it is given,
//! else to the system's trusted roots, and name the URL's host (an IP address is matched
//! against the certificate's IP addresses). The redis crate's `#insecure` URL fragment (no
//! checks at all) is refused: it needs a feature this crate does not enable, on purpose.

use std::path::PathBuf;

use redis::{ConnectionAddr, IntoConnectionInfo, TlsCertificates};

use crate::error::FxError;

/// A Redis server to connect to. Built from a URL (`From<&str>`), with the CA file and the
/// password added when they are kept apart from it. Its `Debug` shows neither password.
#[derive(Clone, Default)]
pub struct RedisTarget {
    /// `redis://[user[:password]@]host:port/[db]`, `rediss://...` for TLS, or a Unix socket.
    pub url: String,
    /// PEM file of the CA certificates a `rediss://` server's certificate must chain to,
    /// instead of the system's roots. Refused with a `redis://` URL (it would do nothing).
    pub ca_file: Option<PathBuf>,
    /// Password (`AUTH`), for one kept out of the URL. Refused when the URL has one too.
    pub password: Option<String>,
}

impl RedisTarget {
    /// A target for `url`, no CA file, no separate password.
    pub fn new(url: impl Into<String>) -> Self {
        RedisTarget {
            url: url.into(),
            ..RedisTarget::default()
        }
    }

    /// Whether the URL asks for TLS (`rediss://`).
    pub fn is_tls(&self) -> bool {
        self.url.starts_with("rediss://")
    }

    /// A client for this target: the URL parsed, the password set, the CA read. Does not
    /// connect. Errors never contain a password.
    pub fn client(&self) -> Result<redis::Client, FxError> {
        let mut info = self.url.as_str().into_connection_info()?;
        if let Some(password) = &self.password {
            if info.redis.password.is_some() {
                return Err(FxError::Config(
                    "the Redis URL already has a password: give it in one place".into(),
                ));
            }
            info.redis.password = Some(password.clone());
        }
        if let ConnectionAddr::TcpTls { insecure: true, .. } = info.addr {
            return Err(FxError::Config(
                "rediss:// with #insecure (no certificate check) is not supported: give the \
                 server's CA instead"
                    .into(),
            ));
        }
        install_ring_provider();
        match (&self.ca_file, self.is_tls()) {
            (None, _) => Ok(redis::Client::open(info)?),
            (Some(_), false) => Err(FxError::Config(
                "a CA file is only used with a rediss:// URL".into(),
            )),
            (Some(path), true) => {
                let pem = std::fs::read(path).map_err(|source| FxError::Io {
                    path: path.clone(),
                    source,
                })?;
                // The redis crate takes a file with no certificate in it as an empty trust
                // store, which fails every handshake later with a less helpful message.
                use rustls::pki_types::{pem::PemObject, CertificateDer};
                if !CertificateDer::pem_slice_iter(&pem).any(|c| c.is_ok()) {
                    return Err(FxError::Config(format!(
                        "{}: no PEM certificate in it",
                        path.display()
                    )));
                }
                let certs = TlsCertificates {
                    client_tls: None,
                    root_cert: Some(pem),
                };
                Ok(redis::Client::build_with_tls(info, certs)?)
            }
        }
    }
}

/// The redis crate builds its rustls configs with the process's default provider: make it
/// *ring* (the workspace's choice: no CMake, unlike aws-lc-rs), unless a provider is already
/// installed.
fn install_ring_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        #[allow(deprecated)] // no post-quantum key exchange in *ring*; see the gateway's listeners
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

impl From<&str> for RedisTarget {
    fn from(url: &str) -> Self {
        RedisTarget::new(url)
    }
}

impl From<String> for RedisTarget {
    fn from(url: String) -> Self {
        RedisTarget::new(url)
    }
}

impl From<&String> for RedisTarget {
    fn from(url: &String) -> Self {
        RedisTarget::new(url.as_str())
    }
}

impl From<&RedisTarget> for RedisTarget {
    fn from(t: &RedisTarget) -> Self {
        t.clone()
    }
}

impl std::fmt::Debug for RedisTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisTarget")
            .field("url", &redact_url(&self.url))
            .field("ca_file", &self.ca_file)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// `url` with the password of its user information, if any, replaced by `<redacted>`: for
/// messages and logs.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    // The user information ends at the last '@' (an unencoded '/' or '?' in a password must
    // not end it early: at worst more than the password is hidden).
    let Some(at) = rest.rfind('@') else {
        return url.to_owned();
    };
    match rest[..at].split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:<redacted>{}", &rest[at..]),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact_url("rediss://:hunter2@h:6380/0"),
            "rediss://:<redacted>@h:6380/0"
        );
        assert_eq!(
            redact_url("redis://app:p@ss@h/"),
            "redis://app:<redacted>@h/"
        );
        assert_eq!(redact_url("redis://h:6379/"), "redis://h:6379/");
        assert_eq!(redact_url("redis://user@h/"), "redis://user@h/");
        let t = RedisTarget {
            password: Some("s3cret".into()),
            ..RedisTarget::new("redis://:hunter2@h/")
        };
        let shown = format!("{t:?}");
        assert!(
            !shown.contains("hunter2") && !shown.contains("s3cret"),
            "{shown}"
        );
    }

    #[test]
    fn a_password_goes_in_one_place_and_a_ca_only_with_tls() {
        let both = RedisTarget {
            password: Some("b".into()),
            ..RedisTarget::new("redis://:a@127.0.0.1/")
        };
        let e = both.client().unwrap_err().to_string();
        assert!(e.contains("one place") && !e.contains(":a@"), "{e}");

        let apart = RedisTarget {
            password: Some("b".into()),
            ..RedisTarget::new("redis://127.0.0.1/")
        };
        let info = apart.client().unwrap().get_connection_info().clone();
        assert_eq!(info.redis.password.as_deref(), Some("b"));

        let ca_plain = RedisTarget {
            ca_file: Some("/nonexistent.pem".into()),
            ..RedisTarget::new("redis://127.0.0.1/")
        };
        assert!(ca_plain
            .client()
            .unwrap_err()
            .to_string()
            .contains("rediss"));
        let ca_missing = RedisTarget {
            ca_file: Some("/nonexistent.pem".into()),
            ..RedisTarget::new("rediss://127.0.0.1/")
        };
        let e = ca_missing.client().unwrap_err().to_string();
        assert!(e.contains("/nonexistent.pem"), "{e}");
        let insecure = RedisTarget::new("rediss://127.0.0.1/#insecure");
        assert!(insecure.client().is_err());
        let dir = tempfile::tempdir().unwrap();
        let not_pem = dir.path().join("ca.pem");
        std::fs::write(&not_pem, "not a certificate").unwrap();
        let e = RedisTarget {
            ca_file: Some(not_pem),
            ..RedisTarget::new("rediss://127.0.0.1/")
        }
        .client()
        .unwrap_err()
        .to_string();
        assert!(e.contains("no PEM certificate"), "{e}");
    }
}
