//! A ledger file made by the switch as it was before the state-machine ledger (commit
//! ccdab33: the sandbox after one `harness run` of the 35 scenarios of then; no fingerprint
//! column, no duplicates or heartbeat tables) opens with today's code (issue 19): the missing
//! column and tables are added at start, `gateway check-ledger` passes on it, a repeat of an
//! old request gets its stored answer, and the old key reused for another amount is a
//! duplicate transmission.

mod common;

use std::process::Command;
use std::sync::Arc;

use common::*;
use ledger::{
    AuthRequest, EmbeddedOptions, EmbeddedStore, NetworkKey, NoRates, Pan, PanHasher, ResponseCode,
    Store, Terms, TransactionKind,
};

/// The old file, copied (each test migrates its own copy).
fn old_ledger(dir: &std::path::Path) -> std::path::PathBuf {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../ledger/tests/data/ledger-ccdab33.sqlite");
    let dst = dir.join("ledger.sqlite");
    std::fs::copy(src, &dst).unwrap();
    dst
}

/// Scenario 01's purchase as the old sandbox recorded it (its key from the file).
fn scenario_01(amount: i64) -> AuthRequest {
    AuthRequest {
        key: NetworkKey::new("123456", "647980", "1205020939").unwrap(),
        terms: Terms::default(),
        pan: Pan::new("4000001000000018").unwrap(),
        expiry: Some("3012".into()),
        kind: TransactionKind::Purchase,
        amount_minor: amount,
        currency: "KRW".parse().unwrap(),
        allow_partial: false,
        original: None,
        merchant: Default::default(),
        security: Default::default(),
        hook: None,
        business_date: jiff::civil::date(2026, 12, 5),
        now: jiff::Timestamp::now(),
    }
}

#[tokio::test]
async fn a_ledger_made_before_the_state_machine_opens_checks_and_answers_repeats() {
    let dir = tempfile::tempdir().unwrap();
    let path = old_ledger(dir.path());
    // The sandbox's PAN key: the file's cards are hashed with it.
    let hasher = PanHasher::from_config_str("sandbox-pan-hmac-key-not-for-production-use").unwrap();
    let store: Store =
        EmbeddedStore::open(&path, hasher, Arc::new(NoRates), EmbeddedOptions::default())
            .unwrap()
            .into();
    assert!(store.invariant_violations().await.unwrap().is_empty());
    let again = store.authorize(scenario_01(15_000)).await.unwrap();
    assert!(again.replayed);
    assert_eq!(again.response_code, ResponseCode::APPROVED);
    assert_eq!(again.approval_code.as_deref(), Some("0YEJMI"));
    let other = store.authorize(scenario_01(15_001)).await.unwrap();
    assert_eq!(other.response_code, ResponseCode::DUPLICATE_TRANSMISSION);
    // And new requests are decided and held as usual.
    let mut fresh = scenario_01(1_000);
    fresh.key = NetworkKey::new("123456", "000001", "1205030000").unwrap();
    let d = store.authorize(fresh).await.unwrap();
    assert_eq!(d.response_code, ResponseCode::APPROVED);
    assert!(store.invariant_violations().await.unwrap().is_empty());
    drop(store);

    // The operators' audit on the migrated file.
    let cfg = dir.path().join("check.toml");
    std::fs::write(
        &cfg,
        embedded_config_text(dir.path()).replace(
            "gateway-integration-test-pan-key-0123456789",
            "sandbox-pan-hmac-key-not-for-production-use",
        ),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_gateway"))
        .args(["check-ledger", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{report}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(report.contains("\"ok\": true"), "{report}");
}
