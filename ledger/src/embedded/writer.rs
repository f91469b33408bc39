//! The single writer thread: group commit, under a supervisor.
//!
//! An operation that panics is caught around itself (its batch runs again without it). A
//! panic anywhere else (one was seen in tokio's waker, handing an answer over after COMMIT)
//! used to end the thread: every caller waiting got `Closed` and answered 91 though its
//! decision was committed, and every later request failed while reads still worked. Now each
//! answer is handed over under its own guard, and the supervisor starts the writer again
//! after any other panic: the batch in hand is rolled back if it was still open, and its
//! callers, whose answers are lost, read their outcome back from the ledger (see
//! `EmbeddedStore::submit`). A writer that keeps panicking stops for good after
//! [`MAX_RESTARTS`] within [`RESTART_WINDOW`]: the store reports it (`Store::health`) and the
//! gateway exits so that its supervisor replaces the process.

use std::collections::VecDeque;
use std::panic::AssertUnwindSafe;
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use rusqlite::Connection;
use tracing::error;

use super::cache::WriterCache;
use super::tx::Statements;
use super::{Job, SqliteTx};
use crate::faults::{self, Fault};
use crate::ops::{self, Ctx, Output};
use crate::{LedgerError, Result};

/// Panics outside an operation tolerated within [`RESTART_WINDOW`]; one more stops the writer.
pub(super) const MAX_RESTARTS: usize = 5;
/// See [`MAX_RESTARTS`].
pub(super) const RESTART_WINDOW: Duration = Duration::from_secs(60);

/// Runs the writer until the queue closes, starting it again after a panic (see the module's
/// documentation).
pub(super) fn supervise(conn: Connection, rx: Receiver<Job>, ctx: Ctx, max_batch: usize) {
    let mut panics: VecDeque<Instant> = VecDeque::new();
    loop {
        let Err(panic) = std::panic::catch_unwind(AssertUnwindSafe(|| {
            run(&conn, &rx, &ctx, max_batch);
        })) else {
            return;
        };
        let why = panic_message(panic.as_ref());
        // A transaction the panic left open is undone; if it committed, this is a no-op.
        let _ = conn.execute_batch("ROLLBACK");
        let now = Instant::now();
        panics.push_back(now);
        while panics
            .front()
            .is_some_and(|t| now.duration_since(*t) > RESTART_WINDOW)
        {
            panics.pop_front();
        }
        if panics.len() > MAX_RESTARTS {
            let msg = format!(
                "the ledger writer panicked {} times within {} s (last: {why}); it stops, \
                 and this process can no longer commit",
                panics.len(),
                RESTART_WINDOW.as_secs()
            );
            error!("{msg}");
            ctx.health.stopped(&msg);
            // What is still queued was never started: refused, definitely.
            while let Ok(job) = rx.try_recv() {
                let _ = job.reply.send(Err(LedgerError::Closed));
            }
            return;
        }
        let msg = format!("the ledger writer panicked ({why}); restarted");
        error!("{msg}; the callers of its batch read their outcome back from the ledger");
        ctx.health.restarted(&msg);
    }
}

fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic".to_owned())
}

