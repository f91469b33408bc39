//! The switch over real TCP on 127.0.0.1:0 with the embedded ledger: every flow of the
//! shared contract, checked on the wire.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::*;
use gateway::app::{self, Running};
use iso8583::OwnedMessage;
use rust_decimal::Decimal;

async fn start() -> (Running, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let running = app::start(parse_config(&embedded_config_text(dir.path())))
        .await
        .expect("gateway starts");
    (running, dir)
}

async fn balance(c: &mut Client, pan: &str) -> OwnedMessage {
    let r = c
        .call(&request("0100", pan, "310000", 0, "410", &stan()))
        .await;
    assert_eq!(de39(&r), "00");
    r
}

#[tokio::test]
async fn approve_in_the_transaction_currency() {
    let (gw, _d) = start().await;
    let mut c = Client::connect(gw.addr()).await;
    let s = stan();
    let req = purchase(PAN_OK, 1_000, "840", &s);
    let r = c.call(&req).await;
    assert_eq!(r.mti().as_str(), "0110");
    assert_eq!(de39(&r), "00");
    let code = r.get_str(38).unwrap();
    assert_eq!(code.len(), 6);
    assert!(code
        .bytes()
        .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()));
    assert!(
        !r.has(6) && !r.has(10) && !r.has(51),
        "no conversion when USD covers it"
    );
    for n in [2, 3, 4, 7, 11, 12, 13, 32, 37, 41, 42, 49] {
        assert_eq!(r.get(n), req.get(n), "DE {n} echoed");
    }
    let bd = gw.core().business_date().today();
    assert_eq!(
        r.get_str(15).unwrap(),
        format!("{:02}{:02}", bd.month(), bd.day())
    );
    // The hold shows in the balance: 250.00 - 10.00.
    assert_eq!(
        available(&balance(&mut c, PAN_OK).await, "840"),
        Some(24_000)
    );
    gw.drain().await;
}

#[tokio::test]
async fn fx_approval_matches_fx_rates_convert() {
    let (gw, _d) = start().await;
    let mut c = Client::connect(gw.addr()).await;
    // 300.00 USD > the 250.00 USD wallet: paid from KRW at the fee-free rate.
    let r = c.call(&purchase(PAN_OK, 30_000, "840", &stan())).await;
    assert_eq!(de39(&r), "00");
    let set =
        fx_rates::RateSet::from_csv(&std::fs::read_to_string(data("rates.csv")).unwrap(), "test")
            .unwrap();
    let usd = fx_rates::currency("USD").unwrap();
    let krw = fx_rates::currency("KRW").unwrap();
    let conv = fx_rates::convert(&set, 30_000, usd, krw, &Default::default()).unwrap();
    assert_eq!(conv.amount_minor, 415_560, "300 x 1385.20");
    assert_eq!(r.get_str(6).unwrap(), format!("{:012}", conv.amount_minor));
    assert_eq!(r.get_str(10).unwrap(), conv.de10.as_str());
    assert_eq!(r.get_str(51), Some("410"));
    assert_eq!(conv.rate, Decimal::new(138_520, 2));
    // A currency with no wallet at all (JPY) converts through the USD pivot.
    let r = c.call(&purchase(PAN_OK, 10_000, "392", &stan())).await;
    assert_eq!(de39(&r), "00");
    let jpy = fx_rates::currency("JPY").unwrap();
    let conv = fx_rates::convert(&set, 10_000, jpy, krw, &Default::default()).unwrap();
    assert_eq!(r.get_str(6).unwrap(), format!("{:012}", conv.amount_minor));
    assert_eq!(r.get_str(10).unwrap(), conv.de10.as_str());
    let left = available(&balance(&mut c, PAN_OK).await, "410").unwrap();
    assert_eq!(left, 1_500_000 - 415_560 - conv.amount_minor as i64);
    gw.drain().await;
}

