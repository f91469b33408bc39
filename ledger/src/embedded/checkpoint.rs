//! Checkpoints off the writer's thread while presentments are being posted (issue 24).
//!
//! SQLite copies the WAL back into the database file (a checkpoint) on the connection whose
//! commit takes the WAL past `wal_autocheckpoint` pages: ordinarily the writer's, between
//! two batches. Authorizations alone dirty few pages, always the same ones, and such a
//! checkpoint is short. A presentment dirties pages all over the decisions and holds, so
//! during a clearing import the writer checkpoints several times a second, each time for
//! milliseconds, and the authorizations queued behind it wait: with the import paced at
//! 500 a second, turning checkpoints off took the authorizations' p99 during it from about
//! 3.5 ms to 2.8 ms (docs/PERFORMANCE.md, twelfth pass).
//!
//! So, from the first presentment until [`QUIET`] after the last, the writer's own
//! threshold is raised to [`BACKSTOP_PAGES`] (a bound on the WAL should the copy fall
//! behind), and a thread of its own with its own connection runs a PASSIVE checkpoint every
//! [`EVERY`]: it copies what is committed without blocking the writer, and when it has
//! copied everything SQLite starts the WAL over at the writer's next transaction. Only for
//! a gentle import (at most [`GENTLE_MAX_PER_S`]): beside one posting flat out it makes
//! things worse. Without an import nothing changes: a thread that would checkpoint beside
//! the full authorization flow costs the switch throughput (measured in the eleventh pass),
//! so it sleeps then.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use rusqlite::Connection;

/// How long after the last presentment the import counts as over: longer than a paced
/// import through the switch stops for slow commits at most a request (5 s), so that the
/// writer does not take the checkpoints back, with whatever the WAL holds, while the import
/// waits for the disk.
const QUIET: Duration = Duration::from_secs(6);
/// How often the checkpointer copies the WAL back while an import runs.
const EVERY: Duration = Duration::from_millis(50);
/// The writer's own checkpoint threshold while the checkpointer runs (SQLite pages, 4 KiB
/// each: a WAL of about 64 MiB at most).
const BACKSTOP_PAGES: u32 = 16_000;
/// SQLite's default threshold, the writer's otherwise.
const DEFAULT_PAGES: u32 = 1_000;
/// Presentments a second above which checkpoints stay on the writer. A passive checkpoint
/// beside a writer that posts presentments flat out never catches up: the WAL grows to the
/// backstop, and the two threads' fsyncs of thousands of pages queue behind each other (the
/// p99 during a full-pace import went from 5.5 to 18 ms). Measured helpful up to 1,000 a
/// second (docs/PERFORMANCE.md, twelfth pass).
const GENTLE_MAX_PER_S: u32 = 1_200;

/// What the writer and the checkpointer share.
#[derive(Debug, Default)]
struct Shared {
    /// The checkpointer's turn: presentments flow, gently.
    beside: AtomicBool,
    /// Checkpoints the checkpointer ran.
    runs: AtomicU64,
}

/// The writer's side: counts the presentments it commits and decides where checkpoints run.
pub(super) struct WriterSide {
    shared: Arc<Shared>,
    last_presentment: Option<Instant>,
    window: Instant,
    in_window: u32,
    /// Presentments committed in the last whole second.
    per_s: u32,
}

impl WriterSide {
    /// Called after each batch the writer committed, with how many presentments it held.
    pub(super) fn after_batch(&mut self, conn: &Connection, presentments: usize) {
        let now = Instant::now();
        if presentments > 0 {
            self.last_presentment = Some(now);
            let n = u32::try_from(presentments).unwrap_or(u32::MAX);
            self.in_window = self.in_window.saturating_add(n);
        }
        if now.saturating_duration_since(self.window) >= Duration::from_secs(1) {
            self.per_s = std::mem::take(&mut self.in_window);
            self.window = now;
        }
        let flowing = self
            .last_presentment
            .is_some_and(|t| now.saturating_duration_since(t) < QUIET);
        let rate = self.per_s.max(self.in_window);
        let beside = flowing && rate <= GENTLE_MAX_PER_S;
        if beside == self.shared.beside.load(Ordering::Relaxed) {
            return;
        }
        let pages = if beside {
            BACKSTOP_PAGES
        } else {
            DEFAULT_PAGES
        };
        if let Err(e) = conn.pragma_update(None, "wal_autocheckpoint", pages) {
            tracing::warn!(error = %e, "ledger: setting wal_autocheckpoint");
            return;
        }
        self.shared.beside.store(beside, Ordering::Relaxed);
        if beside {
            tracing::info!("ledger: presentments are posted; checkpoints beside the writer");
        } else {
            tracing::info!(
                checkpoints = self.shared.runs.load(Ordering::Relaxed),
                presentments_per_s = rate,
                "ledger: checkpoints back on the writer (no presentment for {} s, or more than \
                 {GENTLE_MAX_PER_S} a second)",
                QUIET.as_secs()
            );
        }
    }
}

