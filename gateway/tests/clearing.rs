//! `gateway clearing import` (issue 24): a clearing file posted against the authorizations
//! the ledger holds; imported again, refused as a whole with nothing moved; killed midway
//! (kill -9) and run again, every presentment posted exactly once.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use common::*;
use ledger::{
    AuthRequest, EmbeddedOptions, EmbeddedStore, NetworkKey, NoRates, Pan, PanHasher, SeedData,
    Store, Terms, TransactionKind,
};

const KEY: &str = "gateway-integration-test-pan-key-0123456789";

fn today() -> jiff::civil::Date {
    jiff::Zoned::now().date()
}

async fn open(dir: &Path) -> Store {
    let hasher = PanHasher::new(KEY.as_bytes()).unwrap();
    let store: Store = EmbeddedStore::open(
        dir.join("ledger.sqlite"),
        hasher.clone(),
        Arc::new(NoRates),
        EmbeddedOptions::default(),
    )
    .unwrap()
    .into();
    if store.is_empty().await.unwrap() {
        let cards = std::fs::read_to_string(data("cards.json")).unwrap();
        let exp = |c: &str| fx_rates::currency(c).ok().map(|c| u32::from(c.exponent));
        store
            .seed(SeedData::from_json(&cards, &hasher, &exp).unwrap())
            .await
            .unwrap();
    }
    store
}

async fn approve(store: &Store, n: u32, amount: i64) -> String {
    let d = store
        .authorize(AuthRequest {
            key: NetworkKey::new(ACQUIRER, &format!("{n:06}"), DE7).unwrap(),
            terms: Terms::default(),
            pan: Pan::new(PAN_KRW_ONLY).unwrap(),
            expiry: None,
            kind: TransactionKind::Purchase,
            amount_minor: amount,
            currency: "KRW".parse().unwrap(),
            allow_partial: false,
            original: None,
            merchant: Default::default(),
            security: Default::default(),
            hook: None,
            business_date: today(),
            now: jiff::Timestamp::now(),
        })
        .await
        .unwrap();
    assert_eq!(d.response_code.as_str(), "00");
    d.approval_code.unwrap()
}

fn presentment(
    arn: &str,
    fc: &str,
    pan: &str,
    code: Option<&str>,
    amount: i64,
) -> clearing::Presentment {
    let t = today();
    clearing::Presentment {
        function_code: fc.into(),
        pan: pan.into(),
        amount_minor: amount,
        currency: "410".into(),
        arn: arn.into(),
        approval_code: code.map(str::to_owned),
        mcc: Some("5812".into()),
        local_date: Some((t.year(), t.month(), t.day())),
    }
}

fn write(
    dir: &Path,
    name: &str,
    layout: clearing::Layout,
    id: &str,
    ps: &[clearing::Presentment],
) -> PathBuf {
    let path = dir.join(name);
    let mut out = Vec::new();
    clearing::write_file(layout, id, ps, &mut out).unwrap();
    std::fs::write(&path, out).unwrap();
    path
}

fn config(dir: &Path) -> PathBuf {
    let cfg = dir.join("gateway.toml");
    std::fs::write(&cfg, embedded_config_text(dir)).unwrap();
    cfg
}

fn import(cfg: &Path, file: &Path) -> (bool, serde_json::Value, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_gateway"))
        .args(["clearing", "import", "--config"])
        .arg(cfg)
        .arg(file)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    let v = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}\n{stderr}"));
    (out.status.success(), v, stderr)
}

async fn krw(store: &Store) -> ledger::Wallet {
    store
        .export_balances()
        .await
        .unwrap()
        .into_iter()
        .find(|w| w.account_id == "A-3001" && w.currency.as_str() == "KRW")
        .unwrap()
}

