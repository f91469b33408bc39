//! Issue 25 item 6 over real TCP against the real binary (`gateway serve`), on an iso87-binary
//! and an iso87-ascii listener: a request whose fault before DE 11 leaves the field's extent
//! known (letters in DE 2, a 20-digit PAN, a non-numeric DE 4 or DE 7) is answered 39=30 with
//! its STAN, and the faulty field is not echoed; one whose framing is lost (an unreadable LL
//! prefix, a secondary bitmap announced but not sent) gets no answer at all, rather than an
//! answer with a STAN read out of step; the connection serves on either way.

mod common;

use std::net::SocketAddr;
use std::process::{Child, Stdio};
use std::time::Duration;

use common::*;
use iso8583::{decode, OwnedMessage, Spec};

/// The gateway binary with a binary and an ASCII listener, killed on drop.
struct Gateway {
    child: Child,
    binary: SocketAddr,
    ascii: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Gateway {
    async fn start() -> Gateway {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("gateway.toml");
        let (binary, ascii, admin) = (free_addr(), free_addr(), free_addr());
        let text = format!(
            "{}\n[[listener]]\nname = \"ascii\"\naddress = \"{ascii}\"\nspec = \"iso87-ascii\"\n",
            embedded_config_text(dir.path())
        );
        std::fs::write(&cfg, text).unwrap();
        let child = serve(&cfg, binary, admin, Stdio::null());
        let gw = Gateway {
            child,
            binary,
            ascii,
            _dir: dir,
        };
        wait_ready(admin).await;
        gw
    }

    fn assert_alive(&mut self) {
        assert!(
            self.child.try_wait().unwrap().is_none(),
            "the gateway exited"
        );
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Offset of field `n`'s value in `wire` (which decodes).
fn value_at(spec: &Spec, wire: &[u8], n: u16) -> usize {
    let m = decode(spec, wire).unwrap();
    m.raw(n).unwrap().as_ptr() as usize - wire.as_ptr() as usize
}

/// `wire` with `len` bytes at `at` replaced by `with`.
fn splice(wire: &[u8], at: usize, len: usize, with: &[u8]) -> Vec<u8> {
    [&wire[..at], with, &wire[at + len..]].concat()
}

/// A purchase in `spec` with one malformation before DE 11; the field it breaks, if its
/// extent stays known (else `None`: the framing is lost).
fn malformed(spec_name: &str, case: &str, stan: &str) -> (Vec<u8>, Option<u16>) {
    let spec = Spec::builtin(spec_name).unwrap();
    let good = purchase(PAN_OK, 1500, "410", stan).encode(spec).unwrap();
    let pan = value_at(spec, &good, 2);
    match case {
        "letters in DE 2" => (splice(&good, pan + 6, 2, b"AB"), Some(2)),
        // LL 20 and 20 digits, above DE 2's maximum of 19.
        "20-digit PAN" => (
            splice(&good, pan - 2, 18, b"2047617390010100100000"),
            Some(2),
        ),
        "non-numeric DE 4" => (splice(&good, value_at(spec, &good, 4), 3, b"1.5"), Some(4)),
        "non-numeric DE 7" => (splice(&good, value_at(spec, &good, 7), 4, b"NOV "), Some(7)),
        "bad LL prefix" => (splice(&good, pan - 2, 2, b"1G"), None),
        "missing secondary bitmap" => {
            // Bit 1 set, no secondary bitmap sent (the first byte, or hex digit, of the
            // primary bitmap follows the MTI).
            let mut bad = good.clone();
            if spec_name == "iso87-binary" {
                bad[4] |= 0x80;
            } else {
                let v = (bad[4] as char).to_digit(16).unwrap() | 8;
                bad[4] = b"0123456789ABCDEF"[v as usize];
            }
            (bad, None)
        }
        _ => unreachable!(),
    }
}

const CASES: [&str; 6] = [
    "letters in DE 2",
    "20-digit PAN",
    "non-numeric DE 4",
    "non-numeric DE 7",
    "bad LL prefix",
    "missing secondary bitmap",
];

/// Sends `body` then an echo test, and returns the answers read until the echo's (and for
/// half a second after it): `(answer to body if any, echo answer)`.
async fn send_then_echo(c: &mut Client, spec: &Spec, body: &[u8]) -> Vec<OwnedMessage> {
    c.send_raw(body).await;
    let echo_stan = stan();
    c.send_raw(&network("301", &echo_stan).encode(spec).unwrap())
        .await;
    let mut got = Vec::new();
    let mut until = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let frame = match tokio::time::timeout_at(until, c.recv_raw()).await {
            Err(_) => break,
            Ok(frame) => frame.expect("connection open"),
        };
        let m = decode(spec, &frame)
            .expect("answers decode")
            .to_owned_message();
        if m.mti().as_str() == "0810" && m.get_str(11) == Some(echo_stan.as_str()) {
            assert_eq!(de39(&m), "00");
            until = tokio::time::Instant::now() + Duration::from_millis(500);
        } else {
            got.push(m);
        }
    }
    got
}

/// What is wrong with the answers to one malformed request, if anything.
fn judge(answers: &[OwnedMessage], stan: &str, faulty: Option<u16>) -> Option<String> {
    let Some(faulty) = faulty else {
        return (!answers.is_empty()).then(|| format!("framing lost, yet answered {answers:?}"));
    };
    let [r] = answers else {
        return Some(format!("one answer expected, got {answers:?}"));
    };
    let mti = r.mti();
    let got = (mti.as_str(), de39(r), r.get_str(11));
    if got != ("0110", "30", Some(stan)) {
        return Some(format!("answered {got:?}"));
    }
    if r.has(faulty) {
        return Some(format!("the faulty DE {faulty} is echoed"));
    }
    if let Some(n) = [2, 4, 7, 32, 41, 49]
        .into_iter()
        .find(|&n| n != faulty && !r.has(n))
    {
        return Some(format!("DE {n} is not echoed"));
    }
    r.has(38).then(|| "an approval code".to_owned())
}

/// Every case on both listeners, on one connection each; all problems are reported together.
#[tokio::test]
async fn format_errors_before_de11_are_answered_30_when_the_framing_holds() {
    let mut gw = Gateway::start().await;
    let mut problems = Vec::new();
    for (spec_name, addr) in [("iso87-binary", gw.binary), ("iso87-ascii", gw.ascii)] {
        let spec = Spec::builtin(spec_name).unwrap();
        let mut c = Client::connect(addr).await;
        for case in CASES {
            let s = stan();
            let (body, faulty) = malformed(spec_name, case, &s);
            assert!(
                decode(spec, &body).is_err(),
                "{spec_name} {case}: malformed"
            );
            let answers = send_then_echo(&mut c, spec, &body).await;
            if let Some(p) = judge(&answers, &s, faulty) {
                problems.push(format!("{spec_name}, {case}: {p}"));
            }
        }
    }
    gw.assert_alive();
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
