//! Deadlines: a ledger call that does not answer in time is answered 91, and the request's
//! key is voided so that no hold survives for it.
//!
//! The ledger's `void_timed_out` records a 91 placeholder under the key, or turns an approval
//! that landed late into a 91 and releases its hold. It is idempotent, so the void is retried
//! in the background until it sticks; the drain waits for outstanding voids.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use jiff::civil::Date;
use jiff::Timestamp;
use ledger::{LedgerError, NetworkKey, Store};
use tokio::sync::Notify;
use tokio::time::Instant;
use tracing::{error, info, warn};

/// Attempts of a void before giving up (the hold then ends at its expiry).
const VOID_ATTEMPTS: u32 = 30;
/// Cap of the delay between void attempts.
const VOID_BACKOFF_MAX: Duration = Duration::from_secs(5);

/// Why a ledger call produced no decision.
#[derive(Debug)]
pub(crate) enum LedgerFail {
    /// The deadline passed first.
    Deadline,
    /// The ledger answered with an error: nothing durable was decided.
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

/// Background voids still running (the drain waits for them).
#[derive(Debug, Default)]
pub(crate) struct Voids {
    pending: AtomicUsize,
    done: Notify,
}

impl Voids {
    /// Starts voiding `key` in the background.
    pub(crate) fn spawn(self: &Arc<Self>, store: Store, key: NetworkKey, business_date: Date) {
        self.pending.fetch_add(1, Ordering::AcqRel);
        let me = self.clone();
        tokio::spawn(async move {
            let mut delay = Duration::from_millis(50);
            for attempt in 1..=VOID_ATTEMPTS {
                match store
                    .void_timed_out(key.clone(), business_date, Timestamp::now())
                    .await
                {
                    Ok(d) => {
                        info!(key = %key, code = %d.response_code, "request voided after a missed deadline");
                        break;
                    }
                    Err(e) if attempt == VOID_ATTEMPTS => {
                        error!(key = %key, error = %e, "void failed; the hold, if any, ends at its expiry");
                    }
                    Err(e) => {
                        warn!(key = %key, error = %e, attempt, "void failed; retrying");
                        tokio::time::sleep(delay).await;
                        delay = (delay * 2).min(VOID_BACKOFF_MAX);
                    }
                }
            }
            if me.pending.fetch_sub(1, Ordering::AcqRel) == 1 {
                me.done.notify_waiters();
            }
        });
    }

    /// Waits until no void is running, or `timeout`.
    pub(crate) async fn wait(&self, timeout: Duration) -> bool {
        let until = Instant::now() + timeout;
        loop {
            let notified = self.done.notified();
            if self.pending.load(Ordering::Acquire) == 0 {
                return true;
            }
            if tokio::time::timeout_at(until, notified).await.is_err() {
                return self.pending.load(Ordering::Acquire) == 0;
            }
        }
    }
}
