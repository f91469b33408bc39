//! Group-commit figures for operators: how many operations each committed batch carried,
//! and how many took [`SLOW_BATCH`] or longer.
//!
//! The writer (embedded) or each worker (PostgreSQL) records one observation per batch, with
//! relaxed atomics only; [`Store::batch_stats`](crate::Store::batch_stats) reads a snapshot
//! for `/metrics`. The end of the last slow batch is also what a paced clearing import
//! yields to ([`Store::yield_to_writer`](crate::Store::yield_to_writer)).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A batch (load, rules, writes and commit) that took this long or longer counts as slow.
/// Alone, an authorization's whole round trip has a p99 of about 3 ms on the sandbox's
/// embedded ledger; a batch of 10 ms means the commits are waiting for the disk, which on a
/// large ledger under a clearing import comes in episodes of a minute or more
/// (docs/PERFORMANCE.md, thirteenth pass).
pub const SLOW_BATCH: Duration = Duration::from_millis(10);

/// Upper bounds (inclusive) of the batch-size buckets; larger batches count in the last
/// (implicit `+Inf`) bucket only.
pub const BATCH_SIZE_BOUNDS: [u64; 10] = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512];

/// Batch sizes seen by one store handle (shared by its clones).
#[derive(Debug)]
pub(crate) struct BatchStats {
    /// Non-cumulative count per bucket of [`BATCH_SIZE_BOUNDS`].
    buckets: [AtomicU64; BATCH_SIZE_BOUNDS.len()],
    /// Operations in all batches.
    ops: AtomicU64,
    /// Batches committed or failed.
    batches: AtomicU64,
    /// Batches that took [`SLOW_BATCH`] or longer.
    slow: AtomicU64,
    /// When the last slow batch ended: nanoseconds after `epoch`, plus one (0: none yet).
    last_slow: AtomicU64,
    /// Time a paced import spent waiting for the writer's batches to be quick again, us.
    yielded_us: AtomicU64,
    epoch: Instant,
}

impl Default for BatchStats {
    fn default() -> Self {
        BatchStats {
            buckets: Default::default(),
            ops: AtomicU64::new(0),
            batches: AtomicU64::new(0),
            slow: AtomicU64::new(0),
            last_slow: AtomicU64::new(0),
            yielded_us: AtomicU64::new(0),
            epoch: Instant::now(),
        }
    }
}

impl BatchStats {
    /// Counts one batch of `size` operations that took `took`, ending now.
    pub(crate) fn observe(&self, size: usize, took: Duration) {
        if took >= SLOW_BATCH {
            self.slow.fetch_add(1, Ordering::Relaxed);
            let at = u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX - 1);
            self.last_slow.fetch_max(at + 1, Ordering::Relaxed);
        }
        let size = size as u64;
        if let Some(i) = BATCH_SIZE_BOUNDS.iter().position(|&b| size <= b) {
            self.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        self.ops.fetch_add(size, Ordering::Relaxed);
        self.batches.fetch_add(1, Ordering::Relaxed);
    }

    /// How long ago the last slow batch ended (`None`: none yet).
    pub(crate) fn since_slow(&self) -> Option<Duration> {
        let at = self.last_slow.load(Ordering::Relaxed).checked_sub(1)?;
        Some(
            self.epoch
                .elapsed()
                .saturating_sub(Duration::from_nanos(at)),
        )
    }

    /// Counts time a paced import waited for the writer.
    pub(crate) fn yielded(&self, d: Duration) {
        let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        self.yielded_us.fetch_add(us, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> BatchSnapshot {
        let mut cumulative = [0; BATCH_SIZE_BOUNDS.len()];
        let mut sum = 0;
        for (out, b) in cumulative.iter_mut().zip(&self.buckets) {
            sum += b.load(Ordering::Relaxed);
            *out = sum;
        }
        BatchSnapshot {
            cumulative,
            operations: self.ops.load(Ordering::Relaxed),
            batches: self.batches.load(Ordering::Relaxed),
            slow: self.slow.load(Ordering::Relaxed),
            yielded_us: self.yielded_us.load(Ordering::Relaxed),
        }
    }
}

/// A reading of the batch-size histogram, Prometheus-shaped.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BatchSnapshot {
    /// `cumulative[i]`: batches of at most `BATCH_SIZE_BOUNDS[i]` operations. The counters
    /// are read one by one while writers go on, so a reading taken under load may lag
    /// `batches` by the batches committed during the read.
    pub cumulative: [u64; BATCH_SIZE_BOUNDS.len()],
    /// Operations carried by all batches (the histogram's sum).
    pub operations: u64,
    /// Batches (the histogram's count, i.e. the `+Inf` bucket).
    pub batches: u64,
    /// Batches that took [`SLOW_BATCH`] or longer.
    pub slow: u64,
    /// Time paced clearing imports spent waiting for the writer's batches to be quick
    /// again, microseconds.
    pub yielded_us: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_inclusive_and_cumulative() {
        let s = BatchStats::default();
        for size in [1, 2, 3, 4, 5, 512, 513, 1000] {
            s.observe(size, Duration::ZERO);
        }
        let r = s.snapshot();
        // <=1: 1; <=2: +2; <=4: +3,4; <=8: +5; ... <=512: +512; 513 and 1000 only in +Inf.
        assert_eq!(r.cumulative[0], 1);
        assert_eq!(r.cumulative[1], 2);
        assert_eq!(r.cumulative[2], 4);
        assert_eq!(r.cumulative[3], 5);
        assert_eq!(r.cumulative[8], 5);
        assert_eq!(r.cumulative[9], 6);
        assert_eq!(r.batches, 8);
        assert_eq!(r.slow, 0);
        assert_eq!(r.operations, 1 + 2 + 3 + 4 + 5 + 512 + 513 + 1000);
        assert_eq!(BatchStats::default().snapshot(), BatchSnapshot::default());
    }

    #[test]
    fn a_slow_batch_is_counted_and_remembered_until_the_next_one() {
        let s = BatchStats::default();
        s.observe(3, SLOW_BATCH - Duration::from_micros(1));
        assert_eq!(s.since_slow(), None);
        assert_eq!(s.snapshot().slow, 0);
        s.observe(3, SLOW_BATCH);
        let since = s.since_slow().unwrap();
        assert!(since < Duration::from_secs(1), "{since:?}");
        std::thread::sleep(Duration::from_millis(20));
        assert!(s.since_slow().unwrap() >= Duration::from_millis(20));
        // Quick batches do not move it; another slow one does.
        s.observe(1, Duration::ZERO);
        assert!(s.since_slow().unwrap() >= Duration::from_millis(20));
        s.observe(1, SLOW_BATCH * 3);
        assert!(s.since_slow().unwrap() < Duration::from_millis(20));
        assert_eq!(s.snapshot().slow, 2);
        s.yielded(Duration::from_millis(1500));
        assert_eq!(s.snapshot().yielded_us, 1_500_000);
    }
}