#[tokio::test]
async fn declines_for_each_reason() {
    let (gw, _d) = start().await;
    let mut c = Client::connect(gw.addr()).await;
    let cases: Vec<(OwnedMessage, &str)> = vec![
        (purchase(PAN_UNKNOWN, 100, "840", &stan()), "14"),
        (purchase(PAN_EXPIRED, 100, "840", &stan()), "54"),
        (purchase(PAN_OK, 100, "840", &stan()).with(14, "2801"), "54"),
        (purchase(PAN_LOST, 100, "840", &stan()), "41"),
        (purchase(PAN_STOLEN, 100, "840", &stan()), "43"),
        (purchase(PAN_BLOCKED, 100, "840", &stan()), "62"),
        (purchase(PAN_KRW_ONLY, 2_000_000, "410", &stan()), "51"),
        (request("0100", PAN_OK, "200000", 100, "840", &stan()), "12"),
        (purchase(PAN_OK, 0, "840", &stan()), "13"),
        (
            {
                let mut m = purchase(PAN_OK, 100, "840", &stan());
                m.remove(32);
                m
            },
            "30",
        ),
        // Cash works like a purchase.
        (
            request("0200", PAN_USD_HOME, "010000", 2_000, "840", &stan()),
            "00",
        ),
    ];
    for (req, want) in cases {
        let r = c.call(&req).await;
        assert_eq!(de39(&r), want, "STAN {:?}", req.get_str(11));
        assert_eq!(r.get_str(11), req.get_str(11));
        if want != "00" {
            assert!(!r.has(38), "no approval code on a decline");
        }
    }
    gw.drain().await;
}

#[tokio::test]
async fn balance_inquiry_lists_wallets_home_first() {
    let (gw, _d) = start().await;
    let mut c = Client::connect(gw.addr()).await;
    let r = balance(&mut c, PAN_OK).await;
    assert_eq!(
        r.get_str(54).unwrap(),
        "0002410C0000015000000002840C000000025000"
    );
    gw.drain().await;
}

#[tokio::test]
async fn repeats_get_the_stored_answer_and_no_second_hold() {
    let (gw, _d) = start().await;
    let mut c = Client::connect(gw.addr()).await;
    let s = stan();
    let first = c.call(&purchase(PAN_OK, 5_000, "840", &s)).await;
    assert_eq!(de39(&first), "00");
    let mut repeat = purchase(PAN_OK, 5_000, "840", &s);
    repeat.set_mti("0101".parse().unwrap());
    let again = c.call(&repeat).await;
    assert_eq!(again.mti().as_str(), "0110");
    assert_eq!(de39(&again), "00");
    assert_eq!(again.get(38), first.get(38), "same approval code");
    // The same key again, even as a plain 0100.
    let third = c.call(&purchase(PAN_OK, 5_000, "840", &s)).await;
    assert_eq!(third.get(38), first.get(38));
    assert_eq!(
        available(&balance(&mut c, PAN_OK).await, "840"),
        Some(20_000)
    );
    // A decline repeated stays the same decline.
    let s2 = stan();
    let d1 = c.call(&purchase(PAN_LOST, 100, "840", &s2)).await;
    let mut rep = purchase(PAN_LOST, 100, "840", &s2);
    rep.set_mti("0101".parse().unwrap());
    let d2 = c.call(&rep).await;
    assert_eq!((de39(&d1), de39(&d2)), ("41", "41"));
    gw.drain().await;
}

