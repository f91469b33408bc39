//! The single writer thread: group commit.

use std::sync::mpsc::Receiver;

use rusqlite::Connection;

use super::{Job, SqliteTx};
use crate::ops::{self, Ctx, Output};
use crate::{LedgerError, Result};

pub(super) fn run(conn: Connection, rx: Receiver<Job>, ctx: Ctx, max_batch: usize) {
    let mut batch = Vec::with_capacity(max_batch);
    while let Ok(first) = rx.recv() {
        batch.push(first);
        // Everything that queued up while the previous fsync ran joins this transaction.
        while batch.len() < max_batch {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let results = run_batch(&conn, &ctx, &batch);
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

fn run_batch(conn: &Connection, ctx: &Ctx, batch: &[Job]) -> Vec<Result<Output>> {
    let fail_all = |e: &dyn std::fmt::Display| {
        batch
            .iter()
            .map(|_| Err(LedgerError::CommitFailed(e.to_string())))
            .collect()
    };
    if let Err(e) = exec(conn, "BEGIN IMMEDIATE") {
        return fail_all(&e);
    }
    let mut out = Vec::with_capacity(batch.len());
    for job in batch {
        // A savepoint per request: one request's error undoes only its own writes.
        if let Err(e) = exec(conn, "SAVEPOINT op") {
            let _ = exec(conn, "ROLLBACK");
            return fail_all(&e);
        }
        let r = futures::executor::block_on(ops::run(&mut SqliteTx { conn }, ctx, &job.op));
        let end = if r.is_ok() {
            exec(conn, "RELEASE op")
        } else {
            exec(conn, "ROLLBACK TO op").and_then(|()| exec(conn, "RELEASE op"))
        };
        if let Err(e) = end {
            let _ = exec(conn, "ROLLBACK");
            return fail_all(&e);
        }
        out.push(r);
    }
    if let Err(e) = exec(conn, "COMMIT") {
        let _ = exec(conn, "ROLLBACK");
        return fail_all(&e);
    }
    out
}
