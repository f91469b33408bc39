//! Shared fixtures and the behavioural suite run against both stores.
#![allow(dead_code)]

pub mod suite;

use std::sync::Arc;

use jiff::civil::{date, Date};
use jiff::Timestamp;
use ledger::{
    AuthRequest, Currency, EmbeddedOptions, EmbeddedStore, NetworkKey, Pan, PanHasher, PgOptions,
    PgStore, Quote, QuoteError, Quoter, SeedData, Store, Terms, TransactionKind,
};
use rust_decimal_macros::dec;

/// A currency code (tests write them as text).
pub fn ccy(code: &str) -> Currency {
    code.parse().expect("a currency code")
}

pub const BUSINESS_DATE: Date = date(2026, 11, 25);
pub const KEY: [u8; 32] = [0x5a; 32];

/// A fixed rate table: 1 USD = 1385.20 KRW; JPY rates are "stale".
pub struct FixedQuoter;

impl Quoter for FixedQuoter {
    fn quote(&self, amount_minor: u64, from: Currency, to: Currency) -> Result<Quote, QuoteError> {
        match (from.as_str(), to.as_str()) {
            // USD has 2 decimals, KRW none: amount/100 * 1385.20, half-even (all test
            // amounts are exact).
            ("USD", "KRW") => Ok(Quote {
                amount_minor: amount_minor * 138_520 / 10_000,
                currency: ccy("KRW"),
                rate: dec!(1385.20),
                de10: "21385200".into(),
                version: "test-1".into(),
            }),
            ("JPY", _) => Err(QuoteError::Stale),
            // A quoter bug, to show that a panic does not take the store down.
            ("XPT", _) => panic!("test quoter panics on XPT"),
            _ => Err(QuoteError::Missing {
                from: from.to_string(),
                to: to.to_string(),
            }),
        }
    }
}

pub fn exponent(c: &str) -> Option<u32> {
    match c {
        "KRW" | "JPY" => Some(0),
        "USD" | "EUR" => Some(2),
        _ => None,
    }
}

pub const PAN_A1: &str = "4761739001010010";
pub const PAN_LOST: &str = "4761739001010028";
pub const PAN_STOLEN: &str = "4761739001010036";
pub const PAN_BLOCKED: &str = "4761739001010044";
pub const PAN_EXPIRED: &str = "4761739001010051";
pub const PAN_A2: &str = "4761739001010069";
pub const PAN_A3: &str = "4761739001010077";
pub const PAN_UNKNOWN: &str = "4761739009999999";

pub const SEED: &str = r#"{
  "accounts": [
    {"id": "A-1", "home_currency": "KRW", "balances": {"KRW": "1500000", "USD": "250.00", "EUR": "10.00"}},
    {"id": "A-2", "home_currency": "KRW", "balances": {"KRW": "100000"}},
    {"id": "A-3", "home_currency": "KRW", "balances": {"KRW": "1000000"}}
  ],
  "cards": [
    {"pan": "4761739001010010", "expiry": "2812", "account": "A-1", "status": "active"},
    {"pan": "4761739001010028", "expiry": "2812", "account": "A-1", "status": "lost"},
    {"pan": "4761739001010036", "expiry": "2812", "account": "A-1", "status": "stolen"},
    {"pan": "4761739001010044", "expiry": "2812", "account": "A-1", "status": "blocked"},
    {"pan": "4761739001010051", "expiry": "2510", "account": "A-1", "status": "active"},
    {"pan": "4761739001010069", "expiry": "2812", "account": "A-2", "status": "active"},
    {"pan": "4761739001010077", "expiry": "2812", "account": "A-3", "status": "active"}
  ]
}"#;

pub fn hasher() -> PanHasher {
    PanHasher::new(&KEY).unwrap()
}

pub fn seed_data() -> SeedData {
    SeedData::from_json(SEED, &hasher(), &exponent).unwrap()
}

pub fn now() -> Timestamp {
    "2026-11-25T06:30:00Z".parse().unwrap()
}

/// A key unique within a test: STAN from `n`.
pub fn key(n: u32) -> NetworkKey {
    NetworkKey::new("00012345", &format!("{:06}", n % 1_000_000), "1125063000").unwrap()
}

pub fn auth(n: u32, pan: &str, amount_minor: i64, currency: &str) -> AuthRequest {
    AuthRequest {
        key: key(n),
        terms: Terms::default(),
        pan: Pan::new(pan).unwrap(),
        expiry: None,
        kind: TransactionKind::Purchase,
        amount_minor,
        currency: ccy(currency),
        allow_partial: false,
        original: None,
        merchant: Default::default(),
        security: Default::default(),
        hook: None,
        business_date: BUSINESS_DATE,
        now: now(),
    }
}

/// A store under test, a second handle on the same data (as a second gateway instance
/// would have), and what must live as long as they do.
pub struct Fixture {
    pub store: Store,
    pub second: Store,
    cleanup: Option<PgStore>,
    _dir: Option<tempfile::TempDir>,
}

impl Fixture {
    /// The PostgreSQL store under test, if this fixture has one.
    pub fn pg(&self) -> Option<&PgStore> {
        self.cleanup.as_ref()
    }

    pub async fn finish(self) {
        let v = self.store.invariant_violations().await.unwrap();
        assert!(v.is_empty(), "invariants broken: {v:#?}");
        check_outbox(&self.store).await;
        if let Some(pg) = self.cleanup {
            pg.drop_schema().await.unwrap();
        }
    }
}