fn run(conn: &Connection, rx: &Receiver<Job>, ctx: &Ctx, max_batch: usize) {
    let mut batch = Vec::with_capacity(max_batch);
    let cache = WriterCache::default();
    let stmts = Statements::new(conn);
    let mem = Mem {
        cache: &cache,
        stmts: &stmts,
    };
    while let Ok(first) = rx.recv() {
        batch.push(first);
        // Everything that queued up while the previous fsync ran joins this transaction.
        while batch.len() < max_batch {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        ctx.stats.observe(batch.len());
        let results = match run_batch(conn, &mem, ctx, &batch, false) {
            Some(r) => r,
            // An operation failed: its partial writes are gone with the rolled-back batch;
            // run the batch again with a savepoint per operation to isolate it.
            None => run_batch(conn, &mem, ctx, &batch, true).unwrap_or_else(|| {
                fail_all(
                    ctx,
                    &batch,
                    "operation failed without a savepoint".to_owned(),
                )
            }),
        };
        if faults::hit(Fault::PanicAfterCommit) {
            panic!("injected fault: panic after COMMIT, before the answers");
        }
        // Answers go out only now, after COMMIT (and its fsync) returned; each under its own
        // guard, so that one that cannot be handed over does not take the others with it.
        for (job, result) in batch.drain(..).zip(results) {
            let handed = std::panic::catch_unwind(AssertUnwindSafe(move || {
                if faults::hit(Fault::PanicWhileReplying) {
                    panic!("injected fault: panic while handing an answer over");
                }
                let _ = job.reply.send(result);
            }));
            if let Err(p) = handed {
                error!(panic = %panic_message(p.as_ref()),
                    "a ledger answer could not be handed over; its caller reads it back");
            }
        }
    }
}

fn exec(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([])?;
    Ok(())
}

/// Every request of `batch` failed with `msg` (its transaction was rolled back).
fn fail_all(ctx: &Ctx, batch: &[Job], msg: String) -> Vec<Result<Output>> {
    ctx.health.failed(&msg);
    batch
        .iter()
        .map(|_| Err(LedgerError::CommitFailed(msg.clone())))
        .collect()
}

/// What the writer keeps across batches: its memory of rows and its prepared statements.
struct Mem<'a, 'c> {
    cache: &'a WriterCache,
    stmts: &'a Statements<'c>,
}

/// Runs `batch` in one transaction. Without savepoints (the fast path: they cost a
/// statement pair and page copies per request) the first failing operation rolls the whole
/// transaction back and returns `None`; with them, each failure undoes only its own writes.
fn run_batch(
    conn: &Connection,
    mem: &Mem<'_, '_>,
    ctx: &Ctx,
    batch: &[Job],
    savepoints: bool,
) -> Option<Vec<Result<Output>>> {
    let cache = mem.cache;
    if let Err(e) = exec(conn, "BEGIN IMMEDIATE") {
        return Some(fail_all(ctx, batch, e.to_string()));
    }
    if let Err(e) = cache.begin(conn, !savepoints) {
        rollback(conn, cache);
        return Some(fail_all(ctx, batch, e.to_string()));
    }
    let mut out = Vec::with_capacity(batch.len());
    for job in batch {
        if savepoints {
            if let Err(e) = exec(conn, "SAVEPOINT op") {
                rollback(conn, cache);
                return Some(fail_all(ctx, batch, e.to_string()));
            }
        }
        // A panic (say, in the gateway's Quoter) must not kill the only writer thread.
        let r = std::panic::catch_unwind(AssertUnwindSafe(|| {
            let mut tx = SqliteTx {
                conn,
                cache: Some(cache),
                stmts: Some(mem.stmts),
            };
            futures::executor::block_on(ops::run(&mut tx, ctx, &job.op))
        }))
        .unwrap_or(Err(LedgerError::Panicked));
        if !savepoints {
            if r.is_err() {
                rollback(conn, cache);
                return None;
            }
            out.push(r);
            continue;
        }
        let end = if r.is_ok() {
            exec(conn, "RELEASE op")
        } else {
            cache.rolled_back();
            exec(conn, "ROLLBACK TO op").and_then(|()| exec(conn, "RELEASE op"))
        };
        if let Err(e) = end {
            rollback(conn, cache);
            return Some(fail_all(ctx, batch, e.to_string()));
        }
        out.push(r);
    }
    let committed = cache.flush(conn).and_then(|()| {
        if faults::hit(Fault::FailCommit) {
            return Err(rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_FULL),
                Some("injected fault: database or disk is full".into()),
            ));
        }
        exec(conn, "COMMIT")
    });
    if let Err(e) = committed {
        rollback(conn, cache);
        return Some(fail_all(ctx, batch, e.to_string()));
    }
    ctx.health.committed();
    Some(out)
}

fn rollback(conn: &Connection, cache: &WriterCache) {
    let _ = exec(conn, "ROLLBACK");
    cache.rolled_back();
}
