//! The one commit driver: a batch of operations through an [`Engine`], from the load to the
//! commit, with the retries and failures every engine shares.

use super::engine::{Engine, EngineError, Step};
use super::needs::Needs;
use super::{execute, Ctx, Output, Prepared};
use crate::{LedgerError, Result};

/// Runs of a whole batch when another writer gets in the way, before each operation is run
/// alone (so that one that keeps conflicting fails alone).
pub(crate) const MAX_BATCH_ATTEMPTS: usize = 5;

/// Runs `ops` as one transaction (or, after repeated conflicts, one each); returns each
/// operation's result, in order.
pub(crate) async fn run<E: Engine>(
    engine: &mut E,
    ctx: &Ctx,
    prepared: &[&Prepared],
) -> Vec<Result<Output>> {
    let started = std::time::Instant::now();
    let out = run_batch(engine, ctx, prepared).await;
    ctx.stats.observe(prepared.len(), started.elapsed());
    out
}

async fn run_batch<E: Engine>(
    engine: &mut E,
    ctx: &Ctx,
    prepared: &[&Prepared],
) -> Vec<Result<Output>> {
    let ops = prepared;
    match attempts(engine, ctx, prepared).await {
        Ok(out) => out,
        Err(e) if ops.len() > 1 && matches!(e, EngineError::Retry(_)) => {
            let mut out = Vec::with_capacity(ops.len());
            for p in prepared {
                match attempts(engine, ctx, std::slice::from_ref(p)).await {
                    Ok(mut o) => out.push(o.pop().unwrap_or(Err(LedgerError::Closed))),
                    Err(e) => out.push(Err(fail(ctx, e))),
                }
            }
            out
        }
        Err(e) => {
            let err = fail(ctx, e);
            // One error value per operation, all saying the same.
            let msg = err.to_string();
            let unknown = matches!(err, LedgerError::OutcomeUnknown(_));
            ops.iter()
                .map(|_| {
                    Err(if unknown {
                        LedgerError::OutcomeUnknown(msg.clone())
                    } else {
                        LedgerError::CommitFailed(msg.clone())
                    })
                })
                .collect()
        }
    }
}

/// The error the callers get when the batch did not commit, counted in the health.
fn fail(ctx: &Ctx, e: EngineError) -> LedgerError {
    let msg = e.error().to_string();
    ctx.health.failed(&msg);
    match e {
        EngineError::Unknown(_) => LedgerError::OutcomeUnknown(msg),
        EngineError::Retry(_) | EngineError::Failed(_) => LedgerError::CommitFailed(msg),
    }
}

/// The batch, run again (up to [`MAX_BATCH_ATTEMPTS`]) while another writer gets in the way.
async fn attempts<E: Engine>(
    engine: &mut E,
    ctx: &Ctx,
    prepared: &[&Prepared],
) -> Step<Vec<Result<Output>>> {
    let needs = Needs::of(prepared);
    let mut last = None;
    for _ in 0..MAX_BATCH_ATTEMPTS {
        match once(engine, ctx, prepared, &needs).await {
            Ok(out) => return Ok(out),
            Err(EngineError::Retry(e)) => {
                engine.rollback().await;
                last = Some(e);
            }
            Err(e @ EngineError::Failed(_)) => {
                engine.rollback().await;
                return Err(e);
            }
            Err(e @ EngineError::Unknown(_)) => return Err(e),
        }
    }
    Err(EngineError::Retry(last.unwrap_or(LedgerError::Closed)))
}

async fn once<E: Engine>(
    engine: &mut E,
    ctx: &Ctx,
    prepared: &[&Prepared],
    needs: &Needs,
) -> Step<Vec<Result<Output>>> {
    let mut snap = engine.begin(needs).await?;
    let accounts = needs.accounts_to_lock(&snap);
    engine.lock(needs, &accounts, &mut snap).await?;
    let (out, mut effects) = execute(&snap, ctx, prepared);
    if effects.is_empty() {
        // Repeats, reads, failures: nothing to write (the locks go with the transaction).
        engine.rollback().await;
        return Ok(out);
    }
    // Numbered under the accounts' locks and rendered once, here: the engine writes them
    // with the rest of the effects.
    let (rows, seqs) =
        crate::outbox::rows(&snap.event_seq, &effects.events).map_err(EngineError::Failed)?;
    effects.outbox = rows;
    effects.outbox_seq = seqs;
    engine.commit(&effects).await?;
    ctx.health.committed();
    Ok(out)
}
