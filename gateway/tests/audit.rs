//! `gateway check-ledger`'s audit (issue 25, item 8): states a crash or a lost connection
//! leaves behind are reported apart from violations, and real violations still are ones.

mod common;

use std::sync::Arc;

use common::*;
use gateway::audit::{audit, Recorded};
use jiff::civil::date;
use ledger::{
    AuthRequest, EmbeddedOptions, EmbeddedStore, NetworkKey, NoRates, Pan, PanHasher,
    ReversalRequest, SeedData, Store, Terms, TransactionKind,
};

const DE32: &str = "12345";

fn stan_key(n: u32) -> NetworkKey {
    NetworkKey::new(DE32, &format!("{n:06}"), DE7).unwrap()
}

fn auth(n: u32) -> AuthRequest {
    AuthRequest {
        key: stan_key(n),
        terms: Terms::default(),
        pan: Pan::new(PAN_OK).unwrap(),
        expiry: None,
        kind: TransactionKind::Purchase,
        amount_minor: 100,
        currency: "USD".parse().unwrap(),
        allow_partial: false,
        original: None,
        merchant: Default::default(),
        security: Default::default(),
        hook: None,
        business_date: date(2026, 11, 25),
        now: jiff::Timestamp::now(),
    }
}

fn record(n: u32, mti: &str, answered: bool, lost: bool, code: Option<&str>) -> Recorded {
    Recorded {
        kind: if mti.starts_with("04") {
            "reverse"
        } else {
            "approve"
        }
        .into(),
        mti: mti.into(),
        de32: DE32.into(),
        de11: format!("{n:06}"),
        de7: DE7.into(),
        original: None,
        answered,
        lost,
        de39: code.map(Into::into),
        de38: None,
        de10: None,
    }
}

#[tokio::test]
async fn after_crash_states_are_explained_and_violations_still_reported() {
    let dir = tempfile::tempdir().unwrap();
    let hasher = PanHasher::new(b"gateway-integration-test-pan-key-0123456789").unwrap();
    let store: Store = EmbeddedStore::open(
        dir.path().join("ledger.sqlite"),
        hasher.clone(),
        Arc::new(NoRates),
        EmbeddedOptions::default(),
    )
    .unwrap()
    .into();
    let cards = std::fs::read_to_string(data("cards.json")).unwrap();
    let exp = |c: &str| fx_rates::currency(c).ok().map(|c| u32::from(c.exponent));
    store
        .seed(SeedData::from_json(&cards, &hasher, &exp).unwrap())
        .await
        .unwrap();
    // 1: approved and committed while its connection died: never answered, still held.
    store.authorize(auth(1)).await.unwrap();
    // 2: answered 00, then reversed by the network; the reversal applied, its answer lost.
    let d2 = store.authorize(auth(2)).await.unwrap();
    store
        .reverse(ReversalRequest {
            key: stan_key(3),
            terms: Terms::default(),
            original: stan_key(2),
            keep_minor: None,
            business_date: date(2026, 11, 25),
            now: jiff::Timestamp::now(),
            pan: None,
        })
        .await
        .unwrap();
    // 4: a hold nobody was told about and no crash explains: a violation.
    store.authorize(auth(4)).await.unwrap();
    // 5: answered 00, hold released, and no reversal anywhere in the record: a violation.
    let d5 = store.authorize(auth(5)).await.unwrap();
    store
        .void_timed_out(stan_key(5), date(2026, 11, 25), jiff::Timestamp::now())
        .await
        .unwrap();

    let mut r2 = record(2, "0100", true, false, Some("00"));
    r2.de38 = d2.approval_code.clone();
    let mut rev = record(3, "0400", false, true, None);
    rev.original = Some(format!("000002/{DE7}"));
    let mut r5 = record(5, "0100", true, false, Some("00"));
    r5.de38 = d5.approval_code.clone();
    let records = vec![record(1, "0100", false, true, None), r2, rev, r5];
    let report = audit(&store, &records).await.unwrap();

    assert_eq!(report.explained_count, 2, "{:#?}", report.explained);
    assert!(report
        .explained
        .iter()
        .any(|e| e.contains("000002") && e.contains("reversal whose answer was lost")));
    assert!(report
        .explained
        .iter()
        .any(|e| e.contains("000001") && e.contains("in flight")));
    assert!(!report.ok);
    let v = report.violations.join("\n");
    assert!(v.contains("000004") && v.contains("never received"), "{v}");
    assert!(v.contains("000005"), "{v}");
    assert!(!v.contains("000001") && !v.contains("000002"), "{v}");
}
