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

// Through a running switch (the API path): the presentments ride the switch's own ledger
// writer; the import is the same client whichever ledger the switch has.

const TOKEN: &str = "clearing-test-token-0123456789abcdef";

/// `text` (a config with `[admin] address = "127.0.0.1:0"`) with the API token set.
fn with_token(text: &str) -> String {
    text.replacen(
        "[admin]\naddress = \"127.0.0.1:0\"",
        &format!("[admin]\naddress = \"127.0.0.1:0\"\napi_token = \"{TOKEN}\""),
        1,
    )
}

fn import_cmd(cfg: &Path, admin: std::net::SocketAddr, file: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_gateway"));
    c.args(["clearing", "import", "--config"])
        .arg(cfg)
        .args(["--admin", &admin.to_string()])
        .arg(file);
    c
}

fn run_import(cfg: &Path, admin: std::net::SocketAddr, file: &Path) -> (bool, serde_json::Value) {
    let out = import_cmd(cfg, admin, file).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    let v = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}\n{stderr}"));
    (out.status.success(), v)
}

async fn approve_on(store: &Store, n: u32, amount: i64) -> String {
    approve(store, n, amount).await
}

async fn api(
    admin: std::net::SocketAddr,
    method: reqwest::Method,
    path: &str,
    token: Option<&str>,
    content_type: &str,
    body: Vec<u8>,
) -> (u16, serde_json::Value) {
    let mut req = http_client()
        .request(method, format!("http://{admin}{path}"))
        .header("content-type", content_type)
        .body(body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    let v = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{status} {e}: {text}"));
    (status, v)
}

/// The switch started from `text`: the first import's outcomes are those of the direct path
/// (same file as `an_import_posts_once_and_a_second_import_is_refused_whole`), the second is
/// refused, bad bodies are JSON 4xx; killed midway (kill -9) and run again, every
/// presentment is posted once.
async fn through_the_switch(text: String, dir: &Path) {
    let text = with_token(&text);
    let cfg = dir.join("gateway.toml");
    std::fs::write(&cfg, &text).unwrap();
    let running = gateway::app::start(parse_config(&text)).await.unwrap();
    let admin = running.admin;
    let store = running.core().store().clone();
    let opening = krw(&store).await.balance_minor;
    let c1 = approve_on(&store, 1, 10_000).await;
    let c2 = approve_on(&store, 2, 20_000).await;
    let c3 = approve_on(&store, 3, 10_000).await;
    let ps = vec![
        presentment("S-ARN-1", "200", PAN_KRW_ONLY, Some(&c1), 10_000),
        presentment("S-ARN-2", "200", PAN_KRW_ONLY, Some(&c2), 15_000),
        presentment("S-ARN-3", "200", PAN_KRW_ONLY, Some(&c3), 11_500),
        presentment("S-ARN-4", "200", PAN_KRW_ONLY, None, 5_000),
        presentment("S-ARN-5", "200", PAN_UNKNOWN, None, 5_000),
    ];
    let file = write(dir, "s1.ipm", clearing::Layout::Ebcdic, "S-001", &ps);
    let (ok, r) = run_import(&cfg, admin, &file);
    assert!(ok, "{r}");
    assert_eq!(r["via"], "switch", "{r}");
    assert_eq!(r["file_id"], "S-001");
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
    assert_eq!(r["totals"]["presented"]["KRW"], 41_500);
    assert_eq!(r["rejections"][0]["record"], 5);
    assert!(!r.to_string().contains(PAN_UNKNOWN));
    let w = krw(&store).await;
    assert_eq!(w.balance_minor, opening - 41_500);
    assert_eq!(w.held_minor, 0);

    // Again: refused whole, exit 1, nothing moves.
    let (ok, r) = run_import(&cfg, admin, &file);
    assert!(!ok);
    assert_eq!(r["via"], "switch");
    assert!(
        r["refused"].as_str().unwrap().contains("imported before"),
        "{r}"
    );
    assert_eq!(krw(&store).await.balance_minor, opening - 41_500);

    // The API itself: bad bodies are JSON 4xx that echo no card number.
    let post = reqwest::Method::POST;
    let item = |arn: &str| {
        serde_json::json!({"record": 1, "function_code": "200", "pan": PAN_KRW_ONLY,
            "amount_minor": 1, "currency": "410", "arn": arn})
    };
    let batch = |n: usize| {
        serde_json::to_vec(&serde_json::json!({
            "file_id": "S-API",
            "presentments": (0..n).map(|i| item(&format!("API-{i}"))).collect::<Vec<_>>(),
        }))
        .unwrap()
    };
    let paced = |n: usize, per_s: u32| {
        let mut b: serde_json::Value = serde_json::from_slice(&batch(n)).unwrap();
        b["records_per_s"] = per_s.into();
        b["presentments"]
            .as_array_mut()
            .unwrap()
            .iter_mut()
            .for_each(|p| p["arn"] = format!("PACED-{}", p["arn"].as_str().unwrap()).into());
        serde_json::to_vec(&b).unwrap()
    };
    let path = "/v1/clearing/presentments";
    let json = "application/json";
    let cases: Vec<(Option<&str>, &str, Vec<u8>, u16)> = vec![
        (None, json, batch(1), 401),
        (Some(TOKEN), json, b"{\"file_id\":".to_vec(), 400),
        (Some(TOKEN), "text/plain", batch(1), 415),
        (Some(TOKEN), json, b"{\"file_id\":\"S-API\"}".to_vec(), 422),
        (Some(TOKEN), json, batch(0), 422),
        (Some(TOKEN), json, batch(501), 422),
        (
            Some(TOKEN),
            json,
            format!("{{\"file_id\":\"S-API\",\"presentments\":[{{\"pan\":{PAN_KRW_ONLY}}}]}}")
                .into_bytes(),
            422,
        ),
        (Some(TOKEN), json, vec![b' '; 600 * 1024], 413),
        (Some(TOKEN), json, paced(1, 0), 422),
        (Some(TOKEN), json, paced(1, 100_001), 422),
        (Some(TOKEN), json, paced(5, 2), 422),
        // The file imported above: refused.
        (
            Some(TOKEN),
            json,
            serde_json::to_vec(
                &serde_json::json!({"file_id": "S-001", "presentments": [item("X")]}),
            )
            .unwrap(),
            409,
        ),
    ];
    for (token, ct, body, want) in cases {
        let (s, v) = api(admin, post.clone(), path, token, ct, body).await;
        assert_eq!(s, want, "{v}");
        assert!(v["error"]["code"].is_string(), "{v}");
        assert!(!v.to_string().contains(PAN_KRW_ONLY), "{v}");
    }
    // A good batch with a bad record in it: that record rejected, the rest posted, once.
    let mut body =
        serde_json::json!({"file_id": "S-API", "presentments": [item("API-A"), item("API-B")]});
    body["presentments"][1]["currency"] = "XYZ".into();
    let (s, v) = api(
        admin,
        post.clone(),
        path,
        Some(TOKEN),
        json,
        serde_json::to_vec(&body).unwrap(),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["results"][0]["outcome"], "forced", "{v}");
    assert_eq!(v["results"][1]["outcome"], "rejected", "{v}");
    let (s, v) = api(
        admin,
        post.clone(),
        path,
        Some(TOKEN),
        json,
        serde_json::to_vec(&body).unwrap(),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["results"][0]["outcome"], "duplicate", "{v}");
    // Paced: 6 presentments at 20 a second are spaced 50 ms apart, so the last one starts
    // 250 ms after the first however fast the writer is; each is posted.
    let started = std::time::Instant::now();
    let (s, v) = api(admin, post.clone(), path, Some(TOKEN), json, paced(6, 20)).await;
    assert_eq!(s, 200, "{v}");
    assert!(
        started.elapsed() >= std::time::Duration::from_millis(250),
        "{:?}",
        started.elapsed()
    );
    let outcomes: Vec<_> = v["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["outcome"])
        .collect();
    assert_eq!(outcomes, vec!["forced"; 6], "{v}");
    let files = "/v1/clearing/files/S-API";
    let (s, v) = api(
        admin,
        reqwest::Method::GET,
        files,
        Some(TOKEN),
        json,
        vec![],
    )
    .await;
    assert_eq!((s, &v["imported"]), (200, &serde_json::json!(false)), "{v}");
    let mark = b"{\"presentments\":2}".to_vec();
    let (s, _) = api(
        admin,
        reqwest::Method::PUT,
        files,
        Some(TOKEN),
        json,
        mark.clone(),
    )
    .await;
    assert_eq!(s, 201);
    let (s, v) = api(admin, reqwest::Method::PUT, files, Some(TOKEN), json, mark).await;
    assert_eq!(s, 409, "{v}");
    let (s, v) = api(
        admin,
        reqwest::Method::GET,
        files,
        Some(TOKEN),
        json,
        vec![],
    )
    .await;
    assert_eq!((s, &v["imported"]), (200, &serde_json::json!(true)), "{v}");
    let (s, _) = api(
        admin,
        reqwest::Method::PUT,
        files,
        Some(TOKEN),
        json,
        b"{\"presentments\":-1}".to_vec(),
    )
    .await;
    assert_eq!(s, 422);
    let balance = krw(&store).await.balance_minor;

    // Killed midway (kill -9) and run again: each presentment posted once.
    const N: i64 = 3000;
    let ps: Vec<_> = (0..N)
        .map(|i| presentment(&format!("SK-{i:06}"), "200", PAN_KRW_ONLY, None, 1 + i % 7))
        .collect();
    let total: i64 = ps.iter().map(|p| p.amount_minor).sum();
    let file = write(dir, "big.ipm", clearing::Layout::Ascii, "S-BIG", &ps);
    let mut child = import_cmd(&cfg, admin, &file)
        .args(["--records-per-s", "3000"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    for _ in 0..400 {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        if balance - krw(&store).await.balance_minor > 0 {
            break;
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let partway = balance - krw(&store).await.balance_minor;
    assert!(partway > 0, "nothing posted before the kill");
    assert!(partway < total, "the import finished before it was killed");
    let (ok, r) = run_import(&cfg, admin, &file);
    assert!(ok, "{r}");
    assert_eq!(r["via"], "switch");
    assert_eq!(
        r["forced"].as_i64().unwrap() + r["duplicates"].as_i64().unwrap(),
        N,
        "{r}"
    );
    assert!(r["duplicates"].as_i64().unwrap() > 0, "{r}");
    assert_eq!(krw(&store).await.balance_minor, balance - total);
    assert!(store.invariant_violations().await.unwrap().is_empty());
    running.drain().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn through_a_running_switch_on_the_embedded_ledger() {
    let dir = tempfile::tempdir().unwrap();
    through_the_switch(embedded_config_text(dir.path()), dir.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn through_a_running_switch_on_postgres() {
    let pg_url = std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let admin = match tokio_postgres::connect(&pg_url, tokio_postgres::NoTls).await {
        Ok((client, conn)) => {
            tokio::spawn(conn);
            client
        }
        Err(e) => {
            return common::services::skip_or_fail("clearing on postgres", &format!("{e}"));
        }
    };
    let schema = format!("gw_clearing_{:08x}", rand::random::<u32>());
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        r#"
[business_date]
time_zone = "Asia/Seoul"
[admin]
address = "127.0.0.1:0"
[log]
level = "warn"
[ledger]
postgres = "{pg_url}"
schema = "{schema}"
seed = "{cards}"
pan_key = "{KEY}"
[rates]
file = "{rates}"
[[listener]]
name = "test"
address = "127.0.0.1:0"
"#,
        cards = data("cards.json").display(),
        rates = data("rates.csv").display(),
    );
    through_the_switch(text, dir.path()).await;
    let _ = admin
        .batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
        .await;
}
