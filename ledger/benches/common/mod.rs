//! What both ledger benches use: 64 funded accounts with a card each, a fresh authorization
//! per call, waves of concurrent authorizations, the runtime and the directory they run in.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use jiff::civil::date;
use ledger::{
    AuthRequest, EmbeddedOptions, EmbeddedStore, NetworkKey, NoRates, Pan, PanHasher, ResponseCode,
    SeedData, Store, Terms, TransactionKind,
};

pub const ACCOUNTS: usize = 64;

fn pan(i: usize) -> String {
    format!("4761739{:09}", i)
}

/// The cards' PANs, one per account.
pub fn pans() -> Arc<Vec<Pan>> {
    Arc::new((0..ACCOUNTS).map(|i| Pan::new(&pan(i)).unwrap()).collect())
}

pub fn seed() -> SeedData {
    let accounts: Vec<String> = (0..ACCOUNTS)
        .map(|i| {
            format!(r#"{{"id":"B-{i}","home_currency":"KRW","balances":{{"KRW":"100000000000"}}}}"#)
        })
        .collect();
    let cards: Vec<String> = (0..ACCOUNTS)
        .map(|i| {
            format!(
                r#"{{"pan":"{}","expiry":"3012","account":"B-{i}","status":"active"}}"#,
                pan(i)
            )
        })
        .collect();
    let json = format!(
        r#"{{"accounts":[{}],"cards":[{}]}}"#,
        accounts.join(","),
        cards.join(",")
    );
    SeedData::from_json(&json, &hasher(), &|c: &str| (c == "KRW").then_some(0)).unwrap()
}

pub fn hasher() -> PanHasher {
    PanHasher::new(&[0x42; 32]).unwrap()
}

/// Authorizations built so far (each has its own key).
pub static NEXT: AtomicU64 = AtomicU64::new(0);

fn request(pans: &[Pan]) -> AuthRequest {
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    // A fresh key per request: the STAN cycles, DE 7 moves on every million.
    let de7 = format!("1125{:06}", n / 1_000_000);
    AuthRequest {
        key: NetworkKey::new("12345", &format!("{:06}", n % 1_000_000), &de7).unwrap(),
        terms: Terms::default(),
        pan: pans[(n as usize) % pans.len()].clone(),
        expiry: None,
        kind: TransactionKind::Purchase,
        amount_minor: 1,
        currency: money::currency!("KRW"),
        allow_partial: false,
        original: None,
        merchant: Default::default(),
        security: Default::default(),
        hook: None,
        business_date: date(2026, 11, 25),
        now: jiff::Timestamp::now(),
    }
}

/// `n` authorizations at once (1 KRW each, spread over the cards); all must be approved.
pub async fn wave(store: &Store, pans: &Arc<Vec<Pan>>, n: usize) {
    let mut tasks = Vec::with_capacity(n);
    for _ in 0..n {
        let (s, r) = (store.clone(), request(pans));
        tasks.push(tokio::spawn(async move { s.authorize(r).await }));
    }
    for t in tasks {
        let d = t.await.unwrap().unwrap();
        assert_eq!(d.response_code, ResponseCode::APPROVED);
    }
}

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// A temporary directory on the disk under test (`LEDGER_BENCH_DIR`, default the temp dir).
pub fn bench_dir() -> tempfile::TempDir {
    tempfile::tempdir_in(
        std::env::var_os("LEDGER_BENCH_DIR").map_or_else(std::env::temp_dir, Into::into),
    )
    .unwrap()
}

/// A seeded embedded ledger in `dir`.
#[allow(dead_code)] // not every bench uses every helper
pub fn embedded(rt: &tokio::runtime::Runtime, dir: &std::path::Path) -> Store {
    embedded_with(rt, dir, EmbeddedOptions::default())
}

/// [`embedded`] with options of its own.
pub fn embedded_with(
    rt: &tokio::runtime::Runtime,
    dir: &std::path::Path,
    opts: EmbeddedOptions,
) -> Store {
    let store: Store =
        EmbeddedStore::open(dir.join("ledger.sqlite"), hasher(), Arc::new(NoRates), opts)
            .unwrap()
            .into();
    rt.block_on(store.seed(seed())).unwrap();
    store
}
