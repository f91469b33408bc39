//! The admin listener and the operations API against the real binary (`gateway serve`):
//! health, metrics and the OpenAPI document open; `/v1/` behind the bearer token; every
//! client mistake a JSON 4xx that quotes nothing it was sent.

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::*;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, WWW_AUTHENTICATE};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const TOKEN: &str = "api-test-token-0123456789abcdef";

struct Gateway {
    child: Child,
    listen: SocketAddr,
    admin: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The binary on free ports, its token in a file (`api_token_file`).
async fn start() -> Gateway {
    let dir = tempfile::tempdir().unwrap();
    let token_path = dir.path().join("token");
    std::fs::write(&token_path, format!("{TOKEN}\n")).unwrap();
    let text = embedded_config_text(dir.path()).replace(
        "[admin]\n",
        &format!("[admin]\napi_token_file = \"{}\"\n", token_path.display()),
    );
    let cfg = dir.path().join("gateway.toml");
    std::fs::write(&cfg, text).unwrap();
    let (listen, admin) = (free_addr(), free_addr());
    let child = serve(&cfg, listen, admin, Stdio::null());
    let gw = Gateway {
        child,
        listen,
        admin,
        _dir: dir,
    };
    wait_ready(gw.admin).await;
    gw
}

/// A request to the admin listener: (status, headers, body).
async fn call(
    admin: SocketAddr,
    method: Method,
    path: &str,
    auth: Option<&str>,
    body: Option<(&str, Vec<u8>)>,
) -> (StatusCode, reqwest::header::HeaderMap, String) {
    let mut req = http_client().request(method, format!("http://{admin}{path}"));
    if let Some(a) = auth {
        req = req.header(AUTHORIZATION, a);
    }
    if let Some((content_type, b)) = body {
        req = req.header(CONTENT_TYPE, content_type).body(b);
    }
    let resp = req.send().await.unwrap_or_else(|e| panic!("{path}: {e}"));
    let (status, headers) = (resp.status(), resp.headers().clone());
    (status, headers, resp.text().await.unwrap())
}

async fn get_v1(admin: SocketAddr, path: &str) -> (StatusCode, Value) {
    let (s, _, b) = call(
        admin,
        Method::GET,
        path,
        Some(&format!("Bearer {TOKEN}")),
        None,
    )
    .await;
    (
        s,
        serde_json::from_str(&b).unwrap_or_else(|e| panic!("{path}: {e}: {b}")),
    )
}

/// An error answer: JSON `{"error": {"code", "message"}}` with this status and code.
fn assert_error(status: StatusCode, body: &str, want_status: u16, want_code: &str) {
    assert_eq!(status.as_u16(), want_status, "{body}");
    let v: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"));
    assert_eq!(v["error"]["code"], want_code, "{body}");
    assert!(
        v["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    assert_eq!(v.as_object().unwrap().len(), 1, "{body}");
}

#[tokio::test]
async fn accounts_show_wallets_home_first_with_holds() {
    let gw = start().await;
    let mut c = Client::connect(gw.listen).await;
    // 1.00 USD held on A-1001's USD wallet (USD 250.00 seeded).
    let r = c.call(&purchase(PAN_OK, 100, "840", &stan())).await;
    assert_eq!(de39(&r), "00");
    let (s, v) = get_v1(gw.admin, "/v1/accounts/A-1001").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["id"], "A-1001");
    assert_eq!(v["home_currency"], "KRW");
    let wallets = v["wallets"].as_array().unwrap();
    assert_eq!(wallets.len(), 2, "{v}");
    assert_eq!(wallets[0]["currency"], "KRW");
    assert_eq!(wallets[0]["balance_minor"], 1_500_000);
    assert_eq!(wallets[0]["held_minor"], 0);
    assert_eq!(wallets[0]["available_minor"], 1_500_000);
    assert_eq!(wallets[1]["currency"], "USD");
    assert_eq!(wallets[1]["balance_minor"], 25_000);
    assert_eq!(wallets[1]["held_minor"], 100);
    assert_eq!(wallets[1]["available_minor"], 24_900);

    let (s, v) = get_v1(gw.admin, "/v1/accounts/A-2001").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["home_currency"], "USD");
    assert_eq!(v["wallets"][0]["currency"], "USD");
}

#[tokio::test]
async fn unknown_and_malformed_ids_are_json_4xx_that_quote_nothing() {
    let gw = start().await;
    let auth = format!("Bearer {TOKEN}");
    for (path, status, code) in [
        ("/v1/accounts/A-9999", 404, "not_found"),
        // A card number where an account id goes: unknown, and not repeated back.
        ("/v1/accounts/4000001000000018", 404, "not_found"),
        (
            &*format!("/v1/accounts/{}", "A".repeat(65)),
            404,
            "not_found",
        ),
        ("/v1/accounts/%FF%FE", 400, "bad_request"),
        ("/v1/accounts/", 404, "not_found"),
        ("/v1/accounts", 404, "not_found"),
        ("/v1/cards/1", 404, "not_found"),
        ("/v1/nothing/here", 404, "not_found"),
        ("/nothing", 404, "not_found"),
    ] {
        let (s, _, b) = call(gw.admin, Method::GET, path, Some(&auth), None).await;
        assert_error(s, &b, status, code);
        assert!(!b.contains("4000001000000018"), "{path}: {b}");
        assert!(!b.contains("A-9999"), "{path}: {b}");
    }
}

#[tokio::test]
async fn v1_needs_the_bearer_token_and_the_rest_does_not() {
    let gw = start().await;
    for auth in [
        None,
        Some("Bearer wrong-token-0123456789abcdef"),
        Some(&*format!("Bearer {TOKEN}x")),
        Some(&*format!("Basic {TOKEN}")),
        Some(&*format!("Token {TOKEN}")),
        Some("Bearer"),
        Some(""),
    ] {
        for path in ["/v1/rates", "/v1/accounts/A-1001", "/v1/unknown", "/v1"] {
            let (s, h, b) = call(gw.admin, Method::GET, path, auth, None).await;
            assert_error(s, &b, 401, "unauthorized");
            assert!(
                h.get(WWW_AUTHENTICATE)
                    .is_some_and(|v| v.to_str().unwrap().starts_with("Bearer")),
                "{path} {auth:?}: {h:?}"
            );
            assert!(!b.contains(TOKEN), "{b}");
        }
    }
    // The scheme is case-insensitive.
    let (s, _, b) = call(
        gw.admin,
        Method::GET,
        "/v1/rates",
        Some(&format!("bearer {TOKEN}")),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    // Open endpoints need nothing; a wrong token there is ignored.
    for path in ["/healthz", "/readyz", "/metrics", "/openapi.json"] {
        let (s, _, _) = call(gw.admin, Method::GET, path, None, None).await;
        assert_eq!(s, StatusCode::OK, "{path}");
        let (s, _, _) = call(gw.admin, Method::GET, path, Some("Bearer nope"), None).await;
        assert_eq!(s, StatusCode::OK, "{path}");
    }
}

#[tokio::test]
async fn wrong_methods_bodies_and_heads_get_json_4xx() {
    let gw = start().await;
    let auth = format!("Bearer {TOKEN}");
    let (s, _, b) = call(
        gw.admin,
        Method::DELETE,
        "/v1/accounts/A-1001",
        Some(&auth),
        None,
    )
    .await;
    assert_error(s, &b, 405, "method_not_allowed");
    let (s, _, b) = call(gw.admin, Method::POST, "/metrics", None, None).await;
    assert_error(s, &b, 405, "method_not_allowed");
    // Larger than the body limit: 413 before any handler reads it, whatever the route.
    let big = vec![b'{'; 64 * 1024];
    for path in ["/v1/business-date", "/v1/accounts/A-1001", "/healthz"] {
        let (s, _, b) = call(
            gw.admin,
            Method::POST,
            path,
            Some(&auth),
            Some(("application/json", big.clone())),
        )
        .await;
        assert_error(s, &b, 413, "payload_too_large");
    }
    // A head larger than 8 KiB: 431 from the HTTP server, and the listener goes on.
    let mut s = TcpStream::connect(gw.admin).await.unwrap();
    let head = format!(
        "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(20_000)
    );
    let _ = s.write_all(head.as_bytes()).await;
    let mut out = String::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), s.read_to_string(&mut out)).await;
    assert!(out.starts_with("HTTP/1.1 431"), "{out}");
    // Not HTTP at all: 400, and the listener goes on.
    let mut s = TcpStream::connect(gw.admin).await.unwrap();
    s.write_all(b"\x16\x03\x01\x02\x00garbage\r\n\r\n")
        .await
        .unwrap();
    let mut out = String::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), s.read_to_string(&mut out)).await;
    assert!(out.starts_with("HTTP/1.1 400"), "{out}");
    assert_eq!(http_get(gw.admin, "/healthz").await.0, 200);
}

