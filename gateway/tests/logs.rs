//! Nothing secret in any log line at any level: the real binary at `trace` with JSON logs,
//! driven through approvals, declines, a format error carrying a PAN and a drain; its log
//! must hold the masked PAN and never the full one, nor the PAN key.

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use common::*;

/// The real binary on `cfg`, on free ports, its log going to `dir/gateway.log`.
fn serve_logging(cfg: &Path, dir: &Path) -> (Child, SocketAddr, SocketAddr, PathBuf) {
    let (listen, admin) = (free_addr(), free_addr());
    let log_path = dir.join("gateway.log");
    let child = serve(
        cfg,
        listen,
        admin,
        std::fs::File::create(&log_path).unwrap().into(),
    );
    (child, listen, admin, log_path)
}

#[tokio::test]
async fn trace_level_json_logs_hold_no_card_data() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("gateway.toml");
    let text = embedded_config_text(dir.path())
        .replace("level = \"warn\"", "level = \"trace\"\nformat = \"json\"");
    std::fs::write(&cfg, text).unwrap();
    let (mut child, listen, admin, log_path) = serve_logging(&cfg, dir.path());
    let mut c = connect_when_up(listen).await;
    assert_eq!(
        de39(&c.call(&purchase(PAN_OK, 100, "840", &stan())).await),
        "00"
    );
    let with_track = purchase(PAN_OK, 100, "840", &stan())
        .with(35, "4761739001010010=29121010000012300000")
        .with(52, vec![0x12u8, 0x34, 0x56, 0x78, 0x9A, 0xBC, 0xDE, 0xF0]);
    assert_eq!(de39(&c.call(&with_track).await), "00");
    assert_eq!(
        de39(&c.call(&purchase(PAN_LOST, 100, "840", &stan())).await),
        "41"
    );
    let body = purchase(PAN_OK, 100, "840", &stan())
        .encode(spec())
        .unwrap();
    c.send_raw(&body[..body.len() - 20]).await;
    assert_eq!(de39(&c.recv().await), "30");
    let _ = http_get(admin, "/metrics").await;
    terminate(&child);
    assert!(child.wait().unwrap().success());

    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(
        log.contains("476173******0010"),
        "masked PAN is logged: {log}"
    );
    for secret in [
        PAN_OK,
        PAN_LOST,
        "29121010000012300000",
        "123456789ABCDEF0",
        "gateway-integration-test-pan-key",
    ] {
        assert!(!log.contains(secret), "{secret} leaked into the log");
    }
    for line in log.lines().filter(|l| !l.trim().is_empty()) {
        assert!(
            serde_json::from_str::<serde_json::Value>(line).is_ok(),
            "not JSON: {line}"
        );
    }
}

/// At info, each message has its line, and a warning on the way names its message: network,
/// MTI, STAN and the masked PAN (they are fields of each line, not of a span around it).
#[tokio::test]
async fn info_lines_name_their_message() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("gateway.toml");
    let text = embedded_config_text(dir.path()).replace("level = \"warn\"", "level = \"info\"");
    std::fs::write(&cfg, text).unwrap();
    let (mut child, listen, _admin, log_path) = serve_logging(&cfg, dir.path());
    let mut c = connect_when_up(listen).await;
    let ok = stan();
    assert_eq!(
        de39(&c.call(&purchase(PAN_OK, 100, "840", &ok)).await),
        "00"
    );
    let bad = stan();
    let mut no_acquirer = purchase(PAN_OK, 100, "840", &bad);
    no_acquirer.remove(32);
    assert_eq!(de39(&c.call(&no_acquirer).await), "30");
    terminate(&child);
    assert!(child.wait().unwrap().success());
    let log = std::fs::read_to_string(&log_path).unwrap();
    let line = |needle: &str| {
        log.lines()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no line with {needle:?} in\n{log}"))
            .to_owned()
    };
    let answered = line(&format!("stan={ok}"));
    assert!(
        answered.contains(" INFO gateway::switch: answered "),
        "{answered}"
    );
    for part in ["mti=0100", "pan=476173******0010", "code=00", "latency_us="] {
        assert!(answered.contains(part), "{part} missing: {answered}");
    }
    let warned = line("format error");
    assert!(warned.contains(" WARN "), "{warned}");
    for part in [
        &format!("stan={bad}"),
        "mti=0100",
        "pan=476173******0010",
        "field=32",
    ] {
        assert!(warned.contains(part), "{part} missing: {warned}");
    }
    assert!(
        log.lines().any(|l| l.contains(": answered ")
            && l.contains(&format!("stan={bad} "))
            && l.contains("code=30")),
        "no answered line for {bad}: {log}"
    );
    assert!(!log.contains(PAN_OK), "full PAN in the log");
    // The seed says what it put in: accounts and cards (not "rows", which were neither).
    let seed: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(data("cards.json")).unwrap()).unwrap();
    let seeded = line("ledger seeded");
    for part in [
        format!("accounts={}", seed["accounts"].as_array().unwrap().len()),
        format!("cards={}", seed["cards"].as_array().unwrap().len()),
    ] {
        assert!(seeded.contains(&part), "{part} missing: {seeded}");
    }
}

