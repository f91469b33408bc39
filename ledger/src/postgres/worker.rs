//! A worker owns one connection and group-commits the requests queued to it.

use tokio::sync::mpsc;
use tokio_postgres::Client;

use super::engine::PgEngine;
use super::StmtCache;
use crate::machine::{driver, Ctx, Output, Prepared};
use crate::Result;

pub(crate) struct Job {
    pub(crate) prepared: Prepared,
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
        let ops: Vec<&Prepared> = batch.iter().map(|j| &j.prepared).collect();
        let mut engine = PgEngine {
            client,
            cache: &mut cache,
        };
        let results = driver::run(&mut engine, ctx, &ops).await;
        drop(ops);
        // Answers go out only after COMMIT returned.
        for (job, result) in batch.drain(..).zip(results) {
            let _ = job.reply.send(result);
        }
    }
}