/// Starts the checkpointer for the ledger at `path`; the writer keeps the returned side.
/// The thread ends once the writer's side is dropped (the writer has stopped).
pub(super) fn start(path: PathBuf) -> std::io::Result<WriterSide> {
    let shared = Arc::new(Shared::default());
    let weak = Arc::downgrade(&shared);
    std::thread::Builder::new()
        .name("ledger-checkpoint".into())
        .spawn(move || run(&path, &weak))?;
    Ok(WriterSide {
        shared,
        last_presentment: None,
        window: Instant::now(),
        in_window: 0,
        per_s: 0,
    })
}

fn run(path: &std::path::Path, shared: &Weak<Shared>) {
    let mut conn: Option<Connection> = None;
    loop {
        std::thread::sleep(EVERY);
        let Some(s) = shared.upgrade() else { return };
        if !s.beside.load(Ordering::Relaxed) {
            // Not its turn: the connection is let go, nothing of this thread stays open.
            conn = None;
            continue;
        }
        if conn.is_none() {
            match super::open_connection(path) {
                Ok(c) => conn = Some(c),
                Err(e) => {
                    tracing::warn!(error = %e, "ledger: the checkpointer cannot open the ledger");
                    continue;
                }
            }
        }
        let Some(c) = conn.as_ref() else { continue };
        // PASSIVE: copies what it can without waiting for, or blocking, the writer.
        match c.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
            Ok(()) => {
                s.runs.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => tracing::warn!(error = %e, "ledger: checkpoint"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn threshold(conn: &Connection) -> u32 {
        conn.query_row("PRAGMA wal_autocheckpoint", [], |r| r.get(0))
            .unwrap()
    }

    #[test]
    fn during_an_import_the_wal_is_copied_back_beside_the_writer_and_after_it_by_the_writer() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.sqlite");
        let conn = Connection::open(&path).unwrap();
        conn.pragma_update(None, "journal_mode", "WAL").unwrap();
        conn.execute("CREATE TABLE t (k INTEGER PRIMARY KEY, v BLOB)", [])
            .unwrap();
        let mut side = start(path.clone()).unwrap();
        let shared = side.shared.clone();
        let db_len = || std::fs::metadata(&path).unwrap().len();

        // Authorizations only: the writer keeps SQLite's threshold, the thread sleeps.
        side.after_batch(&conn, 0);
        assert_eq!(threshold(&conn), DEFAULT_PAGES);
        std::thread::sleep(EVERY * 3);
        assert_eq!(shared.runs.load(Ordering::Relaxed), 0);

        // A presentment: the writer's threshold goes up to the backstop...
        side.after_batch(&conn, 1);
        assert_eq!(threshold(&conn), BACKSTOP_PAGES);
        // ...and pages it commits (about 2,500, past SQLite's 1,000 but under the backstop)
        // reach the database file all the same: copied by the other thread.
        let before = db_len();
        for i in 0..50 {
            let tx = conn.unchecked_transaction().unwrap();
            for j in 0..50 {
                tx.execute(
                    "INSERT INTO t (k, v) VALUES (?1, zeroblob(3000))",
                    [i * 50 + j],
                )
                .unwrap();
            }
            tx.commit().unwrap();
            side.after_batch(&conn, 1);
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while db_len() < before + 2_000 * 4096 && Instant::now() < deadline {
            std::thread::sleep(EVERY);
        }
        assert!(db_len() >= before + 2_000 * 4096, "{} bytes", db_len());
        assert!(shared.runs.load(Ordering::Relaxed) > 0);

        // Quiet for longer than QUIET: the writer takes its checkpoints back.
        std::thread::sleep(QUIET + EVERY);
        side.after_batch(&conn, 0);
        assert_eq!(threshold(&conn), DEFAULT_PAGES);
        let runs = shared.runs.load(Ordering::Relaxed);
        std::thread::sleep(EVERY * 3);
        assert_eq!(shared.runs.load(Ordering::Relaxed), runs);

        // Presentments again, gently: beside the writer again; then flat out within one
        // second: back on the writer at once.
        side.after_batch(&conn, 1);
        assert_eq!(threshold(&conn), BACKSTOP_PAGES);
        side.after_batch(&conn, GENTLE_MAX_PER_S as usize);
        assert_eq!(threshold(&conn), DEFAULT_PAGES);
    }
}
