//! TLS and secrets on the switch's own connections (issue 25, item 9), against real servers:
//! a private PostgreSQL (TLS on; password logins over TLS only, plain TCP rejected) and a
//! private `redis-server` (TLS port only, a password), both serving a certificate from a CA
//! this test makes. One test, so the servers start once; its steps say what they check.
//!
//! When a server cannot be started (not installed) the test fails if `CI` is set, else it
//! prints a skip line.

mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use common::certs::Ca;
use common::services::{skip_or_fail, PrivatePostgres, PrivateRedis};
use common::*;
use gateway::app;
use ledger::{PgOptions, PgStore, Store};

const PG_PASSWORD: &str = "pg-test-password: not a secret";
const REDIS_PASSWORD: &str = "redis-test-password";
const PAN_KEY: &str = "service-tls-test-pan-key-0123456789abcdef";

fn unique(prefix: &str) -> String {
    format!("{prefix}_{:012x}", rand::random::<u64>() >> 16)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_and_redis_over_tls_with_secrets_kept_apart() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ca = Ca::new("service-tls test CA");
    let ca_pem = ca.write(d, "ca.pem");
    let other_pem = Ca::new("some other CA").write(d, "other-ca.pem");
    // The servers' certificate names 127.0.0.1 and localhost, nothing else.
    let server = ca.leaf(d, "server", &["127.0.0.1", "localhost"], true);

    // Redis first: it starts in a moment, PostgreSQL's initdb takes a second or two.
    let redis = match PrivateRedis::start(&server, &ca_pem, REDIS_PASSWORD) {
        Ok(r) => r,
        Err(e) => return skip_or_fail("service_tls", &format!("redis-server: {e}")),
    };
    let pg = match PrivatePostgres::start(&server, PG_PASSWORD) {
        Ok(pg) => pg,
        Err(e) => return skip_or_fail("service_tls", &format!("PostgreSQL: {e}")),
    };

    postgres_modes(&pg, &ca_pem, &other_pem).await;
    let set = redis_publisher(&redis, &ca_pem, &other_pem).await;
    rate_cache(&redis, &ca_pem, &other_pem, &set).await;
    switch_over_both(&pg, &redis, &ca_pem, &set, d).await;
}

/// `postgres://user@HOST:PORT/postgres?PARAMS` with the password added as the gateway adds
/// `ledger.postgres_password`.
fn pg_url(pg: &PrivatePostgres, host: &str, params: &str) -> String {
    let url = format!(
        "postgres://{}@{host}:{}/postgres?connect_timeout=5&{params}",
        pg.user, pg.port
    );
    ledger::pg_url_with_password(&url, PG_PASSWORD).unwrap()
}