#[tokio::test]
async fn idle_connections_cannot_hold_the_listener() {
    let gw = start().await;
    // More idle connections than the listener serves at once: half send half a head, half
    // send nothing at all.
    let mut idle = Vec::new();
    for i in 0..24 {
        let mut s = TcpStream::connect(gw.admin).await.unwrap();
        if i % 2 == 1 {
            let _ = s.write_all(b"GET /healthz HTTP/1.1\r\nHo").await;
        }
        idle.push(s);
    }
    // Within the head timeout (5 s) they are closed and a real request is answered.
    let t0 = Instant::now();
    let (status, body) =
        tokio::time::timeout(Duration::from_secs(20), http_get(gw.admin, "/healthz"))
            .await
            .expect("answered while idle connections wait");
    assert_eq!((status, body.as_str()), (200, "ok\n"));
    assert!(t0.elapsed() < Duration::from_secs(15), "{:?}", t0.elapsed());
    // The idle ones were closed, not answered.
    let mut first = idle.remove(0);
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), first.read_to_end(&mut out)).await;
    assert!(!String::from_utf8_lossy(&out).contains("200 OK"));
}

#[tokio::test]
async fn business_date_reports_a_cutover() {
    let gw = start().await;
    let (s, v) = get_v1(gw.admin, "/v1/business-date").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["time_zone"], "Asia/Seoul");
    assert_eq!(v["moved_by_cutover"], false, "{v}");
    assert_eq!(v["business_date"], v["calendar_date"], "{v}");
    let today: jiff::civil::Date = v["business_date"].as_str().unwrap().parse().unwrap();
    assert_eq!(v["de15"], format!("{:02}{:02}", today.month(), today.day()));
    let mut c = Client::connect(gw.listen).await;
    let r = c.call(&network("201", &stan())).await;
    assert_eq!(de39(&r), "00");
    let (_, v) = get_v1(gw.admin, "/v1/business-date").await;
    assert_eq!(v["moved_by_cutover"], true, "{v}");
    assert_eq!(
        v["business_date"],
        today.tomorrow().unwrap().to_string(),
        "{v}"
    );
}

