//! Card security end to end over TCP (issue 23): PIN (55, 75, reset), CVV and iCVV (82), CVV2
//! (N7), ARQC with the ARPC in the answer's DE 55 (82 when wrong), MACs (63), with the
//! software HSM over the sandbox's keys (`fixtures/keys.toml`) and the embedded ledger.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use gateway::app::{self, Running};
use hsm::sandbox::{corrupt_arqc, ChipTxn, SandboxCards};
use hsm::{Cvn, KeyFile, PinBlockFormat};
use iso8583::OwnedMessage;

// The harness's chip load keeps its counters within half the switch's replay window.
const _: () = assert!(2 * fixtures::chip::SEND_SPAN <= ledger::ATC_WINDOW as u32);

const PAN_PIN: &str = "4000001000001016";
const PAN_PIN2: &str = "4000001000001024";
const PAN_CHIP: &str = "4000001000001032";
const PAN_NO_PIN: &str = "4000001000001040";
const EXPIRY: &str = "3012";
const PIN: &str = "1234";

fn keys_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/keys.toml")
}

fn cards() -> SandboxCards {
    SandboxCards::new(KeyFile::load(&keys_path()).unwrap())
}

const SEED: &str = r#"{
  "accounts": [{"id": "A-SEC", "home_currency": "KRW", "balances": {"KRW": "100000000"}}],
  "cards": [
    {"id": "C-PIN", "pan": "4000001000001016", "expiry": "3012", "account": "A-SEC", "status": "active", "pin": "1234"},
    {"id": "C-PIN2", "pan": "4000001000001024", "expiry": "3012", "account": "A-SEC", "status": "active", "pin": "1234"},
    {"id": "C-CHIP", "pan": "4000001000001032", "expiry": "3012", "account": "A-SEC", "status": "active", "pin": "4321", "psn": "01"},
    {"id": "C-NOPIN", "pan": "4000001000001040", "expiry": "3012", "account": "A-SEC", "status": "active"}
  ]
}"#;

/// A gateway with a listener that checks what is present, one that requires PIN and CVV2,
/// and one with MACs.
async fn start() -> (Running, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let seed = dir.path().join("cards.json");
    std::fs::write(&seed, SEED).unwrap();
    let text = format!(
        r#"
[business_date]
time_zone = "Asia/Seoul"
[admin]
address = "127.0.0.1:0"
api_token = "card-security-test-token-0123456789"
[log]
level = "warn"
[ledger]
embedded = "{db}"
seed = "{seed}"
pan_key = "gateway-integration-test-pan-key-0123456789"
[rates]
file = "{rates}"
[hsm]
software_keys = "{keys}"
timeout_ms = 1000
[[listener]]
name = "present"
address = "127.0.0.1:0"
[listener.security]
pin = "if_present"
cvv = "if_present"
cvv2 = "if_present"
arqc = "if_present"
pin_block_formats = [0, 1, 3]
[[listener]]
name = "required"
address = "127.0.0.1:0"
[listener.security]
pin = "required"
cvv2 = "required"
[[listener]]
name = "mac"
address = "127.0.0.1:0"
[listener.security]
cvv2 = "if_present"
mac = true
"#,
        db = dir.path().join("ledger.sqlite").display(),
        seed = seed.display(),
        rates = data("rates.csv").display(),
        keys = keys_path().display(),
    );
    let gw = app::start(parse_config(&text))
        .await
        .expect("gateway starts");
    (gw, dir)
}

fn addr(gw: &Running, name: &str) -> std::net::SocketAddr {
    gw.listeners.iter().find(|(n, _)| n == name).unwrap().1
}

fn krw(pan: &str) -> OwnedMessage {
    purchase(pan, 15_000, "410", &stan())
}

fn with_pin(mut m: OwnedMessage, pan: &str, pin: &str) -> OwnedMessage {
    m.set(
        52,
        cards().pin_block(pan, pin, PinBlockFormat::Iso0).unwrap(),
    );
    m
}