pub async fn embedded() -> Option<Fixture> {
    embedded_with(EmbeddedOptions::default()).await
}

pub async fn embedded_with(opts: EmbeddedOptions) -> Option<Fixture> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.sqlite");
    let q: Arc<dyn Quoter> = Arc::new(FixedQuoter);
    let store: Store = EmbeddedStore::open(&path, hasher(), q.clone(), opts.clone())
        .unwrap()
        .into();
    store.seed(seed_data()).await.unwrap();
    let second: Store = EmbeddedStore::open(&path, hasher(), q, opts)
        .unwrap()
        .into();
    Some(Fixture {
        store,
        second,
        cleanup: None,
        _dir: Some(dir),
    })
}

/// The in-memory store (the same rules, no database): the suite in milliseconds.
pub async fn memory() -> Option<Fixture> {
    let store: Store = ledger::MemoryStore::new(
        hasher(),
        Arc::new(FixedQuoter),
        ledger::MemoryOptions::default(),
    )
    .into();
    store.seed(seed_data()).await.unwrap();
    Some(Fixture {
        second: store.clone(),
        store,
        cleanup: None,
        _dir: None,
    })
}

pub fn database_url() -> String {
    std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// A fresh schema per test; `None` (with a skip line) when PostgreSQL is unreachable and
/// `CI` is unset.
pub async fn postgres() -> Option<Fixture> {
    postgres_with(|_| {}).await
}

pub async fn postgres_with(tune: impl Fn(&mut PgOptions)) -> Option<Fixture> {
    let url = database_url();
    if let Err(e) = ledger::pg_connect(&url).await {
        if std::env::var_os("CI").is_some() {
            panic!("PostgreSQL unreachable at TEST_DATABASE_URL with CI set: {e}");
        }
        eprintln!("SKIP: PostgreSQL unreachable ({e}); set TEST_DATABASE_URL");
        return None;
    }
    let schema = format!("ledger_test_{:016x}", rand::random::<u64>());
    let mut opts = PgOptions::new(url, schema);
    tune(&mut opts);
    let q: Arc<dyn Quoter> = Arc::new(FixedQuoter);
    let pg = PgStore::connect(opts.clone(), hasher(), q.clone())
        .await
        .unwrap();
    let store: Store = pg.clone().into();
    store.seed(seed_data()).await.unwrap();
    let second: Store = PgStore::connect(opts, hasher(), q).await.unwrap().into();
    Some(Fixture {
        store,
        second,
        cleanup: Some(pg),
        _dir: None,
    })
}

pub async fn wallet(s: &Store, account: &str, currency: &str) -> ledger::Wallet {
    s.export_balances()
        .await
        .unwrap()
        .into_iter()
        .find(|w| w.account_id == account && w.currency == currency)
        .unwrap_or_else(|| panic!("no wallet {account}/{currency}"))
}

/// Every outbox event, in commit order.
pub async fn all_events(s: &Store) -> Vec<ledger::OutboxEvent> {
    let mut out: Vec<ledger::OutboxEvent> = Vec::new();
    loop {
        let after = out.last().map_or(0, |e| e.pos);
        let page = s.events_after(after, false, 1000).await.unwrap();
        if page.is_empty() {
            return out;
        }
        out.extend(page);
    }
}

/// What every test's outbox must be, whatever it did: CloudEvents 1.0 JSON whose id, type,
/// subject and `data.seq` agree with the row; ids unique; each account's `seq` 1, 2, ...
/// in commit order, without a gap; no PAN of the seed anywhere.
pub async fn check_outbox(s: &Store) {
    let events = all_events(s).await;
    let mut ids = std::collections::HashSet::new();
    let mut last: std::collections::HashMap<String, i64> = Default::default();
    for e in &events {
        assert!(ids.insert(e.id.clone()), "event id {} twice", e.id);
        // Pruning removes each account's oldest events: its first one left may be past 1.
        let next = last.entry(e.account.clone()).or_insert(e.seq - 1);
        *next += 1;
        assert_eq!(e.seq, *next, "account {:?}: seq gap at {}", e.account, e.id);
        let v: serde_json::Value = serde_json::from_str(&e.body).unwrap();
        assert_eq!(v["specversion"], "1.0");
        assert_eq!(v["id"], e.id.as_str());
        assert_eq!(v["type"], e.kind.as_str());
        assert_eq!(v["data"]["seq"], e.seq);
        if e.account.is_empty() {
            assert!(v.get("subject").is_none());
        } else {
            assert_eq!(v["subject"], e.account.as_str());
            assert_eq!(v["data"]["account"], e.account.as_str());
        }
        // Every event about a card names it as a person may read it (DESIGN.md, "Events"):
        // a hold's change names its card whichever operation made it (an expiry sweep or a
        // void knows no PAN).
        let data = &v["data"];
        if data.get("card_id").is_some() || e.kind.starts_with("hold.") {
            assert!(
                data["card_id"].as_str().is_some() && data["pan_masked"].as_str().is_some(),
                "event {} names no card or no masked PAN: {data}",
                e.id
            );
        }
        for pan in [
            PAN_A1,
            PAN_A2,
            PAN_A3,
            PAN_LOST,
            PAN_STOLEN,
            PAN_BLOCKED,
            PAN_EXPIRED,
            PAN_UNKNOWN,
        ] {
            assert!(!e.body.contains(pan), "a PAN in event {}", e.id);
        }
    }
}
