//! TLS on a listener (`[listener.tls]`), with rustls: the card networks that ask for it get
//! an encrypted link, and with `client_ca` only peers holding a certificate from that CA are
//! served (mutual TLS). Built here, at start, from the configuration: the server is handed
//! the acceptor and never reads the configuration schema.

use std::path::Path;
use std::sync::Arc;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::server::WebPkiClientVerifier;
use tokio_rustls::rustls::{self, RootCertStore, ServerConfig};
use tokio_rustls::TlsAcceptor;

use crate::config::ListenerTls;
use crate::error::{ConfigError, Error};

fn certs(path: &Path, key: &str) -> Result<Vec<CertificateDer<'static>>, Error> {
    let certs: Vec<_> = CertificateDer::pem_file_iter(path)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| ConfigError::invalid(key, format!("{}: {e}", path.display())))?;
    if certs.is_empty() {
        return Err(
            ConfigError::invalid(key, format!("{}: no certificate", path.display())).into(),
        );
    }
    Ok(certs)
}

/// The acceptor for `tls` (`key` names the listener's table in errors).
pub(super) fn acceptor(tls: &ListenerTls, key: &str) -> Result<TlsAcceptor, Error> {
    let chain = certs(&tls.cert, &format!("{key}.cert"))?;
    // The key file's contents never reach an error message.
    let private = PrivateKeyDer::from_pem_file(&tls.key).map_err(|_| {
        ConfigError::invalid(
            format!("{key}.key"),
            format!(
                "{}: no usable private key (PKCS#8, PKCS#1 or SEC1 PEM)",
                tls.key.display()
            ),
        )
    })?;
    // *ring*: builds with no C toolchain beyond a compiler, which aws-lc-rs (rustls's choice
    // when post-quantum key exchange is wanted) would need CMake for. The networks' links are
    // TLS 1.2/1.3 with classical key exchange; revisit when one asks for hybrid PQ groups.
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| ConfigError::invalid(key.to_owned(), e.to_string()))?;
    let builder = match &tls.client_ca {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let mut roots = RootCertStore::empty();
            for c in certs(ca, &format!("{key}.client_ca"))? {
                roots
                    .add(c)
                    .map_err(|e| ConfigError::invalid(format!("{key}.client_ca"), e.to_string()))?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| ConfigError::invalid(format!("{key}.client_ca"), e.to_string()))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let config = builder
        .with_single_cert(chain, private)
        .map_err(|e| ConfigError::invalid(format!("{key}.key"), e.to_string()))?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}