#[tokio::test]
async fn rates_report_the_set_in_use() {
    let gw = start().await;
    let (s, v) = get_v1(gw.admin, "/v1/rates").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert!(v["version"].as_str().unwrap().starts_with("file-"), "{v}");
    assert_eq!(v["state"], "live");
    assert_eq!(v["stale"], false);
    assert_eq!(v["max_age_s"], 93_600);
    assert!(v["age_ms"].as_u64().is_some(), "{v}");
    assert!(v["loads"].as_u64().unwrap() >= 1, "{v}");
}

#[tokio::test]
async fn health_metrics_and_the_document_are_served() {
    let gw = start().await;
    let mut c = Client::connect(gw.listen).await;
    assert_eq!(
        de39(&c.call(&purchase(PAN_OK, 100, "410", &stan())).await),
        "00"
    );
    let (s, _, b) = call(gw.admin, Method::GET, "/healthz", None, None).await;
    assert_eq!((s.as_u16(), b.as_str()), (200, "ok\n"));
    let (s, _, b) = call(gw.admin, Method::GET, "/readyz", None, None).await;
    assert_eq!((s.as_u16(), b.as_str()), (200, "ready\n"));
    let (s, h, m) = call(gw.admin, Method::GET, "/metrics", None, None).await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        h[CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4"),
        "{h:?}"
    );
    assert!(
        m.contains("gateway_requests_total{mti=\"0100\",code=\"00\"} 1\n"),
        "{m}"
    );
    assert!(
        m.contains("# TYPE gateway_ledger_batch_size histogram\n"),
        "{m}"
    );
    assert!(m.contains("gateway_rate_set_info{version=\"file-"), "{m}");
    // HEAD answers like GET, without a body.
    let (s, _, b) = call(gw.admin, Method::HEAD, "/healthz", None, None).await;
    assert_eq!((s.as_u16(), b.as_str()), (200, ""));

    let (s, h, doc) = call(gw.admin, Method::GET, "/openapi.json", None, None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(h[CONTENT_TYPE], "application/json");
    let doc: Value = serde_json::from_str(&doc).unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    for p in [
        "/healthz",
        "/readyz",
        "/metrics",
        "/v1/accounts/{id}",
        "/v1/business-date",
        "/v1/rates",
    ] {
        assert!(doc["paths"][p]["get"].is_object(), "{p} missing");
    }
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    assert_eq!(
        doc["paths"]["/v1/rates"]["get"]["security"][0]["bearer"],
        serde_json::json!([])
    );
    assert!(doc["paths"]["/healthz"]["get"]["security"].is_null());
    for s in [
        "Account",
        "WalletView",
        "BusinessDateView",
        "RateSetStatus",
        "ErrorBody",
    ] {
        assert!(doc["components"]["schemas"][s].is_object(), "{s} missing");
    }
}

#[tokio::test]
async fn without_a_token_the_api_is_off() {
    let dir = tempfile::tempdir().unwrap();
    let gw = gateway::app::start(parse_config(&embedded_config_text(dir.path())))
        .await
        .unwrap();
    let (s, _, b) = call(
        gw.admin,
        Method::GET,
        "/v1/rates",
        Some(&format!("Bearer {TOKEN}")),
        None,
    )
    .await;
    assert_error(s, &b, 403, "api_disabled");
    assert_eq!(http_get(gw.admin, "/healthz").await.0, 200);
    gw.drain().await;
}

fn check_config(text: &str, dir: &Path) -> std::process::Output {
    let cfg = dir.join("c.toml");
    std::fs::write(&cfg, text).unwrap();
    std::process::Command::new(env!("CARGO_BIN_EXE_gateway"))
        .args(["check-config", "--config"])
        .arg(&cfg)
        .output()
        .unwrap()
}

#[test]
fn check_config_hides_the_token_and_refuses_two() {
    let dir = tempfile::tempdir().unwrap();
    let base = embedded_config_text(dir.path());
    let inline = base.replace("[admin]\n", &format!("[admin]\napi_token = \"{TOKEN}\"\n"));
    let out = check_config(&inline, dir.path());
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(shown.contains("api_token = \"<redacted>\""), "{shown}");
    assert!(!shown.contains(TOKEN), "{shown}");

    let token_file = dir.path().join("t");
    std::fs::write(&token_file, TOKEN).unwrap();
    let both = inline.replace(
        "[admin]\n",
        &format!("[admin]\napi_token_file = \"{}\"\n", token_file.display()),
    );
    let out = check_config(&both, dir.path());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("admin.api_token_file"), "{err}");
    assert!(!err.contains(TOKEN), "{err}");

    let short = base.replace("[admin]\n", "[admin]\napi_token = \"short\"\n");
    let out = check_config(&short, dir.path());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("admin.api_token"),
        "{err}"
    );
    assert!(!err.contains("short\""), "{err}");

    let missing = base.replace(
        "[admin]\n",
        &format!(
            "[admin]\napi_token_file = \"{}\"\n",
            dir.path().join("none").display()
        ),
    );
    let out = check_config(&missing, dir.path());
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("admin.api_token_file"));
}