#[tokio::test]
async fn wrong_pins_answer_55_then_75_until_reset_and_a_right_pin_resets() {
    let (gw, _d) = start().await;
    let mut c = Client::connect(addr(&gw, "present")).await;
    assert_eq!(
        de39(&c.call(&with_pin(krw(PAN_PIN), PAN_PIN, "9999")).await),
        "55"
    );
    assert_eq!(
        de39(&c.call(&with_pin(krw(PAN_PIN), PAN_PIN, PIN)).await),
        "00"
    );
    // The right PIN reset the count: three more wrong ones before 75.
    assert_eq!(
        de39(&c.call(&with_pin(krw(PAN_PIN), PAN_PIN, "0000")).await),
        "55"
    );
    assert_eq!(
        de39(&c.call(&with_pin(krw(PAN_PIN), PAN_PIN, "0001")).await),
        "55"
    );
    assert_eq!(
        de39(&c.call(&with_pin(krw(PAN_PIN), PAN_PIN, "0002")).await),
        "75"
    );
    assert_eq!(
        de39(&c.call(&with_pin(krw(PAN_PIN), PAN_PIN, PIN)).await),
        "75"
    );
    // Without a PIN the card still buys (only PIN use is blocked).
    assert_eq!(de39(&c.call(&krw(PAN_PIN)).await), "00");
    let store = gw.core().store();
    // The operator resets the counter through the operations API.
    let reset = |id: &str| {
        http_client()
            .post(format!("http://{}/v1/cards/{id}/pin-tries/reset", gw.admin))
            .bearer_auth("card-security-test-token-0123456789")
            .header("X-Operator", "test:operator")
            .send()
    };
    let r = reset("C-PIN").await.unwrap();
    assert_eq!(r.status(), 200);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(
        (v["pin_tries_before"].as_u64(), v["pin_tries"].as_u64()),
        (Some(3), Some(0))
    );
    assert_eq!(
        reset("C-NOPIN").await.unwrap().status(),
        422,
        "no PIN on record"
    );
    assert_eq!(reset("C-NONE").await.unwrap().status(), 404);
    assert_eq!(
        de39(&c.call(&with_pin(krw(PAN_PIN), PAN_PIN, PIN)).await),
        "00"
    );
    // A PIN on a card with no PVV cannot be verified: 55, not approved.
    assert_eq!(
        de39(&c.call(&with_pin(krw(PAN_NO_PIN), PAN_NO_PIN, PIN)).await),
        "55"
    );
    // Formats 1 and 3 are allowed too (the sandbox's listener allows 0, 1, 3 and 4): the
    // block's control field says which.
    for f in [PinBlockFormat::Iso1, PinBlockFormat::Iso3] {
        let mut m = krw(PAN_PIN);
        m.set(52, cards().pin_block(PAN_PIN, PIN, f).unwrap());
        assert_eq!(de39(&c.call(&m).await), "00", "{f:?}");
    }
    // A block under another key (garbage) is not a PIN try.
    let mut garbage = krw(PAN_PIN2);
    garbage.set(52, [0x5Au8; 8]);
    assert_eq!(de39(&c.call(&garbage).await), "55");
    let sec = store
        .card_security(&ledger::Pan::new(PAN_PIN2).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert!(sec.pin_tries <= 1, "a garbage block is at most one try");
    gw.drain().await;
}

#[tokio::test]
async fn cvv_and_icvv_from_track_2_are_checked_82_when_wrong() {
    let (gw, _d) = start().await;
    let mut c = Client::connect(addr(&gw, "present")).await;
    let cd = cards();
    let mag = cd.track2(PAN_PIN2, EXPIRY, "201", None, false).unwrap();
    let mut m = krw(PAN_PIN2);
    m.set(22, "901").set(35, &mag);
    assert_eq!(de39(&c.call(&m).await), "00");
    // The magstripe CVV on a chip read (DE 22 05x) is not the iCVV: 82.
    let mut m = krw(PAN_PIN2);
    m.set(22, "051").set(35, &mag);
    assert_eq!(de39(&c.call(&m).await), "82");
    let chip = cd.track2(PAN_PIN2, EXPIRY, "201", None, true).unwrap();
    let mut m = krw(PAN_PIN2);
    m.set(22, "051").set(35, &chip);
    assert_eq!(de39(&c.call(&m).await), "00");
    // A wrong CVV, and a track of another card.
    let mut bad = mag.clone().into_bytes();
    let i = bad.len() - 6;
    bad[i] = if bad[i] == b'9' { b'0' } else { bad[i] + 1 };
    let mut m = krw(PAN_PIN2);
    m.set(22, "901").set(35, bad);
    assert_eq!(de39(&c.call(&m).await), "82");
    let other = cd.track2(PAN_NO_PIN, EXPIRY, "201", None, false).unwrap();
    let mut m = krw(PAN_PIN2);
    m.set(22, "901").set(35, other);
    assert_eq!(de39(&c.call(&m).await), "82");
    gw.drain().await;
}

fn with_cvv2(mut m: OwnedMessage, cvv2: &str) -> OwnedMessage {
    m.set(48, hsm::sandbox::de48_with_cvv2(cvv2));
    m
}

#[tokio::test]
async fn cvv2_mismatch_is_n7_and_required_checks_refuse_absent_fields() {
    let (gw, _d) = start().await;
    let cvv2 = cards().cvv(PAN_NO_PIN, EXPIRY, "000").unwrap();
    let wrong = format!("{:03}", (cvv2.parse::<u32>().unwrap() + 1) % 1000);
    let mut c = Client::connect(addr(&gw, "present")).await;
    assert_eq!(
        de39(&c.call(&with_cvv2(krw(PAN_NO_PIN), &cvv2)).await),
        "00"
    );
    assert_eq!(
        de39(&c.call(&with_cvv2(krw(PAN_NO_PIN), &wrong)).await),
        "N7"
    );
    // Without DE 14 the card's own expiry is used.
    let mut m = with_cvv2(krw(PAN_NO_PIN), &cvv2);
    m.set(14, EXPIRY);
    assert_eq!(de39(&c.call(&m).await), "00");
    // E-commerce without CVV2 passes where it is not required...
    assert_eq!(de39(&c.call(&krw(PAN_NO_PIN)).await), "00");
    // ...and not where it is: N7, and 55 for a required PIN that is missing.
    let mut r = Client::connect(addr(&gw, "required")).await;
    let with_pin_only = with_pin(krw(PAN_PIN2), PAN_PIN2, PIN);
    assert_eq!(de39(&r.call(&with_pin_only).await), "N7");
    let cvv2_pin2 = cards().cvv(PAN_PIN2, EXPIRY, "000").unwrap();
    assert_eq!(
        de39(&r.call(&with_cvv2(krw(PAN_PIN2), &cvv2_pin2)).await),
        "55"
    );
    let both = with_cvv2(with_pin(krw(PAN_PIN2), PAN_PIN2, PIN), &cvv2_pin2);
    assert_eq!(de39(&r.call(&both).await), "00");
    gw.drain().await;
}

fn chip_txn(cvn: Cvn, atc: u16) -> ChipTxn {
    chip_txn_of(cvn, atc, 15_000)
}

/// The terminal's data for a purchase of `amount_minor` KRW.
fn chip_txn_of(cvn: Cvn, atc: u16, amount_minor: u64) -> ChipTxn {
    ChipTxn {
        cvn,
        psn: "01".into(),
        amount_minor,
        currency: 410,
        atc,
        unpredictable: 0x0BAD_CAFE,
    }
}

/// The ARPC the card expects in tag 91, computed with the card's keys from the IMK.
fn expected_tag_91(de55: &[u8], cvn: Cvn, arc_or_csu: hsm::ArpcResponse) -> Vec<u8> {
    let keys = KeyFile::load(&keys_path()).unwrap();
    let req = hsm::ArqcRequest::from_icc(PAN_CHIP, Some("01"), de55, arc_or_csu).unwrap();
    let card =
        hsm::emv::card_key(keys.key("imk_ac").unwrap(), cvn, PAN_CHIP, "01", req.atc).unwrap();
    hsm::emv::issuer_authentication_data(&card, &req).unwrap()
}

#[tokio::test]
async fn arqc_cvn_10_and_18_approve_with_the_arpc_in_de_55_and_a_wrong_one_is_82() {
    let (gw, _d) = start().await;
    let mut c = Client::connect(addr(&gw, "present")).await;
    let cd = cards();
    for (i, cvn) in [Cvn::Visa10, Cvn::Visa18].into_iter().enumerate() {
        let de55 = cd
            .icc_data(PAN_CHIP, &chip_txn(cvn, 10 + i as u16))
            .unwrap();
        let mut m = krw(PAN_CHIP);
        m.set(22, "051").set(23, "001").set(55, &de55);
        let r = c.call(&m).await;
        assert_eq!(de39(&r), "00", "{cvn:?}");
        let response = match cvn {
            Cvn::Visa10 => hsm::ArpcResponse::Arc(*b"00"),
            Cvn::Visa18 => hsm::ArpcResponse::Csu {
                csu: [0x00, 0x80, 0x00, 0x00],
                proprietary: vec![],
            },
        };
        let tag_91 = expected_tag_91(&de55, cvn, response);
        let mut want = vec![0x91, tag_91.len() as u8];
        want.extend_from_slice(&tag_91);
        assert_eq!(r.get(55), Some(&want[..]), "tag 91 for {cvn:?}");
        // The same card data with its cryptogram altered: 82, and an ARPC for the decline
        // is not sent (the cryptogram did not verify).
        let mut bad = krw(PAN_CHIP);
        bad.set(22, "051")
            .set(23, "001")
            .set(55, corrupt_arqc(&de55));
        let r = c.call(&bad).await;
        assert_eq!(de39(&r), "82");
        assert!(!r.has(55));
        // A genuine cryptogram in a message of another amount or currency (replayed, or
        // the amount changed on the way): it verifies by itself, and is still refused.
        let fresh = cd
            .icc_data(PAN_CHIP, &chip_txn(cvn, 20 + i as u16))
            .unwrap();
        let mut more = purchase(PAN_CHIP, 15_001, "410", &stan());
        more.set(22, "051").set(23, "001").set(55, &fresh);
        assert_eq!(de39(&c.call(&more).await), "82", "{cvn:?}: another amount");
        let mut usd = purchase(PAN_CHIP, 15_000, "840", &stan());
        usd.set(22, "051").set(23, "001").set(55, &fresh);
        assert_eq!(de39(&c.call(&usd).await), "82", "{cvn:?}: another currency");
    }
    // A verified ARQC declined for funds: the ARPC carries the decline's ARC ("51").
    let de55 = cd
        .icc_data(PAN_CHIP, &chip_txn_of(Cvn::Visa10, 30, 999_999_999_999))
        .unwrap();
    let mut m = purchase(PAN_CHIP, 999_999_999_999, "410", &stan());
    m.set(22, "051").set(55, &de55);
    let r = c.call(&m).await;
    assert_eq!(de39(&r), "51");
    let tag_91 = expected_tag_91(&de55, Cvn::Visa10, hsm::ArpcResponse::Arc(*b"51"));
    assert_eq!(&r.get(55).unwrap()[2..], &tag_91[..]);
    // A partial approval (DE 60 allows it): the ARC is "10", as DE 39 says.
    let de55 = cd
        .icc_data(PAN_CHIP, &chip_txn_of(Cvn::Visa10, 31, 200_000_000))
        .unwrap();
    let mut m = purchase(PAN_CHIP, 200_000_000, "410", &stan());
    m.set(22, "051").set(55, &de55).set(60, "1");
    let r = c.call(&m).await;
    assert_eq!(de39(&r), "10");
    let tag_91 = expected_tag_91(&de55, Cvn::Visa10, hsm::ArpcResponse::Arc(*b"10"));
    assert_eq!(&r.get(55).unwrap()[2..], &tag_91[..]);
    gw.drain().await;
}

/// Issue 23: a genuine cryptogram captured from one message and sent again in a new one (new
/// STAN: not a repeat) verifies by itself; its ATC, seen already, is refused with 82. The
/// same message again is a repeat with its stored answer; counters out of order inside the
/// window pass once each.
#[tokio::test]
async fn a_genuine_arqc_replayed_in_a_new_message_is_82_and_a_repeat_gets_its_answer() {
    let (gw, _d) = start().await;
    let mut c = Client::connect(addr(&gw, "present")).await;
    let cd = cards();
    let chip = |atc: u16| {
        let de55 = cd.icc_data(PAN_CHIP, &chip_txn(Cvn::Visa18, atc)).unwrap();
        let mut m = krw(PAN_CHIP);
        m.set(22, "051").set(23, "001").set(55, &de55);
        m
    };
    let first = chip(40);
    let r = c.call(&first).await;
    assert_eq!(de39(&r), "00");
    let approval = r.get_str(38).unwrap().to_owned();
    // The acquirer's repeat (same DE 32, 11, 7): the stored answer, the same approval.
    let r = c.call(&first).await;
    assert_eq!(de39(&r), "00");
    assert_eq!(r.get_str(38), Some(approval.as_str()));
    // The same DE 55 in a new message: the cryptogram verifies, the counter is spent.
    let mut replay = krw(PAN_CHIP);
    replay
        .set(22, "051")
        .set(23, "001")
        .set(55, first.get(55).unwrap());
    let r = c.call(&replay).await;
    assert_eq!(de39(&r), "82");
    assert!(!r.has(38));
    // A later counter, then one below it inside the window (delivered out of order): both
    // pass once; the second again in a new message is 82.
    assert_eq!(de39(&c.call(&chip(42)).await), "00");
    assert_eq!(de39(&c.call(&chip(41)).await), "00");
    assert_eq!(de39(&c.call(&chip(41)).await), "82");
    // Older than the window below the highest: 82 even though never seen.
    assert_eq!(de39(&c.call(&chip(400)).await), "00");
    assert_eq!(de39(&c.call(&chip(400 - ledger::ATC_WINDOW)).await), "82");
    assert_eq!(de39(&c.call(&chip(401 - ledger::ATC_WINDOW)).await), "00");
    // The operator sees where the card's counter stands (`GET /v1/cards/{id}`).
    let card: serde_json::Value = http_client()
        .get(format!("http://{}/v1/cards/C-CHIP", gw.admin))
        .bearer_auth("card-security-test-token-0123456789")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        card["chip"],
        serde_json::json!({"atc_highest": 400, "psn": "01"})
    );
    gw.drain().await;
}