#[tokio::test]
async fn sighup_reloads_the_log_level() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("gateway.toml");
    let text = embedded_config_text(dir.path());
    std::fs::write(&cfg, &text).unwrap();
    let (mut child, listen, _admin, log_path) = serve_logging(&cfg, dir.path());
    let mut c = connect_when_up(listen).await;
    let quiet = stan();
    c.call(&network("301", &quiet)).await;
    std::fs::write(&cfg, text.replace("level = \"warn\"", "level = \"info\"")).unwrap();
    let kill = |sig: &str| {
        Command::new("kill")
            .args([sig, &child.id().to_string()])
            .status()
            .unwrap()
    };
    kill("-HUP");
    let loud = stan();
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        c.call(&network("301", &loud)).await;
        if std::fs::read_to_string(&log_path)
            .unwrap()
            .contains(&format!("stan={loud}"))
        {
            break;
        }
        assert!(
            Instant::now() < until,
            "info lines never appeared after SIGHUP"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    kill("-TERM");
    assert!(child.wait().unwrap().success());
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(
        !log.contains(&format!("stan={quiet}")),
        "warn level hid the first message"
    );
}

/// The sandbox's key file (clear test keys: their hex must never reach a log line).
fn sandbox_keys() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/keys.toml")
}

/// A config with the software HSM and every check on, seeded with one PIN card (`PIN_PAN`).
fn security_config(dir: &Path, keys: &Path) -> String {
    let seed = dir.join("cards-pin.json");
    std::fs::write(
        &seed,
        format!(
            r#"{{"accounts":[{{"id":"A-L","home_currency":"KRW","balances":{{"KRW":"100000000"}}}}],
"cards":[{{"id":"C-L","pan":"{PIN_PAN}","expiry":"3012","account":"A-L","status":"active","pin":"{PIN}","psn":"01"}}]}}"#
        ),
    )
    .unwrap();
    embedded_config_text(dir)
        .replace(&data("cards.json").display().to_string(), &seed.display().to_string())
        + &format!(
            "[listener.security]\npin = \"if_present\"\ncvv = \"if_present\"\ncvv2 = \"if_present\"\narqc = \"if_present\"\n[hsm]\nsoftware_keys = \"{}\"\n",
            keys.display()
        )
}

const PIN_PAN: &str = "4000001000001016";
const PIN: &str = "7391";

#[tokio::test]
async fn trace_logs_hold_no_pin_block_pin_cvv_cryptogram_or_key() {
    use hsm::sandbox::{corrupt_arqc, de48_with_cvv2, ChipTxn, SandboxCards};
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("gateway.toml");
    let text = security_config(dir.path(), &sandbox_keys())
        .replace("level = \"warn\"", "level = \"trace\"\nformat = \"json\"");
    std::fs::write(&cfg, text).unwrap();
    let (mut child, listen, _admin, log_path) = serve_logging(&cfg, dir.path());
    let mut c = connect_when_up(listen).await;
    let cards = SandboxCards::new(hsm::KeyFile::load(&sandbox_keys()).unwrap());
    let right = cards
        .pin_block(PIN_PAN, PIN, hsm::PinBlockFormat::Iso0)
        .unwrap();
    let wrong = cards
        .pin_block(PIN_PAN, "7392", hsm::PinBlockFormat::Iso0)
        .unwrap();
    let cvv2 = cards.cvv(PIN_PAN, "3012", "000").unwrap();
    let track = cards
        .track2(PIN_PAN, "3012", "201", Some(PIN), false)
        .unwrap();
    let txn = ChipTxn {
        cvn: hsm::Cvn::Visa18,
        psn: "01".into(),
        amount_minor: 100,
        currency: 840,
        atc: 5,
        unpredictable: 7,
    };
    let de55 = cards.icc_data(PIN_PAN, &txn).unwrap();
    let sends: Vec<(iso8583::OwnedMessage, &str)> = vec![
        (
            purchase(PIN_PAN, 100, "840", &stan()).with(52, &right),
            "00",
        ),
        (
            purchase(PIN_PAN, 100, "840", &stan()).with(52, &wrong),
            "55",
        ),
        (
            purchase(PIN_PAN, 100, "840", &stan()).with(48, de48_with_cvv2(&cvv2)),
            "00",
        ),
        (
            purchase(PIN_PAN, 100, "840", &stan()).with(48, de48_with_cvv2("000")),
            if cvv2 == "000" { "00" } else { "N7" },
        ),
        (
            purchase(PIN_PAN, 100, "840", &stan())
                .with(22, "901")
                .with(35, &track),
            "00",
        ),
        (
            purchase(PIN_PAN, 100, "840", &stan())
                .with(22, "051")
                .with(55, &de55),
            "00",
        ),
        (
            purchase(PIN_PAN, 100, "840", &stan())
                .with(22, "051")
                .with(55, corrupt_arqc(&de55)),
            "82",
        ),
    ];
    for (m, code) in &sends {
        assert_eq!(de39(&c.call(m).await), *code);
    }
    terminate(&child);
    assert!(child.wait().unwrap().success());
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(log.contains("400000******1016"), "masked PAN is logged");
    let mut secrets = vec![
        PIN_PAN.to_owned(),
        hex::encode_upper(&right),
        hex::encode(&right),
        hex::encode_upper(&wrong),
        hex::encode(&wrong),
        track.clone(),
        track[PIN_PAN.len() + 1..].to_owned(),
        de48_with_cvv2(&cvv2),
        hex::encode_upper(&de55),
        hex::encode(&de55),
        format!("\"{PIN}\""),
        format!("={PIN}"),
        format!("\"{cvv2}\""),
    ];
    // Every key of the key file, by its hex.
    let keys = std::fs::read_to_string(sandbox_keys()).unwrap();
    for line in keys.lines().filter(|l| l.starts_with("value")) {
        let v = line.split('"').nth(1).unwrap();
        secrets.push(v.to_owned());
        secrets.push(v.to_lowercase());
    }
    for secret in &secrets {
        assert!(
            !log.contains(secret.as_str()),
            "{secret} leaked into the log"
        );
    }
    // What is logged about keys: names and KCVs, which identify a key without revealing it.
    assert!(log.contains("08D7B4"), "the CVK's KCV is logged at start");
}

