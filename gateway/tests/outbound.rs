//! Outbound links against a fake network over real TCP: sign-on when connected, echo tests
//! when idle, reconnection after the network drops the link, requests from the network
//! answered over the link, sign-off at drain.

mod common;

use std::time::Duration;

use common::*;
use gateway::app;
use tokio::net::TcpListener;
use tokio::sync::mpsc;

/// Accepts links and answers every 0800 with 0810/00, reporting each DE 70 seen. The first
/// connection is dropped after its sign-on, to force a reconnect; on the second, the network
/// sends one authorization request of its own and reports the answer's DE 39.
async fn fake_network(l: TcpListener, seen: mpsc::UnboundedSender<String>) {
    let mut n = 0;
    loop {
        let Ok((stream, _)) = l.accept().await else {
            return;
        };
        n += 1;
        let mut c = Client { stream };
        let seen = seen.clone();
        let first = n == 1;
        tokio::spawn(async move {
            let mut asked = false;
            while let Some(body) = c.recv_raw().await {
                let m = iso8583::decode(spec(), &body).unwrap().to_owned_message();
                if m.mti().as_str() == "0800" {
                    let code = m.get_str(70).unwrap().to_owned();
                    let _ = seen.send(code.clone());
                    let mut r = m.clone();
                    r.set_mti("0810".parse().unwrap());
                    r.set(39, "00");
                    c.send(&r).await;
                    if first && code == "001" {
                        return; // drop the link
                    }
                    if !first && !asked {
                        asked = true;
                        c.send(&purchase(PAN_OK, 100, "840", &stan())).await;
                    }
                } else if m.mti().as_str() == "0110" {
                    let _ = seen.send(format!("0110/{}", m.get_str(39).unwrap()));
                }
            }
        });
    }
}

#[tokio::test]
async fn link_signs_on_echoes_reconnects_and_signs_off() {
    let net = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let net_addr = net.local_addr().unwrap();
    let (tx, mut seen) = mpsc::unbounded_channel();
    tokio::spawn(fake_network(net, tx));

    let dir = tempfile::tempdir().unwrap();
    let text = embedded_config_text(dir.path())
        + &format!(
            "[[outbound]]\nname = \"net\"\naddress = \"{net_addr}\"\necho_interval_ms = 100\nbackoff_min_ms = 20\nbackoff_max_ms = 200\n"
        );
    let gw = app::start(parse_config(&text)).await.unwrap();
    let mut next = async || {
        tokio::time::timeout(Duration::from_secs(10), seen.recv())
            .await
            .expect("the network hears from the link")
            .unwrap()
    };
    assert_eq!(next().await, "001", "sign-on on the first link");
    assert_eq!(next().await, "001", "sign-on again after the reconnect");
    let mut got = Vec::new();
    while !(got.iter().any(|c| c == "301") && got.iter().any(|c| c == "0110/00")) {
        got.push(next().await);
        assert!(got.len() < 50, "{got:?}");
    }
    gw.drain().await;
    let mut rest = Vec::new();
    while let Ok(Some(c)) = tokio::time::timeout(Duration::from_millis(500), seen.recv()).await {
        rest.push(c);
    }
    assert_eq!(
        rest.last().map(String::as_str),
        Some("002"),
        "sign-off at drain: {rest:?}"
    );
}
