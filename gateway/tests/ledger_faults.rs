//! What the switch answers when the ledger's writer fails (issue 25, items 2-4), with faults
//! injected into the embedded writer (`ledger::faults`, a test-only feature):
//!
//! - a panic after COMMIT used to kill the only writer thread: the batch's committed
//!   approvals were answered 91, then every request 91, while `/readyz` said 200;
//! - a full disk made every request fail while `/readyz` said 200, and each failure started a
//!   background void of its own.
//!
//! Faults are armed for the whole process: each test runs in its own under nextest, and
//! holds [`ONE_AT_A_TIME`] under `cargo test`.

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::*;
use gateway::app::{self, Running};
use ledger::faults::{arm, Fault};
use ledger::NetworkKey;

static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn start() -> (Running, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let gw = app::start(parse_config(&embedded_config_text(dir.path())))
        .await
        .expect("gateway starts");
    wait_ready(gw.admin).await;
    (gw, dir)
}

/// Sends `n` purchases of 10 cents at once over `conns` connections; their answers by STAN.
async fn purchases(gw: &Running, n: usize, conns: usize) -> HashMap<String, iso8583::OwnedMessage> {
    let mut tasks = Vec::new();
    for c in 0..conns {
        let addr = gw.addr();
        let stans: Vec<String> = (0..n / conns).map(|_| stan()).collect();
        let _ = c;
        tasks.push(tokio::spawn(async move {
            let mut client = Client::connect(addr).await;
            for s in &stans {
                client.send(&purchase(PAN_OK, 10, "840", s)).await;
            }
            let mut out = Vec::new();
            for _ in &stans {
                out.push(client.recv().await);
            }
            out
        }));
    }
    let mut answers = HashMap::new();
    for t in tasks {
        for r in t.await.unwrap() {
            answers.insert(r.get_str(11).unwrap().to_owned(), r);
        }
    }
    answers
}

