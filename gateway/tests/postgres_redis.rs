//! The switch with the PostgreSQL ledger and Redis rates, over real TCP: two instances share
//! the ledger (active-active), rates come from a set published to Redis.
//!
//! Needs `TEST_DATABASE_URL` and `TEST_REDIS_URL` (defaults: the local standard ports). When a
//! server cannot be reached the test fails if `CI` is set, else it prints a skip line.

mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::*;
use gateway::app;
use ledger::Store;

const API_TOKEN: &str = "postgres-api-test-token-0123456789";

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

fn skip_or_fail(what: &str) {
    if std::env::var_os("CI").is_some() {
        panic!("{what} unreachable and CI is set");
    }
    eprintln!("SKIP postgres_redis: {what} unreachable (set TEST_DATABASE_URL / TEST_REDIS_URL)");
}

#[tokio::test]
async fn flows_over_postgres_and_redis_with_two_instances() {
    let redis_url = env_or("TEST_REDIS_URL", "redis://127.0.0.1:6379/");
    let pg_url = env_or(
        "TEST_DATABASE_URL",
        "postgres://postgres@127.0.0.1:5432/test",
    );
    let unique = format!(
        "{}_{}",
        std::process::id(),
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos()
            % 1_000_000_000
    );
    let namespace = format!("gwtest{unique}");
    let schema = format!("gw_test_{unique}");

    // Publish the test rates under a namespace of our own.
    let csv = std::fs::read_to_string(data("rates.csv")).unwrap();
    let set = fx_rates::RateSet::from_csv(&csv, "test").unwrap();
    let mut publisher = match tokio::time::timeout(
        Duration::from_secs(5),
        fx_rates::Publisher::connect(&redis_url, &namespace, Duration::from_secs(600)),
    )
    .await
    {
        Ok(Ok(p)) => p,
        _ => return skip_or_fail("Redis"),
    };
    publisher.publish(&set).await.expect("publish");
    if tokio_postgres_reachable(&pg_url).await.is_err() {
        return skip_or_fail("PostgreSQL");
    }

    let text = format!(
        r#"
[admin]
address = "127.0.0.1:0"
api_token = "{token}"
[log]
level = "warn"
[ledger]
postgres = "{pg_url}"
schema = "{schema}"
seed = "{cards}"
pan_key = "gateway-integration-test-pan-key-0123456789"
[rates]
redis = "{redis_url}"
namespace = "{namespace}"
[[listener]]
name = "test"
address = "127.0.0.1:0"
"#,
        cards = data("cards.json").display(),
        token = API_TOKEN,
    );
    let a = app::start(parse_config(&text)).await.expect("instance A");
    let b = app::start(parse_config(&text))
        .await
        .expect("instance B (seed skipped: not empty)");
    let mut ca = Client::connect(a.addr()).await;
    let mut cb = Client::connect(b.addr()).await;

    // Approval on A; its repeat on B gets the stored answer.
    let s = stan();
    let first = ca.call(&purchase(PAN_OK, 1_000, "840", &s)).await;
    assert_eq!(de39(&first), "00");
    let mut repeat = purchase(PAN_OK, 1_000, "840", &s);
    repeat.set_mti("0101".parse().unwrap());
    let again = cb.call(&repeat).await;
    assert_eq!((de39(&again), again.get(38)), ("00", first.get(38)));

    // FX through the Redis rate set, checked against fx-rates' own conversion.
    let r = cb.call(&purchase(PAN_OK, 30_000, "840", &stan())).await;
    assert_eq!(de39(&r), "00");
    let conv = fx_rates::convert(
        &set,
        30_000,
        fx_rates::currency("USD").unwrap(),
        fx_rates::currency("KRW").unwrap(),
        &Default::default(),
    )
    .unwrap();
    assert_eq!(r.get_str(6).unwrap(), format!("{:012}", conv.amount_minor));
    assert_eq!(r.get_str(10).unwrap(), conv.de10.as_str());
    assert_eq!(r.get_str(51), Some("410"));

    // Declines, reversal, balance.
    assert_eq!(
        de39(&ca.call(&purchase(PAN_STOLEN, 100, "840", &stan())).await),
        "43"
    );
    assert_eq!(
        de39(
            &ca.call(&purchase(PAN_KRW_ONLY, 2_000_000, "410", &stan()))
                .await
        ),
        "51"
    );
    let rev = request("0400", PAN_OK, "000000", 1_000, "840", &stan()).with(90, de90("0100", &s));
    assert_eq!(de39(&cb.call(&rev).await), "00");
    let bal = ca
        .call(&request("0100", PAN_OK, "310000", 0, "410", &stan()))
        .await;
    assert_eq!(
        available(&bal, "840"),
        Some(25_000),
        "the reversed hold is released"
    );
    assert_eq!(
        available(&bal, "410"),
        Some(1_500_000 - conv.amount_minor as i64)
    );
    let (status, body) = http_get(a.admin, "/readyz").await;
    assert_eq!(status, 200, "{body}");

    // A cutover received by A reaches B through the shared ledger, and its retransmission
    // to B gets the same date without moving it again.
    let de15 = |r: &iso8583::OwnedMessage| r.get_str(15).unwrap().to_owned();
    let cut_req = network("201", &stan());
    let cut = ca.call(&cut_req).await;
    assert_eq!(de39(&cut), "00");
    let until = std::time::Instant::now() + Duration::from_secs(5);
    while de15(&cb.call(&network("301", &stan())).await) != de15(&cut) {
        assert!(
            std::time::Instant::now() < until,
            "instance B never took A's cutover"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut again = cut_req.clone();
    again.set_mti("0801".parse().unwrap());
    assert_eq!(de15(&cb.call(&again).await), de15(&cut));
    assert_eq!(de15(&ca.call(&network("301", &stan())).await), de15(&cut));

    // The operations API on A changes the card; B's very next authorization sees it.
    let api = |addr: std::net::SocketAddr, method: reqwest::Method, path: &str| {
        http_client()
            .request(method, format!("http://{addr}{path}"))
            .bearer_auth(API_TOKEN)
            .header("X-Operator", "ops:test")
    };
    let card: serde_json::Value = api(a.admin, reqwest::Method::POST, "/v1/cards/lookup")
        .json(&serde_json::json!({ "pan": PAN_KRW_ONLY }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = card["id"].as_str().expect("a card id").to_owned();
    assert_eq!(card["pan_masked"], "541333******0027");
    let krw = |n| request("0100", PAN_KRW_ONLY, "000000", n, "410", &stan());
    assert_eq!(de39(&cb.call(&krw(1_000)).await), "00");
    let patched = api(a.admin, reqwest::Method::PATCH, &format!("/v1/cards/{id}"))
        .json(&serde_json::json!({ "status": "blocked" }))
        .send()
        .await
        .unwrap();
    assert_eq!(patched.status(), 200);
    assert_eq!(
        de39(&cb.call(&krw(1_000)).await),
        "62",
        "blocked on A, declined by B"
    );
    api(a.admin, reqwest::Method::PATCH, &format!("/v1/cards/{id}"))
        .json(&serde_json::json!({ "status": "active" }))
        .send()
        .await
        .unwrap();
    let put = api(
        a.admin,
        reqwest::Method::PUT,
        &format!("/v1/cards/{id}/controls"),
    )
    .json(&serde_json::json!({ "per_transaction_max_minor": 5_000 }))
    .send()
    .await
    .unwrap();
    assert_eq!(put.status(), 200);
    assert_eq!(
        de39(&cb.call(&krw(5_001)).await),
        "61",
        "A's limit, B's decline"
    );
    assert_eq!(de39(&cb.call(&krw(5_000)).await), "00");
    // B lists what A's changes did, and who made them.
    let listed = api(
        b.admin,
        reqwest::Method::GET,
        &format!("/v1/cards/{id}/changes"),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(listed.status(), 200);
    let body = listed.text().await.unwrap();
    let changes: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(changes["items"].as_array().unwrap().len(), 3, "{body}");
    assert!(changes["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|c| c["actor"] == "ops:test"));

    let store = a.core().store().clone();
    a.drain().await;
    b.drain().await;
    if let Store::Postgres(pg) = store {
        pg.drop_schema().await.expect("drop the test schema");
    }
}

async fn tokio_postgres_reachable(url: &str) -> Result<(), ()> {
    // The ledger's connect, so that a TEST_DATABASE_URL with sslmode works here too.
    let connect = ledger::pg_connect(url);
    match tokio::time::timeout(Duration::from_secs(5), connect).await {
        Ok(Ok(client)) => client
            .simple_query("select 1")
            .await
            .map(|_| ())
            .map_err(|_| ()),
        _ => Err(()),
    }
}
