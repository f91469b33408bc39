//! Group-commit figures for operators: how many operations each committed batch carried.
//!
//! The writer (embedded) or each worker (PostgreSQL) records one observation per batch, with
//! relaxed atomics only; [`Store::batch_stats`](crate::Store::batch_stats) reads a snapshot
//! for `/metrics`.

use std::sync::atomic::{AtomicU64, Ordering};

/// Upper bounds (inclusive) of the batch-size buckets; larger batches count in the last
/// (implicit `+Inf`) bucket only.
pub const BATCH_SIZE_BOUNDS: [u64; 10] = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512];

/// Batch sizes seen by one store handle (shared by its clones).
#[derive(Debug, Default)]
pub(crate) struct BatchStats {
    /// Non-cumulative count per bucket of [`BATCH_SIZE_BOUNDS`].
    buckets: [AtomicU64; BATCH_SIZE_BOUNDS.len()],
    /// Operations in all batches.
    ops: AtomicU64,
    /// Batches committed or failed.
    batches: AtomicU64,
}

impl BatchStats {
    /// Counts one batch of `size` operations.
    pub(crate) fn observe(&self, size: usize) {
        let size = size as u64;
        if let Some(i) = BATCH_SIZE_BOUNDS.iter().position(|&b| size <= b) {
            self.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        self.ops.fetch_add(size, Ordering::Relaxed);
        self.batches.fetch_add(1, Ordering::Relaxed);
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_inclusive_and_cumulative() {
        let s = BatchStats::default();
        for size in [1, 2, 3, 4, 5, 512, 513, 1000] {
            s.observe(size);
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
        assert_eq!(r.operations, 1 + 2 + 3 + 4 + 5 + 512 + 513 + 1000);
        assert_eq!(BatchStats::default().snapshot(), BatchSnapshot::default());
    }
}