/// `m` encoded with its MAC in DE 64.
fn maced(m: &OwnedMessage) -> Vec<u8> {
    let mut m = m.clone();
    m.set(64, [0u8; 8]);
    let mut body = m.encode(spec()).unwrap();
    let n = body.len();
    let mac = cards().mac(&body[..n - 8]).unwrap();
    body[n - 8..].copy_from_slice(&mac);
    body
}

#[tokio::test]
async fn a_mac_listener_refuses_missing_or_wrong_macs_with_63_and_macs_its_answers_format_errors_too(
) {
    let (gw, _d) = start().await;
    let mut c = Client::connect(addr(&gw, "mac")).await;
    let check_answer = |body: &[u8]| {
        let n = body.len();
        assert_eq!(
            cards().mac(&body[..n - 8]).unwrap(),
            body[n - 8..],
            "the answer's DE 64 is its MAC"
        );
    };
    c.send_raw(&maced(&krw(PAN_NO_PIN))).await;
    let body = c.recv_raw().await.unwrap();
    check_answer(&body);
    let r = iso8583::decode(spec(), &body).unwrap().to_owned_message();
    assert_eq!(de39(&r), "00");
    // No MAC: 63, MACed.
    c.send(&krw(PAN_NO_PIN)).await;
    let body = c.recv_raw().await.unwrap();
    check_answer(&body);
    assert_eq!(
        de39(&iso8583::decode(spec(), &body).unwrap().to_owned_message()),
        "63"
    );
    // A MAC that does not match (one bit of the amount changed after MACing): 63, and
    // nothing recorded under its key.
    let m = krw(PAN_NO_PIN);
    let mut body = maced(&m);
    let at = body.windows(12).position(|w| w == b"000000015000").unwrap();
    body[at + 6] = b'9';
    c.send_raw(&body).await;
    let answer = c.recv_raw().await.unwrap();
    assert_eq!(
        de39(&iso8583::decode(spec(), &answer).unwrap().to_owned_message()),
        "63"
    );
    let key = ledger::NetworkKey::new(ACQUIRER, m.get_str(11).unwrap(), DE7).unwrap();
    assert!(gw.core().store().decision(&key).await.unwrap().is_none());
    // A message that does not decode (a letter in the amount) but whose MTI and STAN read:
    // its 30 is MACed like every other answer.
    let mut body = maced(&krw(PAN_NO_PIN));
    let at = body.windows(12).position(|w| w == b"000000015000").unwrap();
    body[at + 11] = b'X';
    c.send_raw(&body).await;
    let answer = c.recv_raw().await.unwrap();
    check_answer(&answer);
    assert_eq!(
        de39(&iso8583::decode(spec(), &answer).unwrap().to_owned_message()),
        "30"
    );
    // Network management is not MACed.
    let r = c.call(&network("301", &stan())).await;
    assert_eq!(de39(&r), "00");
    gw.drain().await;
}

