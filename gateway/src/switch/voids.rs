//! Voids of authorizations answered 91 whose decision could still land: the deadline passed
//! with the request still queued, or the ledger could not say whether it committed
//! ([`ledger::LedgerError::OutcomeUnknown`]). `Store::void_authorization` records the 91 a
//! late decision will find, or turns a late approval into that 91 and releases its hold; it
//! is idempotent, so it is retried until it sticks.
//!
//! One queue and one task, not a task per void: in an outage every failed request used to
//! start its own void, retried 30 times over two minutes, with nothing bounding how many ran
//! (RSS 30 -> 802 MB in 30 s). Here the queue holds at most [`MAX_PENDING_VOIDS`] distinct
//! keys (one more is dropped and counted: its hold, if any, ends at its expiry); the task
//! sends up to [`VOID_BATCH`] at once (they group-commit together), keeps what failed for
//! the next round, waits between rounds with a backoff, and starts the next round at once
//! when the ledger commits again ([`Voids::ledger_recovered`], called by the heartbeat).

use std::collections::{HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jiff::civil::Date;
use jiff::Timestamp;
use ledger::{AuthRequest, NetworkKey, Store};
use tokio::sync::Notify;
use tokio::time::Instant;
use tracing::{error, info, warn};

use super::throttle::Throttle;

/// Distinct requests that may wait to be voided (about 300 bytes each).
pub const MAX_PENDING_VOIDS: usize = 65_536;
/// Voids sent to the ledger together in one round.
const VOID_BATCH: usize = 512;
/// First wait after a round with failures.
const RETRY_MIN: Duration = Duration::from_millis(50);
/// Longest wait between rounds (unless the ledger recovers first).
const RETRY_MAX: Duration = Duration::from_secs(5);
/// At most one line about failing voids, or dropped ones, per this long.
const REPORT_EVERY: Duration = Duration::from_secs(10);

struct Entry {
    request: Arc<AuthRequest>,
    business_date: Date,
}

#[derive(Default)]
struct State {
    queue: VecDeque<Entry>,
    /// Keys queued or being voided: a key is queued once.
    keys: HashSet<NetworkKey>,
}

/// The queue of voids, shared by every switch of the process.
pub(crate) struct Voids {
    state: Mutex<State>,
    work: Notify,
    recovered: Notify,
    idle: Notify,
    dropped: AtomicU64,
    done: AtomicU64,
    failing: Throttle,
    full: Throttle,
}

impl std::fmt::Debug for Voids {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Voids")
            .field("pending", &self.pending())
            .finish_non_exhaustive()
    }
}

impl Default for Voids {
    fn default() -> Self {
        Voids {
            state: Mutex::default(),
            work: Notify::new(),
            recovered: Notify::new(),
            idle: Notify::new(),
            dropped: AtomicU64::new(0),
            done: AtomicU64::new(0),
            failing: Throttle::new(REPORT_EVERY),
            full: Throttle::new(REPORT_EVERY),
        }
    }
}

impl Voids {
    /// Queues a void of `request`; false (and counted) when the queue is full.
    pub(crate) fn push(&self, request: Arc<AuthRequest>, business_date: Date) -> bool {
        let Ok(mut s) = self.state.lock() else {
            return false;
        };
        if s.keys.contains(&request.key) {
            return true;
        }
        if s.keys.len() >= MAX_PENDING_VOIDS {
            drop(s);
            self.dropped.fetch_add(1, Ordering::Relaxed);
            if let Some(more) = self.full.admit() {
                error!(
                    limit = MAX_PENDING_VOIDS,
                    dropped_since_last_line = more,
                    "void queue full: a request answered 91 is not voided; its hold, if \
                     one lands, ends at its expiry"
                );
            }
            return false;
        }
        s.keys.insert(request.key.clone());
        s.queue.push_back(Entry {
            request,
            business_date,
        });
        drop(s);
        self.work.notify_one();
        true
    }

    /// The ledger commits again: the next round starts now rather than after its backoff.
    pub(crate) fn ledger_recovered(&self) {
        self.recovered.notify_one();
    }

    /// Voids queued or under way.
    pub(crate) fn pending(&self) -> usize {
        self.state.lock().map_or(0, |s| s.keys.len())
    }

    /// Voids dropped because the queue was full.
    pub(crate) fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Voids that stuck.
    pub(crate) fn done(&self) -> u64 {
        self.done.load(Ordering::Relaxed)
    }

    /// Up to [`VOID_BATCH`] entries (their keys stay taken until [`Voids::finish`]).
    fn take(&self) -> Vec<Entry> {
        let Ok(mut s) = self.state.lock() else {
            return Vec::new();
        };
        let n = s.queue.len().min(VOID_BATCH);
        s.queue.drain(..n).collect()
    }

    /// Ends a round: what stuck leaves the queue, what failed goes back to its front.
    fn finish(&self, stuck: Vec<NetworkKey>, failed: Vec<Entry>) {
        let Ok(mut s) = self.state.lock() else {
            return;
        };
        for k in &stuck {
            s.keys.remove(k);
        }
        for e in failed.into_iter().rev() {
            s.queue.push_front(e);
        }
        let empty = s.keys.is_empty();
        drop(s);
        self.done.fetch_add(stuck.len() as u64, Ordering::Relaxed);
        if empty {
            self.idle.notify_waiters();
        }
    }

    /// The one task that voids: runs for the life of the process.
    pub(crate) async fn run(self: Arc<Self>, store: Store) {
        let mut backoff = RETRY_MIN;
        let mut failing_since: Option<Instant> = None;
        loop {
            let batch = self.take();
            if batch.is_empty() {
                self.work.notified().await;
                continue;
            }
            let outcomes = futures::future::join_all(batch.iter().map(|e| {
                store.void_authorization(e.request.clone(), e.business_date, Timestamp::now())
            }))
            .await;
            let (mut stuck, mut failed, mut last_error) = (Vec::new(), Vec::new(), None);
            for (e, outcome) in batch.into_iter().zip(outcomes) {
                match outcome {
                    Ok(_) => stuck.push(e.request.key.clone()),
                    Err(err) => {
                        last_error = Some(err.to_string());
                        failed.push(e);
                    }
                }
            }
            let (n_stuck, n_failed) = (stuck.len(), failed.len());
            self.finish(stuck, failed);
            let Some(why) = last_error else {
                if let Some(since) = failing_since.take() {
                    info!(
                        pending = self.pending(),
                        after_s = since.elapsed().as_secs(),
                        "voids going through again"
                    );
                }
                backoff = RETRY_MIN;
                continue;
            };
            failing_since.get_or_insert_with(Instant::now);
            if let Some(more) = self.failing.admit() {
                warn!(failed = n_failed, voided = n_stuck, pending = self.pending(),
                    retry_in_ms = backoff.as_millis() as u64, lines_held_back = more,
                    error = %why, "voids failing; kept for the next round");
            }
            // The next round after the backoff, or as soon as the ledger commits again.
            tokio::select! {
                _ = tokio::time::sleep(backoff) => {}
                _ = self.recovered.notified() => {}
            }
            backoff = (backoff * 2).min(RETRY_MAX);
        }
    }

    /// Waits until no void is queued or under way, or `timeout` (the drain).
    pub(crate) async fn wait(&self, timeout: Duration) -> bool {
        let until = Instant::now() + timeout;
        loop {
            let idle = self.idle.notified();
            if self.pending() == 0 {
                return true;
            }
            if tokio::time::timeout_at(until, idle).await.is_err() {
                return self.pending() == 0;
            }
        }
    }
}
