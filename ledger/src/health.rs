//! Whether the ledger can commit: what `/readyz` reports, kept by the writer (embedded) or
//! the workers (PostgreSQL) as each batch ends.
//!
//! Reads answer from another connection, so a ledger whose reads work may still be unable
//! to write (a full disk, fsync errors, a stopped writer). Readiness therefore looks at the
//! commits themselves: the last batch's outcome, and how long ago the last commit succeeded
//! (the gateway commits a heartbeat every second, [`crate::Store::heartbeat`], so an idle
//! ledger is probed too).

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, AtomicU64, Ordering};
use std::sync::Mutex;

use jiff::Timestamp;

/// Kept by the committing side, shared by every clone of the store handle.
#[derive(Debug, Default)]
pub(crate) struct CommitHealth {
    /// Microseconds since the epoch of the last successful commit (0: none yet).
    last_ok_us: AtomicI64,
    /// Batches that failed to commit since the last success.
    failing: AtomicU32,
    /// Times a writer or worker was restarted after a panic.
    restarts: AtomicU64,
    /// Set when the writer gave up (too many panics): nothing will commit again.
    stopped: AtomicBool,
    /// Why the last failure happened, or why the writer stopped.
    last_error: Mutex<Option<String>>,
}

impl CommitHealth {
    /// A batch committed.
    pub(crate) fn committed(&self) {
        self.last_ok_us
            .store(Timestamp::now().as_microsecond(), Ordering::Relaxed);
        self.failing.store(0, Ordering::Relaxed);
    }

    /// A batch failed to commit (rolled back) for `why`.
    pub(crate) fn failed(&self, why: &str) {
        self.failing.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut e) = self.last_error.lock() {
            *e = Some(why.to_owned());
        }
    }

    /// The writer panicked outside an operation and was started again (its batch may have
    /// committed: readiness goes by the commits that follow).
    pub(crate) fn restarted(&self, why: &str) {
        self.restarts.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut e) = self.last_error.lock() {
            *e = Some(why.to_owned());
        }
    }

    /// The writer stopped for good.
    pub(crate) fn stopped(&self, why: &str) {
        self.failed(why);
        self.stopped.store(true, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> LedgerHealth {
        let us = self.last_ok_us.load(Ordering::Relaxed);
        LedgerHealth {
            last_commit: (us > 0)
                .then(|| Timestamp::from_microsecond(us).ok())
                .flatten(),
            failing_batches: self.failing.load(Ordering::Relaxed),
            restarts: self.restarts.load(Ordering::Relaxed),
            stopped: self.stopped.load(Ordering::Relaxed),
            last_error: self.last_error.lock().ok().and_then(|e| e.clone()),
        }
    }
}

/// What [`crate::Store::health`] reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LedgerHealth {
    /// When a batch last committed (`None`: not since the store opened).
    pub last_commit: Option<Timestamp>,
    /// Batches that failed to commit since the last one that did.
    pub failing_batches: u32,
    /// Times the writer (or a PostgreSQL worker) was restarted after a panic.
    pub restarts: u64,
    /// The writer gave up: this process will not commit again and should be replaced.
    pub stopped: bool,
    /// The last failure's reason (never card data).
    pub last_error: Option<String>,
}

impl LedgerHealth {
    /// `Err(reason)` when the ledger cannot be counted on to commit: stopped, the last batch
    /// failed, or no commit within `max_silence` of `now` (heartbeats commit every second).
    pub fn commit_ready(
        &self,
        now: Timestamp,
        max_silence: jiff::SignedDuration,
    ) -> Result<(), String> {
        let why = || self.last_error.clone().unwrap_or_default();
        if self.stopped {
            return Err(format!("ledger writer stopped: {}", why()));
        }
        if self.failing_batches > 0 {
            return Err(format!(
                "ledger: the last {} batch(es) failed to commit: {}",
                self.failing_batches,
                why()
            ));
        }
        match self.last_commit {
            None => Err("ledger: no commit yet".into()),
            Some(t) if now.duration_since(t) > max_silence => Err(format!(
                "ledger: no commit for {:.1} s",
                now.duration_since(t).as_secs_f64()
            )),
            Some(_) => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::SignedDuration;

    #[test]
    fn readiness_follows_the_commits() {
        let h = CommitHealth::default();
        let s = SignedDuration::from_secs(3);
        assert!(h.snapshot().commit_ready(Timestamp::now(), s).is_err());
        h.committed();
        assert!(h.snapshot().commit_ready(Timestamp::now(), s).is_ok());
        let later = Timestamp::now() + SignedDuration::from_secs(10);
        let e = h.snapshot().commit_ready(later, s).unwrap_err();
        assert!(e.contains("no commit for"), "{e}");
        h.failed("database or disk is full");
        let e = h.snapshot().commit_ready(Timestamp::now(), s).unwrap_err();
        assert!(e.contains("disk is full"), "{e}");
        h.committed();
        assert!(h.snapshot().commit_ready(Timestamp::now(), s).is_ok());
        h.stopped("panicked 5 times");
        let e = h.snapshot().commit_ready(Timestamp::now(), s).unwrap_err();
        assert!(e.contains("stopped"), "{e}");
    }
}
