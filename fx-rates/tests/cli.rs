//! The `fx-rates` command line, run as a process.

mod common;

use std::process::{Command, Output};

use common::{cleanup, namespace, redis_url};

fn fx(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_fx-rates"))
        .args(args)
        .output()
        .expect("run fx-rates")
}

fn json(out: &Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "exit {:?}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("one JSON object on stdout")
}

fn rates_file(dir: &tempfile::TempDir, name: &str, text: &str) -> String {
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_string()
}

#[test]
fn convert_from_a_file_prints_the_design_fields() {
    let dir = tempfile::tempdir().unwrap();
    let f = rates_file(
        &dir,
        "r.csv",
        "base,quote,rate\nUSD,KRW,1385.20\nEUR,USD,1.085\n",
    );
    let v = json(&fx(&[
        "convert", "--rates", &f, "--amount", "1000", "--from", "USD", "--to", "KRW",
    ]));
    assert_eq!(v["amount"], 13852);
    assert_eq!(v["currency"], "KRW");
    assert_eq!(v["rate"], "1385.2");
    assert_eq!(v["de10"], "31385200");
    assert_eq!(v["from"], "USD");
    assert_eq!(v["amount_from"], 1000);
    assert!(v["version"].as_str().unwrap().starts_with("file-"));

    // Numeric codes, cross rate, half-up: 0.05 EUR * 1502.942 = 75.1471 KRW -> 75.
    let v = json(&fx(&[
        "convert",
        "--rates",
        &f,
        "--amount",
        "5",
        "--from",
        "978",
        "--to",
        "410",
        "--rounding",
        "half-up",
    ]));
    assert_eq!(
        (v["amount"].as_u64(), v["path"].as_str()),
        (Some(75), Some("cross"))
    );
}

#[test]
fn bad_input_is_refused_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let f = rates_file(&dir, "r.csv", "base,quote,rate\nUSD,KRW,1385.20\n");
    let out = fx(&[
        "convert", "--rates", &f, "--amount", "1", "--from", "USD", "--to", "GBP",
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no rate for USD->GBP"));
    let out = fx(&[
        "convert", "--rates", &f, "--amount", "1", "--from", "ZZZ", "--to", "KRW",
    ]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown currency \"ZZZ\""));
    let out = fx(&["convert", "--amount", "1", "--from", "USD", "--to", "KRW"]);
    assert!(!out.status.success(), "a source is required");
    let out = fx(&[
        "convert",
        "--rates",
        &f,
        "--amount",
        "1000000000000",
        "--from",
        "USD",
        "--to",
        "KRW",
    ]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("12-digit"));
}

#[tokio::test]
async fn publish_show_and_convert_through_redis() {
    let Some(url) = redis_url("cli").await else {
        return;
    };
    let ns = namespace("cli");
    let dir = tempfile::tempdir().unwrap();
    let good = rates_file(
        &dir,
        "good.csv",
        "base,quote,rate\nUSD,KRW,1385.20\nUSD,JPY,150.25\n",
    );
    let published = json(&fx(&[
        "publish",
        "--redis",
        &url,
        "--namespace",
        &ns,
        &good,
    ]));
    let version = published["version"].as_str().unwrap().to_string();
    assert_eq!(published["pairs"], 2);

    let shown = json(&fx(&["show", "--redis", &url, "--namespace", &ns]));
    assert_eq!(shown["version"], version.as_str());
    assert_eq!(shown["rates"][1]["quote"], "KRW");

    let v = json(&fx(&[
        "convert",
        "--redis",
        &url,
        "--namespace",
        &ns,
        "--amount",
        "15025",
        "--from",
        "JPY",
        "--to",
        "USD", // 100.00 USD
    ]));
    assert_eq!(
        (v["amount"].as_u64(), v["version"].as_str()),
        (Some(10_000), Some(version.as_str()))
    );

    // Each refusal names the line, and publishes nothing.
    for (text, expect) in [
        (
            "base,quote,rate\nUSD,KRW,1\nUSD,KRW,2\n",
            "line 3: duplicate pair USD/KRW",
        ),
        (
            "base,quote,rate\nUSD,KRW,0\n",
            "line 2: USD/KRW: rate 0 is not positive",
        ),
        (
            "base,quote,rate\nUSD,XYZ,1\n",
            "line 2: unknown currency \"XYZ\"",
        ),
        (
            "base,quote,rate\nUSD,KRW,1385.2\nKRW,USD,0.0008\n",
            "line 3: KRW/USD 0.0008 is inconsistent",
        ),
    ] {
        let f = rates_file(&dir, "bad.csv", text);
        let out = fx(&["publish", "--redis", &url, "--namespace", &ns, &f]);
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(expect), "{expect:?} not in {err}");
    }
    let shown = json(&fx(&["show", "--redis", &url, "--namespace", &ns]));
    assert_eq!(
        shown["version"],
        version.as_str(),
        "a refused file must not publish"
    );
    cleanup(&url, &ns).await;
}

