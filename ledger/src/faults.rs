//! Faults injected into the writer, for tests of what happens when it fails: compiled in
//! only with the `fault-injection` feature (the gateway's tests turn it on); without it
//! [`hit`] is a constant `false` the compiler removes.
//!
//! Each fault is armed for a number of hits and fires at the next ones, in any store of the
//! process (tests that arm faults run in a process of their own, or one at a time).

/// Where a fault fires.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(not(feature = "fault-injection"), allow(dead_code, unreachable_pub))]
pub enum Fault {
    /// The writer panics after `COMMIT` returned, before it answers the batch (as a tokio
    /// waker failing to wake the runtime did): the work is durable, its answers are lost.
    PanicAfterCommit,
    /// Handing one answer over panics (the panic a failed eventfd write raises in tokio's
    /// waker): the others of the batch must still be answered.
    PanicWhileReplying,
    /// `COMMIT` fails (a full disk, an fsync error): the batch is rolled back.
    FailCommit,
    /// The commit takes 50 ms longer (a slow disk, a stalled fsync): answers miss a short
    /// deadline while the work still commits.
    SlowCommit,
}

#[cfg(feature = "fault-injection")]
mod armed {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::Fault;

    static COUNTS: [AtomicU32; 4] = [
        AtomicU32::new(0),
        AtomicU32::new(0),
        AtomicU32::new(0),
        AtomicU32::new(0),
    ];

    fn slot(f: Fault) -> &'static AtomicU32 {
        &COUNTS[match f {
            Fault::PanicAfterCommit => 0,
            Fault::PanicWhileReplying => 1,
            Fault::FailCommit => 2,
            Fault::SlowCommit => 3,
        }]
    }

    /// Arms `fault` for its next `times` hits (0 disarms it).
    pub fn arm(fault: Fault, times: u32) {
        slot(fault).store(times, Ordering::SeqCst);
    }

    /// True (and one fewer left) when `fault` is armed.
    pub(crate) fn hit(fault: Fault) -> bool {
        slot(fault)
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
    }
}

#[cfg(feature = "fault-injection")]
pub use armed::arm;
#[cfg(feature = "fault-injection")]
pub(crate) use armed::hit;

/// Never, without the `fault-injection` feature.
#[cfg(not(feature = "fault-injection"))]
#[inline(always)]
pub(crate) const fn hit(_: Fault) -> bool {
    false
}
