//! The behavioural suite against the embedded (SQLite) store, plus its own tests:
//! backpressure and the SIGKILL crash test.

mod common;

use common::*;

suite!(embedded;
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

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ledger::{EmbeddedOptions, EmbeddedStore, LedgerError, ResponseCode, Store};

const CRASH_DB_ENV: &str = "LEDGER_CRASH_CHILD_DB";
/// Approvals the parent waits to see before it kills the child.
const CRASH_AFTER_APPROVALS: usize = 400;
/// The child stops by itself after this long, so a broken parent never leaves it running.
const CHILD_MAX_SECS: u64 = 30;

fn open(path: &std::path::Path) -> Store {
    EmbeddedStore::open(
        path,
        hasher(),
        Arc::new(FixedQuoter),
        EmbeddedOptions::default(),
    )
    .unwrap()
    .into()
}

/// The child half of the crash test: authorizes from 32 tasks in a loop and prints each
/// approval (key number and approval code) as soon as the ledger returns it. Ignored in
/// normal runs; the parent starts it with `--ignored --exact`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "child process of crash_after_sigkill_keeps_every_reported_approval"]
async fn crash_child() {
    let Some(path) = std::env::var_os(CRASH_DB_ENV) else {
        return;
    };
    let store = open(std::path::Path::new(&path));
    let out = Arc::new(std::sync::Mutex::new(std::io::stdout()));
    let deadline = Instant::now() + Duration::from_secs(CHILD_MAX_SECS);
    let mut tasks = Vec::new();
    for t in 0..32u32 {
        let (store, out) = (store.clone(), out.clone());
        tasks.push(tokio::spawn(async move {
            let mut n = t;
            while Instant::now() < deadline && n < 900_000 {
                let d = store.authorize(auth(n, PAN_A1, 1, "KRW")).await.unwrap();
                assert_eq!(d.response_code, ResponseCode::APPROVED);
                let mut o = out.lock().unwrap();
                writeln!(o, "APPROVED {n} {}", d.approval_code.unwrap()).unwrap();
                o.flush().unwrap();
                n += 32;
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_after_sigkill_keeps_every_reported_approval() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.sqlite");
    {
        let s = open(&path);
        s.seed(seed_data()).await.unwrap();
    } // dropped: the writer thread is joined and the file closed
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "crash_child",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CRASH_DB_ENV, &path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut reported = Vec::new();
    while reported.len() < CRASH_AFTER_APPROVALS {
        let Some(line) = lines.next() else { break };
        let line = line.unwrap();
        if let Some(rest) = line.strip_prefix("APPROVED ") {
            reported.push(rest.to_owned());
        }
    }
    child.kill().unwrap(); // SIGKILL on Unix: no destructor, no final fsync
    child.wait().unwrap();
    // Lines already in the pipe were reported before the kill: they count too.
    for line in lines.map_while(Result::ok) {
        if let Some(rest) = line.strip_prefix("APPROVED ") {
            reported.push(rest.to_owned());
        }
    }
    assert!(
        reported.len() >= CRASH_AFTER_APPROVALS,
        "child reported only {} approvals",
        reported.len()
    );
    let s = open(&path);
    for r in &reported {
        let (n, code) = r.split_once(' ').unwrap();
        let d = s
            .decision(&key(n.parse().unwrap()))
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("approval {n} reported but lost"));
        assert_eq!(d.response_code, ResponseCode::APPROVED);
        assert_eq!(d.approval_code.as_deref(), Some(code));
    }
    let v = s.invariant_violations().await.unwrap();
    assert!(v.is_empty(), "{v:#?}");
    // Recovery: the reopened ledger keeps deciding.
    let d = s.authorize(auth(950_000, PAN_A1, 1, "KRW")).await.unwrap();
    assert_eq!(d.response_code, ResponseCode::APPROVED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_queue_is_reported_as_backpressure_and_loses_nothing() {
    let opts = EmbeddedOptions {
        max_batch: 1,
        queue_depth: 1,
        ..EmbeddedOptions::default()
    };
    let fx = embedded_with(opts).await.unwrap();
    let mut tasks = Vec::new();
    for n in 0..200u32 {
        let s = fx.store.clone();
        tasks.push(tokio::spawn(async move {
            (n, s.authorize(auth(3_000 + n, PAN_A3, 100, "KRW")).await)
        }));
    }
    let (mut approved, mut refused) = (0i64, 0);
    for t in tasks {
        match t.await.unwrap() {
            (_, Ok(d)) => {
                assert_eq!(d.response_code, ResponseCode::APPROVED);
                approved += 1;
            }
            (n, Err(LedgerError::Backpressure { capacity: 1 })) => {
                refused += 1;
                // Refused before it was queued: no decision exists for it.
                assert!(fx.store.decision(&key(3_000 + n)).await.unwrap().is_none());
            }
            (_, Err(e)) => panic!("unexpected error {e}"),
        }
    }
    assert!(
        refused > 0,
        "a queue of 1 under 200 concurrent requests never filled"
    );
    assert_eq!(
        wallet(&fx.store, "A-3", "KRW").await.held_minor,
        approved * 100
    );
    fx.finish().await;
}

/// A fresh ledger file in `dir`, seeded, with its path.
async fn seeded(dir: &tempfile::TempDir) -> (Store, std::path::PathBuf) {
    let path = dir.path().join("ledger.sqlite");
    let s = open(&path);
    s.seed(seed_data()).await.unwrap();
    (s, path)
}

/// The writer keeps cards in memory; a change committed by another connection (an
/// operator's `sqlite3`, a second instance during a rolling restart) must be seen by the
/// very next authorization, not when the cache happens to be emptied.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_card_blocked_by_another_connection_is_declined_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let (s, path) = seeded(&dir).await;
    let d = s.authorize(auth(1, PAN_A3, 100, "KRW")).await.unwrap();
    assert_eq!(d.response_code, ResponseCode::APPROVED);

    let other = rusqlite::Connection::open(&path).unwrap();
    other
        .busy_timeout(std::time::Duration::from_secs(5))
        .unwrap();
    let changed = other
        .execute(
            "UPDATE cards SET status = 'lost' WHERE last4 = ?1",
            [&PAN_A3[PAN_A3.len() - 4..]],
        )
        .unwrap();
    assert_eq!(changed, 1);

    let d = s.authorize(auth(2, PAN_A3, 100, "KRW")).await.unwrap();
    assert_eq!(d.response_code, ResponseCode::LOST_CARD);
    other
        .execute(
            "UPDATE cards SET status = 'active' WHERE last4 = ?1",
            [&PAN_A3[PAN_A3.len() - 4..]],
        )
        .unwrap();
    let d = s.authorize(auth(3, PAN_A3, 100, "KRW")).await.unwrap();
    assert_eq!(d.response_code, ResponseCode::APPROVED);
    assert_eq!(wallet(&s, "A-3", "KRW").await.held_minor, 200);
}

/// The approval counter is counted in memory within a transaction and written once before
/// COMMIT: numbers must stay unique across batches, two writers on one file, batches re-run
/// with savepoints after a failing request, and a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approval_codes_stay_unique_across_batches_writers_failures_and_restarts() {
    use std::collections::HashSet;
    let dir = tempfile::tempdir().unwrap();
    let (first, path) = seeded(&dir).await;
    let second = open(&path);
    let mut tasks = Vec::new();
    for n in 0..400u32 {
        let s = if n % 2 == 0 {
            first.clone()
        } else {
            second.clone()
        };
        // Every 37th request makes the quoter panic: its batch rolls back and runs again
        // with a savepoint per request.
        let currency = if n % 37 == 0 { "XPT" } else { "KRW" };
        tasks.push(tokio::spawn(async move {
            s.authorize(auth(10_000 + n, PAN_A3, 10, currency)).await
        }));
    }
    let mut codes = Vec::new();
    let mut failed = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(d) => {
                assert_eq!(d.response_code, ResponseCode::APPROVED);
                codes.push(d.approval_code.unwrap());
            }
            Err(LedgerError::Panicked) => failed += 1,
            Err(e) => panic!("unexpected error {e}"),
        }
    }
    assert_eq!(failed, 11);
    assert_eq!(codes.len(), 389);
    drop((first, second));

    let again = open(&path);
    for n in 0..20u32 {
        let d = again
            .authorize(auth(20_000 + n, PAN_A3, 10, "KRW"))
            .await
            .unwrap();
        codes.push(d.approval_code.unwrap());
    }
    let distinct: HashSet<_> = codes.iter().collect();
    assert_eq!(
        distinct.len(),
        codes.len(),
        "an approval code was given twice"
    );
    // Every number handed out in a committed transaction was written back.
    let stored: i64 = rusqlite::Connection::open(&path)
        .unwrap()
        .query_row("SELECT v FROM meta WHERE k = 'approval'", [], |r| r.get(0))
        .unwrap();
    assert!(
        stored >= codes.len() as i64,
        "counter {stored} < {}",
        codes.len()
    );
    assert_eq!(wallet(&again, "A-3", "KRW").await.held_minor, 409 * 10);
    let v = again.invariant_violations().await.unwrap();
    assert!(v.is_empty(), "{v:#?}");
}

/// A ledger file made before the ATC window (issue 23: `card_security` without its three
/// columns, a chip card's row already there): opening it adds them; the old row has seen no
/// counter, takes a fresh one and refuses it in a new message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ledger_from_before_the_atc_window_is_migrated_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let (store, path) = seeded(&dir).await;
    drop(store);
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(
            "ALTER TABLE card_security DROP COLUMN atc_high; \
             ALTER TABLE card_security DROP COLUMN atc_seen; \
             ALTER TABLE card_security DROP COLUMN atc_us; \
             INSERT INTO card_security (card_id, psn, pin_tries) \
             SELECT id, '01', 0 FROM cards WHERE last4 = '0010';",
        )
        .unwrap();
    }
    let store = open(&path);
    let with_atc = |n, pan, atc| {
        let mut r = auth(n, pan, 100, "KRW");
        r.security.atc = Some(atc);
        r
    };
    let sec = store
        .card_security(&ledger::Pan::new(PAN_A1).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!((sec.psn.as_deref(), sec.atc_highest), (Some("01"), None));
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
    assert!(store.invariant_violations().await.unwrap().is_empty());
}

/// A ledger file made before decisions had fingerprints (the column and the `duplicates`
/// table dropped again, which leaves the schema of that version): opening it adds them; a
/// repeat of an old decision still gets its stored answer, and the old key reused for
/// another amount is a duplicate transmission (compared on what the old row kept).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ledger_from_before_fingerprints_is_migrated_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let (store, path) = seeded(&dir).await;
    let old = store
        .authorize(auth(1, PAN_A1, 10_000, "KRW"))
        .await
        .unwrap();
    drop(store);
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch("ALTER TABLE decisions DROP COLUMN fingerprint; DROP TABLE duplicates;")
            .unwrap();
    }
    let store = open(&path);
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
    assert!(store.invariant_violations().await.unwrap().is_empty());
}

