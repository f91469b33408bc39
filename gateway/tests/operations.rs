//! Operations: the per-listener connection limit, SIGHUP-style reload of limits and rates,
//! and config errors naming the key at fault from the binary.

mod common;

use std::process::Command;
use std::time::Duration;

use common::*;
use gateway::app;

#[tokio::test]
async fn connection_limit_refuses_the_extra_connection() {
    let dir = tempfile::tempdir().unwrap();
    let text =
        embedded_config_text(dir.path()).replace("[limits]", "[limits]\nmax_connections = 2");
    let gw = app::start(parse_config(&text)).await.unwrap();
    let mut a = Client::connect(gw.addr()).await;
    let mut b = Client::connect(gw.addr()).await;
    assert_eq!(de39(&a.call(&network("301", &stan())).await), "00");
    assert_eq!(de39(&b.call(&network("301", &stan())).await), "00");
    let mut extra = Client::connect(gw.addr()).await;
    extra.send(&network("301", &stan())).await;
    assert!(
        extra.recv_raw().await.is_none(),
        "third connection closed unanswered"
    );
    drop(a);
    // Once one leaves, a new one is served.
    let until = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let mut c = Client::connect(gw.addr()).await;
        c.send(&network("301", &stan())).await;
        if c.recv_raw().await.is_some() {
            break;
        }
        assert!(std::time::Instant::now() < until, "slot never freed");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    gw.drain().await;
}

#[tokio::test]
async fn reload_applies_limits_and_a_new_rates_source() {
    let dir = tempfile::tempdir().unwrap();
    let rates = dir.path().join("rates.csv");
    std::fs::write(&rates, "base,quote,rate\nUSD,KRW,1385.20\n").unwrap();
    let text = embedded_config_text(dir.path()).replace(
        &data("rates.csv").display().to_string(),
        &rates.display().to_string(),
    );
    let mut gw = app::start(parse_config(&text)).await.unwrap();
    let mut c = Client::connect(gw.addr()).await;
    let r = c.call(&purchase(PAN_OK, 30_000, "840", &stan())).await;
    assert_eq!(r.get_str(6), Some("000000415560"));

    // A new rates file and tighter limits.
    let rates2 = dir.path().join("rates2.csv");
    std::fs::write(&rates2, "base,quote,rate\nUSD,KRW,1400\n").unwrap();
    let text2 = text
        .replace(&rates.display().to_string(), &rates2.display().to_string())
        .replace(
            "[limits]",
            "[limits]\nmax_connections = 7\nread_timeout_ms = 4321\ndeadline_ms = 1234",
        );
    let changed = gw.reload(parse_config(&text2)).await.unwrap();
    assert_eq!(changed, vec!["limits", "rates"]);
    let limits = gw.shared().limits.load_full();
    assert_eq!(limits.max_connections, 7);
    assert_eq!(limits.read_timeout, Duration::from_millis(4321));
    assert_eq!(gw.core().deadline(), Duration::from_millis(1234));
    // 300.00 USD again exceeds the USD wallet: converted at the new rate.
    let r = c.call(&purchase(PAN_OK, 30_000, "840", &stan())).await;
    assert_eq!(r.get_str(6), Some("000000420000"), "300.00 USD at 1400");
    gw.drain().await;
}

