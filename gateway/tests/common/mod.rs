//! Helpers shared by the integration tests: a sandbox config on free ports, an ISO 8583
//! client over real TCP, and request builders.
#![allow(dead_code, unreachable_pub)]

pub mod certs;
pub mod schemas;
pub mod services;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use gateway::config::{self, Config};
use iso8583::{OwnedMessage, Spec};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub const PAN_OK: &str = "4761739001010010";
pub const PAN_LOST: &str = "4761739001010028";
pub const PAN_STOLEN: &str = "4761739001010036";
pub const PAN_BLOCKED: &str = "4761739001010044";
pub const PAN_EXPIRED: &str = "4761739001010051";
pub const PAN_USD_HOME: &str = "5413330000000019";
pub const PAN_KRW_ONLY: &str = "5413330000000027";
pub const PAN_UNKNOWN: &str = "4000000000000002";
pub const ACQUIRER: &str = "12345";
pub const DE7: &str = "1125063015";

pub fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

/// The embedded-ledger sandbox in `dir`, listening and serving admin on free ports.
pub fn embedded_config_text(dir: &Path) -> String {
    format!(
        r#"
[business_date]
time_zone = "Asia/Seoul"
[admin]
address = "127.0.0.1:0"
[log]
level = "warn"
[limits]
drain_timeout_ms = 5000
[ledger]
embedded = "{db}"
seed = "{cards}"
pan_key = "gateway-integration-test-pan-key-0123456789"
[rates]
file = "{rates}"
[[listener]]
name = "test"
address = "127.0.0.1:0"
"#,
        db = dir.join("ledger.sqlite").display(),
        cards = data("cards.json").display(),
        rates = data("rates.csv").display(),
    )
}

pub fn parse_config(text: &str) -> Config {
    config::parse(text, Path::new(".")).expect("test config")
}

pub fn spec() -> &'static Spec {
    Spec::builtin("iso87-binary").expect("builtin spec")
}

static STAN: AtomicU32 = AtomicU32::new(1);

/// A fresh STAN (unique within the test binary).
pub fn stan() -> String {
    format!("{:06}", STAN.fetch_add(1, Ordering::Relaxed))
}

/// A financial request with the usual fields.
pub fn request(
    mti: &str,
    pan: &str,
    processing: &str,
    amount: u64,
    ccy: &str,
    stan: &str,
) -> OwnedMessage {
    let mut m = OwnedMessage::new(mti.parse().unwrap());
    m.set(2, pan)
        .set(3, processing)
        .set(4, format!("{amount:012}"))
        .set(7, DE7)
        .set(11, stan)
        .set(12, "153015")
        .set(13, "1125")
        .set(32, ACQUIRER)
        .set(37, format!("RRN{stan}000"))
        .set(41, "TERM0001")
        .set(42, "MERCHANT0000001")
        .set(49, ccy);
    m
}

pub fn purchase(pan: &str, amount: u64, ccy: &str, stan: &str) -> OwnedMessage {
    request("0100", pan, "000000", amount, ccy, stan)
}

/// DE 90 naming an original sent with [`request`].
pub fn de90(original_mti: &str, original_stan: &str) -> String {
    format!("{original_mti}{original_stan}{DE7}{ACQUIRER:0>11}{:011}", 0)
}

pub fn network(code: &str, stan: &str) -> OwnedMessage {
    let mut m = OwnedMessage::new("0800".parse().unwrap());
    m.set(7, DE7).set(11, stan).set(70, code);
    m
}

/// A binary2-framed client.
pub struct Client {
    pub stream: TcpStream,
}

impl Client {
    pub async fn connect(addr: SocketAddr) -> Client {
        let stream = TcpStream::connect(addr).await.expect("connect");
        stream.set_nodelay(true).unwrap();
        Client { stream }
    }

    pub async fn send_raw(&mut self, body: &[u8]) {
        let mut out = (body.len() as u16).to_be_bytes().to_vec();
        out.extend_from_slice(body);
        self.stream.write_all(&out).await.expect("write");
    }

