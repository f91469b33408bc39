//! Deadlines: a ledger call that does not answer in time is answered 91, and the request is
//! voided (`voids.rs`) so that no hold survives for it.

use std::future::Future;

use futures::FutureExt;
use ledger::LedgerError;
use tokio::time::Instant;

/// Why a ledger call produced no decision.
#[derive(Debug)]
pub(crate) enum LedgerFail {
    /// The deadline passed first.
    Deadline,
    /// The ledger answered with an error: nothing was decided, or (an
    /// [`LedgerError::OutcomeUnknown`]) it cannot say.
    Error(LedgerError),
}

/// Runs `fut` until `deadline`.
///
/// A plain function returning a mapped future, not an `async fn`: an `async fn` keeps its
/// argument and the `Timeout` it is moved into side by side in its state, doubling the size
/// of every request's future, which each spawn copies.
pub(crate) fn before<T>(
    deadline: Instant,
    fut: impl Future<Output = ledger::Result<T>>,
) -> impl Future<Output = Result<T, LedgerFail>> {
    tokio::time::timeout_at(deadline, fut).map(|r| match r {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(LedgerFail::Error(e)),
        Err(_) => Err(LedgerFail::Deadline),
    })
}
