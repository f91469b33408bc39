//! Real-time decision hooks (issue 22) against real HTTP servers started here: a card
//! program's hook approves, declines with its code, cuts the amount, is slow, answers
//! garbage or is not there; the switch answers on the wire, records the outcome with the
//! decision and its event, counts it in /metrics, and signs what it sends. Cards outside the
//! program never reach the hook.

mod common;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use gateway::app::{self, Running};
use hmac::{Hmac, Mac};
use ledger::NetworkKey;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const SECRET: &str = "test-hook-secret-0123456789";
/// The program's account: A-2001 (USD home, 100.00 USD), card PAN_USD_HOME.
const PROGRAM_ACCOUNT: &str = "A-2001";

/// How the hook server answers.
#[derive(Clone)]
enum Reply {
    /// Status 200 with this JSON.
    Json(&'static str),
    /// After this long (longer than the budget).
    Slow(Duration),
    /// Status 200 and bytes that are no answer.
    Garbage,
}

/// One request the hook received: its signature header and body.
#[derive(Clone, Debug)]
struct Seen {
    signature: String,
    body: Vec<u8>,
}

struct HookServer {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
}

/// An HTTP/1.1 server (keep-alive, Content-Length bodies, as reqwest sends them) answering
/// every request with `reply`; over TLS with `tls`.
async fn hook_server(reply: Reply) -> HookServer {
    hook_server_on(reply, None).await
}

async fn hook_server_on(reply: Reply, tls: Option<tokio_rustls::TlsAcceptor>) -> HookServer {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (reply, log, tls) = (reply.clone(), log.clone(), tls.clone());
            tokio::spawn(async move {
                match tls {
                    None => serve_conn(stream, reply, log).await,
                    Some(acceptor) => {
                        if let Ok(s) = acceptor.accept(stream).await {
                            serve_conn(s, reply, log).await;
                        }
                    }
                }
            });
        }
    });
    HookServer { addr, seen }
}

async fn serve_conn<S>(mut stream: S, reply: Reply, log: Arc<Mutex<Vec<Seen>>>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let mut buf = Vec::new();
    loop {
        let Some((head_len, headers)) = read_head(&mut stream, &mut buf).await else {
            return;
        };
        let len: usize = header(&headers, "content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        while buf.len() < head_len + len {
            let mut chunk = [0u8; 4096];
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        let body = buf[head_len..head_len + len].to_vec();
        buf.drain(..head_len + len);
        log.lock().unwrap().push(Seen {
            signature: header(&headers, "x-hook-signature").unwrap_or_default(),
            body,
        });
        let answer = match &reply {
            Reply::Json(j) => j.to_string(),
            Reply::Slow(d) => {
                tokio::time::sleep(*d).await;
                r#"{"decision":"approve"}"#.to_string()
            }
            Reply::Garbage => "<html>oops</html>".to_string(),
        };
        let resp = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{answer}",
            answer.len()
        );
        if stream.write_all(resp.as_bytes()).await.is_err() {
            return;
        }
        let _ = stream.flush().await;
    }
}

/// Reads up to the end of a request's head: its length and its header lines (lowercase).
async fn read_head<S: tokio::io::AsyncRead + Unpin>(
    stream: &mut S,
    buf: &mut Vec<u8>,
) -> Option<(usize, Vec<String>)> {
    loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..i]).to_string();
            return Some((i + 4, head.lines().map(str::to_owned).collect()));
        }
        let mut chunk = [0u8; 4096];
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

fn header(lines: &[String], name: &str) -> Option<String> {
    lines.iter().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().to_owned())
    })
}

struct Gw {
    running: Running,
    admin: SocketAddr,
    _dir: tempfile::TempDir,
}

/// The embedded sandbox in `dir` on `admin`, with one program over A-2001 whose hook is `url`.
fn config_text(
    dir: &std::path::Path,
    admin: SocketAddr,
    url: &str,
    stand_in: &str,
    budget_ms: u64,
) -> String {
    let text = embedded_config_text(dir).replace(
        "[admin]\naddress = \"127.0.0.1:0\"",
        &format!("[admin]\naddress = \"{admin}\""),
    );
    format!(
        "{text}\n[[programs]]\nname = \"fleet\"\naccounts = [\"{PROGRAM_ACCOUNT}\"]\n\
         url = \"{url}\"\nsecret = \"{SECRET}\"\nbudget_ms = {budget_ms}\nstand_in = {stand_in}\n"
    )
}

