//! Group-commit figures for operators: how many operations each committed batch carried,
//! and how many took [`SLOW_BATCH`] or longer.
//!
//! The writer (embedded) or each worker (PostgreSQL) records one observation per batch, with
//! relaxed atomics only; [`Store::batch_stats`](crate::Store::batch_stats) reads a snapshot
//! for `/metrics`. The end of the last slow batch is also what a paced clearing import
//! yields to ([`Store::yield_to_writer`](crate::Store::yield_to_writer)).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A batch (load, rules, writes and commit) that took this long or longer counts as slow,
/// unless the writer's quickest batches take more than a quarter of it (below). Alone, an
/// authorization's whole round trip has a p99 of about 3 ms on the sandbox's embedded
/// ledger; a batch of 10 ms means the commits are waiting for the disk, which on a large
/// ledger under a clearing import comes in episodes of a minute or more (docs/PERFORMANCE.md,
/// thirteenth pass).
pub const SLOW_BATCH: Duration = Duration::from_millis(10);

/// On a disk whose every commit is slow (10 ms and more), a batch is slow only at this many
/// times the writer's floor: its quickest batches, followed as they are now. Otherwise a
/// clearing import would yield on every request there.
const SLOW_OVER_FLOOR: u64 = 4;

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
    /// The writer's floor, us: a quick batch pulls it down by a sixteenth of the gap, a
    /// slower one up by a 4,096th, so it sits near the quickest batches and moves little in
    /// an episode of slow ones (minutes), while on a disk that is always slow it rises to
    /// that disk's pace (most of the way in about 2 minutes at 100 batches a second).
    floor_us: AtomicU64,
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
            floor_us: AtomicU64::new(0),
            epoch: Instant::now(),
        }
    }
}

impl BatchStats {
    /// Counts one batch of `size` operations that took `took`, ending now.
    pub(crate) fn observe(&self, size: usize, took: Duration) {
        let us = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        // One writer updates it (PostgreSQL's workers may race: a lost update only delays it).
        let floor = self.floor_us.load(Ordering::Relaxed);
        let next = if us < floor {
            floor - (floor - us).div_ceil(16)
        } else {
            floor + (us - floor).div_ceil(4096)
        };
        self.floor_us.store(next, Ordering::Relaxed);
        let slow_us = floor
            .saturating_mul(SLOW_OVER_FLOOR)
            .max(SLOW_BATCH.as_micros() as u64);
        if us >= slow_us {
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

    #[test]
    fn on_a_disk_that_is_always_slow_only_batches_far_above_its_pace_are_slow() {
        let s = BatchStats::default();
        let ms = Duration::from_millis;
        // A quick disk: the floor stays low, and 10 ms is slow.
        for _ in 0..20_000 {
            s.observe(1, ms(1));
        }
        assert!(s.floor_us.load(Ordering::Relaxed) <= 1_000);
        s.observe(1, SLOW_BATCH);
        assert_eq!(s.snapshot().slow, 1);
        // An episode of a thousand slow batches among quick ones hardly moves the floor.
        for i in 0..2_000 {
            s.observe(1, if i % 2 == 0 { ms(40) } else { ms(1) });
        }
        assert!(s.floor_us.load(Ordering::Relaxed) < 2_500);
        assert_eq!(s.snapshot().slow, 1_001);
        // Every commit 15 ms (a slow disk): within a few minutes' batches the floor follows,
        // and the writer's usual batches are no longer slow; four times them still is.
        for _ in 0..30_000 {
            s.observe(1, ms(15));
        }
        let floor = s.floor_us.load(Ordering::Relaxed);
        assert!((14_000..=15_000).contains(&floor), "{floor}");
        let before = s.snapshot().slow;
        s.observe(1, ms(20));
        assert_eq!(s.snapshot().slow, before);
        s.observe(1, ms(61));
        assert_eq!(s.snapshot().slow, before + 1);
    }
}