    pub async fn send(&mut self, m: &OwnedMessage) {
        let body = m.encode(spec()).expect("encode");
        self.send_raw(&body).await;
    }

    /// The next response; panics after 10 s.
    pub async fn recv(&mut self) -> OwnedMessage {
        let body = tokio::time::timeout(Duration::from_secs(10), self.recv_raw())
            .await
            .expect("a response within 10 s")
            .expect("a frame");
        iso8583::decode(spec(), &body)
            .expect("response decodes")
            .to_owned_message()
    }

    /// The next frame body, or None at end of stream.
    pub async fn recv_raw(&mut self) -> Option<Vec<u8>> {
        let mut len = [0u8; 2];
        self.stream.read_exact(&mut len).await.ok()?;
        let mut body = vec![0u8; u16::from_be_bytes(len) as usize];
        self.stream.read_exact(&mut body).await.ok()?;
        Some(body)
    }

    pub async fn call(&mut self, m: &OwnedMessage) -> OwnedMessage {
        self.send(m).await;
        self.recv().await
    }
}

pub fn de39(m: &OwnedMessage) -> &str {
    m.get_str(39).unwrap_or("")
}

/// Available minor units of `ccy` in a balance-inquiry answer's DE 54.
pub fn available(resp: &OwnedMessage, numeric: &str) -> Option<i64> {
    let de54 = resp.get_str(54)?;
    de54.as_bytes().chunks(20).find_map(|b| {
        let b = std::str::from_utf8(b).ok()?;
        (&b[4..7] == numeric).then(|| {
            let v: i64 = b[8..20].parse().unwrap();
            if &b[7..8] == "D" {
                -v
            } else {
                v
            }
        })
    })
}

/// An HTTP client for the admin listener (no proxy: it is on loopback).
pub fn http_client() -> reqwest::Client {
    // reqwest is built with `rustls-no-provider` (the gateway's hook client brings ring's
    // provider itself): a client with reqwest's default TLS needs a process-wide provider.
    #[allow(deprecated)]
    let _ = tokio_rustls::rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("HTTP client")
}

/// A GET on the admin endpoint: (status, body).
pub async fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    let resp = http_client()
        .get(format!("http://{addr}{path}"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {path}: {e}"));
    let status = resp.status().as_u16();
    (status, resp.text().await.expect("a text body"))
}

/// The value of the sample `name` (the whole text before the space, labels included) in a
/// Prometheus page from `/metrics`; `None` when the page has no such sample.
pub fn sample(page: &str, name: &str) -> Option<f64> {
    page.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

/// A loopback address that was free a moment ago (bound, then released).
pub fn free_addr() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// The real binary: `gateway serve --config cfg --listen listen --admin admin`, stdout to
/// nowhere and stderr to `stderr`.
pub fn serve(
    cfg: &Path,
    listen: SocketAddr,
    admin: SocketAddr,
    stderr: std::process::Stdio,
) -> std::process::Child {
    std::process::Command::new(env!("CARGO_BIN_EXE_gateway"))
        .args(["serve", "--config"])
        .arg(cfg)
        .args([
            "--listen",
            &listen.to_string(),
            "--admin",
            &admin.to_string(),
        ])
        .stdout(std::process::Stdio::null())
        .stderr(stderr)
        .spawn()
        .unwrap()
}

/// Sends SIGTERM to the real binary (a drain).
pub fn terminate(child: &std::process::Child) {
    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// Waits (30 s at most) until the admin endpoint says ready.
pub async fn wait_ready(admin: SocketAddr) {
    let until = std::time::Instant::now() + Duration::from_secs(30);
    while std::time::Instant::now() < until {
        if TcpStream::connect(admin).await.is_ok() && http_get(admin, "/readyz").await.0 == 200 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("gateway not ready within 30 s");
}

/// Connects to `listen` as soon as the gateway accepts (30 s at most).
pub async fn connect_when_up(listen: SocketAddr) -> Client {
    let until = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(stream) = TcpStream::connect(listen).await {
            return Client { stream };
        }
        assert!(std::time::Instant::now() < until, "gateway did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