/// Issue 25, item 1: one key sent by 50 connections at once with 50 amounts used to get 50
/// approvals and one hold. Now one request is decided; the others are answered 94
/// (duplicate transmission), with no DE 38, and move nothing. The same key with another
/// card, currency, processing code or MTI class afterwards is a duplicate too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_reused_for_other_requests_is_answered_94_and_holds_once() {
    let (gw, _d) = start().await;
    let addr = gw.addr();
    let s = stan();
    let mut tasks = Vec::new();
    for i in 0..50u64 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            let mut c = Client::connect(addr).await;
            let r = c.call(&purchase(PAN_OK, 100 + i, "840", &s)).await;
            (100 + i, r)
        }));
    }
    let mut approved = Vec::new();
    for t in tasks {
        let (amount, r) = t.await.unwrap();
        assert_eq!(r.get_str(11), Some(s.as_str()));
        match de39(&r) {
            "00" => approved.push((amount, r.get_str(38).unwrap().to_owned())),
            "94" => assert!(!r.has(38), "a duplicate carries no approval code"),
            other => panic!("unexpected 39={other}"),
        }
    }
    assert_eq!(approved.len(), 1, "one decision for one key");
    let (amount, code) = approved.pop().unwrap();
    let mut c = Client::connect(addr).await;
    assert_eq!(
        available(&balance(&mut c, PAN_OK).await, "840"),
        Some(25_000 - amount as i64),
        "one hold, of the approved amount"
    );
    // The true repeat still gets the approval.
    let mut repeat = purchase(PAN_OK, amount, "840", &s);
    repeat.set_mti("0101".parse().unwrap());
    let r = c.call(&repeat).await;
    assert_eq!((de39(&r), r.get_str(38)), ("00", Some(code.as_str())));
    let mut others = vec![
        purchase(PAN_UNKNOWN, amount, "840", &s),
        purchase(PAN_LOST, amount, "840", &s),
        purchase(PAN_OK, amount, "410", &s),
        request("0100", PAN_OK, "010000", amount, "840", &s),
        request("0200", PAN_OK, "000000", amount, "840", &s),
    ];
    let mut other_terminal = purchase(PAN_OK, amount, "840", &s);
    other_terminal.set(41, "TERM0002");
    others.push(other_terminal);
    for m in &others {
        let r = c.call(m).await;
        assert_eq!(de39(&r), "94", "{:?}", m.get_str(3));
        assert!(!r.has(38));
    }
    assert_eq!(
        available(&balance(&mut c, PAN_OK).await, "840"),
        Some(25_000 - amount as i64)
    );
    let key = ledger::NetworkKey::new(ACQUIRER, &s, DE7).unwrap();
    let dups = gw.core().store().duplicates(&key).await.unwrap();
    assert_eq!(
        dups.len(),
        49 + others.len(),
        "each distinct request recorded"
    );
    gw.drain().await;
}

/// Issue 25, item 7: a conversion whose result does not fit DE 6's 12 digits was answered 91
/// (issuer unavailable, and recorded so) and is now 13; a currency the rates cannot price, 30
/// (91 stays for rates that are missing or stale); a DE 7 that is no time (month 13, day 32,
/// hour 25) was approved and is now 30, with nothing held.
#[tokio::test]
async fn wrong_amounts_currencies_and_times_get_their_own_codes() {
    let (gw, _d) = start().await;
    let mut c = Client::connect(gw.addr()).await;
    // 9,999,999,999.99 USD: more than the USD wallet, and x1385.20 is 14 digits of KRW.
    let r = c
        .call(&purchase(PAN_OK, 999_999_999_999, "840", &stan()))
        .await;
    assert_eq!(de39(&r), "13");
    // AUD (036) is an ISO 4217 currency without a rate in this rate set; 999 is no currency.
    for ccy in ["036", "999"] {
        let r = c.call(&purchase(PAN_OK, 1_000, ccy, &stan())).await;
        assert_eq!(de39(&r), "30", "DE 49 {ccy}");
    }
    for de7 in ["1325063015", "1132063015", "1125250000", "0230120000"] {
        let s = stan();
        let mut m = purchase(PAN_OK, 1_000, "840", &s);
        m.set(7, de7);
        let r = c.call(&m).await;
        assert_eq!(de39(&r), "30", "DE 7 {de7}");
        assert_eq!(r.get_str(11), Some(s.as_str()));
        assert!(!r.has(38));
    }
    assert_eq!(
        available(&balance(&mut c, PAN_OK).await, "840"),
        Some(25_000),
        "nothing held"
    );
    gw.drain().await;
}

