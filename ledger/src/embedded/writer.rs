//! The single writer thread: group commit.

use std::panic::AssertUnwindSafe;
use std::sync::mpsc::Receiver;

use rusqlite::Connection;

use super::cache::WriterCache;
use super::tx::Statements;
use super::{Job, SqliteTx};
use crate::ops::{self, Ctx, Output};
use crate::{LedgerError, Result};

pub(super) fn run(conn: Connection, rx: Receiver<Job>, ctx: Ctx, max_batch: usize) {
    let mut batch = Vec::with_capacity(max_batch);
    let cache = WriterCache::default();
    let stmts = Statements::new(&conn);
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
        let results = match run_batch(&conn, &mem, &ctx, &batch, false) {
            Some(r) => r,
            // An operation failed: its partial writes are gone with the rolled-back batch;
            // run the batch again with a savepoint per operation to isolate it.
            None => run_batch(&conn, &mem, &ctx, &batch, true).unwrap_or_else(|| {
                fail_all(&batch, "operation failed without a savepoint".to_owned())
            }),
        };
        // Answers go out only now, after COMMIT (and its fsync) returned.
        for (job, result) in batch.drain(..).zip(results) {
            let _ = job.reply.send(result);
        }
    }
}

fn exec(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([])?;
    Ok(())
}

fn fail_all(batch: &[Job], msg: String) -> Vec<Result<Output>> {
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
        return Some(fail_all(batch, e.to_string()));
    }
    if let Err(e) = cache.begin(conn, !savepoints) {
        rollback(conn, cache);
        return Some(fail_all(batch, e.to_string()));
    }
    let mut out = Vec::with_capacity(batch.len());
    for job in batch {
        if savepoints {
            if let Err(e) = exec(conn, "SAVEPOINT op") {
                rollback(conn, cache);
                return Some(fail_all(batch, e.to_string()));
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
            return Some(fail_all(batch, e.to_string()));
        }
        out.push(r);
    }
    if let Err(e) = cache.flush(conn).and_then(|()| exec(conn, "COMMIT")) {
        rollback(conn, cache);
        return Some(fail_all(batch, e.to_string()));
    }
    Some(out)
}

fn rollback(conn: &Connection, cache: &WriterCache) {
    let _ = exec(conn, "ROLLBACK");
    cache.rolled_back();
}
