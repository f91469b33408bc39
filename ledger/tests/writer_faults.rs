//! The embedded writer under injected faults (issue 25, item 2): a panic after COMMIT used to
//! end the only writer thread, so that committed approvals were answered as failures and
//! every later request failed while reads still worked. Each test runs in a process of its
//! own under nextest; under `cargo test` they share one, so each holds [`ONE_AT_A_TIME`].

mod common;

use std::sync::Arc;

use common::*;
use jiff::SignedDuration;
use ledger::faults::{arm, Fault};
use ledger::{EmbeddedOptions, EmbeddedStore, LedgerError, ResponseCode, Store};

/// Faults are armed for the whole process.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn store(dir: &tempfile::TempDir) -> Store {
    let s: Store = EmbeddedStore::open(
        dir.path().join("ledger.sqlite"),
        hasher(),
        Arc::new(FixedQuoter),
        EmbeddedOptions::default(),
    )
    .unwrap()
    .into();
    s.seed(seed_data()).await.unwrap();
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_after_commit_answers_what_was_committed_and_the_writer_goes_on() {
    let _one = ONE_AT_A_TIME.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let s = store(&dir).await;
    arm(Fault::PanicAfterCommit, 1);
    // The batch commits, then the writer panics before answering: the answer is read back.
    let d = s.authorize(auth(1, PAN_A1, 10_000, "KRW")).await.unwrap();
    assert_eq!(d.response_code, ResponseCode::APPROVED);
    assert!(d.approval_code.is_some());
    let stored = s.decision(&key(1)).await.unwrap().unwrap();
    assert_eq!(stored.approval_code, d.approval_code);
    // The writer was restarted: the next requests are decided as usual.
    let next = s.authorize(auth(2, PAN_A1, 10_000, "KRW")).await.unwrap();
    assert_eq!(next.response_code, ResponseCode::APPROVED);
    assert_eq!(wallet(&s, "A-1", "KRW").await.held_minor, 20_000);
    let h = s.health();
    assert_eq!(h.restarts, 1);
    assert!(!h.stopped);
    assert!(h
        .commit_ready(jiff::Timestamp::now(), SignedDuration::from_secs(3))
        .is_ok());
    assert!(s.invariant_violations().await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_that_cannot_be_handed_over_does_not_lose_the_others() {
    let _one = ONE_AT_A_TIME.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let s = store(&dir).await;
    arm(Fault::PanicWhileReplying, 1);
    let mut tasks = Vec::new();
    for n in 0..20u32 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            s.authorize(auth(100 + n, PAN_A3, 1_000, "KRW")).await
        }));
    }
    for t in tasks {
        let d = t.await.unwrap().unwrap();
        assert_eq!(d.response_code, ResponseCode::APPROVED, "{:?}", d.key);
    }
    assert_eq!(wallet(&s, "A-3", "KRW").await.held_minor, 20_000);
    assert_eq!(s.health().restarts, 0, "caught where it happened");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_commit_is_a_definite_failure_and_readiness_says_so() {
    let _one = ONE_AT_A_TIME.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let s = store(&dir).await;
    s.heartbeat(jiff::Timestamp::now()).await.unwrap();
    arm(Fault::FailCommit, 1);
    match s.authorize(auth(1, PAN_A1, 10_000, "KRW")).await {
        Err(e @ LedgerError::CommitFailed(_)) => assert!(e.is_definite()),
        other => panic!("expected a failed commit, got {other:?}"),
    }
    let e = s
        .health()
        .commit_ready(jiff::Timestamp::now(), SignedDuration::from_secs(3))
        .unwrap_err();
    assert!(e.contains("disk is full"), "{e}");
    assert!(s.decision(&key(1)).await.unwrap().is_none());
    // The next commit (a heartbeat) makes it ready again.
    s.heartbeat(jiff::Timestamp::now()).await.unwrap();
    assert!(s
        .health()
        .commit_ready(jiff::Timestamp::now(), SignedDuration::from_secs(3))
        .is_ok());
    // And the same request, sent again, is decided.
    let d = s.authorize(auth(1, PAN_A1, 10_000, "KRW")).await.unwrap();
    assert_eq!(d.response_code, ResponseCode::APPROVED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_writer_that_keeps_panicking_stops_and_says_so() {
    let _one = ONE_AT_A_TIME.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let s = store(&dir).await;
    arm(Fault::PanicAfterCommit, 100);
    for n in 0..6u32 {
        // Each is committed and read back, until the writer stops.
        let _ = s.authorize(auth(200 + n, PAN_A1, 100, "KRW")).await;
    }
    // The supervisor records the stop as the last batch's callers read their outcome back.
    let until = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !s.health().stopped && std::time::Instant::now() < until {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let h = s.health();
    assert!(h.stopped, "{h:?}");
    assert_eq!(h.restarts, 5);
    let e = h
        .commit_ready(jiff::Timestamp::now(), SignedDuration::from_secs(3))
        .unwrap_err();
    assert!(e.contains("stopped"), "{e}");
    // Nothing more is taken: refused at once, definitely.
    match s.authorize(auth(300, PAN_A1, 100, "KRW")).await {
        Err(e @ LedgerError::Closed) => assert!(e.is_definite()),
        other => panic!("expected Closed, got {other:?}"),
    }
    // Every decision that was committed is still there, with its hold.
    assert!(s.invariant_violations().await.unwrap().is_empty());
    arm(Fault::PanicAfterCommit, 0);
}