#[tokio::test]
async fn sighup_rotates_keys_and_refuses_a_key_file_that_does_not_check() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys.toml");
    let original = std::fs::read_to_string(sandbox_keys()).unwrap();
    std::fs::write(&keys, &original).unwrap();
    let cfg = dir.path().join("gateway.toml");
    let text = security_config(dir.path(), &keys).replace("level = \"warn\"", "level = \"info\"");
    std::fs::write(&cfg, &text).unwrap();
    let (mut child, listen, _admin, log_path) = serve_logging(&cfg, dir.path());
    let mut c = connect_when_up(listen).await;
    let kill = |sig: &str| {
        Command::new("kill")
            .args([sig, &child.id().to_string()])
            .status()
            .unwrap()
    };
    let wait_for = |needle: &str| {
        let until = Instant::now() + Duration::from_secs(10);
        loop {
            let log = std::fs::read_to_string(&log_path).unwrap();
            if log.contains(needle) {
                return log;
            }
            assert!(Instant::now() < until, "no {needle:?} in\n{log}");
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    // A key file whose new zpk's KCV is wrong: refused, the old keys keep serving.
    let rotated_bad = original.replace("kcv = \"83FFFF\"", "kcv = \"000000\"");
    std::fs::write(&keys, rotated_bad).unwrap();
    kill("-HUP");
    wait_for("keys not reloaded");
    let cards = hsm::sandbox::SandboxCards::new(hsm::KeyFile::load(&sandbox_keys()).unwrap());
    let block = cards
        .pin_block(PIN_PAN, PIN, hsm::PinBlockFormat::Iso0)
        .unwrap();
    let m = purchase(PIN_PAN, 100, "840", &stan()).with(52, &block);
    assert_eq!(de39(&c.call(&m).await), "00", "old zpk still serves");
    // A rotation: a new zpk (version 2) with the old one as previous; blocks under either
    // verify while both live.
    let new_zpk = "0123456789ABCDEFFEDCBA9876543210";
    let new_kcv =
        hex::encode_upper(hsm::kcv::kcv(&hsm::Key::from_hex(new_zpk, false).unwrap()).unwrap());
    let rotated = original.replace(
        "[keys.zpk]\nvalue = \"385D25042FC20BD0D551E61FAE4C8385\"\nkcv = \"83FFFF\"",
        &format!(
            "[keys.zpk]\nversion = 2\nvalue = \"{new_zpk}\"\nkcv = \"{new_kcv}\"\n[keys.zpk.previous]\nversion = 1\nvalue = \"385D25042FC20BD0D551E61FAE4C8385\"\nkcv = \"83FFFF\""
        ),
    );
    assert_ne!(rotated, original, "the zpk entry was rewritten");
    std::fs::write(&keys, rotated).unwrap();
    kill("-HUP");
    wait_for("hsm.keys");
    assert_eq!(
        de39(&c.call(&m.clone().with(11, stan())).await),
        "00",
        "old zpk during rotation"
    );
    let now = hsm::sandbox::SandboxCards::new(hsm::KeyFile::load(&keys).unwrap());
    let new_block = now
        .pin_block(PIN_PAN, PIN, hsm::PinBlockFormat::Iso0)
        .unwrap();
    assert_ne!(new_block, block);
    let m2 = purchase(PIN_PAN, 100, "840", &stan()).with(52, &new_block);
    assert_eq!(de39(&c.call(&m2).await), "00", "new zpk after SIGHUP");
    kill("-TERM");
    assert!(child.wait().unwrap().success());
}
