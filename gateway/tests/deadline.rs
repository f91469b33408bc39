//! Deadlines: with a deadline shorter than the ledger's commit, requests are answered 91, and
//! after the background voids no hold survives for any of them: the balance equals the
//! opening balance minus exactly the approvals answered 00. The commit is made slow by an
//! injected fault (a stalled fsync), not left to the machine's disk, which may be fast.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::*;
use gateway::app;
use ledger::NetworkKey;
use tokio::io::AsyncWriteExt;

#[tokio::test]
async fn missed_deadline_answers_91_and_leaves_no_hold() {
    let dir = tempfile::tempdir().unwrap();
    // 20 ms, and the first commits take 50 ms longer: their requests miss it.
    let text = embedded_config_text(dir.path()) + "deadline_ms = 20\n";
    let gw = app::start(parse_config(&text)).await.unwrap();
    let mut c = Client::connect(gw.addr()).await;
    ledger::faults::arm(ledger::faults::Fault::SlowCommit, 3);
    let mut wire = Vec::new();
    let mut sent = Vec::new();
    for _ in 0..200 {
        let s = stan();
        let body = purchase(PAN_OK, 10, "840", &s).encode(spec()).unwrap();
        wire.extend_from_slice(&(body.len() as u16).to_be_bytes());
        wire.extend_from_slice(&body);
        sent.push(s);
    }
    c.stream.write_all(&wire).await.unwrap();
    let mut answers = HashMap::new();
    for _ in 0..sent.len() {
        let r = c.recv().await;
        answers.insert(r.get_str(11).unwrap().to_owned(), de39(&r).to_owned());
    }
    let missed = answers.values().filter(|c| *c == "91").count();
    let approved = answers.values().filter(|c| *c == "00").count() as i64;
    assert!(
        missed > 0,
        "the 20 ms deadline was never missed: {answers:?}"
    );
    assert_eq!(missed as i64 + approved, 200, "only 00 or 91: {answers:?}");

    // Let the voids land, then read what the ledger recorded for every request.
    assert!(gw.core().wait_voids(Duration::from_secs(10)).await);
    let store = gw.core().store();
    for s in &sent {
        let key = NetworkKey::new(ACQUIRER, s, DE7).unwrap();
        let d = store
            .decision(&key)
            .await
            .unwrap()
            .expect("a recorded decision");
        assert_eq!(
            d.response_code.as_str(),
            answers[s],
            "STAN {s}: answer = record"
        );
    }
    let wallets = store.export_balances().await.unwrap();
    let usd = wallets
        .iter()
        .find(|w| w.account_id == "A-1001" && w.currency == "USD")
        .unwrap();
    assert_eq!(
        usd.held_minor,
        approved * 10,
        "holds only for the 00 answers"
    );
    gw.drain().await;
}