/// Every answer agrees with the ledger: a 00 has its approval with the same DE 38, anything
/// else has no approval; the USD wallet holds exactly the approvals.
async fn answers_match_the_ledger(gw: &Running, answers: &HashMap<String, iso8583::OwnedMessage>) {
    let store = gw.core().store();
    let mut approved = 0;
    for (s, r) in answers {
        let key = NetworkKey::new(ACQUIRER, s, DE7).unwrap();
        let d = store.decision(&key).await.unwrap();
        if de39(r) == "00" {
            approved += 1;
            let d = d.unwrap_or_else(|| panic!("STAN {s} answered 00 with no decision"));
            assert!(d.response_code.is_approval(), "STAN {s}");
            assert_eq!(d.approval_code.as_deref(), r.get_str(38), "STAN {s}");
        } else if let Some(d) = d {
            assert!(
                !d.response_code.is_approval(),
                "STAN {s} answered {} but approved",
                de39(r)
            );
        }
    }
    let usd = store
        .export_balances()
        .await
        .unwrap()
        .into_iter()
        .find(|w| w.account_id == "A-1001" && w.currency == "USD")
        .unwrap();
    assert_eq!(
        usd.held_minor,
        approved * 10,
        "holds only for the 00 answers"
    );
    assert!(store.invariant_violations().await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn committed_approvals_are_answered_00_after_the_writer_panics_and_it_goes_on() {
    let _one = ONE_AT_A_TIME.lock().await;
    let (gw, _d) = start().await;
    arm(Fault::PanicAfterCommit, 1);
    let answers = purchases(&gw, 64, 4).await;
    assert!(
        answers.values().all(|r| de39(r) == "00"),
        "every request was committed: {:?}",
        answers.values().map(de39).collect::<Vec<_>>()
    );
    answers_match_the_ledger(&gw, &answers).await;
    let h = gw.core().store().health();
    assert_eq!(h.restarts, 1, "{h:?}");
    // Restarted: ready, and deciding.
    assert_eq!(http_get(gw.admin, "/readyz").await.0, 200);
    let more = purchases(&gw, 8, 1).await;
    assert!(more.values().all(|r| de39(r) == "00"));
    let (_, metrics) = http_get(gw.admin, "/metrics").await;
    assert!(
        metrics.contains("gateway_ledger_writer_restarts_total 1"),
        "{metrics}"
    );
    gw.drain().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_writer_that_stops_makes_the_switch_not_ready_and_the_process_exit() {
    let _one = ONE_AT_A_TIME.lock().await;
    let (gw, _d) = start().await;
    arm(Fault::PanicAfterCommit, 1_000);
    let mut answers = HashMap::new();
    let until = Instant::now() + Duration::from_secs(20);
    while !gw.core().store().health().stopped {
        assert!(Instant::now() < until, "the writer never stopped");
        answers.extend(purchases(&gw, 4, 1).await);
    }
    arm(Fault::PanicAfterCommit, 0);
    // From now on nothing is taken: 91 at once, and nothing recorded.
    answers.extend(purchases(&gw, 8, 2).await);
    answers_match_the_ledger(&gw, &answers).await;
    let (status, body) = http_get(gw.admin, "/readyz").await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("stopped"), "{body}");
    let why = tokio::time::timeout(Duration::from_secs(2), gw.ledger_stopped())
        .await
        .expect("ledger_stopped resolves: the binary exits non-zero on it");
    assert!(why.contains("panicked"), "{why}");
    gw.drain().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_is_not_ready_within_two_seconds_answers_91_and_recovers() {
    let _one = ONE_AT_A_TIME.lock().await;
    let (gw, _d) = start().await;
    arm(Fault::FailCommit, u32::MAX);
    let t0 = Instant::now();
    let body = loop {
        let (status, body) = http_get(gw.admin, "/readyz").await;
        if status == 503 {
            break body;
        }
        assert!(t0.elapsed() < Duration::from_secs(2), "still ready: {body}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(body.contains("disk is full"), "{body}");
    let answers = purchases(&gw, 200, 4).await;
    assert!(answers.values().all(|r| de39(r) == "91"));
    // Rolled back for sure: nothing to void, nothing queued.
    assert_eq!(gw.core().void_counts().0, 0);
    answers_match_the_ledger(&gw, &answers).await;
    // Space comes back: ready again within the heartbeat, and deciding.
    arm(Fault::FailCommit, 0);
    let t1 = Instant::now();
    while http_get(gw.admin, "/readyz").await.0 != 200 {
        assert!(t1.elapsed() < Duration::from_secs(3), "not ready again");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let after = purchases(&gw, 8, 1).await;
    assert!(after.values().all(|r| de39(r) == "00"));
    gw.drain().await;
}

/// A metric's value in a `/metrics` text (0 when absent).
fn metric(text: &str, name: &str) -> f64 {
    sample(text, name).unwrap_or(0.0)
}

/// A paced clearing import through the switch stops posting after a slow batch of the
/// writer (here one commit stalled 50 ms, as by a disk that is behind) for `[clearing]
/// yield_ms`, but never longer than 5 s a request: answered within the API's 10 s timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paced_clearing_import_yields_to_slow_commits_at_most_five_seconds_a_request() {
    let _one = ONE_AT_A_TIME.lock().await;
    const TOKEN: &str = "ledger-faults-test-token-0123456789abcdef";
    let dir = tempfile::tempdir().unwrap();
    let text = embedded_config_text(dir.path())
        .replace("[admin]\n", &format!("[admin]\napi_token = \"{TOKEN}\"\n"))
        + "[clearing]\nyield_ms = 30000\n";
    let gw = app::start(parse_config(&text)).await.unwrap();
    wait_ready(gw.admin).await;
    let metrics = || async { http_get(gw.admin, "/metrics").await.1 };
    let slow_before = metric(&metrics().await, "gateway_ledger_slow_batches_total");

    arm(Fault::SlowCommit, 1);
    assert!(purchases(&gw, 1, 1).await.values().all(|r| de39(r) == "00"));
    let m = metrics().await;
    assert!(
        metric(&m, "gateway_ledger_slow_batches_total") > slow_before,
        "{m}"
    );

    // Two presentments at 100 a second: 10 ms apart, were it not for the slow commit.
    let body = serde_json::json!({"file_id": "F-YIELD", "records_per_s": 100,
        "presentments": (1..=2).map(|i| serde_json::json!({"record": i,
            "function_code": "200", "pan": PAN_KRW_ONLY, "amount_minor": 100,
            "currency": "410", "arn": format!("YIELD-{i}")})).collect::<Vec<_>>()});
    let started = Instant::now();
    let resp = http_client()
        .post(format!("http://{}/v1/clearing/presentments", gw.admin))
        .bearer_auth(TOKEN)
        .json(&body)
        .send()
        .await
        .unwrap();
    let took = started.elapsed();
    let status = resp.status().as_u16();
    let v: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(status, 200, "{v}");
    let outcomes: Vec<_> = v["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["forced", "forced"], "{v}");
    // It waited out the request's whole allowance (yield_ms is 30 s), and no more.
    assert!(took >= Duration::from_millis(4_900), "{took:?}");
    assert!(took < Duration::from_secs(8), "{took:?}");
    let m = metrics().await;
    let yielded = metric(&m, "gateway_clearing_yield_seconds_total");
    assert!((4.9..8.0).contains(&yielded), "{m}");
    gw.drain().await;
}
