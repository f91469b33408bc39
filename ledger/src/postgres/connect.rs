//! Opening a connection: a libpq-style connection string, its TLS settings applied with
//! rustls (the *ring* provider).
//!
//! tokio-postgres understands `sslmode=disable|prefer|require` and refuses libpq's other modes
//! and `sslrootcert`. So before the string is handed over, `sslmode` and `sslrootcert` are
//! taken out of a `postgres://` / `postgresql://` URL's query and applied here:
//!
//! | `sslmode` | TLS | server certificate |
//! | --- | --- | --- |
//! | `disable` | never | - |
//! | `allow`, `prefer` (the default) | when the server offers it | not checked |
//! | `require` | always | not checked; with `sslrootcert`, as `verify-ca` (libpq does the same) |
//! | `verify-ca` | always | must chain to `sslrootcert` |
//! | `verify-full` | always | must chain to `sslrootcert` and name the host |
//!
//! `sslrootcert` is a PEM file of CA certificates (read at every connection, so a rotated CA
//! file is picked up on reconnect), or `system` for the system's trusted roots (which, as in
//! libpq, makes the default mode `verify-full` and refuses weaker ones). `verify-ca` and
//! `verify-full` need it: the libpq fallback `~/.postgresql/root.crt` is not looked at. Under
//! `allow` a TLS connection is tried first (libpq tries a plain one first): both accept
//! either. A `key=value` connection string is passed to tokio-postgres unchanged (so only the
//! modes it knows work there). The host name checked by `verify-full` is the URL's host (not
//! `hostaddr`), an IP address being matched against the certificate's IP addresses.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use tokio_postgres::config::SslMode;
use tokio_postgres::Client;
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::{LedgerError, Result};

/// libpq's `sslmode`, as applied here (see the module's table).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PgSslMode {
    /// No TLS.
    Disable,
    /// TLS when the server offers it, not checked (libpq tries without TLS first).
    Allow,
    /// TLS when the server offers it, not checked.
    Prefer,
    /// TLS, not checked.
    Require,
    /// TLS, the certificate chains to `sslrootcert`.
    VerifyCa,
    /// TLS, the certificate chains to `sslrootcert` and names the host.
    VerifyFull,
}

impl PgSslMode {
    fn parse(v: &str) -> Result<Self> {
        Ok(match v {
            "disable" => PgSslMode::Disable,
            "allow" => PgSslMode::Allow,
            "prefer" => PgSslMode::Prefer,
            "require" => PgSslMode::Require,
            "verify-ca" => PgSslMode::VerifyCa,
            "verify-full" => PgSslMode::VerifyFull,
            other => {
                return Err(LedgerError::invalid(
                    "sslmode",
                    format!(
                        "{other:?}: expected disable, allow, prefer, require, verify-ca or \
                         verify-full"
                    ),
                ))
            }
        })
    }
}

/// Where the server certificate's CA comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
enum RootCert {
    File(PathBuf),
    System,
}

/// A parsed connection string: what tokio-postgres is given and how TLS is set up. Parsing
/// does no I/O (the CA file is read by [`PgTarget::connect`]). Its `Debug` never shows the
/// password.
#[derive(Clone)]
pub struct PgTarget {
    config: tokio_postgres::Config,
    mode: PgSslMode,
    root: Option<RootCert>,
}

impl std::fmt::Debug for PgTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgTarget")
            .field("hosts", &self.config.get_hosts())
            .field("ports", &self.config.get_ports())
            .field("dbname", &self.config.get_dbname())
            .field("user", &self.config.get_user())
            .field("mode", &self.mode)
            .field("root", &self.root)
            .finish_non_exhaustive()
    }
}

