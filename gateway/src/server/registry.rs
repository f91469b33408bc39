//! The connections of one listener, for its connection limit.
//!
//! A connection is *unproven* until it sends a message we can read (or answers our sign-on).
//! Before, a listener at `max_connections` refused every newcomer, so that 64 silent
//! connections locked the networks out for as long as they stayed (70 s in one test). Now
//! the oldest unproven connection is closed to make room; only when every connection has
//! proved itself is a newcomer refused. Unproven connections are also closed after
//! `Limits::unproven_timeout` whatever the count (`connection.rs`).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio_util::sync::CancellationToken;

/// A connection as its listener knows it.
struct Entry {
    proven: Arc<AtomicBool>,
    close: CancellationToken,
}

/// The open connections of one listener, oldest first (ids only grow).
#[derive(Default)]
pub(crate) struct Registry {
    inner: Mutex<(u64, BTreeMap<u64, Entry>)>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("open", &self.open())
            .finish()
    }
}

/// A connection's place in its listener: the flag it sets once proven, the signal that closes
/// it, and, dropped, its place given back.
#[derive(Debug)]
pub struct Slot {
    id: u64,
    registry: Arc<Registry>,
    /// Set once the connection sent a message we could read.
    pub proven: Arc<AtomicBool>,
    /// Cancelled to close the connection (to make room for a newcomer).
    pub close: CancellationToken,
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Ok(mut g) = self.registry.inner.lock() {
            g.1.remove(&self.id);
        }
    }
}

/// What [`Registry::admit`] decided.
#[derive(Debug)]
pub(crate) enum Admission {
    /// Admitted; `evicted` says whether an unproven connection was closed for it.
    Admitted { slot: Slot, evicted: bool },
    /// At the limit and every connection proven: refused.
    Refused,
}

impl Registry {
    /// Connections open.
    pub(crate) fn open(&self) -> usize {
        self.inner.lock().map_or(0, |g| g.1.len())
    }

    /// Admits a connection under `limit`, closing the oldest unproven one when at it.
    pub(crate) fn admit(self: &Arc<Self>, limit: usize) -> Admission {
        let Ok(mut g) = self.inner.lock() else {
            return Admission::Refused;
        };
        let mut evicted = false;
        if g.1.len() >= limit {
            let oldest_unproven =
                g.1.iter()
                    .find(|(_, e)| !e.proven.load(Ordering::Acquire))
                    .map(|(id, _)| *id);
            let Some(id) = oldest_unproven else {
                return Admission::Refused;
            };
            if let Some(e) = g.1.remove(&id) {
                e.close.cancel();
                evicted = true;
            }
        }
        let id = g.0;
        g.0 += 1;
        let slot = Slot {
            id,
            registry: self.clone(),
            proven: Arc::default(),
            close: CancellationToken::new(),
        };
        g.1.insert(
            id,
            Entry {
                proven: slot.proven.clone(),
                close: slot.close.clone(),
            },
        );
        Admission::Admitted { slot, evicted }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn admitted(a: Admission) -> (Slot, bool) {
        match a {
            Admission::Admitted { slot, evicted } => (slot, evicted),
            Admission::Refused => panic!("refused"),
        }
    }

    #[test]
    fn at_the_limit_the_oldest_unproven_makes_room_and_proven_ones_never_do() {
        let r = Arc::new(Registry::default());
        let (a, _) = admitted(r.admit(3));
        let (b, _) = admitted(r.admit(3));
        let (c, _) = admitted(r.admit(3));
        a.proven.store(true, Ordering::Release);
        // Full: b (the oldest unproven) is closed for d.
        let (d, evicted) = admitted(r.admit(3));
        assert!(evicted);
        assert!(b.close.is_cancelled() && !a.close.is_cancelled() && !c.close.is_cancelled());
        assert_eq!(r.open(), 3);
        c.proven.store(true, Ordering::Release);
        d.proven.store(true, Ordering::Release);
        assert!(matches!(r.admit(3), Admission::Refused));
        // A connection that leaves gives its place back.
        drop(a);
        let (_e, evicted) = admitted(r.admit(3));
        assert!(!evicted);
        drop(b);
        assert_eq!(r.open(), 3);
    }
}