/// Whether the session is encrypted, as the server sees it.
async fn server_says_ssl(client: &tokio_postgres::Client) -> bool {
    client
        .query_one(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .await
        .unwrap()
        .get(0)
}

async fn postgres_modes(pg: &PrivatePostgres, ca: &Path, other: &Path) {
    let ca = ca.display();
    let other = other.display();

    // verify-full with the right CA: a ledger works over it (seed, authorize, read back).
    let full = pg_url(
        pg,
        "127.0.0.1",
        &format!("sslmode=verify-full&sslrootcert={ca}"),
    );
    let client = ledger::pg_connect(&full).await.expect("verify-full");
    assert!(server_says_ssl(&client).await);
    let schema = unique("tls_ledger");
    let store: Store = PgStore::connect(
        PgOptions::new(full.clone(), schema.clone()),
        ledger::PanHasher::new(PAN_KEY.as_bytes()).unwrap(),
        Arc::new(ledger::NoRates),
    )
    .await
    .expect("a ledger over verify-full")
    .into();
    let cards = std::fs::read_to_string(data("cards.json")).unwrap();
    let exponent = |c: &str| fx_rates::currency(c).ok().map(|c| u32::from(c.exponent));
    let seed = ledger::SeedData::from_json(
        &cards,
        &ledger::PanHasher::new(PAN_KEY.as_bytes()).unwrap(),
        &exponent,
    )
    .unwrap();
    store.seed(seed).await.unwrap();
    let key = ledger::NetworkKey::new(ACQUIRER, "000001", DE7).unwrap();
    let decided = store
        .authorize(ledger::AuthRequest {
            key: key.clone(),
            terms: ledger::Terms::default(),
            pan: ledger::Pan::new(PAN_OK).unwrap(),
            expiry: None,
            kind: ledger::TransactionKind::Purchase,
            amount_minor: 1_000,
            currency: "USD".parse().unwrap(),
            allow_partial: false,
            original: None,
            merchant: Default::default(),
            security: Default::default(),
            hook: None,
            business_date: jiff::civil::date(2026, 11, 25),
            now: jiff::Timestamp::now(),
        })
        .await
        .expect("authorize over TLS");
    assert_eq!(decided.response_code.as_str(), "00");
    let back = store.decision(&key).await.unwrap().expect("read back");
    assert_eq!(back.approval_code, decided.approval_code);
    assert_eq!(back.amount_minor, 1_000);
    if let Store::Postgres(p) = &store {
        p.drop_schema().await.unwrap();
    }

    // verify-full against another CA: refused, and the error says why.
    let wrong = pg_url(
        pg,
        "127.0.0.1",
        &format!("sslmode=verify-full&sslrootcert={other}"),
    );
    let e = ledger::pg_connect(&wrong)
        .await
        .expect_err("wrong CA refused");
    let msg = e.to_string();
    assert!(
        msg.contains("TLS") && msg.contains("UnknownIssuer"),
        "unclear error: {msg}"
    );
    assert!(!msg.contains(PG_PASSWORD), "{msg}");

    // require: encrypted without checking the certificate, so another CA does not matter.
    let require = pg_url(pg, "127.0.0.1", "sslmode=require");
    let c = ledger::pg_connect(&require).await.expect("require");
    assert!(server_says_ssl(&c).await);
    // ... but require with a root certificate is verify-ca (as libpq): the wrong one fails.
    let require_ca = pg_url(
        pg,
        "127.0.0.1",
        &format!("sslmode=require&sslrootcert={other}"),
    );
    assert!(ledger::pg_connect(&require_ca).await.is_err());

    // A host name the certificate does not carry (reached through hostaddr): verify-ca
    // accepts the chain, verify-full refuses the name.
    let named = |mode: &str| {
        pg_url(
            pg,
            "db.invalid",
            &format!("hostaddr=127.0.0.1&sslmode={mode}&sslrootcert={ca}"),
        )
    };
    let c = ledger::pg_connect(&named("verify-ca"))
        .await
        .expect("verify-ca ignores the name");
    assert!(server_says_ssl(&c).await);
    let e = ledger::pg_connect(&named("verify-full"))
        .await
        .expect_err("verify-full checks the name")
        .to_string();
    assert!(
        e.contains("not valid for name \"db.invalid\""),
        "unclear error: {e}"
    );

    // sslmode=disable reaches the server in clear, which this one rejects: the sessions
    // above were encrypted because TLS was asked for, not by chance.
    let e = ledger::pg_connect(&pg_url(pg, "127.0.0.1", "sslmode=disable"))
        .await
        .expect_err("plain TCP is rejected by pg_hba.conf")
        .to_string();
    assert!(e.contains("no encryption") || e.contains("rejects"), "{e}");
}

/// Publishes the test rates over `rediss://` and reads them back; a wrong CA, the system's
/// roots (which do not hold the test CA) and a missing password all fail.
async fn redis_publisher(redis: &PrivateRedis, ca: &Path, other: &Path) -> fx_rates::RateSet {
    let url = format!("rediss://127.0.0.1:{}/", redis.port);
    let target = |ca: Option<&Path>, password: Option<&str>| fx_rates::RedisTarget {
        url: url.clone(),
        ca_file: ca.map(Path::to_owned),
        password: password.map(str::to_owned),
    };
    let ns = unique("tls");
    let csv = std::fs::read_to_string(data("rates.csv")).unwrap();
    let set = fx_rates::RateSet::from_csv(&csv, "test").unwrap();
    let mut publisher = fx_rates::Publisher::connect(
        target(Some(ca), Some(REDIS_PASSWORD)),
        &ns,
        Duration::from_secs(600),
    )
    .await
    .expect("publisher over rediss://");
    let published = publisher.publish(&set).await.unwrap();
    let back = fx_rates::read_current(target(Some(ca), Some(REDIS_PASSWORD)), &ns)
        .await
        .unwrap()
        .expect("the set just published");
    assert_eq!(back.version(), published.version);
    assert_eq!(back.pairs(), set.pairs());

    for (what, t) in [
        ("another CA", target(Some(other), Some(REDIS_PASSWORD))),
        ("the system roots", target(None, Some(REDIS_PASSWORD))),
    ] {
        let e = fx_rates::Publisher::connect(t, &ns, Duration::from_secs(600))
            .await
            .err()
            .unwrap_or_else(|| panic!("{what}: connected"));
        let msg = e.to_string();
        assert!(
            msg.contains("UnknownIssuer") || msg.contains("certificate"),
            "{what}: unclear error: {msg}"
        );
    }
    let e = fx_rates::read_current(target(Some(ca), None), &ns)
        .await
        .expect_err("no password, no data");
    assert!(e.to_string().contains("NOAUTH"), "{e}");
    fx_rates::remove_namespace(target(Some(ca), Some(REDIS_PASSWORD)), &ns)
        .await
        .unwrap();
    set
}

/// The gateway's rate cache follows a set over `rediss://` with the test CA; with another
/// CA it loads nothing and its status names the certificate as the reason.
async fn rate_cache(redis: &PrivateRedis, ca: &Path, other: &Path, set: &fx_rates::RateSet) {
    let ns = unique("tlscache");
    let target = |ca: &Path| fx_rates::RedisTarget {
        url: format!("rediss://127.0.0.1:{}/", redis.port),
        ca_file: Some(ca.to_owned()),
        password: Some(REDIS_PASSWORD.into()),
    };
    let mut publisher = fx_rates::Publisher::connect(target(ca), &ns, Duration::from_secs(600))
        .await
        .unwrap();
    let published = publisher.publish(set).await.unwrap();
    let opts = fx_rates::RedisOptions {
        namespace: ns.clone(),
        ..Default::default()
    };
    let good = fx_rates::RateCache::from_redis(target(ca), opts.clone(), Default::default())
        .await
        .unwrap();
    assert!(good.wait_loaded(Duration::from_secs(5)).await);
    assert_eq!(
        good.status().version.as_deref(),
        Some(published.version.as_str())
    );

    let bad = fx_rates::RateCache::from_redis(target(other), opts, Default::default())
        .await
        .unwrap();
    let until = std::time::Instant::now() + Duration::from_secs(5);
    let why = loop {
        let status = bad.status();
        assert!(
            status.version.is_none(),
            "loaded through an untrusted server"
        );
        if let Some(e) = status.last_error {
            break e;
        }
        assert!(
            std::time::Instant::now() < until,
            "no error from the cache with the wrong CA"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(bad.status().state, fx_rates::SourceState::Unreachable);
    assert!(why.contains("UnknownIssuer"), "unclear: {why}");
    fx_rates::remove_namespace(target(ca), &ns).await.unwrap();
}

/// The switch itself on both, every secret from a file: the PAN key, the database password,
/// the Redis password. A foreign-currency purchase is approved through the rate set read over
/// TLS and read back from the ledger.
async fn switch_over_both(
    pg: &PrivatePostgres,
    redis: &PrivateRedis,
    ca: &Path,
    set: &fx_rates::RateSet,
    d: &Path,
) {
    let ns = unique("gwtls");
    let rediss = format!("rediss://127.0.0.1:{}/", redis.port);
    let mut publisher = fx_rates::Publisher::connect(
        fx_rates::RedisTarget {
            url: rediss.clone(),
            ca_file: Some(ca.to_owned()),
            password: Some(REDIS_PASSWORD.into()),
        },
        &ns,
        Duration::from_secs(600),
    )
    .await
    .unwrap();
    publisher.publish(set).await.unwrap();

    for (name, value) in [
        ("pan.key", PAN_KEY),
        ("pg.password", PG_PASSWORD),
        ("redis.password", REDIS_PASSWORD),
    ] {
        // As an operator's tools write them: with a newline.
        std::fs::write(d.join(name), format!("{value}\n")).unwrap();
    }
    let schema = unique("gw_tls");
    let config = {
        format!(
            r#"
[admin]
address = "127.0.0.1:0"
[log]
level = "warn"
[ledger]
postgres = "postgres://{user}@127.0.0.1:{port}/postgres?sslmode=verify-full&sslrootcert={ca}"
postgres_password = {{ file = "{d}/pg.password" }}
schema = "{schema}"
seed = "{cards}"
pan_key = {{ file = "{d}/pan.key" }}
[rates]
redis = "{rediss}"
redis_ca = "{redis_ca}"
redis_password = {{ file = "{d}/redis.password" }}
namespace = "{ns}"
[[listener]]
name = "test"
address = "127.0.0.1:0"
"#,
            user = pg.user,
            port = pg.port,
            ca = ca.display(),
            d = d.display(),
            cards = data("cards.json").display(),
            redis_ca = ca.display(),
        )
    };
    let gw = app::start(parse_config(&config))
        .await
        .expect("the switch over TLS to both");
    let mut client = Client::connect(gw.addr()).await;
    // 300.00 USD on a card whose USD wallet holds 250.00: paid from KRW at the Redis rate.
    let s = stan();
    let r = client.call(&purchase(PAN_OK, 30_000, "840", &s)).await;
    assert_eq!(de39(&r), "00");
    let conv = fx_rates::convert(
        set,
        30_000,
        fx_rates::currency("USD").unwrap(),
        fx_rates::currency("KRW").unwrap(),
        &Default::default(),
    )
    .unwrap();
    assert_eq!(r.get_str(6).unwrap(), format!("{:012}", conv.amount_minor));
    let key = ledger::NetworkKey::new(ACQUIRER, &s, DE7).unwrap();
    let back = gw
        .core()
        .store()
        .decision(&key)
        .await
        .unwrap()
        .expect("the approval is in the ledger");
    assert_eq!(back.approval_code.as_deref(), r.get_str(38));
    assert!(
        back.billing.is_some(),
        "converted through the Redis rate set"
    );
    let (status, body) = http_get(gw.admin, "/readyz").await;
    assert_eq!(status, 200, "{body}");
    let store = gw.core().store().clone();
    gw.drain().await;
    if let Store::Postgres(p) = store {
        p.drop_schema().await.unwrap();
    }
    fx_rates::remove_namespace(
        fx_rates::RedisTarget {
            url: rediss,
            ca_file: Some(ca.to_owned()),
            password: Some(REDIS_PASSWORD.into()),
        },
        &ns,
    )
    .await
    .unwrap();
}