impl PgTarget {
    /// Parses `url` (a `postgres://` URL, or a `key=value` string). Errors name the setting
    /// at fault, never the password.
    pub fn parse(url: &str) -> Result<Self> {
        let Some((kept, mode, root)) = split_tls_params(url)? else {
            // key=value form: tokio-postgres's own sslmode handling.
            let config: tokio_postgres::Config = url.parse()?;
            let mode = match config.get_ssl_mode() {
                SslMode::Disable => PgSslMode::Disable,
                SslMode::Require => PgSslMode::Require,
                _ => PgSslMode::Prefer,
            };
            return Ok(PgTarget {
                config,
                mode,
                root: None,
            });
        };
        let mode = match (mode, &root) {
            (Some(m), Some(RootCert::System)) if m != PgSslMode::VerifyFull => {
                return Err(LedgerError::invalid(
                    "sslmode",
                    "sslrootcert=system needs sslmode=verify-full",
                ))
            }
            (None, Some(RootCert::System)) => PgSslMode::VerifyFull,
            (None, _) => PgSslMode::Prefer,
            (Some(PgSslMode::Require), Some(_)) => PgSslMode::VerifyCa,
            (Some(m), _) => m,
        };
        if matches!(mode, PgSslMode::VerifyCa | PgSslMode::VerifyFull) && root.is_none() {
            return Err(LedgerError::invalid(
                "sslrootcert",
                "sslmode=verify-ca and verify-full need sslrootcert (a PEM file of CA \
                 certificates, or `system`)",
            ));
        }
        let mut config: tokio_postgres::Config = kept.parse()?;
        config.ssl_mode(match mode {
            PgSslMode::Disable => SslMode::Disable,
            PgSslMode::Allow | PgSslMode::Prefer => SslMode::Prefer,
            PgSslMode::Require | PgSslMode::VerifyCa | PgSslMode::VerifyFull => SslMode::Require,
        });
        Ok(PgTarget { config, mode, root })
    }

    /// The `sslmode` in force (after `require` + `sslrootcert` became `verify-ca`).
    pub fn ssl_mode(&self) -> PgSslMode {
        self.mode
    }

    /// The `sslrootcert` file, when one is named (not `system`).
    pub fn root_cert_file(&self) -> Option<&std::path::Path> {
        match &self.root {
            Some(RootCert::File(p)) => Some(p),
            _ => None,
        }
    }

    /// Whether the string carries a password.
    pub fn has_password(&self) -> bool {
        self.config.get_password().is_some()
    }

    /// Names the sessions (`application_name`).
    pub fn application_name(&mut self, name: &str) -> &mut Self {
        self.config.application_name(name);
        self
    }

    /// The TLS connector for this target's mode (reads `sslrootcert`).
    fn connector(&self) -> Result<MakeRustlsConnect> {
        let provider = provider();
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| LedgerError::invalid("sslmode", e.to_string()))?;
        let config = match self.mode {
            PgSslMode::Disable | PgSslMode::Allow | PgSslMode::Prefer | PgSslMode::Require => {
                builder
                    .dangerous()
                    .with_custom_certificate_verifier(Arc::new(EncryptOnly(provider)))
                    .with_no_client_auth()
            }
            PgSslMode::VerifyFull => builder
                .with_root_certificates(self.roots()?)
                .with_no_client_auth(),
            PgSslMode::VerifyCa => {
                let chain =
                    WebPkiServerVerifier::builder_with_provider(Arc::new(self.roots()?), provider)
                        .build()
                        .map_err(|e| LedgerError::invalid("sslrootcert", e.to_string()))?;
                builder
                    .dangerous()
                    .with_custom_certificate_verifier(Arc::new(ChainOnly(chain)))
                    .with_no_client_auth()
            }
        };
        Ok(MakeRustlsConnect::new(config))
    }

    fn roots(&self) -> Result<RootCertStore> {
        let mut roots = RootCertStore::empty();
        match &self.root {
            None => {}
            Some(RootCert::File(path)) => {
                let shown = path.display();
                let certs = CertificateDer::pem_file_iter(path)
                    .and_then(|it| it.collect::<std::result::Result<Vec<_>, _>>())
                    .map_err(|e| LedgerError::invalid("sslrootcert", format!("{shown}: {e}")))?;
                let (added, _) = roots.add_parsable_certificates(certs);
                if added == 0 {
                    return Err(LedgerError::invalid(
                        "sslrootcert",
                        format!("{shown}: no usable CA certificate in it"),
                    ));
                }
            }
            Some(RootCert::System) => {
                let found = rustls_native_certs::load_native_certs();
                let (added, _) = roots.add_parsable_certificates(found.certs);
                if added == 0 {
                    let why = found
                        .errors
                        .first()
                        .map_or_else(|| "none found".to_owned(), |e| e.to_string());
                    return Err(LedgerError::invalid(
                        "sslrootcert",
                        format!("no system CA certificates: {why}"),
                    ));
                }
            }
        }
        Ok(roots)
    }

    /// Connects and drives the connection on a tokio task (which logs how it ended).
    pub async fn connect(&self) -> Result<Client> {
        let (client, connection) = self.config.connect(self.connector()?).await?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::warn!(error = %e, "ledger postgres connection ended");
            }
        });
        Ok(client)
    }
}