/// A `/v1/` call with the token and a JSON body: (status, body).
async fn send_v1(
    admin: SocketAddr,
    method: Method,
    path: &str,
    body: Value,
) -> (StatusCode, String) {
    let (s, _, b) = call(
        admin,
        method,
        path,
        Some(&format!("Bearer {TOKEN}")),
        Some(("application/json", body.to_string().into_bytes())),
    )
    .await;
    (s, b)
}

/// The card with `pan`, looked up through the API: its JSON.
async fn lookup(admin: SocketAddr, pan: &str) -> Value {
    let (s, b) = send_v1(
        admin,
        Method::POST,
        "/v1/cards/lookup",
        serde_json::json!({ "pan": pan }),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert!(!b.contains(pan), "the PAN came back: {b}");
    serde_json::from_str(&b).unwrap()
}

#[tokio::test]
async fn cards_are_blocked_limited_and_listed_through_the_api() {
    let gw = start().await;
    let mut c = Client::connect(gw.listen).await;
    let card = lookup(gw.admin, PAN_OK).await;
    let id = card["id"].as_str().unwrap().to_owned();
    assert_eq!(card["account"], "A-1001");
    assert_eq!(card["pan_masked"], "476173******0010");
    assert_eq!(card["status"], "active");
    let (s, v) = get_v1(gw.admin, &format!("/v1/cards/{id}")).await;
    assert_eq!((s, &v), (StatusCode::OK, &card));

    // Three purchases, then blocked: the next is declined 62, and listed as such.
    for n in [100, 200, 300] {
        assert_eq!(
            de39(&c.call(&purchase(PAN_OK, n, "840", &stan())).await),
            "00"
        );
    }
    let (s, b) = send_v1(
        gw.admin,
        Method::PATCH,
        &format!("/v1/cards/{id}"),
        serde_json::json!({ "status": "blocked" }),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(
        de39(&c.call(&purchase(PAN_OK, 400, "840", &stan())).await),
        "62"
    );
    send_v1(
        gw.admin,
        Method::PATCH,
        &format!("/v1/cards/{id}"),
        serde_json::json!({ "status": "active" }),
    )
    .await;

    // A limit in the home currency (KRW): USD 10.00 is about 13,852 won.
    let (s, b) = send_v1(
        gw.admin,
        Method::PUT,
        &format!("/v1/cards/{id}/controls"),
        serde_json::json!({ "per_transaction_max_minor": 10_000, "mcc_blocked": ["7995"] }),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (_, ctl) = get_v1(gw.admin, &format!("/v1/cards/{id}/controls")).await;
    assert_eq!(ctl["per_transaction_max_minor"], 10_000);
    assert_eq!(
        de39(&c.call(&purchase(PAN_OK, 1_000, "840", &stan())).await),
        "61"
    );
    assert_eq!(
        de39(&c.call(&purchase(PAN_OK, 500, "840", &stan())).await),
        "00"
    );
    // `{}` removes them.
    let (s, b) = send_v1(
        gw.admin,
        Method::PUT,
        &format!("/v1/cards/{id}/controls"),
        serde_json::json!({}),
    )
    .await;
    assert_eq!((s, b.as_str()), (StatusCode::OK, "{}"));
    assert_eq!(
        de39(&c.call(&purchase(PAN_OK, 1_000, "840", &stan())).await),
        "00"
    );

    // Seven decisions on the card, newest first, three pages of three.
    let mut codes = Vec::new();
    let mut path = format!("/v1/cards/{id}/authorizations?limit=3");
    let mut pages = 0;
    loop {
        let (s, v) = get_v1(gw.admin, &path).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        pages += 1;
        for item in v["items"].as_array().unwrap() {
            codes.push(item["response_code"].as_str().unwrap().to_owned());
            assert_eq!(item["amount"]["currency"], "USD", "{item}");
            // Each approval with its hold (USD paid from the USD wallet), a decline with none.
            if item["response_code"] == "00" {
                assert_eq!(item["hold"]["status"], "active", "{item}");
                assert_eq!(item["hold"]["currency"], "USD", "{item}");
                assert_eq!(
                    item["hold"]["held_minor"], item["amount"]["minor"],
                    "{item}"
                );
            } else {
                assert!(item.get("hold").is_none(), "{item}");
            }
        }
        match v["next_cursor"].as_str() {
            Some(cur) => path = format!("/v1/cards/{id}/authorizations?limit=3&cursor={cur}"),
            None => break,
        }
    }
    assert_eq!(codes, ["00", "00", "61", "62", "00", "00", "00"]);
    assert_eq!(pages, 3);

    // Four changes, each with who and what.
    let (_, v) = get_v1(gw.admin, &format!("/v1/cards/{id}/changes")).await;
    let items = v["items"].as_array().unwrap();
    assert_eq!(items.len(), 4, "{v}");
    assert!(items.iter().all(|i| i["actor"] == "api"), "{v}");
    assert_eq!(items[3]["field"], "status");
    assert_eq!(
        (&items[3]["before"], &items[3]["after"]),
        (&Value::from("active"), &Value::from("blocked"))
    );
    assert_eq!(items[0]["after"], Value::Null, "the removal: {v}");
}

#[tokio::test]
async fn card_mistakes_are_json_4xx_that_quote_nothing() {
    let gw = start().await;
    let card = lookup(gw.admin, PAN_OK).await;
    let id = card["id"].as_str().unwrap();
    let unknown = "4000001000000018";
    let cases: Vec<(Method, String, Value, u16, &str)> = vec![
        (
            Method::POST,
            "/v1/cards/lookup".into(),
            serde_json::json!({ "pan": unknown }),
            404,
            "not_found",
        ),
        (
            Method::POST,
            "/v1/cards/lookup".into(),
            serde_json::json!({ "pan": "40000010000000189999" }),
            422,
            "unprocessable",
        ),
        (
            Method::POST,
            "/v1/cards/lookup".into(),
            serde_json::json!({ "pan": 4000001000000018u64 }),
            422,
            "unprocessable",
        ),
        (
            Method::PATCH,
            format!("/v1/cards/{id}"),
            serde_json::json!({ "status": "frozen" }),
            422,
            "unprocessable",
        ),
        (
            Method::PATCH,
            "/v1/cards/C-none".into(),
            serde_json::json!({ "status": "blocked" }),
            404,
            "not_found",
        ),
        (
            Method::PUT,
            format!("/v1/cards/{id}/controls"),
            serde_json::json!({ "mcc_blocked": ["79"] }),
            422,
            "unprocessable",
        ),
        (
            Method::PUT,
            format!("/v1/cards/{id}/controls"),
            serde_json::json!({ "daily_max_minor": -1 }),
            422,
            "unprocessable",
        ),
        (
            Method::PUT,
            format!("/v1/cards/{id}/controls"),
            serde_json::json!({ "limit": 1 }),
            422,
            "unprocessable",
        ),
    ];
    for (method, path, body, status, code) in cases {
        let (s, b) = send_v1(gw.admin, method.clone(), &path, body).await;
        assert_error(s, &b, status, code);
        assert!(!b.contains("4000001000"), "{method} {path}: {b}");
    }
    for (path, status, code) in [
        (
            format!("/v1/cards/{id}/authorizations?limit=0"),
            400,
            "bad_request",
        ),
        (
            format!("/v1/cards/{id}/authorizations?limit=501"),
            400,
            "bad_request",
        ),
        (
            format!("/v1/cards/{id}/authorizations?limit=x"),
            400,
            "bad_request",
        ),
        (
            format!("/v1/cards/{id}/authorizations?cursor=zz"),
            400,
            "bad_request",
        ),
        (
            "/v1/cards/C-none/authorizations".to_owned(),
            404,
            "not_found",
        ),
        ("/v1/cards/C-none/controls".to_owned(), 404, "not_found"),
        (format!("/v1/cards/{unknown}"), 404, "not_found"),
    ] {
        let (s, _, b) = call(
            gw.admin,
            Method::GET,
            &path,
            Some(&format!("Bearer {TOKEN}")),
            None,
        )
        .await;
        assert_error(s, &b, status, code);
        assert!(!b.contains("4000001000"), "{path}: {b}");
    }
    // Nothing changed the card.
    let (_, v) = get_v1(gw.admin, &format!("/v1/cards/{id}/changes")).await;
    assert_eq!(v["items"].as_array().unwrap().len(), 0, "{v}");
}

#[tokio::test]
async fn adjustments_credit_once_per_key_and_refuse_what_they_cannot_do() {
    let gw = start().await;
    let path = "/v1/accounts/A-1001/adjustments";
    let body = |key: &str, amount: i64, ccy: &str| {
        serde_json::json!({
            "amount_minor": amount, "currency": ccy, "idempotency_key": key,
            "reason": "goodwill credit"
        })
    };
    let (s, b) = send_v1(gw.admin, Method::POST, path, body("k-1", 5_000, "KRW")).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let v: Value = serde_json::from_str(&b).unwrap();
    assert_eq!(
        (v["balance_after_minor"].as_i64(), v["replayed"].as_bool()),
        (Some(1_505_000), Some(false))
    );
    assert_eq!(v["actor"], "api");
    let (s, b) = send_v1(gw.admin, Method::POST, path, body("k-1", 5_000, "KRW")).await;
    assert_eq!(s, StatusCode::OK, "a retry: {b}");
    let (s, b) = send_v1(gw.admin, Method::POST, path, body("k-1", 6_000, "KRW")).await;
    assert_error(s, &b, 409, "conflict");
    let (_, v) = get_v1(gw.admin, "/v1/accounts/A-1001").await;
    assert_eq!(v["wallets"][0]["balance_minor"], 1_505_000, "{v}");
    assert_eq!(v["wallets"][0]["available_minor"], 1_505_000, "{v}");

    let pan_reason = serde_json::json!({
        "amount_minor": 1, "currency": "KRW", "idempotency_key": "k-9",
        "reason": "card 4761739001010010"
    });
    for (p, b, status, code) in [
        (
            "/v1/accounts/A-9999/adjustments",
            body("k-2", 1, "KRW"),
            404,
            "not_found",
        ),
        (path, body("k-2", 1, "JPY"), 422, "unprocessable"),
        (path, body("k-2", 1, "XXQ"), 422, "unprocessable"),
        (path, body("k-2", 0, "KRW"), 422, "unprocessable"),
        (path, body("k 2", 1, "KRW"), 422, "unprocessable"),
        (
            path,
            body("k-2", 1_000_000_000_000, "KRW"),
            422,
            "unprocessable",
        ),
        (path, pan_reason, 422, "unprocessable"),
    ] {
        let (s, text) = send_v1(gw.admin, Method::POST, p, b).await;
        assert_error(s, &text, status, code);
        assert!(!text.contains("4761739001010010"), "{text}");
    }
    let (_, v) = get_v1(gw.admin, "/v1/accounts/A-1001").await;
    assert_eq!(
        v["wallets"][0]["balance_minor"], 1_505_000,
        "nothing else moved: {v}"
    );
}
