//! The simulation API (`POST /v1/simulate/*`), the event stream (`GET /v1/events/stream`) and
//! the sandbox page, against the sandbox itself (`fixtures/sandbox.toml`: its cards, keys and
//! token) started in-process on free ports with a fresh ledger. Each simulated request goes
//! through the listener's framing, codec and connection handler and is decided by the real
//! ledger; what the tests check is the switch's answer and what the ledger then shows.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::*;
use gateway::app::{self, Overrides, Running};
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn token() -> String {
    std::fs::read_to_string(repo().join("fixtures/sandbox-api-token"))
        .unwrap()
        .trim()
        .to_owned()
}

/// The sandbox on free ports with its ledger in a fresh directory.
async fn sandbox() -> (Running, tempfile::TempDir) {
    start("fixtures/sandbox.toml").await
}

async fn start(config: &str) -> (Running, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = gateway::config::load(&repo().join(config)).unwrap();
    Overrides {
        listen: Some("127.0.0.1:0".parse().unwrap()),
        admin: Some("127.0.0.1:0".parse().unwrap()),
        var_dir: Some(dir.path().to_owned()),
    }
    .apply(&mut cfg)
    .unwrap();
    let gw = app::start(cfg).await.unwrap();
    wait_ready(gw.admin).await;
    (gw, dir)
}

/// A call to the admin listener with the sandbox's token: (status, body text).
async fn call(
    gw: &Running,
    method: Method,
    path: &str,
    body: Option<&str>,
) -> (StatusCode, String) {
    let mut req = http_client()
        .request(method, format!("http://{}{path}", gw.admin))
        .header(AUTHORIZATION, format!("Bearer {}", token()));
    if let Some(b) = body {
        req = req
            .header(CONTENT_TYPE, "application/json")
            .body(b.to_owned());
    }
    let resp = req.send().await.unwrap();
    (resp.status(), resp.text().await.unwrap())
}

