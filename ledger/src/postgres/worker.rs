//! A worker owns one connection and group-commits the requests queued to it.

use tokio::sync::mpsc;
use tokio_postgres::error::SqlState;
use tokio_postgres::Client;

use super::{Memo, PgTx, StmtCache};
use crate::ops::{self, Ctx, Op, Output};
use crate::{LedgerError, NetworkKey, Result};

/// Whole-batch attempts on serialization failures and deadlocks before giving up.
const MAX_BATCH_ATTEMPTS: usize = 5;
/// Re-runs of one request after a unique violation (another instance decided the same key
/// first; the re-run finds its decision).
const MAX_OP_ATTEMPTS: usize = 3;

pub(crate) struct Job {
    pub(crate) op: Op,
    pub(crate) reply: tokio::sync::oneshot::Sender<Result<Output>>,
}

/// Where a worker reconnects to when its connection is lost.
pub(super) struct Target {
    pub(super) url: String,
    pub(super) schema: String,
}

/// Runs a worker until its queue closes, starting it again on a new connection after a
/// panic outside an operation (an operation's own panic is caught around it): the batch in
/// hand is lost with the connection, whose transaction the server rolls back, and its callers
/// read their outcome back (`PgStore::submit`).
pub(super) async fn supervise(
    target: Target,
    mut client: Client,
    mut rx: mpsc::Receiver<Job>,
    ctx: Ctx,
    max_batch: usize,
) {
    use futures::FutureExt;
    loop {
        let run = std::panic::AssertUnwindSafe(run(&target, &mut client, &mut rx, &ctx, max_batch));
        let Err(p) = run.catch_unwind().await else {
            return;
        };
        let why = p
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| p.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic".into());
        let msg = format!("a ledger PostgreSQL worker panicked ({why}); restarted");
        tracing::error!("{msg}");
        ctx.health.restarted(&msg);
        // The connection may be inside a transaction: a new one starts clean (the old one's
        // is rolled back by the server when it closes).
        match super::open_client(&target.url, &target.schema).await {
            Ok(c) => client = c,
            Err(e) => tracing::warn!(error = %e, "ledger postgres reconnect failed"),
        }
    }
}

async fn run(
    target: &Target,
    client: &mut Client,
    rx: &mut mpsc::Receiver<Job>,
    ctx: &Ctx,
    max_batch: usize,
) {
    let mut cache = StmtCache::new();
    let mut batch = Vec::with_capacity(max_batch);
    while rx.recv_many(&mut batch, max_batch).await > 0 {
        if client.is_closed() {
            // A restarted server or a killed session: reconnect once per batch; if that
            // fails too, this batch fails (errors, never approvals) and the next one retries.
            match super::open_client(&target.url, &target.schema).await {
                Ok(c) => {
                    *client = c;
                    cache.clear();
                }
                Err(e) => tracing::warn!(error = %e, "ledger postgres reconnect failed"),
            }
        }
        ctx.stats.observe(batch.len());
        let results = run_batch(client, &mut cache, ctx, &batch).await;
        // Answers go out only after COMMIT returned.
        for (job, result) in batch.drain(..).zip(results) {
            let _ = job.reply.send(result);
        }
    }
}

fn sql_state(e: &LedgerError) -> Option<&SqlState> {
    match e {
        LedgerError::Postgres(e) => e.code(),
        _ => None,
    }
}

fn whole_batch_retry(e: &LedgerError) -> bool {
    matches!(
        sql_state(e),
        Some(s) if *s == SqlState::T_R_SERIALIZATION_FAILURE || *s == SqlState::T_R_DEADLOCK_DETECTED
    )
}

/// Turns a panic inside an operation (say, in the gateway's Quoter) into an error for that
/// request, so the worker and its connection survive.
async fn guarded(f: impl std::future::Future<Output = Result<Output>>) -> Result<Output> {
    use futures::FutureExt;
    std::panic::AssertUnwindSafe(f)
        .catch_unwind()
        .await
        .unwrap_or(Err(LedgerError::Panicked))
}

enum Attempt {
    Done(Vec<Result<Output>>),
    Retry(LedgerError),
    /// `COMMIT` went out and no answer came back (the connection broke): the batch may have
    /// committed.
    Unknown(LedgerError),
    /// An operation failed on the fast path (no savepoints): run again with them.
    NeedSavepoints,
}

/// Distinct keys in their database form, sorted.
fn sorted_keys<'k>(keys: impl Iterator<Item = &'k NetworkKey>) -> Vec<String> {
    let mut v: Vec<String> = keys.map(NetworkKey::as_db).collect();
    v.sort_unstable();
    v.dedup();
    v
}

async fn run_batch(
    client: &Client,
    cache: &mut StmtCache,
    ctx: &Ctx,
    batch: &[Job],
) -> Vec<Result<Output>> {
    let mut last = String::new();
    let mut savepoints = false;
    for _ in 0..MAX_BATCH_ATTEMPTS {
        match attempt(client, cache, ctx, batch, savepoints).await {
            Ok(Attempt::Done(out)) => {
                ctx.health.committed();
                return out;
            }
            Ok(Attempt::Unknown(e)) => {
                let msg = format!("COMMIT sent, no answer: {e}");
                ctx.health.failed(&msg);
                return batch
                    .iter()
                    .map(|_| Err(LedgerError::OutcomeUnknown(msg.clone())))
                    .collect();
            }
            Ok(Attempt::Retry(e)) => last = e.to_string(),
            Ok(Attempt::NeedSavepoints) => savepoints = true,
            Err(e) => {
                let _ = client.batch_execute("ROLLBACK").await;
                if whole_batch_retry(&e) {
                    last = e.to_string();
                    continue;
                }
                let msg = e.to_string();
                ctx.health.failed(&msg);
                return batch
                    .iter()
                    .map(|_| Err(LedgerError::CommitFailed(msg.clone())))
                    .collect();
            }
        }
    }
    ctx.health.failed(&last);
    batch
        .iter()
        .map(|_| Err(LedgerError::CommitFailed(last.clone())))
        .collect()
}