#[tokio::test]
async fn full_and_partial_reversals_release_the_hold() {
    let (gw, _d) = start().await;
    let mut c = Client::connect(gw.addr()).await;
    let s1 = stan();
    assert_eq!(
        de39(&c.call(&purchase(PAN_OK, 10_000, "840", &s1)).await),
        "00"
    );
    let s2 = stan();
    assert_eq!(
        de39(&c.call(&purchase(PAN_OK, 4_000, "840", &s2)).await),
        "00"
    );
    assert_eq!(
        available(&balance(&mut c, PAN_OK).await, "840"),
        Some(11_000)
    );

    let full =
        request("0400", PAN_OK, "000000", 10_000, "840", &stan()).with(90, de90("0100", &s1));
    let r = c.call(&full).await;
    assert_eq!((r.mti().as_str(), de39(&r)), ("0410", "00"));
    assert_eq!(
        available(&balance(&mut c, PAN_OK).await, "840"),
        Some(21_000)
    );

    // Partial: keep 1.50 of the 40.00.
    let de95 = format!("{:012}{:012}C00000000C00000000", 150, 150);
    let partial = request("0420", PAN_OK, "000000", 4_000, "840", &stan())
        .with(90, de90("0100", &s2))
        .with(95, de95);
    let r = c.call(&partial).await;
    assert_eq!((r.mti().as_str(), de39(&r)), ("0430", "00"));
    assert_eq!(
        available(&balance(&mut c, PAN_OK).await, "840"),
        Some(24_850)
    );
    // A repeated reversal changes nothing.
    let mut again = full.clone();
    again.set_mti("0401".parse().unwrap());
    assert_eq!(de39(&c.call(&again).await), "00");
    assert_eq!(
        available(&balance(&mut c, PAN_OK).await, "840"),
        Some(24_850)
    );
    gw.drain().await;
}

#[tokio::test]
async fn reversal_before_original_places_no_hold() {
    let (gw, _d) = start().await;
    let mut c = Client::connect(gw.addr()).await;
    let s = stan();
    let rev = request("0400", PAN_OK, "000000", 7_000, "840", &stan()).with(90, de90("0100", &s));
    assert_eq!(de39(&c.call(&rev).await), "00");
    let late = c.call(&purchase(PAN_OK, 7_000, "840", &s)).await;
    assert_eq!(de39(&late), "12");
    assert_eq!(
        available(&balance(&mut c, PAN_OK).await, "840"),
        Some(25_000)
    );
    gw.drain().await;
}

#[tokio::test]
async fn advices_are_recorded_and_acknowledged() {
    let (gw, _d) = start().await;
    let mut c = Client::connect(gw.addr()).await;
    // A stand-in approval: force-posted.
    let adv = request("0120", PAN_OK, "000000", 2_500, "840", &stan()).with(39, "00");
    let r = c.call(&adv).await;
    assert_eq!((r.mti().as_str(), de39(&r)), ("0130", "00"));
    // A completion of an approved authorization, for a different amount.
    let s = stan();
    assert_eq!(
        de39(&c.call(&purchase(PAN_OK, 5_000, "840", &s)).await),
        "00"
    );
    let completion =
        request("0220", PAN_OK, "000000", 4_500, "840", &stan()).with(90, de90("0100", &s));
    let r = c.call(&completion).await;
    assert_eq!((r.mti().as_str(), de39(&r)), ("0230", "00"));
    // 250.00 - 25.00 (advice) - 45.00 (captured; the rest of the hold released).
    assert_eq!(
        available(&balance(&mut c, PAN_OK).await, "840"),
        Some(18_000)
    );
    gw.drain().await;
}

#[tokio::test]
async fn network_management_echo_sign_on_cutover() {
    let (gw, _d) = start().await;
    let mut c = Client::connect(gw.addr()).await;
    for code in ["001", "301", "002"] {
        let r = c.call(&network(code, &stan())).await;
        assert_eq!(
            (r.mti().as_str(), de39(&r), r.get_str(70)),
            ("0810", "00", Some(code))
        );
    }
    let before = c
        .call(&network("301", &stan()))
        .await
        .get_str(15)
        .unwrap()
        .to_owned();
    let cut_req = network("201", &stan());
    let cut = c.call(&cut_req).await;
    assert_eq!(de39(&cut), "00");
    let next = gw.core().business_date().today();
    assert_eq!(
        cut.get_str(15).unwrap(),
        format!("{:02}{:02}", next.month(), next.day())
    );
    assert_ne!(cut.get_str(15).unwrap(), before);
    // A retransmitted cutover (same STAN and DE 7) does not move the date again.
    let mut again = cut_req.clone();
    again.set_mti("0801".parse().unwrap());
    assert_eq!(c.call(&again).await.get(15), cut.get(15));
    // Later messages carry the new date.
    let r = c.call(&purchase(PAN_OK, 100, "840", &stan())).await;
    assert_eq!(r.get(15), cut.get(15));
    assert_eq!(de39(&c.call(&network("999", &stan())).await), "12");
    // Without DE 70 there is nothing to act on: a format error.
    let mut no_de70 = network("301", &stan());
    no_de70.remove(70);
    let r = c.call(&no_de70).await;
    assert_eq!(
        (r.mti().as_str(), de39(&r), r.get(70)),
        ("0810", "30", None)
    );
    gw.drain().await;
}