/// A simulation that must succeed: its answer.
async fn simulate(gw: &Running, what: &str, body: Value) -> Value {
    let (s, b) = call(
        gw,
        Method::POST,
        &format!("/v1/simulate/{what}"),
        Some(&body.to_string()),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    no_clear_card_data(&b);
    serde_json::from_str(&b).unwrap()
}

/// The card number these tests send for a card the sandbox does not know.
const UNKNOWN_PAN: &str = "4000009999999991";

/// No full card number of the sandbox's cards (fixtures/cards.json), nor the unknown one the
/// tests send, in `text`. Whole numbers, not their first digits: a reversal's DE 90 (the
/// original's DE 7 then the acquirer id zero-padded) reads "...4" + "00000999999" whenever
/// the original was sent at a second ending in 4, which a prefix check took for a card.
fn no_clear_card_data(text: &str) {
    static PANS: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    let pans = PANS.get_or_init(|| {
        let text = std::fs::read_to_string(repo().join("fixtures/cards.json")).unwrap();
        let cards = fixtures::clearing_file::cards(&text).unwrap();
        cards.into_iter().map(|(_, pan)| pan).collect()
    });
    assert!(pans.len() > 10, "the sandbox's cards were not read");
    for pan in pans.iter().map(String::as_str).chain([UNKNOWN_PAN]) {
        assert!(!text.contains(pan), "a clear card number: {text}");
    }
}

async fn held(gw: &Running, account: &str, ccy: &str) -> i64 {
    let (s, b) = call(gw, Method::GET, &format!("/v1/accounts/{account}"), None).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let v: Value = serde_json::from_str(&b).unwrap();
    v["wallets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["currency"] == ccy)
        .unwrap()["held_minor"]
        .as_i64()
        .unwrap()
}

#[tokio::test]
async fn authorizations_approve_decline_and_check_the_pin_and_cvv2() {
    let (gw, _dir) = sandbox().await;
    let before = held(&gw, "A-1001", "KRW").await;
    let r = simulate(
        &gw,
        "authorization",
        json!({"card_id": "C-0018", "amount_minor": 15000, "currency": "KRW", "mcc": "5812", "country": "410"}),
    )
    .await;
    assert_eq!(r["response_code"], "00", "{r}");
    assert_eq!(r["approval_code"].as_str().unwrap().len(), 6, "{r}");
    assert_eq!(r["request"]["mti"], "0100");
    assert_eq!(r["response"]["mti"], "0110");
    let (req, resp) = (&r["request"]["fields"], &r["response"]["fields"]);
    assert_eq!(req["2"], "400000******0018");
    assert_eq!(resp["2"], "400000******0018");
    assert_eq!(req["4"], "000000015000");
    assert_eq!(req["18"], "5812");
    assert_eq!(req["19"], "410");
    assert_eq!(req["49"], "410");
    assert_eq!(req["32"], "999999");
    assert_eq!(req["14"], "[masked, 4 bytes]");
    assert_eq!(resp["38"], r["approval_code"]);
    assert_eq!(resp["11"], r["network_key"]["stan"]);
    assert_eq!(req["7"], r["network_key"]["transmitted"]);
    // Decided and recorded: the hold is there, under the simulation's network key.
    assert_eq!(held(&gw, "A-1001", "KRW").await, before + 15_000);
    let (_, b) = call(
        &gw,
        Method::GET,
        "/v1/cards/C-0018/authorizations?limit=1",
        None,
    )
    .await;
    let page: Value = serde_json::from_str(&b).unwrap();
    assert_eq!(
        page["items"][0]["network_key"]["stan"],
        r["network_key"]["stan"]
    );
    assert_eq!(page["items"][0]["approval_code"], r["approval_code"]);

    // A foreign currency: converted, DE 6/10/51 in the answer.
    let r = simulate(
        &gw,
        "authorization",
        json!({"card_id": "C-0012", "amount_minor": 120000, "currency": "JPY"}),
    )
    .await;
    assert_eq!(r["response_code"], "00", "{r}");
    assert_eq!(r["response"]["fields"]["6"], "000001098130");

    // C-0026 holds 5,000 won: 51.
    let r = simulate(
        &gw,
        "authorization",
        json!({"card_id": "C-0026", "amount_minor": 10000, "currency": "410"}),
    )
    .await;
    assert_eq!(r["response_code"], "51", "{r}");
    assert!(r.get("approval_code").is_none(), "{r}");

    // By number: an unknown card is the switch's 14, not an API error.
    let r = simulate(
        &gw,
        "authorization",
        json!({"pan": UNKNOWN_PAN, "amount_minor": 100, "currency": "KRW"}),
    )
    .await;
    assert_eq!(r["response_code"], "14", "{r}");
    assert_eq!(r["request"]["fields"]["2"], "400000******9991");

    // PIN (DE 52 under zpk, verified against the PVV): wrong 55, right 00 (the count resets).
    let wrong = simulate(
        &gw,
        "authorization",
        json!({"card_id": "C-0109", "amount_minor": 1000, "currency": "KRW", "pin": "9999"}),
    )
    .await;
    assert_eq!(wrong["response_code"], "55", "{wrong}");
    assert_eq!(wrong["request"]["fields"]["52"], "[masked, 8 bytes]");
    let right = simulate(
        &gw,
        "authorization",
        json!({"card_id": "C-0109", "amount_minor": 1000, "currency": "KRW", "pin": "1234"}),
    )
    .await;
    assert_eq!(right["response_code"], "00", "{right}");

    // CVV2 in DE 48 subelement 92: right 00, wrong N7; the value is masked.
    let ok = simulate(
        &gw,
        "authorization",
        json!({"card_id": "C-0133", "amount_minor": 1000, "currency": "KRW", "cvv2": "376", "entry_mode": "ecommerce"}),
    )
    .await;
    assert_eq!(ok["response_code"], "00", "{ok}");
    assert_eq!(ok["request"]["fields"]["48"], "R9203***");
    assert_eq!(ok["request"]["fields"]["22"], "812");
    let bad = simulate(
        &gw,
        "authorization",
        json!({"card_id": "C-0133", "amount_minor": 1000, "currency": "KRW", "cvv2": "377"}),
    )
    .await;
    assert_eq!(bad["response_code"], "N7", "{bad}");
    gw.drain().await;
}

#[tokio::test]
async fn reversals_release_and_advices_are_recorded() {
    let (gw, _dir) = sandbox().await;
    let before = held(&gw, "A-1001", "KRW").await;
    let auth = simulate(
        &gw,
        "authorization",
        json!({"card_id": "C-0018", "amount_minor": 50000, "currency": "KRW"}),
    )
    .await;
    assert_eq!(auth["response_code"], "00", "{auth}");
    assert_eq!(held(&gw, "A-1001", "KRW").await, before + 50_000);

    // Partial: 30,000 kept.
    let rev = simulate(
        &gw,
        "reversal",
        json!({"original": auth["network_key"], "keep_minor": 30000}),
    )
    .await;
    assert_eq!(rev["response"]["mti"], "0410", "{rev}");
    assert_eq!(rev["response_code"], "00", "{rev}");
    let sent = &rev["request"]["fields"];
    assert_eq!(
        sent["2"], "400000******0018",
        "DE 2 from the original's card"
    );
    assert_eq!(sent["4"], "000000050000", "DE 4 from the original");
    assert_eq!(
        sent["90"],
        format!(
            "0100{}{}0000099999900000000000",
            auth["network_key"]["stan"].as_str().unwrap(),
            auth["network_key"]["transmitted"].as_str().unwrap()
        )
    );
    assert_eq!(held(&gw, "A-1001", "KRW").await, before + 30_000);
    // Then the rest.
    let rev = simulate(&gw, "reversal", json!({"original": auth["network_key"]})).await;
    assert_eq!(rev["response_code"], "00", "{rev}");
    assert_eq!(held(&gw, "A-1001", "KRW").await, before);

    // A stand-in advice (0120): acknowledged and recorded.
    let adv = simulate(
        &gw,
        "advice",
        json!({"card_id": "C-0018", "amount_minor": 17500, "currency": "KRW", "approval_code": "SBY123"}),
    )
    .await;
    assert_eq!(adv["request"]["mti"], "0120");
    assert_eq!(adv["response"]["mti"], "0130");
    assert_eq!(adv["response_code"], "00", "{adv}");
    assert_eq!(adv["request"]["fields"]["38"], "SBY123");
    let (_, b) = call(
        &gw,
        Method::GET,
        "/v1/cards/C-0018/authorizations?limit=1",
        None,
    )
    .await;
    let page: Value = serde_json::from_str(&b).unwrap();
    assert_eq!(page["items"][0]["kind"], "advice", "{page}");
    assert_eq!(
        page["items"][0]["network_key"]["stan"],
        adv["network_key"]["stan"]
    );

    // A completion (0220 naming an approval): the hold is captured.
    let auth = simulate(
        &gw,
        "authorization",
        json!({"card_id": "C-0018", "amount_minor": 20000, "currency": "KRW"}),
    )
    .await;
    let done = simulate(
        &gw,
        "advice",
        json!({"card_id": "C-0018", "amount_minor": 19000, "currency": "KRW", "original": auth["network_key"]}),
    )
    .await;
    assert_eq!(done["request"]["mti"], "0220");
    assert_eq!(done["response"]["mti"], "0230");
    assert_eq!(done["response_code"], "00", "{done}");
    assert_eq!(
        held(&gw, "A-1001", "KRW").await,
        before,
        "captured, not held"
    );
    gw.drain().await;
}

#[tokio::test]
async fn bad_bodies_and_unknown_cards_are_json_4xx_that_quote_nothing() {
    let (gw, _dir) = sandbox().await;
    let pan = "4000001000000018";
    let cases: Vec<(&str, String, u16, &str)> = vec![
        ("authorization", "{\"card_id\":".into(), 400, "bad_request"),
        ("authorization", format!("{{\"pan\":{pan},\"amount_minor\":1,\"currency\":\"KRW\"}}"), 422, "unprocessable"),
        ("authorization", format!("{{\"{pan}\":1,\"amount_minor\":1,\"currency\":\"KRW\"}}"), 422, "unprocessable"),
        ("authorization", json!({"amount_minor": 1, "currency": "KRW"}).to_string(), 422, "unprocessable"),
        ("authorization", json!({"card_id": "C-0018", "pan": pan, "amount_minor": 1, "currency": "KRW"}).to_string(), 422, "unprocessable"),
        ("authorization", json!({"card_id": "C-0018", "amount_minor": -1, "currency": "KRW"}).to_string(), 422, "unprocessable"),
        ("authorization", json!({"card_id": "C-0018", "amount_minor": 1, "currency": "XYZ"}).to_string(), 422, "unprocessable"),
        ("authorization", json!({"card_id": "C-0018", "amount_minor": 1, "currency": "KRW", "pin": "12"}).to_string(), 422, "unprocessable"),
        ("authorization", json!({"card_id": "C-0018", "amount_minor": 1, "currency": "KRW", "cvv2": pan}).to_string(), 422, "unprocessable"),
        ("authorization", json!({"card_id": "C-0018", "amount_minor": 1, "currency": "KRW", "entry_mode": "telepathy"}).to_string(), 422, "unprocessable"),
        ("authorization", json!({"pan": "40000010", "amount_minor": 1, "currency": "KRW"}).to_string(), 422, "unprocessable"),
        ("authorization", json!({"card_id": "C-9999", "amount_minor": 1, "currency": "KRW"}).to_string(), 404, "not_found"),
        ("advice", json!({"card_id": "C-9999", "amount_minor": 1, "currency": "KRW"}).to_string(), 404, "not_found"),
        ("advice", json!({"card_id": "C-0018", "amount_minor": 1, "currency": "KRW", "response_code": "000"}).to_string(), 422, "unprocessable"),
        ("reversal", json!({"original": {"stan": "000001", "transmitted": "1399999999"}}).to_string(), 422, "unprocessable"),
        ("reversal", json!({"original": {"stan": "1", "transmitted": "1205103000"}}).to_string(), 422, "unprocessable"),
        ("reversal", json!({"original": {"stan": "000001", "transmitted": "1205103000"}, "keep_minor": -5}).to_string(), 422, "unprocessable"),
        ("reversal", json!({}).to_string(), 422, "unprocessable"),
    ];
    for (what, body, status, code) in cases {
        let (s, b) = call(
            &gw,
            Method::POST,
            &format!("/v1/simulate/{what}"),
            Some(&body),
        )
        .await;
        assert_eq!(s.as_u16(), status, "{what} {body}: {b}");
        let v: Value = serde_json::from_str(&b).unwrap_or_else(|e| panic!("{e}: {b}"));
        assert_eq!(v["error"]["code"], code, "{b}");
        assert!(
            !b.contains("4000001") && !b.contains("40000010"),
            "echoed: {b}"
        );
    }
    // Not JSON at all.
    let resp = http_client()
        .post(format!("http://{}/v1/simulate/authorization", gw.admin))
        .header(AUTHORIZATION, format!("Bearer {}", token()))
        .header(CONTENT_TYPE, "text/plain")
        .body("card_id=C-0018")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 415);
    // No token: 401, before anything is sent.
    let resp = http_client()
        .post(format!("http://{}/v1/simulate/authorization", gw.admin))
        .json(&json!({"card_id": "C-0018", "amount_minor": 1, "currency": "KRW"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    gw.drain().await;
}

/// The next SSE event of `resp` whose data contains `needle`, within 10 s.
async fn next_event_with(resp: &mut reqwest::Response, buf: &mut String, needle: &str) -> String {
    let until = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        while let Some(end) = buf.find("\n\n") {
            let ev: String = buf.drain(..end + 2).collect();
            if ev.contains(needle) {
                return ev;
            }
        }
        let chunk = tokio::time::timeout_at(until, resp.chunk())
            .await
            .unwrap_or_else(|_| panic!("no event with {needle} in 10 s"))
            .unwrap()
            .expect("the stream ended");
        buf.push_str(&String::from_utf8_lossy(&chunk));
    }
}

#[tokio::test]
async fn the_event_stream_shows_each_decision_as_it_is_committed() {
    let (gw, _dir) = sandbox().await;
    let streaming = reqwest::Client::builder().no_proxy().build().unwrap();
    let url = format!("http://{}/v1/events/stream", gw.admin);
    // The token in the query is for this path only (EventSource cannot send headers).
    let no_token = streaming.get(&url).send().await.unwrap();
    assert_eq!(no_token.status().as_u16(), 401);
    let wrong = streaming
        .get(format!("{url}?access_token=not-the-token-0123456789"))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status().as_u16(), 401);
    let elsewhere = streaming
        .get(format!(
            "http://{}/v1/simulate/cards?access_token={}",
            gw.admin,
            token()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(elsewhere.status().as_u16(), 401);

    let mut resp = streaming
        .get(format!("{url}?backlog=0&access_token={}", token()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(resp.headers()[CONTENT_TYPE]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    let r = simulate(
        &gw,
        "authorization",
        json!({"card_id": "C-0018", "amount_minor": 4200, "currency": "KRW"}),
    )
    .await;
    let stan = r["network_key"]["stan"].as_str().unwrap();
    let mut buf = String::new();
    let ev = next_event_with(&mut resp, &mut buf, &format!("\"stan\":\"{stan}\"")).await;
    assert!(ev.contains("event: authorization.approved"), "{ev}");
    assert!(ev.contains("\"pan_masked\":\"400000******0018\""), "{ev}");
    let id: i64 = ev
        .lines()
        .find_map(|l| l.strip_prefix("id: "))
        .unwrap()
        .parse()
        .unwrap();
    let d = simulate(
        &gw,
        "authorization",
        json!({"card_id": "C-0026", "amount_minor": 99000, "currency": "KRW"}),
    )
    .await;
    let stan = d["network_key"]["stan"].as_str().unwrap();
    let ev = next_event_with(&mut resp, &mut buf, &format!("\"stan\":\"{stan}\"")).await;
    assert!(ev.contains("event: authorization.declined"), "{ev}");
    assert!(ev.contains("\"response_code\":\"51\""), "{ev}");
    drop(resp);

    // A reconnect with Last-Event-ID resumes after it: the decline comes first.
    let mut again = streaming
        .get(&url)
        .header(AUTHORIZATION, format!("Bearer {}", token()))
        .header("Last-Event-ID", id.to_string())
        .send()
        .await
        .unwrap();
    let mut buf = String::new();
    let ev = next_event_with(&mut again, &mut buf, "event: ").await;
    assert!(ev.contains("authorization.declined"), "{ev}");
    drop(again);
    gw.drain().await;
}

#[tokio::test]
async fn the_sandbox_page_and_its_card_list() {
    let (gw, _dir) = sandbox().await;
    let (s, page) = http_get(gw.admin, "/sandbox").await;
    assert_eq!(s, 200);
    assert!(page.contains("<form id=\"simulate\""), "{page}");
    // `[admin] sandbox = true`: the committed test token is filled in.
    assert!(page.contains(&format!("content=\"{}\"", token())));
    assert_eq!(http_get(gw.admin, "/sandbox.js").await.0, 200);
    assert_eq!(http_get(gw.admin, "/sandbox.css").await.0, 200);

    let (s, b) = call(&gw, Method::GET, "/v1/simulate/cards", None).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    no_clear_card_data(&b);
    let v: Value = serde_json::from_str(&b).unwrap();
    let card = |id: &str| {
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == id)
            .unwrap_or_else(|| panic!("{id} not listed: {v}"))
            .clone()
    };
    assert_eq!(card("C-0018")["pan_masked"], "400000******0018");
    assert_eq!(card("C-0018")["pin"], true);
    let says = |id: &str, what: &str| {
        let c = card(id);
        assert!(
            c["outcome"]
                .as_array()
                .unwrap()
                .iter()
                .any(|o| o.as_str().unwrap().contains(what)),
            "{id}: {c}"
        );
    };
    says("C-0042", "41");
    says("C-0059", "43");
    says("C-0067", "62");
    says("C-0034", "54");
    says("C-0141", "61");
    says("C-0158", "65");
    says("C-0166", "57");
    says("C-0026", "KRW 5000");
    gw.drain().await;
}

/// On a listener that checks MACs the simulated request carries one (DE 64 under `mak`, as a
/// network's would) and the MACed answer comes back: a simulation is not refused 63.
#[tokio::test]
async fn on_a_mac_listener_the_request_is_maced() {
    let (gw, _dir) = start("fixtures/sandbox-mac.toml").await;
    let r = simulate(
        &gw,
        "authorization",
        json!({"card_id": "C-0018", "amount_minor": 15000, "currency": "KRW"}),
    )
    .await;
    assert_eq!(r["response_code"], "00", "{r}");
    assert_eq!(
        r["request"]["fields"]["64"].as_str().unwrap().len(),
        16,
        "{r}"
    );
    assert_eq!(
        r["response"]["fields"]["64"].as_str().unwrap().len(),
        16,
        "{r}"
    );
    gw.drain().await;
}