async fn attempt(
    client: &Client,
    cache: &mut StmtCache,
    ctx: &Ctx,
    batch: &[Job],
    savepoints: bool,
) -> Result<Attempt> {
    // The fast path remembers and defers (see `tx.rs`); re-runs with savepoints send every
    // statement at once, so that each failure is caught by its own savepoint.
    let mut memo = (!savepoints).then(|| Memo::for_batch(batch.len()));
    macro_rules! tx {
        () => {
            match memo.as_mut() {
                Some(m) => PgTx::memo(client, cache, m),
                None => PgTx::direct(client, cache),
            }
        };
    }
    // BEGIN goes out with the reads that say which accounts the batch locks: its cards, and
    // the decisions its reversals and completions name (one round trip, where one each went
    // out in turn).
    let found_by = sorted_keys(batch.iter().filter_map(|j| ops::account_decision_of(&j.op)));
    let mut cards: Vec<String> = batch
        .iter()
        .filter_map(|j| ops::card_of(&j.op))
        .map(|pan| ctx.hasher.hash(pan))
        .collect();
    cards.sort_unstable();
    cards.dedup();
    tx!().begin_and_prefetch(&cards, &found_by).await?;
    // Every account the batch will touch, locked now in sorted order: batches on different
    // connections then queue behind each other instead of deadlocking (PostgreSQL would
    // only break a deadlock after deadlock_timeout, 1 s by default).
    let mut accounts = Vec::with_capacity(batch.len());
    for job in batch {
        accounts.extend(ops::accounts_of(&mut tx!(), ctx, &job.op).await?);
    }
    accounts.sort_unstable();
    accounts.dedup();
    let keys = sorted_keys(batch.iter().flat_map(|j| ops::keys_of(&j.op)));
    // Approval numbers for every request that may approve, taken with the locks.
    let approvals = batch
        .iter()
        .filter(|j| ops::card_of(&j.op).is_some())
        .count();
    let holds = sorted_keys(batch.iter().filter_map(|j| ops::holds_read_by(&j.op).0));
    let linked = sorted_keys(batch.iter().filter_map(|j| ops::holds_read_by(&j.op).1));
    tx!()
        .lock_and_prefetch(&accounts, &keys, &holds, &linked, approvals)
        .await?;
    let mut out = Vec::with_capacity(batch.len());
    for job in batch {
        if !savepoints {
            // Fast path: a savepoint per request costs two round trips. Any failure rolls
            // the batch back and it runs again with savepoints.
            let r = guarded(ops::run(&mut tx!(), ctx, &job.op)).await;
            if let Err(e) = r {
                client.batch_execute("ROLLBACK").await?;
                return Ok(if whole_batch_retry(&e) {
                    Attempt::Retry(e)
                } else {
                    Attempt::NeedSavepoints
                });
            }
            out.push(r);
            continue;
        }
        client.batch_execute("SAVEPOINT op").await?;
        let mut tries = 0;
        let r = loop {
            tries += 1;
            let r = guarded(ops::run(&mut tx!(), ctx, &job.op)).await;
            match &r {
                Err(e) if whole_batch_retry(e) => {
                    client.batch_execute("ROLLBACK").await?;
                    return Ok(Attempt::Retry(r.err().unwrap_or(LedgerError::Closed)));
                }
                Err(e)
                    if tries < MAX_OP_ATTEMPTS
                        && sql_state(e) == Some(&SqlState::UNIQUE_VIOLATION) =>
                {
                    client.batch_execute("ROLLBACK TO SAVEPOINT op").await?;
                }
                Err(_) => {
                    client.batch_execute("ROLLBACK TO SAVEPOINT op").await?;
                    break r;
                }
                Ok(_) => break r,
            }
        };
        client.batch_execute("RELEASE SAVEPOINT op").await?;
        out.push(r);
    }
    // The deferred writes and COMMIT go out together. A write failing there (a key another
    // instance decided meanwhile) is one request's failure found late: run the batch again
    // with savepoints, as for a failure inside an operation.
    if let Err(e) = tx!().commit().await {
        // The server's own refusal (a SQLSTATE) rolled the transaction back; a connection
        // that broke with COMMIT on the wire leaves its outcome unknown.
        if let LedgerError::Postgres(pe) = &e {
            if pe.as_db_error().is_none() {
                return Ok(Attempt::Unknown(e));
            }
        }
        let _ = client.batch_execute("ROLLBACK").await;
        if whole_batch_retry(&e) {
            return Ok(Attempt::Retry(e));
        }
        if savepoints {
            return Err(e);
        }
        return Ok(Attempt::NeedSavepoints);
    }
    Ok(Attempt::Done(out))
}
