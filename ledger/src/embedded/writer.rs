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

use super::cache::CardCache;
use super::checkpoint::WriterSide;
use super::engine::SqliteEngine;
use super::sql::Statements;
use super::Job;
use crate::faults::{self, Fault};
use crate::machine::{driver, Ctx, Op, Prepared};
use crate::LedgerError;

/// Panics outside an operation tolerated within [`RESTART_WINDOW`]; one more stops the writer.
pub(super) const MAX_RESTARTS: usize = 5;
/// See [`MAX_RESTARTS`].
pub(super) const RESTART_WINDOW: Duration = Duration::from_secs(60);

/// Runs the writer until the queue closes, starting it again after a panic (see the module's
/// documentation).
pub(super) fn supervise(
    conn: Connection,
    rx: Receiver<Job>,
    ctx: Ctx,
    max_batch: usize,
    mut checkpoints: WriterSide,
) {
    let mut panics: VecDeque<Instant> = VecDeque::new();
    loop {
        let Err(panic) = std::panic::catch_unwind(AssertUnwindSafe(|| {
            run(&conn, &rx, &ctx, max_batch, &mut checkpoints);
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

fn run(
    conn: &Connection,
    rx: &Receiver<Job>,
    ctx: &Ctx,
    max_batch: usize,
    checkpoints: &mut WriterSide,
) {
    let mut batch: Vec<Job> = Vec::with_capacity(max_batch);
    let stmts = Statements::new(conn);
    let mut cards = CardCache::default();
    while let Ok(first) = rx.recv() {
        batch.push(first);
        // Everything that queued up while the previous fsync ran joins this transaction.
        while batch.len() < max_batch {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let ops: Vec<&Prepared> = batch.iter().map(|j| &j.prepared).collect();
        let presentments = ops
            .iter()
            .filter(|p| matches!(p.op, Op::Present { .. }))
            .count();
        let mut engine = SqliteEngine {
            conn,
            stmts: &stmts,
            cards: &mut cards,
        };
        // The engine's steps are synchronous: their futures are ready at once.
        let results = futures::executor::block_on(driver::run(&mut engine, ctx, &ops));
        drop(ops);
        checkpoints.after_batch(conn, presentments);
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
