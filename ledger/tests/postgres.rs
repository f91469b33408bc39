//! The behavioural suite against PostgreSQL (a fresh schema per test, dropped afterwards).

mod common;

use common::suite::reversal;
use common::*;

suite!(postgres;
    approval_places_one_hold_and_a_repeat_replays,
    declines_are_recorded_with_their_codes,
    foreign_amount_converts_to_home_when_its_wallet_falls_short,
    partial_approval_only_when_allowed,
    reversals_release_in_full_or_down_to_the_actual_amount,
    reversal_before_original_blocks_the_late_original,
    advices_force_post_even_below_zero_and_once,
    completion_captures_a_different_amount,
    incremental_authorization_links_and_completes_together,
    timed_out_keys_answer_91_and_hold_nothing,
    expiry_releases_old_holds_in_bounded_batches,
    balance_inquiry_lists_home_wallet_first,
    seeding_twice_keeps_balances,
    many_tasks_never_overdraw_one_wallet,
    duplicates_racing_on_two_handles_hold_once,
    a_panicking_quoter_fails_one_request_not_the_store,
    mixed_concurrent_operations_keep_invariants,
    batch_stats_count_every_write,
    reversing_an_original_reverses_its_incrementals,
    a_failing_request_keeps_its_neighbours_writes,
    cutovers_are_shared_durable_and_once_per_message,
    a_key_reused_for_another_request_is_a_duplicate_not_a_repeat,
    other_messages_reusing_a_key_are_duplicates,
    one_key_with_many_amounts_at_once_makes_one_decision,
    resetting_cutovers_returns_to_the_calendar,
    spend_controls_refuse_57_61_65_in_the_home_currency,
    reversals_give_back_to_the_day_they_were_counted_in,
    an_accounts_controls_are_its_cards_default,
    a_daily_limit_holds_across_instances_at_once,
    an_operators_change_is_seen_by_the_next_authorization_and_recorded,
    a_cards_decisions_page_newest_first,
    adjustments_move_a_balance_once_per_key_and_keep_the_invariants,
    clearing_posts_each_presentment_once_against_its_hold,
    wrong_pins_count_block_at_the_limit_and_reset,
    a_failed_card_check_declines_without_counting_a_pin_try,
    wrong_pins_on_two_instances_at_once_are_all_counted,
    pins_presented_with_balance_inquiries_count_as_any_other,
    a_replayed_atc_is_refused_and_a_fresh_one_taken_once,
    one_atc_on_two_instances_at_once_is_approved_once,
    every_change_writes_one_event_and_a_repeat_none,
    published_events_are_marked_pruned_and_leased_once,
    unpublished_events_are_found_whatever_order_they_are_published_in,
);

use std::time::Duration;

use ledger::{HoldStatus, LedgerError, ResponseCode};

/// A session of its own on the test database, beside the store's (to change or inspect what
/// the store cannot see coming).
async fn admin() -> tokio_postgres::Client {
    // The ledger's own connect, so that a TEST_DATABASE_URL with sslmode works here too.
    ledger::pg_connect(&database_url()).await.unwrap()
}