/// DE 15 of an echo test's answer: the business date an instance answers with now.
async fn de15_now(c: &mut Client) -> String {
    let r = c.call(&network("301", &stan())).await;
    r.get_str(15).unwrap().to_owned()
}

#[tokio::test]
async fn a_cutover_outlives_a_restart_and_reaches_the_other_instance() {
    let dir = tempfile::tempdir().unwrap();
    let config = || parse_config(&embedded_config_text(dir.path()));
    let a = app::start(config()).await.expect("gateway starts");
    let mut ca = Client::connect(a.addr()).await;
    let first_req = network("201", &stan());
    let first = ca.call(&first_req).await;
    assert_eq!(de39(&first), "00");
    let d1 = first.get_str(15).unwrap().to_owned();

    // An instance started after the cutover (the new side of a rolling restart) answers
    // with the cutover's date from its first message on, not its calendar's.
    let b = app::start(config()).await.expect("second instance starts");
    let mut cb = Client::connect(b.addr()).await;
    assert_eq!(de15_now(&mut cb).await, d1);

    // A cutover at one instance reaches the other within a second or so.
    let second = ca.call(&network("201", &stan())).await;
    let d2 = second.get_str(15).unwrap().to_owned();
    assert_ne!(d2, d1);
    let until = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while de15_now(&mut cb).await != d2 {
        assert!(
            std::time::Instant::now() < until,
            "the second instance never took the other's cutover"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    // The first cutover retransmitted to the other instance gets its recorded date back and
    // moves nothing.
    let mut again = first_req.clone();
    again.set_mti("0801".parse().unwrap());
    assert_eq!(cb.call(&again).await.get_str(15), Some(d1.as_str()));
    assert_eq!(de15_now(&mut cb).await, d2);

    // Both gone, a fresh start on the same ledger still answers with the latest cutover.
    a.drain().await;
    b.drain().await;
    let c = app::start(config())
        .await
        .expect("restarted instance starts");
    let mut cc = Client::connect(c.addr()).await;
    assert_eq!(de15_now(&mut cc).await, d2);
    c.drain().await;
}

/// `gateway business-date reset` on `cfg` (and `--var-dir`): its JSON line.
fn reset_business_date(
    cfg: &std::path::Path,
    var_dir: Option<&std::path::Path>,
) -> serde_json::Value {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_gateway"));
    cmd.args(["business-date", "reset", "--config"]).arg(cfg);
    if let Some(d) = var_dir {
        cmd.arg("--var-dir").arg(d);
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[tokio::test]
async fn business_date_reset_brings_the_next_start_back_to_the_calendar() {
    let dir = tempfile::tempdir().unwrap();
    let text = embedded_config_text(dir.path());
    let cfg = dir.path().join("gateway.toml");
    std::fs::write(&cfg, &text).unwrap();
    let calendar = gateway::BusinessDate::from_zone_name("Asia/Seoul")
        .unwrap()
        .today();
    let mmdd = |d: jiff::civil::Date| gateway::BusinessDate::mmdd(d);

    // Two cutovers (two runs of the harness's cutover scenario): two days ahead.
    let gw = app::start(parse_config(&text)).await.unwrap();
    let mut c = Client::connect(gw.addr()).await;
    for _ in 0..2 {
        assert_eq!(de39(&c.call(&network("201", &stan())).await), "00");
    }
    let ahead = calendar.tomorrow().unwrap().tomorrow().unwrap();
    assert_eq!(de15_now(&mut c).await, mmdd(ahead));

    // The reset removes both; the running instance keeps its date (it only moves forward).
    let v = reset_business_date(&cfg, None);
    assert_eq!(v["calendar"], calendar.to_string());
    assert_eq!(v["removed_cutovers"], 2, "{v}");
    assert_eq!(v["business_date_at_start"], calendar.to_string());
    tokio::time::sleep(Duration::from_millis(1500)).await; // past a poll of the ledger
    assert_eq!(de15_now(&mut c).await, mmdd(ahead));
    gw.drain().await;

    // Restarted, it answers with the calendar's date again.
    let gw = app::start(parse_config(&text)).await.unwrap();
    let mut c = Client::connect(gw.addr()).await;
    assert_eq!(de15_now(&mut c).await, mmdd(calendar));
    gw.drain().await;

    // Nothing left to remove; and --var-dir names another (here absent) ledger, which a reset
    // does not create.
    assert_eq!(reset_business_date(&cfg, None)["removed_cutovers"], 0);
    let other = dir.path().join("other");
    let v = reset_business_date(&cfg, Some(&other));
    assert_eq!(v["removed_cutovers"], 0);
    assert!(!other.exists(), "a reset created a ledger");
}

#[tokio::test]
async fn format_error_answers_30_and_the_connection_stays_up() {
    let (gw, _d) = start().await;
    let mut c = Client::connect(gw.addr()).await;
    // A valid 0100 cut short after DE 11: MTI and STAN readable, DE 12 truncated.
    let s = stan();
    let full = purchase(PAN_OK, 100, "840", &s).encode(spec()).unwrap();
    let mut cut = full.clone();
    cut.truncate(full.len() - 20);
    c.send_raw(&cut).await;
    let r = c.recv().await;
    assert_eq!(
        (r.mti().as_str(), de39(&r), r.get_str(11)),
        ("0110", "30", Some(s.as_str()))
    );
    // Garbage whose MTI cannot be read: logged, not answered; the connection stays up.
    c.send_raw(b"\xFF\xFFnot iso").await;
    let r = c.call(&network("301", &stan())).await;
    assert_eq!(de39(&r), "00");
    gw.drain().await;
}

#[tokio::test]
async fn a_peer_sending_only_unreadable_frames_is_disconnected() {
    use gateway::server::MAX_UNREADABLE_IN_ROW;
    let (gw, _d) = start().await;
    let mut c = Client::connect(gw.addr()).await;
    // One short of the limit, then a readable message: answered, and the run starts over.
    for _ in 1..MAX_UNREADABLE_IN_ROW {
        c.send_raw(b"\xFF\xFFnot iso").await;
        // Spaced so each is processed before the next (requests run concurrently).
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(de39(&c.call(&network("301", &stan())).await), "00");
    for _ in 1..MAX_UNREADABLE_IN_ROW {
        c.send_raw(b"\xFF\xFFnot iso").await;
        // Spaced so each is processed before the next (requests run concurrently).
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(de39(&c.call(&network("301", &stan())).await), "00");
    // Nothing but unreadable frames: the connection is closed (without an answer) soon
    // after the limit, never before it.
    let mut sent = 0;
    let closed = loop {
        if sent == 10 * MAX_UNREADABLE_IN_ROW {
            break false;
        }
        let mut frame = vec![0, 9];
        frame.extend_from_slice(b"\xFF\xFFnot iso");
        use tokio::io::AsyncWriteExt;
        if c.stream.write_all(&frame).await.is_err() {
            break true;
        }
        sent += 1;
        match tokio::time::timeout(Duration::from_millis(50), c.recv_raw()).await {
            Ok(None) => break true,
            Ok(Some(b)) => panic!("unreadable frame answered: {b:02X?}"),
            Err(_) => {}
        }
    };
    assert!(closed, "still open after {sent} unreadable frames");
    assert!(sent > MAX_UNREADABLE_IN_ROW, "closed after only {sent}");
    // Others are unaffected.
    let mut d = Client::connect(gw.addr()).await;
    assert_eq!(de39(&d.call(&network("301", &stan())).await), "00");
    gw.drain().await;
}

#[tokio::test]
async fn oversize_frame_closes_the_connection() {
    let (gw, _d) = start().await;
    let mut c = Client::connect(gw.addr()).await;
    use tokio::io::AsyncWriteExt;
    c.stream.write_all(&[0xFF, 0xFF, 0, 0]).await.unwrap();
    assert!(c.recv_raw().await.is_none(), "closed without an answer");
    // Others are unaffected.
    let mut d = Client::connect(gw.addr()).await;
    assert_eq!(de39(&d.call(&network("301", &stan())).await), "00");
    gw.drain().await;
}

#[tokio::test]
async fn five_hundred_in_flight_on_one_connection() {
    let (gw, _d) = start().await;
    let mut c = Client::connect(gw.addr()).await;
    let mut sent = HashMap::new();
    let mut wire = Vec::new();
    for i in 0..500u64 {
        let s = stan();
        // A mix: small approvals, echoes, declines.
        let m = match i % 3 {
            0 => purchase(PAN_OK, 1, "840", &s),
            1 => network("301", &s),
            _ => purchase(PAN_LOST, 1, "840", &s),
        };
        let body = m.encode(spec()).unwrap();
        wire.extend_from_slice(&(body.len() as u16).to_be_bytes());
        wire.extend_from_slice(&body);
        sent.insert(
            s,
            (m.mti().response(), if i % 3 == 2 { "41" } else { "00" }),
        );
    }
    use tokio::io::AsyncWriteExt;
    c.stream.write_all(&wire).await.unwrap();
    for _ in 0..500 {
        let r = c.recv().await;
        let s = r.get_str(11).unwrap().to_owned();
        let (mti, code) = sent
            .remove(&s)
            .expect("a response to a request we sent, once");
        assert_eq!((r.mti(), de39(&r)), (mti, code));
    }
    assert!(sent.is_empty());
    let approved = 500 / 3 + 1;
    assert_eq!(
        available(&balance(&mut c, PAN_OK).await, "840"),
        Some(25_000 - approved)
    );
    gw.drain().await;
}

#[tokio::test]
async fn admin_reports_ready_and_metrics() {
    let (gw, _d) = start().await;
    let mut c = Client::connect(gw.addr()).await;
    c.call(&purchase(PAN_OK, 100, "840", &stan())).await;
    let (status, _) = http_get(gw.admin, "/healthz").await;
    assert_eq!(status, 200);
    let (status, body) = http_get(gw.admin, "/readyz").await;
    assert_eq!(status, 200, "{body}");
    let (_, m) = http_get(gw.admin, "/metrics").await;
    assert!(
        m.contains("gateway_requests_total{mti=\"0100\",code=\"00\"} 1"),
        "{m}"
    );
    assert!(m.contains("gateway_rate_set_info{version=\"file-"), "{m}");
    assert!(m.contains("gateway_business_date{date="), "{m}");
    assert!(m.contains("gateway_connections 1"), "{m}");
    assert!(m.contains("gateway_messages_received_total 1\n"), "{m}");
    // Group commit: every ledger write is counted in one batch; one more purchase adds one
    // operation.
    let ops = metric(&m, "gateway_ledger_batch_size_sum");
    let batches = metric(&m, "gateway_ledger_batch_size_count");
    assert!(ops >= 1 && batches >= 1 && ops >= batches, "{m}");
    assert_eq!(
        metric(&m, "gateway_ledger_batch_size_bucket{le=\"+Inf\"}"),
        batches
    );
    c.call(&purchase(PAN_OK, 100, "840", &stan())).await;
    let (_, m) = http_get(gw.admin, "/metrics").await;
    assert_eq!(metric(&m, "gateway_ledger_batch_size_sum"), ops + 1, "{m}");
    assert_eq!(
        metric(&m, "gateway_ledger_batch_size_count"),
        batches + 1,
        "{m}"
    );
    gw.drain().await;
}

/// The value of the sample `name` (the whole text before the space) in a Prometheus page,
/// a whole number (a histogram's sum is written as a float: `12.0`).
fn metric(page: &str, name: &str) -> u64 {
    let v = sample(page, name).unwrap_or_else(|| panic!("no {name} in {page}"));
    assert!(v.fract() == 0.0 && v >= 0.0, "{name} = {v}");
    v as u64
}

#[tokio::test]
async fn incremental_authorization_adds_a_linked_hold() {
    let (gw, _d) = start().await;
    let mut c = Client::connect(gw.addr()).await;
    let s = stan();
    assert_eq!(
        de39(&c.call(&purchase(PAN_OK, 5_000, "840", &s)).await),
        "00"
    );
    let inc = purchase(PAN_OK, 2_000, "840", &stan()).with(90, de90("0100", &s));
    let r = c.call(&inc).await;
    assert_eq!(de39(&r), "00");
    assert!(r.has(38));
    assert_eq!(
        available(&balance(&mut c, PAN_OK).await, "840"),
        Some(18_000)
    );
    gw.drain().await;
}
