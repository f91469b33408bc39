//! `harness load`'s HTML report (issue 22) from a short load against a real switch (the
//! embedded ledger over TCP): a chart, the codes the switch answered, nothing fetched.

mod common;

use std::time::Duration;

use common::*;
use fixtures::load::{self, LoadCard, LoadOptions};
use gateway::app;

#[tokio::test]
async fn a_short_load_against_the_switch_gives_a_readable_self_contained_report() {
    let dir = tempfile::tempdir().unwrap();
    let gw = app::start(parse_config(&embedded_config_text(dir.path())))
        .await
        .expect("gateway starts");
    let opts = LoadOptions {
        addr: gw.addr().to_string(),
        prefix: framing::LengthPrefix::Binary2,
        max_frame_len: 8192,
        header: bytes::Bytes::new(),
        spec: iso8583::Spec::load("iso87-binary").unwrap(),
        connections: 2,
        in_flight: 4,
        duration: Duration::from_millis(1500),
        rate: Some(300),
        mix: "approve=80,fx=10,reverse=10".parse().unwrap(),
        // The test data's KRW card: its 1,500,000 won run out during the load, so the
        // report shows declines (51) beside the approvals.
        card: LoadCard {
            pan: PAN_OK.into(),
            expiry: "2912".into(),
            acquirer: "654321".into(),
            security: Vec::new(),
            chip: None,
            chip_amount_minor: None,
        },
        timeout: Duration::from_secs(5),
        drain_timeout: Duration::from_secs(5),
        progress: false,
        reconnect: false,
        on_lost: Default::default(),
        accept: vec!["51".into()],
        recorder: None,
        repeat_pool: None,
    };
    let r = load::run(opts).await.unwrap();
    assert!(r.ok(), "{}", r.summary());
    let approved = r.response_codes.get("00").copied().unwrap_or(0);
    let declined = r.response_codes.get("51").copied().unwrap_or(0);
    assert!(approved > 0 && declined > 0, "{:?}", r.response_codes);
    assert!(r.timeline.len() >= 2, "{:?}", r.timeline);
    assert_eq!(
        r.timeline.iter().map(|p| p.answered).sum::<u64>(),
        r.answered
    );
    assert!(r
        .timeline
        .iter()
        .any(|p| p.not_approved > 0 && p.p99_us >= p.p50_us));

    let html = load::html::render(&r);
    assert!(html.contains("<svg"), "a chart");
    assert_eq!(html.matches("<svg").count(), 2, "latency and throughput");
    for (code, n) in [("00", approved), ("51", declined)] {
        let row = format!("<tr><td class=\"l\">{code}</td><td>{n}</td>");
        assert!(html.contains(&row), "code {code} counted {n} times");
    }
    let lower = html.to_ascii_lowercase();
    for fetch in ["http://", "https://", "<script", "<link", "@import", "url("] {
        assert!(
            !lower.contains(fetch),
            "the report fetches something: {fetch}"
        );
    }
    gw.drain().await;
}