/// Terminates every session of the store under test (named `ledger/<schema>`), as a server
/// restart or a network cut would, from a separate admin session.
async fn kill_sessions(schema: &str) -> u64 {
    let admin = admin().await;
    let rows = admin
        .query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1",
            &[&format!("ledger/{schema}")],
        )
        .await
        .unwrap();
    rows.len() as u64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_connections_are_reopened_and_nothing_is_lost() {
    let Some(fx) = postgres().await else { return };
    let s = &fx.store;
    let first = s.authorize(auth(1, PAN_A1, 10_000, "KRW")).await.unwrap();
    assert_eq!(first.response_code, ResponseCode::APPROVED);
    let schema = fx.pg().unwrap().schema().to_owned();
    // 4 workers + the reader of this handle (the second handle has its own schema sessions
    // too, named the same).
    assert!(kill_sessions(&schema).await >= 5);
    // Requests caught by the cut may fail (with an error, never a false approval); the
    // store reconnects and decides again.
    let mut approved = None;
    for n in 2..40 {
        match s.authorize(auth(n, PAN_A1, 10_000, "KRW")).await {
            Ok(d) => {
                assert_eq!(d.response_code, ResponseCode::APPROVED);
                approved = Some(n);
                break;
            }
            Err(LedgerError::CommitFailed(_)) | Err(LedgerError::Postgres(_)) => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(e) => panic!("unexpected {e}"),
        }
    }
    let n = approved.expect("store did not recover");
    let stored = s.decision(&key(1)).await.unwrap().unwrap();
    assert_eq!(stored.approval_code, first.approval_code);
    // Failed attempts left nothing behind; the approvals are both held.
    let held = wallet(s, "A-1", "KRW").await.held_minor;
    assert_eq!(held, 20_000, "approved {n}");
    fx.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_queues_are_reported_as_backpressure() {
    let Some(fx) = postgres_with(|o| {
        o.connections = 1;
        o.queue_depth = 1;
        o.max_batch = 1;
    })
    .await
    else {
        return;
    };
    let mut tasks = Vec::new();
    for n in 0..100u32 {
        let s = fx.store.clone();
        tasks.push(tokio::spawn(async move {
            s.authorize(auth(3_000 + n, PAN_A3, 100, "KRW")).await
        }));
    }
    let (mut approved, mut refused) = (0i64, 0);
    for t in tasks {
        match t.await.unwrap() {
            Ok(d) => {
                assert_eq!(d.response_code, ResponseCode::APPROVED);
                approved += 1;
            }
            Err(LedgerError::Backpressure { capacity: 1 }) => refused += 1,
            Err(e) => panic!("unexpected {e}"),
        }
    }
    assert!(
        refused > 0,
        "a queue of 1 under 100 concurrent requests never filled"
    );
    assert_eq!(
        wallet(&fx.store, "A-3", "KRW").await.held_minor,
        approved * 100
    );
    fx.finish().await;
}

/// A write that fails only when the batch's deferred writes go out with its COMMIT must fail
/// its own request alone: the batch runs again with savepoints, and the requests beside it
/// are approved and held once. The failure is staged by removing an approved request's
/// decision behind the store's back, so that deciding that key again finds nothing to
/// replay, approves, and its hold insert then collides with the hold still in place.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_failing_at_commit_fails_only_its_own_request() {
    let Some(fx) = postgres_with(|o| o.connections = 1).await else {
        return;
    };
    let s = &fx.store;
    let first = s
        .authorize(auth(4_000, PAN_A2, 1_000, "KRW"))
        .await
        .unwrap();
    assert_eq!(first.response_code, ResponseCode::APPROVED);
    let schema = fx.pg().unwrap().schema().to_owned();
    let admin = admin().await;
    let removed = admin
        .execute(
            &format!("DELETE FROM {schema}.decisions WHERE nkey = $1"),
            &[&key(4_000).as_db()],
        )
        .await
        .unwrap();
    assert_eq!(removed, 1);
    let held_before = wallet(s, "A-2", "KRW").await.held_minor;

    // One connection: the poisoned request and its neighbours queue for the same worker
    // and share batches.
    let mut tasks = Vec::new();
    for n in 4_001..4_032u32 {
        let one = s.clone();
        tasks.push(tokio::spawn(async move {
            (n, one.authorize(auth(n, PAN_A2, 100, "KRW")).await)
        }));
        if n == 4_016 {
            let s = s.clone();
            tasks.push(tokio::spawn(async move {
                (4_000, s.authorize(auth(4_000, PAN_A2, 1_000, "KRW")).await)
            }));
        }
    }
    let mut approved = 0i64;
    for t in tasks {
        let (n, r) = t.await.unwrap();
        if n == 4_000 {
            assert!(r.is_err(), "the colliding request was answered: {r:?}");
        } else {
            let d = r.unwrap_or_else(|e| panic!("request {n} failed beside the bad one: {e}"));
            assert_eq!(d.response_code, ResponseCode::APPROVED, "request {n}");
            approved += 1;
        }
    }
    assert_eq!(approved, 31);
    assert_eq!(
        wallet(s, "A-2", "KRW").await.held_minor,
        held_before + approved * 100
    );
    for n in 4_001..4_032u32 {
        assert!(
            s.decision(&key(n)).await.unwrap().is_some(),
            "no decision {n}"
        );
    }
    assert!(s.decision(&key(4_000)).await.unwrap().is_none());
    fx.finish().await;
}

/// Holds account A-1's row lock from a side session and sends authorization `n` (100 KRW),
/// which waits for it; the lock is released after 300 ms. Requests made meanwhile queue on the
/// store's one connection and run as one batch after the blocked one: (blocked request,
/// release).
async fn queue_behind_a_lock(
    fx: &Fixture,
    n: u32,
) -> (
    tokio::task::JoinHandle<ledger::Result<ledger::Decision>>,
    tokio::task::JoinHandle<()>,
) {
    let schema = fx.pg().unwrap().schema().to_owned();
    let admin = admin().await;
    admin
        .batch_execute(&format!(
            "BEGIN; SELECT 1 FROM {schema}.wallets WHERE account_id = 'A-1' FOR UPDATE"
        ))
        .await
        .unwrap();
    let blocker = {
        let s = fx.store.clone();
        tokio::spawn(async move { s.authorize(auth(n, PAN_A1, 100, "KRW")).await })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    let release = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        admin.batch_execute("COMMIT").await.unwrap();
    });
    (blocker, release)
}