#[test]
fn convert_prints_minor_units_and_their_decimal_form() {
    let dir = tempfile::tempdir().unwrap();
    let f = rates_file(&dir, "r.csv", "base,quote,rate\nUSD,KWD,0.30745\n");
    // 123.45 USD * 0.30745 = 37.9547... KWD -> 37.955 (3 decimals).
    let v = json(&fx(&[
        "convert", "--rates", &f, "--amount", "12345", "--from", "USD", "--to", "KWD",
    ]));
    assert_eq!(
        (&v["amount"], &v["amount_decimal"], &v["currency"]),
        (
            &serde_json::json!(37955),
            &serde_json::json!("37.955"),
            &serde_json::json!("KWD")
        )
    );
    assert_eq!(
        (&v["amount_from"], &v["amount_from_decimal"]),
        (&serde_json::json!(12345), &serde_json::json!("123.45"))
    );
    let help = String::from_utf8(fx(&["convert", "--help"]).stdout).unwrap();
    assert!(help.contains("--amount <MINOR>"), "{help}");
    assert!(help.contains("12345 = 123.45 USD"), "{help}");
}

#[test]
fn a_missing_source_names_both_flags() {
    let out = fx(&["convert", "--amount", "1", "--from", "USD", "--to", "KRW"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--rates") && err.contains("--redis"), "{err}");
}

#[test]
fn a_redis_address_without_scheme_gets_a_hint() {
    for cmd in [
        &["show", "--redis", "127.0.0.1:6379"][..],
        &["remove", "--redis", "127.0.0.1:6379", "--namespace", "x"],
        &[
            "convert",
            "--redis",
            "127.0.0.1:6379",
            "--amount",
            "1",
            "--from",
            "USD",
            "--to",
            "KRW",
        ],
    ] {
        let out = fx(cmd);
        assert_eq!(out.status.code(), Some(2), "{cmd:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("did you mean redis://127.0.0.1:6379/"),
            "{err}"
        );
    }
}

#[test]
fn an_unreachable_redis_is_said_once() {
    // A port that was free a moment ago: nothing listens, the connection is refused.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("redis://127.0.0.1:{port}/");
    let out = fx(&["show", "--redis", &url]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&url), "{err}");
    assert_eq!(err.matches("os error").count(), 1, "{err}");
}

#[test]
fn namespace_help_shows_literal_braces() {
    for cmd in ["show", "publish", "convert"] {
        let help = String::from_utf8(fx(&[cmd, "--help"]).stdout).unwrap();
        assert!(
            help.contains("fx:{NS}:current") && help.contains("braces kept"),
            "{cmd}: {help}"
        );
    }
}

#[tokio::test]
async fn remove_deletes_one_namespace_and_nothing_else() {
    let Some(url) = redis_url("cli-remove").await else {
        return;
    };
    let base = namespace("rm");
    // `*` in a namespace is a glob character: removing "X-a*" must not touch "X-ab".
    let (gone, kept) = (format!("{base}-a*"), format!("{base}-ab"));
    let dir = tempfile::tempdir().unwrap();
    let f = rates_file(&dir, "r.csv", "base,quote,rate\nUSD,KRW,1385.20\n");
    let g = rates_file(&dir, "s.csv", "base,quote,rate\nUSD,KRW,1385.30\n");
    for ns in [&gone, &kept] {
        json(&fx(&["publish", "--redis", &url, "--namespace", ns, &f]));
    }
    // Two sets in the removed namespace: the current one and the one it replaced.
    json(&fx(&["publish", "--redis", &url, "--namespace", &gone, &g]));

    let v = json(&fx(&["remove", "--redis", &url, "--namespace", &gone]));
    assert_eq!(v["removed_keys"], 3, "pointer and two sets: {v}");
    let out = fx(&["show", "--redis", &url, "--namespace", &gone]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no rate set is published"));
    let shown = json(&fx(&["show", "--redis", &url, "--namespace", &kept]));
    assert_eq!(shown["pairs"], 1);
    // Removing it again finds nothing to remove.
    let v = json(&fx(&["remove", "--redis", &url, "--namespace", &gone]));
    assert_eq!(v["removed_keys"], 0);

    let out = fx(&["remove", "--redis", &url]);
    assert_eq!(out.status.code(), Some(2), "--namespace is required");
    cleanup(&url, &kept).await;
}
