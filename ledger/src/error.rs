//! The ledger's error type.
//!
//! Declines (51, 54, 91, ...) are *not* errors: they are decisions, recorded and answered.
//! An error means the ledger could not decide or could not make its decision durable, so the
//! gateway must not approve (it answers 91 or drops the request). No variant carries card
//! data: PANs never reach this type.

use thiserror::Error;

/// Everything that can go wrong in the ledger.
#[derive(Debug, Error)]
pub enum LedgerError {
    /// The writer queue (embedded) or the worker queues (PostgreSQL) are full: the caller
    /// should shed load (answer 91) rather than wait. The limit is the configured queue depth.
    #[error("ledger queue full ({capacity} requests waiting): backpressure")]
    Backpressure {
        /// The configured queue depth that was reached.
        capacity: usize,
    },
    /// The store has shut down (its writer thread or worker tasks are gone).
    #[error("ledger store is closed")]
    Closed,
    /// A request field is unusable (never contains card data).
    #[error("invalid {field}: {reason}")]
    Invalid {
        /// Which request field.
        field: &'static str,
        /// Why it was refused.
        reason: String,
    },
    /// A capture named an original that has no approved authorization.
    #[error("no approved authorization for original key {0}")]
    NoHold(String),
    /// Seeding data could not be read.
    #[error("seed data: {0}")]
    Seed(String),
    /// The PAN key is missing or unusable.
    #[error("PAN key: {0}")]
    PanKey(String),
    /// Data read back from the store does not parse (corruption or a schema mismatch).
    #[error("corrupt row in {table}: {reason}")]
    Corrupt {
        /// The table the row came from.
        table: &'static str,
        /// What did not parse.
        reason: String,
    },
    /// The batch this request was part of could not be committed and was rolled back, so
    /// nothing it decided is durable, nor will be (the message of the underlying error).
    #[error("commit failed: {0}")]
    CommitFailed(String),
    /// The request reached the writer but whether it was decided is not known: PostgreSQL's
    /// `COMMIT` failed on the way back (it may have committed), or the writer stopped before
    /// answering. The store has already looked for the decision and not found it; a late
    /// commit could still land, so the caller must void the request (never approve it).
    #[error("outcome unknown: {0}")]
    OutcomeUnknown(String),
    /// An operation panicked (a bug, or a panicking [`crate::Quoter`]); its batch was rolled
    /// back and the store keeps running.
    #[error("ledger operation panicked")]
    Panicked,
    /// SQLite failed.
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// PostgreSQL failed (after retries of serialization failures and deadlocks).
    #[error("postgres: {}", pg_detail(.0))]
    Postgres(#[from] tokio_postgres::Error),
    /// Opening the store's files failed.
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
}

impl LedgerError {
    /// True when nothing was decided for the request and nothing ever will be: it was
    /// refused before the writer took it, or its transaction was rolled back. False for a
    /// [`LedgerError::OutcomeUnknown`], after which the caller voids the request.
    pub fn is_definite(&self) -> bool {
        !matches!(self, LedgerError::OutcomeUnknown(_))
    }

    pub(crate) fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        LedgerError::Invalid {
            field,
            reason: reason.into(),
        }
    }

    pub(crate) fn corrupt(table: &'static str, reason: impl Into<String>) -> Self {
        LedgerError::Corrupt {
            table,
            reason: reason.into(),
        }
    }
}

/// tokio-postgres shows a server error as "db error"; the SQLSTATE and message are what an
/// operator needs. Server messages quote no parameters (the ledger never sends PANs anyway).
fn pg_detail(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => {
            // tokio-postgres's own text is only the kind ("error performing TLS handshake",
            // "invalid connection string"): the causes say which certificate check or which
            // option failed. They name options and checks, never the password.
            let mut text = e.to_string();
            let mut cause = std::error::Error::source(e);
            while let Some(c) = cause {
                text.push_str(": ");
                text.push_str(&c.to_string());
                cause = c.source();
            }
            text
        }
    }
}

/// Shorthand used throughout the crate.
pub type Result<T, E = LedgerError> = std::result::Result<T, E>;