/// The outbox as earlier versions kept it, one row an event (`AUTOINCREMENT` with
/// `autoincrement`, as the first of them had it), made from the ledger's own events: each
/// `outbox_batch` row's events become rows at their positions, with their compact bodies,
/// and the first event's body is its rendered CloudEvent (`rendered`), as the first
/// versions wrote bodies. `given` sets `sqlite_sequence`; `empty` prunes every row.
fn outbox_of_earlier_versions(
    path: &std::path::Path,
    autoincrement: bool,
    rendered: &str,
    given: Option<i64>,
    empty: bool,
) {
    let conn = rusqlite::Connection::open(path).unwrap();
    // The rows' events back to their JSON text (they are LZ4 blocks after its length), so
    // that SQLite's `json_each` can spread them.
    let packed: Vec<(i64, Vec<u8>)> = conn
        .prepare("SELECT pos, events FROM outbox_batch")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    for (pos, events) in packed {
        let json = lz4_flex::block::decompress_size_prepended(&events).unwrap();
        let json = String::from_utf8(json).unwrap();
        conn.execute(
            "UPDATE outbox_batch SET events = ?2 WHERE pos = ?1",
            rusqlite::params![pos, json],
        )
        .unwrap();
    }
    let auto = if autoincrement { " AUTOINCREMENT" } else { "" };
    conn.execute_batch(&format!(
        "BEGIN;
         CREATE TABLE outbox (
            pos INTEGER PRIMARY KEY{auto},
            id TEXT NOT NULL,
            account TEXT NOT NULL,
            seq INTEGER NOT NULL,
            kind TEXT NOT NULL,
            at_us INTEGER NOT NULL,
            published_us INTEGER,
            body TEXT NOT NULL);
         INSERT INTO outbox
            SELECT b.pos + e.key, e.value ->> 'i', e.value ->> 'a', e.value ->> 's',
                   e.value ->> 'k', e.value ->> 't', b.published_us, e.value -> 'b'
            FROM outbox_batch b, json_each(b.events) e ORDER BY 1;
         DELETE FROM outbox_batch;
         COMMIT;"
    ))
    .unwrap();
    conn.execute(
        "UPDATE outbox SET body = ?1 WHERE pos = (SELECT min(pos) FROM outbox)",
        [rendered],
    )
    .unwrap();
    if let Some(n) = given {
        conn.execute(
            "UPDATE sqlite_sequence SET seq = ?1 WHERE name = 'outbox'",
            [n],
        )
        .unwrap();
    }
    if empty {
        conn.execute("DELETE FROM outbox", []).unwrap();
    }
}

