//! The small interface a storage engine offers the commit driver: open a batch's transaction
//! and load what it needs, lock its accounts and load the rest, write its effects and commit.
//! SQLite, PostgreSQL and memory implement it; everything else is the driver's and the
//! rules'.

use super::needs::Needs;
use super::{Effects, Snapshot};
use crate::LedgerError;

/// How a step of the engine failed, which decides what the driver does next.
#[derive(Debug)]
pub(crate) enum EngineError {
    /// Another writer got in the way (a serialization failure, a deadlock, a key another
    /// instance inserted first): nothing was committed; the batch runs again from the load.
    Retry(LedgerError),
    /// Nothing was committed, and running again would not help (a full disk, a lost
    /// connection before `COMMIT`).
    Failed(LedgerError),
    /// `COMMIT` went out and its answer did not come back: the batch may have committed.
    Unknown(LedgerError),
}

impl EngineError {
    pub(crate) fn error(&self) -> &LedgerError {
        match self {
            EngineError::Retry(e) | EngineError::Failed(e) | EngineError::Unknown(e) => e,
        }
    }
}

/// A step's result.
pub(crate) type Step<T = ()> = std::result::Result<T, EngineError>;

/// A storage engine, as one batch uses it (one transaction at a time).
pub(crate) trait Engine {
    /// Opens the batch's transaction and loads what says which accounts it touches: cards,
    /// decisions, the expired holds asked for, cutovers, accounts (see `needs.rs`).
    async fn begin(&mut self, needs: &Needs) -> Step<Snapshot>;

    /// Locks the wallets of `accounts` (sorted) and loads them; loads (again, under the
    /// locks, where other writers exist) the decisions, holds and linked holds; takes the
    /// approval numbers the batch may use.
    async fn lock(&mut self, needs: &Needs, accounts: &[String], snap: &mut Snapshot) -> Step;

    /// Writes `effects` and commits.
    async fn commit(&mut self, effects: &Effects) -> Step;

    /// Ends the transaction without committing (nothing to write, or a step failed).
    async fn rollback(&mut self);
}
