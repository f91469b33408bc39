//! Who may talk to a listener (issue 25, item 5): a per-listener allow-list of peer
//! addresses, and TLS (rustls), with and without client certificates.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::certs::Ca;
use common::*;
use gateway::app;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore};
use tokio_rustls::TlsConnector;

fn with_listener(dir: &std::path::Path, extra: &str) -> String {
    embedded_config_text(dir).replace(
        "name = \"test\"\naddress = \"127.0.0.1:0\"",
        &format!("name = \"test\"\naddress = \"127.0.0.1:0\"\n{extra}"),
    )
}

#[tokio::test]
async fn a_peer_outside_the_allow_list_is_refused_and_one_inside_served() {
    let dir = tempfile::tempdir().unwrap();
    let gw = app::start(parse_config(&with_listener(
        dir.path(),
        "allow = [\"10.0.0.0/8\", \"192.0.2.7/32\"]",
    )))
    .await
    .unwrap();
    let mut c = Client::connect(gw.addr()).await;
    c.send(&network("301", &stan())).await;
    assert!(c.recv_raw().await.is_none(), "closed, unanswered");
    let (_, metrics) = http_get(gw.admin, "/metrics").await;
    assert!(
        metrics.contains("gateway_connections_refused_total 1"),
        "{metrics}"
    );
    gw.drain().await;

    let gw = app::start(parse_config(&with_listener(
        dir.path(),
        "allow = [\"10.0.0.0/8\", \"127.0.0.1/32\"]",
    )))
    .await
    .unwrap();
    let mut c = Client::connect(gw.addr()).await;
    assert_eq!(de39(&c.call(&network("301", &stan())).await), "00");
    gw.drain().await;
}

#[test]
fn an_allow_list_entry_that_is_no_network_is_a_config_error() {
    let dir = tempfile::tempdir().unwrap();
    let err = gateway::config::parse(
        &with_listener(dir.path(), "allow = [\"10.0.0.300/8\"]"),
        std::path::Path::new("."),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("listener"), "{err}");
}

fn connector(ca_pem: &str, client: Option<&common::certs::Leaf>) -> TlsConnector {
    let mut roots = RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(ca_pem.as_bytes()).unwrap())
        .unwrap();
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let config = match client {
        None => builder.with_no_client_auth(),
        Some(leaf) => builder
            .with_client_auth_cert(
                vec![CertificateDer::from_pem_file(&leaf.cert).unwrap()],
                PrivateKeyDer::from_pem_file(&leaf.key).unwrap(),
            )
            .unwrap(),
    };
    TlsConnector::from(Arc::new(config))
}

/// An echo test over `stream` (binary2 framing): 39 of the answer, or `None` when the
/// connection failed or closed first.
async fn echo<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(
    s: &mut S,
) -> Option<String> {
    let body = network("301", &stan()).encode(spec()).unwrap();
    let mut wire = (body.len() as u16).to_be_bytes().to_vec();
    wire.extend_from_slice(&body);
    s.write_all(&wire).await.ok()?;
    let mut len = [0u8; 2];
    tokio::time::timeout(Duration::from_secs(5), s.read_exact(&mut len))
        .await
        .ok()?
        .ok()?;
    let mut resp = vec![0u8; u16::from_be_bytes(len) as usize];
    s.read_exact(&mut resp).await.ok()?;
    let m = iso8583::decode(spec(), &resp).ok()?;
    m.text(39).map(|c| c.into_owned())
}

#[tokio::test]
async fn tls_listener_serves_over_tls_and_with_client_ca_only_certified_peers() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("test network CA");
    let ca_path = ca.write(dir.path(), "ca.pem");
    let server = ca.leaf(dir.path(), "switch", &["localhost", "127.0.0.1"], true);
    let name = ServerName::try_from("localhost").unwrap();

    // Server authentication only.
    let gw = app::start(parse_config(&with_listener(
        dir.path(),
        &format!(
            "[listener.tls]\ncert = \"{}\"\nkey = \"{}\"",
            server.cert.display(),
            server.key.display()
        ),
    )))
    .await
    .unwrap();
    let tcp = TcpStream::connect(gw.addr()).await.unwrap();
    let mut tls = connector(&ca.pem, None)
        .connect(name.clone(), tcp)
        .await
        .expect("handshake");
    assert_eq!(echo(&mut tls).await.as_deref(), Some("00"));
    // Plain TCP to a TLS listener gets nothing back.
    let mut plain = TcpStream::connect(gw.addr()).await.unwrap();
    assert_eq!(echo(&mut plain).await, None);
    gw.drain().await;

    // Mutual TLS: a peer needs a certificate from the configured CA.
    let gw = app::start(parse_config(&with_listener(
        dir.path(),
        &format!(
            "[listener.tls]\ncert = \"{}\"\nkey = \"{}\"\nclient_ca = \"{}\"",
            server.cert.display(),
            server.key.display(),
            ca_path.display()
        ),
    )))
    .await
    .unwrap();
    let network_cert = ca.leaf(dir.path(), "network", &["network.example"], false);
    let tcp = TcpStream::connect(gw.addr()).await.unwrap();
    let mut tls = connector(&ca.pem, Some(&network_cert))
        .connect(name.clone(), tcp)
        .await
        .expect("handshake with a client certificate");
    assert_eq!(echo(&mut tls).await.as_deref(), Some("00"));
    // Without a certificate, or with one from another CA: not served.
    let stranger_ca = Ca::new("someone else");
    let stranger = stranger_ca.leaf(dir.path(), "stranger", &["stranger.example"], false);
    for client in [None, Some(&stranger)] {
        let tcp = TcpStream::connect(gw.addr()).await.unwrap();
        let served = match connector(&ca.pem, client).connect(name.clone(), tcp).await {
            Ok(mut s) => echo(&mut s).await,
            Err(_) => None,
        };
        assert_eq!(served, None);
    }
    gw.drain().await;
}