fn has_table(path: &std::path::Path, name: &str) -> bool {
    rusqlite::Connection::open(path)
        .unwrap()
        .query_row(
            "SELECT count(*) > 0 FROM sqlite_schema WHERE type = 'table' AND name = ?1",
            [name],
            |r| r.get(0),
        )
        .unwrap()
}

/// A seeded ledger with three approvals (keys `first`, `first + 1`, `first + 2`), closed:
/// its path and its events.
async fn three_approvals(
    dir: &tempfile::TempDir,
    first: u32,
) -> (std::path::PathBuf, Vec<ledger::OutboxEvent>) {
    let (store, path) = seeded(dir).await;
    for n in first..first + 3 {
        store
            .authorize(auth(n, PAN_A1, 1_000, "KRW"))
            .await
            .unwrap();
    }
    let events = store.events_after(0, false, 100).await.unwrap();
    (path, events)
}

/// A ledger whose outbox has one row an event (earlier versions) keeps them where they are
/// (moving millions would hold the start): read before the new rows, pages running across
/// both tables, marked published and pruned in place, bodies of both earlier forms read as
/// before; the numbering goes on (the next `pos` follows the highest, its account's `seq`
/// follows on). One made with `AUTOINCREMENT` whose every row was pruned still never gives a
/// `pos` twice: only `sqlite_sequence` remembered the highest.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outbox_of_one_row_an_event_is_read_in_place_and_never_reuses_a_pos() {
    for autoincrement in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let (path, before) = three_approvals(&dir, 500).await;
        assert!(before.len() >= 3, "{before:#?}");
        let highest = before.last().unwrap().pos;
        outbox_of_earlier_versions(&path, autoincrement, &before[0].body, None, false);

        let store = open(&path);
        assert!(has_table(&path, "outbox"), "read in place");
        assert_eq!(store.events_after(0, false, 100).await.unwrap(), before);
        assert_eq!(store.events_after(0, true, 100).await.unwrap(), before);
        assert_eq!(
            store.events_pending().await.unwrap(),
            before.len() as u64,
            "none published yet"
        );
        store
            .authorize(auth(510, PAN_A1, 1_000, "KRW"))
            .await
            .unwrap();
        let all = store.events_after(0, false, 100).await.unwrap();
        assert_eq!(all[..before.len()], before[..]);
        let new = all.last().unwrap().clone();
        assert_eq!(new.pos, highest + 1);
        assert_eq!(new.seq, before.last().unwrap().seq + 1);
        // A page across the two tables.
        let page = store.events_after(highest - 1, false, 2).await.unwrap();
        assert_eq!(page, [before.last().unwrap().clone(), new.clone()]);
        // Marked published across both; pruned in place, the newest row kept.
        let t = jiff::Timestamp::now();
        let every: Vec<i64> = all.iter().map(|e| e.pos).collect();
        store.events_published(&every, t).await.unwrap();
        assert_eq!(store.events_pending().await.unwrap(), 0);
        assert!(store.events_after(0, true, 100).await.unwrap().is_empty());
        let later = t + jiff::SignedDuration::from_secs(1);
        assert_eq!(
            store.events_prune(later).await.unwrap(),
            before.len(),
            "the old rows, not the newest"
        );
        let kept = store.events_after(0, false, 100).await.unwrap();
        assert_eq!(kept.iter().map(|e| e.pos).collect::<Vec<_>>(), [new.pos]);
        store
            .authorize(auth(511, PAN_A1, 1_000, "KRW"))
            .await
            .unwrap();
        let next = store.events_after(new.pos, false, 100).await.unwrap();
        assert_eq!(
            next.iter().map(|e| e.pos).collect::<Vec<_>>(),
            [new.pos + 1]
        );
        assert!(store.invariant_violations().await.unwrap().is_empty());
    }

    // Every row pruned, the sequence 10 past the highest.
    let dir = tempfile::tempdir().unwrap();
    let (path, before) = three_approvals(&dir, 520).await;
    let given = before.last().unwrap().pos + 10;
    outbox_of_earlier_versions(&path, true, &before[0].body, Some(given), true);
    let store = open(&path);
    assert!(store.events_after(0, true, 100).await.unwrap().is_empty());
    assert_eq!(store.events_pending().await.unwrap(), 0);
    store
        .authorize(auth(530, PAN_A1, 1_000, "KRW"))
        .await
        .unwrap();
    let after = store.events_after(0, false, 100).await.unwrap();
    assert_eq!(after.iter().map(|e| e.pos).collect::<Vec<_>>(), [given + 1]);
    drop(store);
    let store = open(&path);
    store
        .authorize(auth(531, PAN_A1, 1_000, "KRW"))
        .await
        .unwrap();
    let last = store.events_after(0, false, 100).await.unwrap();
    assert_eq!(last.last().unwrap().pos, given + 2);
}

