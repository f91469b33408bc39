//! Rate-limited warnings: in an outage every request fails the same way, and a line per
//! request (there were ~15 per failed request, 1.28 GB of logs in 75 s of a full disk) buries
//! the cause and refills the disk. One line per `every`, saying how many it stands for.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Lets one line through per interval and counts the others.
#[derive(Debug)]
pub struct Throttle {
    every: Duration,
    last: Mutex<Option<Instant>>,
    held_back: AtomicU64,
}

impl Throttle {
    /// One line per `every`.
    pub const fn new(every: Duration) -> Self {
        Throttle {
            every,
            last: Mutex::new(None),
            held_back: AtomicU64::new(0),
        }
    }

    /// `Some(n)` when a line may be written now, `n` being how many were held back since the
    /// last one; `None` (counted) otherwise.
    pub fn admit(&self) -> Option<u64> {
        let now = Instant::now();
        let mut last = self.last.lock().ok()?;
        if last.is_some_and(|t| now.duration_since(t) < self.every) {
            self.held_back.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        *last = Some(now);
        Some(self.held_back.swap(0, Ordering::Relaxed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_interval_counting_the_rest() {
        let t = Throttle::new(Duration::from_millis(50));
        assert_eq!(t.admit(), Some(0));
        for _ in 0..10 {
            assert_eq!(t.admit(), None);
        }
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(t.admit(), Some(10));
        assert_eq!(t.admit(), None);
    }
}