/// A request that reads what an earlier request of the same batch wrote (an incremental right
/// behind its original) sees it, although the batch sends its writes late: each read goes
/// out behind the writes before it, and what the batch remembers follows its own writes.
/// One connection, held up by a row lock taken from outside while the two queue behind it,
/// so that they share the next batch. (A reversal in that batch too would hide a wrong
/// memory: its placeholder for the "missing" original collides at COMMIT and the re-run
/// without memory answers right; so it comes after.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_reads_its_own_earlier_writes() {
    let Some(fx) = postgres_with(|o| o.connections = 1).await else {
        return;
    };
    let s = &fx.store;
    let held_before = wallet(s, "A-1", "KRW").await.held_minor;
    let (blocker, release) = queue_behind_a_lock(&fx, 5_099).await;
    let mut inc = auth(5_001, PAN_A1, 20_000, "KRW");
    inc.original = Some(key(5_000));
    let (orig, inc) = futures::join!(
        s.authorize(auth(5_000, PAN_A1, 100_000, "KRW")),
        s.authorize(inc),
    );
    release.await.unwrap();
    let blocker = blocker.await.unwrap().unwrap();
    assert_eq!(blocker.response_code, ResponseCode::APPROVED);
    let (orig, inc) = (orig.unwrap(), inc.unwrap());
    assert_eq!(orig.response_code, ResponseCode::APPROVED);
    assert_eq!(inc.response_code, ResponseCode::APPROVED, "{inc:?}");
    assert_eq!(inc.original, Some(key(5_000)));
    assert_eq!(
        wallet(s, "A-1", "KRW").await.held_minor,
        held_before + 100 + 120_000
    );
    let rev = s.reverse(reversal(5_002, 5_000, None)).await.unwrap();
    assert_eq!(rev.response_code, ResponseCode::APPROVED, "{rev:?}");
    // The reversal releases the original and its incremental.
    assert_eq!(rev.amount_minor, 120_000);
    assert_eq!(wallet(s, "A-1", "KRW").await.held_minor, held_before + 100);
    fx.finish().await;
}

/// A batch reads the holds its reversals need with its locks and remembers them, following
/// its own writes: a reversal sees the incremental placed earlier in its batch beside the
/// original read under the lock, and a hold placed earlier in its batch (fails if the memory
/// ignores the new holds, or their links to an original).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_reads_the_holds_it_placed() {
    let Some(fx) = postgres_with(|o| o.connections = 1).await else {
        return;
    };
    let s = &fx.store;
    let held_before = wallet(s, "A-1", "KRW").await.held_minor;
    let orig = s
        .authorize(auth(5_100, PAN_A1, 100_000, "KRW"))
        .await
        .unwrap();
    assert_eq!(orig.response_code, ResponseCode::APPROVED);
    let (blocker, release) = queue_behind_a_lock(&fx, 5_199).await;
    let mut inc = auth(5_101, PAN_A1, 20_000, "KRW");
    inc.original = Some(key(5_100));
    let (inc, rev_orig, other, rev_other) = futures::join!(
        s.authorize(inc),
        s.reverse(reversal(5_102, 5_100, None)),
        s.authorize(auth(5_103, PAN_A1, 7_000, "KRW")),
        s.reverse(reversal(5_104, 5_103, None)),
    );
    release.await.unwrap();
    assert_eq!(
        blocker.await.unwrap().unwrap().response_code,
        ResponseCode::APPROVED
    );
    let (inc, rev_orig) = (inc.unwrap(), rev_orig.unwrap());
    let (other, rev_other) = (other.unwrap(), rev_other.unwrap());
    for d in [&inc, &rev_orig, &other, &rev_other] {
        assert_eq!(d.response_code, ResponseCode::APPROVED, "{d:?}");
    }
    // The original and the incremental placed in the same batch, released together.
    assert_eq!(rev_orig.amount_minor, 120_000, "{rev_orig:?}");
    assert_eq!(rev_other.amount_minor, 7_000, "{rev_other:?}");
    assert_eq!(wallet(s, "A-1", "KRW").await.held_minor, held_before + 100);
    let holds = s.holds().await.unwrap();
    for n in [5_100, 5_101, 5_103] {
        let h = holds.iter().find(|h| h.key == key(n)).unwrap();
        assert_eq!((h.status, h.held_minor), (HoldStatus::Released, 0), "{h:?}");
    }
    fx.finish().await;
}