/// A ledger file from before `clearing_files` (the table dropped again; a file marked the old
/// way, by a decision under its synthetic key): opening it creates the table; the old mark
/// still refuses the file, a new mark goes to the table, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ledger_from_before_clearing_files_is_migrated_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let (store, path) = seeded(&dir).await;
    let legacy = ledger::AuthRequest {
        key: ledger::clearing_file_key("F-OLD").unwrap(),
        ..auth(1, PAN_A1, 100, "KRW")
    };
    store.authorize(legacy).await.unwrap();
    drop(store);
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch("DROP TABLE clearing_files;").unwrap();
    }
    let store = open(&path);
    assert!(store.clearing_file_imported("F-OLD").await.unwrap());
    assert!(!store
        .mark_clearing_file("F-OLD", 1, BUSINESS_DATE, now())
        .await
        .unwrap());
    assert!(!store.clearing_file_imported("F-NEW").await.unwrap());
    assert!(store
        .mark_clearing_file("F-NEW", 7, BUSINESS_DATE, now())
        .await
        .unwrap());
    assert!(!store
        .mark_clearing_file("F-NEW", 7, BUSINESS_DATE, now())
        .await
        .unwrap());
    assert!(store.clearing_file_imported("F-NEW").await.unwrap());
    drop(store);
    let conn = rusqlite::Connection::open(&path).unwrap();
    let n: i64 = conn
        .query_row(
            "SELECT presentments FROM clearing_files WHERE file_id = 'F-NEW'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(n, 7);
}