async fn start(url: &str, stand_in: &str, budget_ms: u64) -> Gw {
    let dir = tempfile::tempdir().unwrap();
    let admin = free_addr();
    let text = config_text(dir.path(), admin, url, stand_in, budget_ms);
    let running = app::start(parse_config(&text))
        .await
        .expect("gateway starts");
    Gw {
        running,
        admin,
        _dir: dir,
    }
}

/// The decision recorded under the request's key.
async fn decision(gw: &Gw, stan: &str) -> ledger::Decision {
    let key = NetworkKey::new(ACQUIRER, stan, DE7).unwrap();
    gw.running
        .core()
        .store()
        .decision(&key)
        .await
        .unwrap()
        .expect("a recorded decision")
}

/// The `data` of the authorization event about `stan`.
async fn event_data(gw: &Gw, stan: &str) -> Value {
    let events = gw
        .running
        .core()
        .store()
        .events_after(0, false, 1_000)
        .await
        .unwrap();
    events
        .iter()
        .map(|e| serde_json::from_str::<Value>(&e.body).unwrap())
        .find(|v| {
            v["type"].as_str().unwrap().starts_with("authorization.")
                && v["data"]["network_key"]["stan"] == stan
        })
        .map(|v| v["data"].clone())
        .expect("the authorization's event")
}

/// Every event of the ledger is valid against the JSON Schema of its type (docs/events/,
/// checked by python3-jsonschema, as tests/events.rs does): `data.hook` included.
async fn validate_events(gw: &Gw) {
    let events = gw
        .running
        .core()
        .store()
        .events_after(0, false, 1_000)
        .await
        .unwrap();
    assert!(events.iter().any(|e| e.body.contains("\"hook\"")));
    common::schemas::assert_valid(events.iter().map(|e| &e.body));
}

async fn metric(gw: &Gw, outcome: &str) -> u64 {
    let (_, m) = http_get(gw.admin, "/metrics").await;
    let line = format!("gateway_hook_decisions_total{{program=\"fleet\",outcome=\"{outcome}\"}} ");
    m.lines()
        .find_map(|l| l.strip_prefix(&line))
        .map_or(0, |v| v.parse().unwrap())
}

fn url(h: &HookServer) -> String {
    format!("http://{}/authorize", h.addr)
}

fn seen(h: &HookServer) -> Vec<Seen> {
    h.seen.lock().unwrap().clone()
}