/// Connects to `url` (see the module's doc for its TLS settings); the connection is driven on
/// a tokio task. For tools and tests that need a plain client on the ledger's terms.
pub async fn pg_connect(url: &str) -> Result<Client> {
    PgTarget::parse(url)?.connect().await
}

/// `url` with `password` added (as a `password` parameter, encoded), for a password kept
/// apart from the URL (a file, the environment). Refused when `url` already has one.
pub fn pg_url_with_password(url: &str, password: &str) -> Result<String> {
    if PgTarget::parse(url)?.has_password() {
        return Err(LedgerError::invalid(
            "password",
            "the connection string already has a password: give it in one place",
        ));
    }
    if url_rest(url).is_some() {
        let sep = if query_start(url).is_some() { '&' } else { '?' };
        return Ok(format!("{url}{sep}password={}", percent_encode(password)));
    }
    // key=value: a quoted value, backslash and quote escaped.
    let quoted = password.replace('\\', "\\\\").replace('\'', "\\'");
    Ok(format!("{url} password='{quoted}'"))
}

/// What follows `postgres://` or `postgresql://`, when `url` is a URL.
fn url_rest(url: &str) -> Option<&str> {
    url.strip_prefix("postgres://")
        .or_else(|| url.strip_prefix("postgresql://"))
}

/// Byte offset of the `?` that starts a URL's query. As tokio-postgres reads it: the
/// credentials run to the first `@`, the query starts at the first `?` after them.
fn query_start(url: &str) -> Option<usize> {
    let rest = url_rest(url)?;
    let base = url.len() - rest.len();
    let after_creds = rest.find('@').map_or(0, |i| i + 1);
    rest[after_creds..]
        .find('?')
        .map(|i| base + after_creds + i)
}

/// For a URL: the URL without `sslmode` and `sslrootcert`, and their values. `None` for a
/// `key=value` string.
#[allow(clippy::type_complexity)]
fn split_tls_params(url: &str) -> Result<Option<(String, Option<PgSslMode>, Option<RootCert>)>> {
    if url_rest(url).is_none() {
        return Ok(None);
    }
    let Some(q) = query_start(url) else {
        return Ok(Some((url.to_owned(), None, None)));
    };
    let (mut mode, mut root) = (None, None);
    let mut kept = Vec::new();
    for param in url[q + 1..].split('&').filter(|p| !p.is_empty()) {
        let (k, v) = param.split_once('=').unwrap_or((param, ""));
        match percent_decode(k, "connection parameter")?.as_str() {
            "sslmode" => mode = Some(PgSslMode::parse(&percent_decode(v, "sslmode")?)?),
            "sslrootcert" => {
                let v = percent_decode(v, "sslrootcert")?;
                root = Some(match v.as_str() {
                    "" => {
                        return Err(LedgerError::invalid("sslrootcert", "empty"));
                    }
                    "system" => RootCert::System,
                    _ => RootCert::File(PathBuf::from(v)),
                });
            }
            _ => kept.push(param),
        }
    }
    let mut out = url[..q].to_owned();
    if !kept.is_empty() {
        out.push('?');
        out.push_str(&kept.join("&"));
    }
    Ok(Some((out, mode, root)))
}

fn percent_decode(s: &str, what: &'static str) -> Result<String> {
    let bad = || LedgerError::invalid(what, "bad percent-encoding in the URL");
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = s.get(i + 1..i + 3).ok_or_else(bad)?;
            out.push(u8::from_str_radix(hex, 16).map_err(|_| bad())?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| bad())
}

/// RFC 3986 unreserved characters as they are, every other byte as `%XX`.
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// *ring*, as the gateway's listeners: it builds with no C toolchain beyond a compiler, where
/// aws-lc-rs (rustls's choice for post-quantum key exchange, hence the deprecation) needs
/// CMake. Classical key exchange to the database; revisit with the listeners'.
fn provider() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    #[allow(deprecated)]
    PROVIDER
        .get_or_init(|| Arc::new(rustls::crypto::ring::default_provider()))
        .clone()
}

/// `prefer` and `require`: encryption without authentication of the server, as libpq does.
/// The handshake's signatures are still checked against the certificate presented.
#[derive(Debug)]
struct EncryptOnly(Arc<CryptoProvider>);

impl ServerCertVerifier for EncryptOnly {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// `verify-ca`: the chain is checked as usual; only a name mismatch is let through.
#[derive(Debug)]
struct ChainOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        // rustls checks the name after the chain: a name error means the chain was good.
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(url: &str) -> PgSslMode {
        PgTarget::parse(url).unwrap().ssl_mode()
    }