#[tokio::test]
async fn a_listener_naming_a_key_the_hsm_lacks_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "{}\n[listener.security]\npin = \"if_present\"\nzpk = \"zpk_missing\"\n[hsm]\nsoftware_keys = \"{}\"\n",
        embedded_config_text(dir.path()),
        keys_path().display()
    );
    let err = app::start(parse_config(&text))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("zpk_missing"), "{err}");
    // A key file whose KCV does not match is refused too.
    let bad_keys = dir.path().join("keys.toml");
    std::fs::write(
        &bad_keys,
        "[keys.zpk]\nvalue = \"385D25042FC20BD0D551E61FAE4C8385\"\nkcv = \"000000\"\n",
    )
    .unwrap();
    let text = format!(
        "{}\n[listener.security]\npin = \"if_present\"\n[hsm]\nsoftware_keys = \"{}\"\n",
        embedded_config_text(dir.path()),
        bad_keys.display()
    );
    let err = app::start(parse_config(&text))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("check value"), "{err}");
    assert!(!err.contains("385D2504"), "no key in the error");
}

#[tokio::test]
async fn a_balance_inquiry_shows_balances_only_for_the_right_pin_and_counts_wrong_ones() {
    let (gw, _d) = start().await;
    let mut c = Client::connect(addr(&gw, "present")).await;
    let inquiry = |pin: &str| {
        with_pin(
            request("0100", PAN_PIN2, "310000", 0, "410", &stan()),
            PAN_PIN2,
            pin,
        )
    };
    let r = c.call(&inquiry("0000")).await;
    assert_eq!(de39(&r), "55");
    assert!(!r.has(54), "no balance for a wrong PIN");
    let r = c.call(&inquiry(PIN)).await;
    assert_eq!(de39(&r), "00");
    assert!(r.has(54));
    // Wrong PINs through inquiries and purchases add up to the same limit.
    assert_eq!(de39(&c.call(&inquiry("0001")).await), "55");
    assert_eq!(
        de39(&c.call(&with_pin(krw(PAN_PIN2), PAN_PIN2, "0002")).await),
        "55"
    );
    assert_eq!(de39(&c.call(&inquiry("0003")).await), "75");
    let r = c.call(&inquiry(PIN)).await;
    assert_eq!(de39(&r), "75");
    assert!(!r.has(54));
    gw.drain().await;
}

