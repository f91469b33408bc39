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