#[tokio::test]
async fn an_approving_hook_approves_signs_what_it_is_sent_and_a_repeat_does_not_ask_again() {
    let hook = hook_server(Reply::Json(r#"{"decision":"approve"}"#)).await;
    let gw = start(&url(&hook), "\"decline\"", 1_000).await;
    let mut c = Client::connect(gw.running.addr()).await;
    let s = stan();
    let mut req = purchase(PAN_USD_HOME, 1_000, "840", &s);
    req.set(18, "5411");
    let r = c.call(&req).await;
    assert_eq!(de39(&r), "00");

    let got = seen(&hook);
    assert_eq!(got.len(), 1);
    // The signature: HMAC-SHA256 over "t.body" under the program's secret.
    let sig = &got[0].signature;
    let (t, v1) = sig
        .strip_prefix("t=")
        .and_then(|s| s.split_once(",v1="))
        .unwrap_or_else(|| panic!("signature header: {sig}"));
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(format!("{t}.").as_bytes());
    mac.update(&got[0].body);
    mac.verify_slice(&hex::decode(v1).unwrap())
        .expect("the signature verifies");
    let now = jiff::Timestamp::now().as_second();
    assert!((now - t.parse::<i64>().unwrap()).abs() < 60);
    // What it was sent: the masked PAN and the card's id, never the PAN.
    let body: Value = serde_json::from_slice(&got[0].body).unwrap();
    assert!(!String::from_utf8_lossy(&got[0].body).contains(PAN_USD_HOME));
    assert_eq!(body["program"], "fleet");
    assert_eq!(body["account"], PROGRAM_ACCOUNT);
    assert_eq!(body["pan_masked"], "541333******0019");
    assert!(body["card_id"].as_str().unwrap().starts_with("C-"));
    assert_eq!(
        body["amount"],
        serde_json::json!({"minor": 1000, "currency": "USD"})
    );
    assert_eq!(body["approved"]["minor"], 1000);
    assert_eq!(body["merchant"]["mcc"], "5411");
    assert_eq!(body["merchant"]["terminal_id"], "TERM0001");
    assert_eq!(body["controls"], "none");
    assert_eq!(body["network_key"]["stan"], s.as_str());

    let d = decision(&gw, &s).await;
    let h = d.hook.expect("the hook's outcome is recorded");
    assert_eq!(
        (h.program.as_str(), h.source, h.result),
        (
            "fleet",
            ledger::HookSource::Hook,
            ledger::HookResult::Approved
        )
    );
    let data = event_data(&gw, &s).await;
    assert_eq!(data["hook"]["source"], "hook");
    assert_eq!(data["hook"]["result"], "approved");

    // A repeat gets the stored answer; the hook is not asked again.
    let mut again = req.clone();
    again.set_mti("0101".parse().unwrap());
    let r2 = c.call(&again).await;
    assert_eq!(de39(&r2), "00");
    assert_eq!(r2.get(38), r.get(38));
    assert_eq!(seen(&hook).len(), 1);
    assert_eq!(metric(&gw, "approve").await, 1);
    gw.running.drain().await;
}

#[tokio::test]
async fn a_declining_hook_declines_with_its_code_and_holds_nothing() {
    let hook = hook_server(Reply::Json(
        r#"{"decision":"decline","response_code":"59"}"#,
    ))
    .await;
    let gw = start(&url(&hook), "\"decline\"", 1_000).await;
    let mut c = Client::connect(gw.running.addr()).await;
    let s = stan();
    let r = c.call(&purchase(PAN_USD_HOME, 1_000, "840", &s)).await;
    assert_eq!(de39(&r), "59");
    assert!(!r.has(38));
    let d = decision(&gw, &s).await;
    assert_eq!(d.approved_minor, 0);
    assert_eq!(d.hook.unwrap().result, ledger::HookResult::Declined);
    let key = NetworkKey::new(ACQUIRER, &s, DE7).unwrap();
    assert!(gw
        .running
        .core()
        .store()
        .hold(&key)
        .await
        .unwrap()
        .is_none());
    let data = event_data(&gw, &s).await;
    assert_eq!(data["response_code"], "59");
    assert_eq!(data["hook"]["result"], "declined");
    assert_eq!(metric(&gw, "decline").await, 1);
    gw.running.drain().await;
}

#[tokio::test]
async fn a_hook_approves_part_of_the_amount_when_the_acquirer_takes_partial_approvals() {
    let hook = hook_server(Reply::Json(
        r#"{"decision":"partial","approved_minor":2000}"#,
    ))
    .await;
    let gw = start(&url(&hook), "\"decline\"", 1_000).await;
    let mut c = Client::connect(gw.running.addr()).await;
    let s = stan();
    let mut req = purchase(PAN_USD_HOME, 5_000, "840", &s);
    req.set(60, "1"); // partial approvals accepted
    let r = c.call(&req).await;
    assert_eq!(de39(&r), "10");
    assert_eq!(r.get_str(4), Some("000000002000"));
    let d = decision(&gw, &s).await;
    assert_eq!(d.approved_minor, 2_000);
    let h = d.hook.unwrap();
    assert_eq!(
        (h.result, h.approved_minor),
        (ledger::HookResult::Partial, Some(2_000))
    );
    let key = NetworkKey::new(ACQUIRER, &s, DE7).unwrap();
    let hold = gw.running.core().store().hold(&key).await.unwrap().unwrap();
    assert_eq!(hold.held_minor, 2_000);
    // Without DE 60 the acquirer takes no partial approval: the cut amount cannot be
    // approved.
    let s2 = stan();
    let r = c.call(&purchase(PAN_USD_HOME, 5_000, "840", &s2)).await;
    assert_eq!(de39(&r), "05");
    assert_eq!(metric(&gw, "partial").await, 2);
    validate_events(&gw).await;
    gw.running.drain().await;
}

#[tokio::test]
async fn a_slow_hook_leaves_the_decision_to_the_stand_in_within_the_budget() {
    let hook = hook_server(Reply::Slow(Duration::from_secs(3))).await;
    let gw = start(&url(&hook), "\"decline\"", 300).await;
    let mut c = Client::connect(gw.running.addr()).await;
    let s = stan();
    let started = std::time::Instant::now();
    let r = c.call(&purchase(PAN_USD_HOME, 1_000, "840", &s)).await;
    let took = started.elapsed();
    assert_eq!(de39(&r), "91");
    assert!(
        took >= Duration::from_millis(300) && took < Duration::from_millis(1_500),
        "{took:?}"
    );
    let h = decision(&gw, &s).await.hook.unwrap();
    assert_eq!(
        (h.source, h.reason, h.result),
        (
            ledger::HookSource::StandIn,
            Some(ledger::StandInReason::Timeout),
            ledger::HookResult::Declined
        )
    );
    let data = event_data(&gw, &s).await;
    assert_eq!(data["hook"]["source"], "stand_in");
    assert_eq!(data["hook"]["reason"], "timeout");
    assert_eq!(metric(&gw, "stand_in_timeout").await, 1);
    gw.running.drain().await;
}

#[tokio::test]
async fn a_garbage_answer_leaves_the_decision_to_the_stand_in_which_approves_up_to_its_amount() {
    let hook = hook_server(Reply::Garbage).await;
    let gw = start(&url(&hook), "{ approve_up_to_minor = 5000 }", 1_000).await;
    let mut c = Client::connect(gw.running.addr()).await;
    let (small, large) = (stan(), stan());
    let r = c.call(&purchase(PAN_USD_HOME, 1_000, "840", &small)).await;
    assert_eq!(de39(&r), "00");
    let r = c.call(&purchase(PAN_USD_HOME, 6_000, "840", &large)).await;
    assert_eq!(de39(&r), "91");
    for (s, result) in [
        (&small, ledger::HookResult::Approved),
        (&large, ledger::HookResult::Declined),
    ] {
        let h = decision(&gw, s).await.hook.unwrap();
        assert_eq!(
            (h.source, h.reason, h.result),
            (
                ledger::HookSource::StandIn,
                Some(ledger::StandInReason::Malformed),
                result
            )
        );
    }
    assert_eq!(seen(&hook).len(), 2);
    assert_eq!(metric(&gw, "stand_in_malformed").await, 2);
    validate_events(&gw).await;
    gw.running.drain().await;
}

#[tokio::test]
async fn a_hook_that_is_not_there_is_a_connection_stand_in() {
    let gone = free_addr();
    let gw = start(&format!("http://{gone}/authorize"), "\"decline\"", 500).await;
    let mut c = Client::connect(gw.running.addr()).await;
    let s = stan();
    let r = c.call(&purchase(PAN_USD_HOME, 1_000, "840", &s)).await;
    assert_eq!(de39(&r), "91");
    let h = decision(&gw, &s).await.hook.unwrap();
    assert_eq!(h.reason, Some(ledger::StandInReason::Connection));
    assert_eq!(metric(&gw, "stand_in_connection").await, 1);
    gw.running.drain().await;
}

#[tokio::test]
async fn cards_outside_the_program_and_declines_of_our_own_never_reach_the_hook() {
    let hook = hook_server(Reply::Json(
        r#"{"decision":"decline","response_code":"05"}"#,
    ))
    .await;
    let gw = start(&url(&hook), "\"decline\"", 1_000).await;
    let mut c = Client::connect(gw.running.addr()).await;
    // Another account's card: decided by our checks alone.
    let s = stan();
    let r = c.call(&purchase(PAN_OK, 1_000, "840", &s)).await;
    assert_eq!(de39(&r), "00");
    assert!(decision(&gw, &s).await.hook.is_none());
    assert!(event_data(&gw, &s).await.get("hook").is_none());
    // The program's card, declined by our own checks (100.00 USD cannot pay 500.00): the
    // hook is never asked what we refuse anyway.
    let s = stan();
    let r = c.call(&purchase(PAN_USD_HOME, 50_000, "840", &s)).await;
    assert_eq!(de39(&r), "51");
    assert!(decision(&gw, &s).await.hook.is_none());
    assert!(seen(&hook).is_empty());
    gw.running.drain().await;
}

#[tokio::test]
async fn a_reload_changes_the_programs_for_the_requests_after_it() {
    let approve = hook_server(Reply::Json(r#"{"decision":"approve"}"#)).await;
    let decline = hook_server(Reply::Json(
        r#"{"decision":"decline","response_code":"05"}"#,
    ))
    .await;
    let mut gw = start(&url(&approve), "\"decline\"", 1_000).await;
    let mut c = Client::connect(gw.running.addr()).await;
    assert_eq!(
        de39(&c.call(&purchase(PAN_USD_HOME, 100, "840", &stan())).await),
        "00"
    );
    // Another hook for the program.
    let text = config_text(
        gw._dir.path(),
        gw.admin,
        &url(&decline),
        "\"decline\"",
        1_000,
    );
    let changed = gw.running.reload(parse_config(&text)).await.unwrap();
    assert!(changed.contains(&"programs"), "{changed:?}");
    assert_eq!(
        de39(&c.call(&purchase(PAN_USD_HOME, 100, "840", &stan())).await),
        "05"
    );
    // No program any more: decided by our checks alone.
    let text = embedded_config_text(gw._dir.path()).replace(
        "[admin]\naddress = \"127.0.0.1:0\"",
        &format!("[admin]\naddress = \"{}\"", gw.admin),
    );
    gw.running.reload(parse_config(&text)).await.unwrap();
    let s = stan();
    assert_eq!(
        de39(&c.call(&purchase(PAN_USD_HOME, 100, "840", &s)).await),
        "00"
    );
    assert!(decision(&gw, &s).await.hook.is_none());
    assert_eq!((seen(&approve).len(), seen(&decline).len()), (1, 1));
    gw.running.drain().await;
}

#[tokio::test]
async fn an_https_hook_signed_by_the_programs_own_ca_is_trusted() {
    use rustls_pki_types::pem::PemObject;
    use tokio_rustls::rustls;
    let certs_dir = tempfile::tempdir().unwrap();
    let ca = common::certs::Ca::new("hook-ca");
    let ca_file = ca.write(certs_dir.path(), "ca.pem");
    let leaf = ca.leaf(certs_dir.path(), "hook", &["127.0.0.1"], true);
    let chain = rustls_pki_types::CertificateDer::pem_file_iter(&leaf.cert)
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = rustls_pki_types::PrivateKeyDer::from_pem_file(&leaf.key).unwrap();
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let server = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server));
    let hook = hook_server_on(
        Reply::Json(r#"{"decision":"decline","response_code":"05"}"#),
        Some(acceptor),
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let admin = free_addr();
    let https = format!("https://127.0.0.1:{}/authorize", hook.addr.port());
    let text = config_text(dir.path(), admin, &https, "\"decline\"", 1_000)
        + &format!("ca_file = \"{}\"\n", ca_file.display());
    let running = app::start(parse_config(&text))
        .await
        .expect("gateway starts");
    let gw = Gw {
        running,
        admin,
        _dir: dir,
    };
    let mut c = Client::connect(gw.running.addr()).await;
    let s = stan();
    // The hook's own decline (not the stand-in's 91): the TLS connection was made and trusted.
    assert_eq!(
        de39(&c.call(&purchase(PAN_USD_HOME, 100, "840", &s)).await),
        "05"
    );
    assert_eq!(seen(&hook).len(), 1);
    assert_eq!(
        decision(&gw, &s).await.hook.unwrap().source,
        ledger::HookSource::Hook
    );
    gw.running.drain().await;

    // Without the program's CA the certificate is not trusted: nothing is sent to it, and the
    // stand-in decides (a connection failure).
    let dir = tempfile::tempdir().unwrap();
    let admin = free_addr();
    let text = config_text(dir.path(), admin, &https, "\"decline\"", 1_000);
    let running = app::start(parse_config(&text))
        .await
        .expect("gateway starts");
    let gw = Gw {
        running,
        admin,
        _dir: dir,
    };
    let mut c = Client::connect(gw.running.addr()).await;
    let s = stan();
    assert_eq!(
        de39(&c.call(&purchase(PAN_USD_HOME, 100, "840", &s)).await),
        "91"
    );
    let h = decision(&gw, &s).await.hook.unwrap();
    assert_eq!(h.reason, Some(ledger::StandInReason::Connection));
    assert_eq!(seen(&hook).len(), 1);
    gw.running.drain().await;
}