/// Tag 57 (track 2 equivalent data) of `track`: `=` as nibble D, an odd length padded with F.
fn tag_57(track: &str) -> Vec<u8> {
    let mut nibbles: Vec<u8> = track
        .bytes()
        .map(|b| if b == b'=' { 0x0D } else { b - b'0' })
        .collect();
    if nibbles.len() % 2 == 1 {
        nibbles.push(0x0F);
    }
    let value: Vec<u8> = nibbles.chunks(2).map(|p| (p[0] << 4) | p[1]).collect();
    let mut out = Vec::new();
    iso8583::tlv::ber::write(&[0x57], &value, &mut out).unwrap();
    out
}

#[tokio::test]
async fn the_icvv_of_de_55_tag_57_is_checked_when_de_35_is_absent() {
    let (gw, _d) = start().await;
    let mut c = Client::connect(addr(&gw, "present")).await;
    let cd = cards();
    let chip = cd.track2(PAN_CHIP, EXPIRY, "201", None, true).unwrap();
    let mag = cd.track2(PAN_CHIP, EXPIRY, "201", None, false).unwrap();
    for (i, (track, code)) in [(chip, "00"), (mag, "82")].into_iter().enumerate() {
        let mut de55 = cd
            .icc_data(PAN_CHIP, &chip_txn(Cvn::Visa18, 40 + i as u16))
            .unwrap();
        de55.extend(tag_57(&track));
        let mut m = krw(PAN_CHIP);
        m.set(22, "051").set(23, "001").set(55, &de55);
        assert_eq!(de39(&c.call(&m).await), code);
    }
    gw.drain().await;
}