#[test]
fn config_errors_name_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("bad.toml");
    let text = embedded_config_text(dir.path()) + "framing = \"binary3\"\n";
    std::fs::write(&cfg, text).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_gateway"))
        .args(["serve", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("listener[0].framing"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn check_config_hides_the_pan_key() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("ok.toml");
    std::fs::write(&cfg, embedded_config_text(dir.path())).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_gateway"))
        .args(["check-config", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(out.status.success());
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(shown.contains("[[listener]]"), "{shown}");
    assert!(
        !shown.contains("gateway-integration-test-pan-key"),
        "{shown}"
    );
}

/// `check-config` on the shared deployment's settings: passwords in the URLs, or the PAN key
/// and passwords in a file and the environment. It connects to nothing; what it prints names
/// where each secret comes from and shows none of them.
#[test]
fn check_config_hides_every_secret() {
    let dir = tempfile::tempdir().unwrap();
    let check = |text: String, env: &[(&str, &str)]| {
        let cfg = dir.path().join("shared.toml");
        std::fs::write(&cfg, text).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_gateway"))
            .args(["check-config", "--config"])
            .arg(&cfg)
            .envs(env.iter().copied())
            .output()
            .unwrap();
        let shown = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "{shown}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        shown
    };
    let base = |ledger: &str, rates: &str| {
        embedded_config_text(dir.path())
            .replace("embedded = ", &format!("{ledger}\n# was: embedded = "))
            .replace("file = ", &format!("{rates}\n# was: file = "))
    };

    let inline = check(
        base(
            "postgres = \"postgres://app:pg-hunter2@127.0.0.1:5432/test?sslmode=require\"",
            "redis = \"rediss://:redis-hunter2@127.0.0.1:6380/\"",
        ),
        &[],
    );
    for secret in [
        "gateway-integration-test-pan-key",
        "pg-hunter2",
        "redis-hunter2",
    ] {
        assert!(!inline.contains(secret), "{inline}");
    }
    assert!(inline.contains("app:<redacted>@127.0.0.1"), "{inline}");

    let key_file = dir.path().join("pan.key");
    std::fs::write(&key_file, "pan-key-from-a-file-0123456789-abcdef\n").unwrap();
    let apart = check(
        base(
            "postgres = \"postgres://app@127.0.0.1:5432/test\"\n\
             postgres_password = { env = \"GW_TEST_PG_PASSWORD\" }",
            "redis = \"redis://127.0.0.1:6379/\"\n\
             redis_password = { env = \"GW_TEST_REDIS_PASSWORD\" }",
        )
        .replace(
            "pan_key = \"gateway-integration-test-pan-key-0123456789\"",
            &format!("pan_key = {{ file = \"{}\" }}", key_file.display()),
        ),
        &[
            ("GW_TEST_PG_PASSWORD", "pg-from-env-hunter2"),
            ("GW_TEST_REDIS_PASSWORD", "redis-from-env-hunter2"),
        ],
    );
    for secret in ["pan-key-from-a-file", "from-env-hunter2"] {
        assert!(!apart.contains(secret), "{apart}");
    }
    assert!(apart.contains("GW_TEST_PG_PASSWORD"), "{apart}");
    assert!(apart.contains(&key_file.display().to_string()), "{apart}");
}

#[tokio::test]
async fn ascii4_listener_with_a_fixed_header_and_the_ascii_spec() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let dir = tempfile::tempdir().unwrap();
    let text = embedded_config_text(dir.path())
        + "framing = \"ascii4\"\nheader_len = 2\nspec = \"iso87-ascii\"\n";
    let gw = app::start(parse_config(&text)).await.unwrap();
    let ascii = iso8583::Spec::builtin("iso87-ascii").unwrap();
    let body = purchase(PAN_OK, 100, "840", &stan()).encode(ascii).unwrap();
    let mut s = tokio::net::TcpStream::connect(gw.addr()).await.unwrap();
    let mut wire = format!("{:04}", body.len()).into_bytes();
    wire.extend_from_slice(b"HX");
    wire.extend_from_slice(&body);
    s.write_all(&wire).await.unwrap();
    let mut head = [0u8; 6];
    s.read_exact(&mut head).await.unwrap();
    assert_eq!(&head[4..], b"HX", "the header is echoed");
    let len: usize = std::str::from_utf8(&head[..4]).unwrap().parse().unwrap();
    let mut resp = vec![0u8; len];
    s.read_exact(&mut resp).await.unwrap();
    let r = iso8583::decode(ascii, &resp).unwrap();
    assert_eq!(
        (r.mti().as_str(), r.text(39).as_deref()),
        ("0110", Some("00"))
    );
    gw.drain().await;
}

#[tokio::test]
async fn rolling_restart_on_the_same_port() {
    let dir = tempfile::tempdir().unwrap();
    let old = app::start(parse_config(&embedded_config_text(dir.path())))
        .await
        .unwrap();
    let port = old.addr().port();
    // The new instance, on the same ledger, binds the same port while the old one still
    // serves (SO_REUSEPORT).
    let text = embedded_config_text(dir.path()).replace(
        "name = \"test\"\naddress = \"127.0.0.1:0\"",
        &format!("name = \"test\"\naddress = \"127.0.0.1:{port}\""),
    );
    let new = app::start(parse_config(&text))
        .await
        .expect("second instance on the same port");
    assert_eq!(new.addr().port(), port);
    old.drain().await;
    // After the old one drained, the port is still served.
    let mut c = Client::connect(new.addr()).await;
    assert_eq!(de39(&c.call(&network("301", &stan())).await), "00");
    new.drain().await;
}

/// Issue 25, item 5: a second instance on *another* ledger used to bind the port through
/// SO_REUSEPORT and answer a share of the new connections from its own ledger. It is now
/// refused, naming the ledger that holds the port; once that instance is gone, it may start.
#[tokio::test]
async fn an_instance_on_another_ledger_cannot_share_the_port() {
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let first = app::start(parse_config(&embedded_config_text(da.path())))
        .await
        .unwrap();
    let port = first.addr().port();
    let text = embedded_config_text(db.path()).replace(
        "name = \"test\"\naddress = \"127.0.0.1:0\"",
        &format!("name = \"test\"\naddress = \"127.0.0.1:{port}\""),
    );
    let err = app::start(parse_config(&text))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("another ledger"), "{err}");
    assert!(err.contains(&da.path().display().to_string()), "{err}");
    // Every connection is still answered by the first instance.
    for _ in 0..20 {
        let mut c = Client::connect(first.addr()).await;
        assert_eq!(de39(&c.call(&network("301", &stan())).await), "00");
    }
    first.drain().await;
    let second = app::start(parse_config(&text))
        .await
        .expect("the port is free once its instance is gone");
    second.drain().await;
}

/// Issue 25, item 7: `--admin` used to skip the loopback-only rule that the file's
/// `admin.address` is held to. Now the override is checked the same way, and refused.
#[test]
fn an_admin_override_off_loopback_is_refused_like_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("ok.toml");
    std::fs::write(&cfg, embedded_config_text(dir.path())).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_gateway"))
        .args(["serve", "--config"])
        .arg(&cfg)
        .args(["--listen", "127.0.0.1:0", "--admin", "0.0.0.0:0"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("admin.address"), "{err}");
    assert!(err.contains("loopback"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}