/// A decision written before `approval_n` (the column NULL, as a ledger from before has it)
/// is still found by its approval code when its presentment comes; one written since is
/// found by the code's counter, and the lookup uses the index on it (not a scan of the
/// card's decisions). A ledger whose index on the counter is the earlier one, on the card
/// first, gets the one on the counter first at open, and loses the earlier one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presentments_find_approvals_by_the_codes_counter_and_older_ones_by_their_code() {
    let dir = tempfile::tempdir().unwrap();
    let (store, path) = seeded(&dir).await;
    let old = store
        .authorize(auth(600, PAN_A1, 1_000, "KRW"))
        .await
        .unwrap();
    let new = store
        .authorize(auth(601, PAN_A1, 2_000, "KRW"))
        .await
        .unwrap();
    let (old_code, new_code) = (old.approval_code.unwrap(), new.approval_code.unwrap());
    drop(store);
    let n = {
        let conn = rusqlite::Connection::open(&path).unwrap();
        let n: Option<i64> = conn
            .query_row(
                "SELECT approval_n FROM decisions WHERE approval_code = ?1",
                [&new_code],
                |r| r.get(0),
            )
            .unwrap();
        assert!(n.is_some(), "approval_n not written");
        conn.execute(
            "UPDATE decisions SET approval_n = NULL WHERE approval_code = ?1",
            [&old_code],
        )
        .unwrap();
        // The counter's index as the version before had it: on the card first.
        conn.execute_batch(
            "DROP INDEX decisions_approval_number; \
             CREATE INDEX decisions_card_approval_number ON decisions \
             (card_id, approval_n, created_us) WHERE approval_n IS NOT NULL;",
        )
        .unwrap();
        n
    };
    let store = open(&path);
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        let indexes: Vec<String> = conn
            .prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND name LIKE '%number'")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert_eq!(indexes, ["decisions_approval_number"]);
        let plan: Vec<String> = conn
            .prepare(
                "EXPLAIN QUERY PLAN SELECT nkey FROM decisions WHERE card_id = ?1 \
                 AND approval_n = ?2 AND approval_code = ?3",
            )
            .unwrap()
            .query_map(rusqlite::params!["C-1", n, new_code], |r| r.get(3))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert!(
            plan.iter().any(|d| d.contains("decisions_approval_number")),
            "{plan:?}"
        );
    }
    let present = |arn: &str, code: &str, amount_minor: i64| ledger::Presentment {
        arn: arn.into(),
        kind: ledger::PresentmentKind::First,
        pan: ledger::Pan::new(PAN_A1).unwrap(),
        approval_code: Some(code.to_owned()),
        amount_minor,
        currency: ccy("KRW"),
        mcc: Some("5812".into()),
        txn_date: Some(BUSINESS_DATE),
        window_days: 30,
        over_bp: 2000,
        file_id: "F-N".into(),
        business_date: BUSINESS_DATE,
        now: now(),
    };
    for (arn, code, amount) in [("N1", &old_code, 1_000), ("N2", &new_code, 2_000)] {
        let r = store.present(present(arn, code, amount)).await.unwrap();
        assert_eq!(r.outcome, ledger::ClearingOutcome::Matched, "{arn}: {r:?}");
    }
    assert_eq!(wallet(&store, "A-1", "KRW").await.held_minor, 0);
}