#[tokio::test]
async fn an_import_posts_once_and_a_second_import_is_refused_whole() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    let opening = krw(&store).await.balance_minor;
    let c1 = approve(&store, 1, 10_000).await;
    let c2 = approve(&store, 2, 20_000).await;
    let c3 = approve(&store, 3, 10_000).await;
    assert_eq!(krw(&store).await.held_minor, 40_000);
    drop(store);
    let ps = vec![
        presentment("ARN-1", "200", PAN_KRW_ONLY, Some(&c1), 10_000),
        presentment("ARN-2", "200", PAN_KRW_ONLY, Some(&c2), 15_000),
        // A tip of 15 % at a restaurant (MCC 5812: up to 20 %).
        presentment("ARN-3", "200", PAN_KRW_ONLY, Some(&c3), 11_500),
        presentment("ARN-4", "200", PAN_KRW_ONLY, None, 5_000),
        presentment("ARN-5", "200", PAN_UNKNOWN, None, 5_000),
    ];
    let cfg = config(dir.path());
    let file = write(dir.path(), "f1.ipm", clearing::Layout::Ebcdic, "F-001", &ps);
    let (ok, r, err) = import(&cfg, &file);
    assert!(ok, "{r}\n{err}");
    assert_eq!(r["file_id"], "F-001");
    assert_eq!(r["layout"], "ebcdic");
    for (k, n) in [
        ("matched", 1),
        ("partial", 1),
        ("over", 1),
        ("forced", 1),
        ("rejected", 1),
        ("duplicates", 0),
    ] {
        assert_eq!(r[k], n, "{k}: {r}");
    }
    assert_eq!(r["totals"]["posted"]["KRW"], 41_500);
    assert_eq!(r["totals"]["released"]["KRW"], 5_000);
    assert_eq!(r["totals"]["file_minor"], 46_500);
    assert!(!r.to_string().contains(PAN_UNKNOWN));

    let store = open(dir.path()).await;
    let w = krw(&store).await;
    assert_eq!(w.balance_minor, opening - 41_500);
    assert_eq!(w.held_minor, 0);
    for n in 1..=3 {
        let k = NetworkKey::new(ACQUIRER, &format!("{n:06}"), DE7).unwrap();
        let h = store.hold(&k).await.unwrap().unwrap();
        assert_eq!(h.status.as_str(), "captured", "hold {n}");
        assert_eq!(h.held_minor, 0);
    }
    assert!(store.invariant_violations().await.unwrap().is_empty());
    let events = store.events_after(0, false, 1000).await.unwrap();
    assert_eq!(
        events
            .iter()
            .filter(|e| e.kind == "clearing.posted")
            .count(),
        4
    );
    common::schemas::assert_valid(events.iter().map(|e| &e.body));
    drop(store);

    // The same file again: refused as a whole, exit 1, nothing moves.
    let (ok, r, _) = import(&cfg, &file);
    assert!(!ok);
    assert!(
        r["refused"].as_str().unwrap().contains("imported before"),
        "{r}"
    );
    let store = open(dir.path()).await;
    assert_eq!(krw(&store).await.balance_minor, opening - 41_500);
    drop(store);

    // The same presentments under another file id (JSON lines): each is found posted.
    let again = write(
        dir.path(),
        "f2.jsonl",
        clearing::Layout::JsonLines,
        "F-002",
        &ps,
    );
    let (ok, r, _) = import(&cfg, &again);
    assert!(ok, "{r}");
    assert_eq!(r["duplicates"], 4);
    assert_eq!(r["rejected"], 1);
    // A trailer that disagrees: refused, exit 1.
    let mut bad = Vec::new();
    let l = clearing::Layout::Ascii;
    clearing::write_record(l, &clearing::header_message("F-003").unwrap(), &mut bad).unwrap();
    clearing::write_record(
        l,
        &clearing::presentment_message(&ps[0], 2).unwrap(),
        &mut bad,
    )
    .unwrap();
    clearing::write_record(l, &clearing::trailer_message(1, 9_999).unwrap(), &mut bad).unwrap();
    let bad_path = dir.path().join("bad.ipm");
    std::fs::write(&bad_path, bad).unwrap();
    let (ok, r, _) = import(&cfg, &bad_path);
    assert!(!ok);
    assert!(r["refused"].as_str().unwrap().contains("total"), "{r}");
    let store = open(dir.path()).await;
    assert_eq!(krw(&store).await.balance_minor, opening - 41_500);
}

#[tokio::test]
async fn killed_midway_and_run_again_every_presentment_is_posted_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    let opening = krw(&store).await.balance_minor;
    drop(store);
    const N: i64 = 3000;
    let ps: Vec<_> = (0..N)
        .map(|i| presentment(&format!("K-{i:06}"), "200", PAN_KRW_ONLY, None, 1 + i % 7))
        .collect();
    let total: i64 = ps.iter().map(|p| p.amount_minor).sum();
    let cfg = config(dir.path());
    let file = write(dir.path(), "big.ipm", clearing::Layout::Ascii, "F-BIG", &ps);
    let mut child = Command::new(env!("CARGO_BIN_EXE_gateway"))
        .args(["clearing", "import", "--config"])
        .arg(&cfg)
        .arg(&file)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Let it post some, then SIGKILL: no chance to finish a batch or mark the file.
    let db = dir.path().join("ledger.sqlite");
    for _ in 0..200 {
        std::thread::sleep(std::time::Duration::from_millis(20));
        let wal = dir.path().join("ledger.sqlite-wal");
        if std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0) > 200_000 || !db.exists() {
            break;
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let store = open(dir.path()).await;
    let partway = opening - krw(&store).await.balance_minor;
    assert!(partway < total, "the import finished before it was killed");
    drop(store);
    let (ok, r, err) = import(&cfg, &file);
    assert!(ok, "{r}\n{err}");
    assert_eq!(
        r["forced"].as_i64().unwrap() + r["duplicates"].as_i64().unwrap(),
        N
    );
    assert!(r["duplicates"].as_i64().unwrap() > 0, "{r}");
    let store = open(dir.path()).await;
    assert_eq!(krw(&store).await.balance_minor, opening - total);
    assert!(store.invariant_violations().await.unwrap().is_empty());
}