    fn err(url: &str) -> String {
        PgTarget::parse(url).unwrap_err().to_string()
    }

    #[test]
    fn modes_are_read_from_the_url_and_taken_out_of_it() {
        let base = "postgres://u@127.0.0.1:5432/db";
        assert_eq!(mode(base), PgSslMode::Prefer);
        assert_eq!(mode(&format!("{base}?sslmode=disable")), PgSslMode::Disable);
        assert_eq!(mode(&format!("{base}?sslmode=allow")), PgSslMode::Allow);
        assert_eq!(mode(&format!("{base}?sslmode=require")), PgSslMode::Require);
        let full = PgTarget::parse(&format!(
            "{base}?connect_timeout=3&sslmode=verify-full&sslrootcert=%2Fetc%2Fca.pem"
        ))
        .unwrap();
        assert_eq!(full.ssl_mode(), PgSslMode::VerifyFull);
        assert_eq!(full.root, Some(RootCert::File("/etc/ca.pem".into())));
        // What tokio-postgres was given: TLS required, the other parameters kept.
        assert_eq!(full.config.get_ssl_mode(), SslMode::Require);
        assert_eq!(
            full.config.get_connect_timeout(),
            Some(&std::time::Duration::from_secs(3))
        );
        assert_eq!(full.config.get_dbname(), Some("db"));
        let ca = PgTarget::parse(&format!("{base}?sslmode=verify-ca&sslrootcert=/ca.pem")).unwrap();
        assert_eq!(ca.ssl_mode(), PgSslMode::VerifyCa);
        // libpq: require with a root certificate behaves as verify-ca.
        assert_eq!(
            mode(&format!("{base}?sslmode=require&sslrootcert=/ca.pem")),
            PgSslMode::VerifyCa
        );
        // sslrootcert=system defaults to verify-full and refuses weaker modes.
        assert_eq!(
            mode(&format!("{base}?sslrootcert=system")),
            PgSslMode::VerifyFull
        );
        assert!(err(&format!("{base}?sslrootcert=system&sslmode=require")).contains("system"));
        // key=value strings go to tokio-postgres as they are.
        assert_eq!(
            mode("host=127.0.0.1 user=u sslmode=require"),
            PgSslMode::Require
        );
    }

    #[test]
    fn bad_settings_are_named() {
        let base = "postgres://u@127.0.0.1/db";
        let e = err(&format!("{base}?sslmode=verify-full"));
        assert!(e.contains("sslrootcert"), "{e}");
        let e = err(&format!("{base}?sslmode=strict"));
        assert!(e.contains("sslmode") && e.contains("verify-full"), "{e}");
        let e = err(&format!("{base}?sslrootcert=%zz"));
        assert!(e.contains("sslrootcert"), "{e}");
    }

    #[test]
    fn a_missing_ca_file_is_named_when_connecting() {
        let t = PgTarget::parse(
            "postgres://u@127.0.0.1/db?sslmode=verify-full&sslrootcert=/nonexistent/ca.pem",
        )
        .unwrap();
        let e = t.connector().err().unwrap().to_string();
        assert!(e.contains("/nonexistent/ca.pem"), "{e}");
    }

    #[test]
    fn a_password_is_added_encoded_and_never_twice() {
        let pw = "p@ss word/?&'\\é";
        for url in [
            "postgres://u@127.0.0.1:5432/db",
            "postgres://u@127.0.0.1:5432/db?sslmode=require",
            "host=127.0.0.1 user=u dbname=db",
        ] {
            let with = pg_url_with_password(url, pw).unwrap();
            let t = PgTarget::parse(&with).unwrap();
            assert_eq!(t.config.get_password(), Some(pw.as_bytes()), "{url}");
            assert_eq!(t.config.get_user(), Some("u"));
            // Debug shows neither the password nor its encoding.
            let shown = format!("{t:?}");
            assert!(
                !shown.contains("ss word") && !shown.contains("%40"),
                "{shown}"
            );
        }
        let e = pg_url_with_password("postgres://u:secret@h/db", "x")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("already has a password") && !e.contains("secret"),
            "{e}"
        );
    }

    #[test]
    fn the_query_starts_after_the_credentials() {
        // tokio-postgres reads credentials up to the first '@'.
        let t = PgTarget::parse("postgres://u:a?b@127.0.0.1/db?sslmode=disable").unwrap();
        assert_eq!(t.config.get_password(), Some(&b"a?b"[..]));
        assert_eq!(t.ssl_mode(), PgSslMode::Disable);
    }
}