/// The `decisions` table's sequential and index scans so far, as PostgreSQL counts them.
async fn decisions_scans(schema: &str) -> (i64, i64) {
    let row = admin()
        .await
        .query_one(
            "SELECT coalesce(seq_scan, 0), coalesce(idx_scan, 0) FROM pg_stat_user_tables \
             WHERE schemaname = $1 AND relname = 'decisions'",
            &[&schema],
        )
        .await
        .unwrap();
    (row.get::<_, i64>(0), row.get::<_, i64>(1))
}

/// A batch looks its keys up in `decisions` by index, whatever the table's size and whether
/// or not it was ever analyzed (this machine's PostgreSQL runs without autovacuum). A lookup
/// of all keys with `nkey = ANY($1)` was planned as a sequential scan on a young table and
/// kept that plan as the table grew: a switch slowing from 3.3 k/s to 1.3 k/s in 15 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_never_scan_the_decisions_table() {
    let Some(fx) = postgres_with(|o| o.connections = 1).await else {
        return;
    };
    let schema = fx.pg().unwrap().schema().to_owned();
    // What opening the store cost (each index built at open reads the table once), ended
    // sessions publishing their counters, counted out of what the batches do.
    kill_sessions(&schema).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = decisions_scans(&schema).await;
    for round in 0..8u32 {
        let mut tasks = Vec::new();
        for n in 0..32u32 {
            let s = fx.store.clone();
            tasks.push(tokio::spawn(async move {
                s.authorize(auth(6_000 + round * 100 + n, PAN_A3, 10, "KRW"))
                    .await
            }));
        }
        for t in tasks {
            assert_eq!(
                t.await.unwrap().unwrap().response_code,
                ResponseCode::APPROVED
            );
        }
    }
    // A backend publishes its table counters when idle (after up to 10 s) or when it ends:
    // end the store's sessions (it reconnects when next used).
    kill_sessions(&schema).await;
    let mut scans = (0, 0);
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let now = decisions_scans(&schema).await;
        scans = (now.0 - before.0, now.1 - before.1);
        if scans.0 + scans.1 >= 8 {
            break;
        }
    }
    // 8 batches of 32 new keys: 256 probes. A scan or two while the table is empty is the
    // planner's business; one per batch is the regression.
    assert!(scans.0 <= 2, "sequential scans of decisions: {scans:?}");
    assert!(scans.1 >= 256, "index probes of decisions: {scans:?}");
    fx.finish().await;
}

/// A schema made before the ATC window (issue 23: `card_security` without its three
/// columns, a chip card's row already there): a store connecting to it adds them; the old
/// row has seen no counter, takes a fresh one and refuses it in a new message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schema_from_before_the_atc_window_is_migrated_at_connect() {
    let Some(fx) = postgres().await else { return };
    let schema = fx.pg().unwrap().schema().to_owned();
    let client = ledger::pg_connect(&database_url()).await.unwrap();
    client
        .batch_execute(&format!(
            "ALTER TABLE {schema}.card_security DROP COLUMN atc_high, DROP COLUMN atc_seen, \
             DROP COLUMN atc_us; \
             INSERT INTO {schema}.card_security (card_id, psn, pin_tries) \
             SELECT id, '01', 0 FROM {schema}.cards WHERE last4 = '0010';"
        ))
        .await
        .unwrap();
    let store: ledger::Store = ledger::PgStore::connect(
        ledger::PgOptions::new(database_url(), schema),
        hasher(),
        std::sync::Arc::new(FixedQuoter),
    )
    .await
    .unwrap()
    .into();
    let with_atc = |n, pan, atc| {
        let mut r = auth(n, pan, 100, "KRW");
        r.security.atc = Some(atc);
        r
    };
    for (n, pan, atc, want) in [
        (1, PAN_A1, 5, ResponseCode::APPROVED),
        (2, PAN_A1, 5, ResponseCode::CARD_AUTHENTICATION_FAILED),
        (3, PAN_A3, 5, ResponseCode::APPROVED),
    ] {
        let d = store.authorize(with_atc(n, pan, atc)).await.unwrap();
        assert_eq!(d.response_code, want, "key {n}");
    }
    let sec = store
        .card_security(&ledger::Pan::new(PAN_A1).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!((sec.psn.as_deref(), sec.atc_highest), (Some("01"), Some(5)));
    fx.finish().await;
}

/// A schema made before decisions had fingerprints (the column and the `duplicates` table
/// dropped again): a store connecting to it adds them; an old decision's repeat is answered
/// from it, its key reused for another amount is a duplicate transmission.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schema_from_before_fingerprints_is_migrated_at_connect() {
    let Some(fx) = postgres().await else { return };
    let old = fx
        .store
        .authorize(auth(1, PAN_A1, 10_000, "KRW"))
        .await
        .unwrap();
    let schema = fx.pg().unwrap().schema().to_owned();
    let client = ledger::pg_connect(&database_url()).await.unwrap();
    client
        .batch_execute(&format!(
            "ALTER TABLE {schema}.decisions DROP COLUMN fingerprint; \
             DROP TABLE {schema}.duplicates;"
        ))
        .await
        .unwrap();
    let store: ledger::Store = ledger::PgStore::connect(
        ledger::PgOptions::new(database_url(), schema),
        hasher(),
        std::sync::Arc::new(FixedQuoter),
    )
    .await
    .unwrap()
    .into();
    let again = store
        .authorize(auth(1, PAN_A1, 10_000, "KRW"))
        .await
        .unwrap();
    assert!(again.replayed);
    assert_eq!(again.approval_code, old.approval_code);
    let other = store
        .authorize(auth(1, PAN_A1, 10_001, "KRW"))
        .await
        .unwrap();
    assert_eq!(other.response_code, ResponseCode::DUPLICATE_TRANSMISSION);
    assert_eq!(wallet(&store, "A-1", "KRW").await.held_minor, 10_000);
    assert_eq!(store.duplicates(&key(1)).await.unwrap().len(), 1);
    fx.finish().await;
}

/// A rolling deploy onto a schema in use: the new version adds an index to `decisions` (here
/// `decisions_approval_number`, dropped again to make the schema an older version's)
/// while another instance is mid-batch on that table. The index is built `CONCURRENTLY`: the
/// serving instance's next writes go on while the build waits for its open transaction. (A
/// plain `CREATE INDEX` queues a SHARE lock behind that transaction, and every write to the
/// table then queues behind it: the serving instance's authorizations stall to their deadline.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrating_a_schema_in_use_stops_no_writes() {
    let Some(fx) = postgres().await else { return };
    let schema = fx.pg().unwrap().schema().to_owned();
    let setup = admin().await;
    setup
        .batch_execute(&format!("DROP INDEX {schema}.decisions_approval_number"))
        .await
        .unwrap();
    let insert = |n: u32| {
        format!(
            "INSERT INTO {schema}.decisions (nkey, kind, response_code, amount_minor, currency, \
             approved_minor, business_date, created_us, updated_us) \
             VALUES ('migration-test:{n}', 'authorization', '05', 0, 'KRW', 0, '2026-11-25', 0, 0)"
        )
    };
    // The serving instance, mid-batch: a write to decisions, not yet committed.
    let serving = admin().await;
    serving
        .batch_execute(&format!("BEGIN; {}", insert(1)))
        .await
        .unwrap();
    let url = database_url();
    let upgrade = tokio::spawn({
        let schema = schema.clone();
        async move {
            ledger::PgStore::connect(
                ledger::PgOptions::new(url, schema),
                hasher(),
                std::sync::Arc::new(FixedQuoter),
            )
            .await
            .map(|_| ())
        }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!upgrade.is_finished(), "the build waits for the open batch");
    // The serving instance's next batch, on another of its connections.
    let next = admin().await;
    let started = std::time::Instant::now();
    next.batch_execute(&format!("SET lock_timeout = '2s'; {}", insert(2)))
        .await
        .expect("a write to decisions while the index builds");
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "the write waited {:?}",
        started.elapsed()
    );
    serving.batch_execute("COMMIT").await.unwrap();
    tokio::time::timeout(Duration::from_secs(30), upgrade)
        .await
        .expect("the upgrade ends once the open batch has")
        .unwrap()
        .unwrap();
    let valid: bool = setup
        .query_one(
            "SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = $1 AND c.relname = 'decisions_approval_number'",
            &[&schema],
        )
        .await
        .unwrap()
        .get(0);
    assert!(valid);
    setup
        .batch_execute(&format!(
            "DELETE FROM {schema}.decisions WHERE nkey LIKE 'migration-test:%'"
        ))
        .await
        .unwrap();
    fx.finish().await;
}
