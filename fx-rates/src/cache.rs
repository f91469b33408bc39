//! The in-process rate snapshot the gateway reads on its authorization path.
//!
//! Reads are an atomic pointer load ([`arc_swap`]) plus a clock read: no lock, no I/O, no await.
//! A background task (Redis) or the file watcher builds a whole new [`RateSet`] off to the side
//! and swaps it in with one store, so a reader sees either the old set or the new one, never
//! a mix.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arc_swap::ArcSwapOption;

use crate::convert::{convert, convert_at, Conversion, ConvertOptions, IDENTITY_VERSION};
use crate::currency::Currency;
use crate::error::FxError;
use crate::fingerprint::Fingerprint;
use crate::rate_set::{RatePath, RateSet};
use crate::status::{CacheStatus, SourceState};

/// Sentinel for "never confirmed".
const NEVER: u64 = u64::MAX;

/// How the cache converts and when it stops trusting its snapshot.
#[derive(Clone, Debug, Default)]
pub struct CacheOptions {
    /// Rounding and network exponents.
    pub convert: ConvertOptions,
    /// After this long without the source confirming the snapshot, foreign-currency
    /// conversions fail with [`FxError::Stale`]. `None`: never.
    pub max_age: Option<Duration>,
}

/// A cheap-to-clone handle on the shared snapshot. Background tasks stop when the last handle
/// is dropped.
#[derive(Clone)]
pub struct RateCache {
    pub(crate) shared: Arc<Shared>,
    tasks: Arc<TaskGuard>,
}

/// State shared with the refresh tasks.
pub(crate) struct Shared {
    current: ArcSwapOption<RateSet>,
    identity_version: Arc<str>,
    epoch: Instant,
    /// Milliseconds since `epoch` when the source last confirmed the snapshot (or [`NEVER`]).
    confirmed_ms: AtomicU64,
    loads: AtomicU64,
    opts: CacheOptions,
    pub(crate) source: String,
    pub(crate) file: Option<PathBuf>,
    observed: Mutex<Observed>,
}

struct Observed {
    state: SourceState,
    changes: u64,
    last_error: Option<String>,
    /// Fingerprint of the file last loaded (length, mtime, content hash), file source only.
    pub(crate) file_fingerprint: Option<Fingerprint>,
}

#[derive(Default)]
struct TaskGuard {
    handles: Mutex<Vec<tokio::task::AbortHandle>>,
}

impl Drop for TaskGuard {
    fn drop(&mut self) {
        let handles = self
            .handles
            .get_mut()
            .map(std::mem::take)
            .unwrap_or_default();
        for h in handles {
            h.abort();
        }
    }
}

impl RateCache {
    pub(crate) fn new_empty(source: String, file: Option<PathBuf>, opts: CacheOptions) -> Self {
        Self {
            shared: Arc::new(Shared {
                current: ArcSwapOption::empty(),
                identity_version: Arc::from(IDENTITY_VERSION),
                epoch: Instant::now(),
                confirmed_ms: AtomicU64::new(NEVER),
                loads: AtomicU64::new(0),
                opts,
                source,
                file,
                observed: Mutex::new(Observed {
                    state: SourceState::Starting,
                    changes: 0,
                    last_error: None,
                    file_fingerprint: None,
                }),
            }),
            tasks: Arc::new(TaskGuard::default()),
        }
    }

    /// A cache holding a fixed set (tests, benches, one-shot CLI use). It never goes stale.
    pub fn from_set(set: RateSet, opts: CacheOptions) -> Self {
        let cache = Self::new_empty(format!("fixed:{}", set.version()), None, opts);
        cache.shared.install(set);
        cache.shared.confirm();
        cache.shared.observe(SourceState::Live, None);
        cache
    }

    /// Replaces the snapshot by hand (tests, benches, a source of the caller's own) and counts
    /// it as confirmed now. A Redis or file source will replace it again on its next change.
    pub fn install(&self, set: impl Into<Arc<RateSet>>) {
        self.shared.install_arc(set.into());
        self.shared.confirm();
        self.shared.observe(SourceState::Live, None);
    }

    /// The set currently served, if any. Never waits.
    pub fn snapshot(&self) -> Option<Arc<RateSet>> {
        self.shared.current.load_full()
    }

    /// Converts with the snapshot, synchronously and without I/O.
    ///
    /// Same-currency payments never need a rate and always succeed (bar amount limits).
    /// Foreign-currency ones fail with [`FxError::NoRates`] before the first load and with
    /// [`FxError::Stale`] once the snapshot is older than `max_age`.
    pub fn convert(
        &self,
        amount_minor: u64,
        from: &'static Currency,
        to: &'static Currency,
    ) -> Result<Conversion, FxError> {
        let s = &*self.shared;
        let guard = s.current.load();
        if from == to {
            let version = guard
                .as_ref()
                .map_or(&s.identity_version, |set| set.version_arc());
            return convert_at(
                rust_decimal::Decimal::ONE,
                RatePath::Identity,
                version,
                amount_minor,
                from,
                to,
                &s.opts.convert,
            );
        }
        let set = guard.as_ref().ok_or(FxError::NoRates)?;
        if let Some(max_age) = s.opts.max_age {
            let age = s.age().unwrap_or(Duration::MAX);
            if age > max_age {
                return Err(FxError::Stale {
                    version: set.version().to_string(),
                    age,
                    max_age,
                });
            }
        }
        convert(set, amount_minor, from, to, &s.opts.convert)
    }

    /// Version, age, source state and staleness, for health checks and metrics.
    pub fn status(&self) -> CacheStatus {
        let s = &*self.shared;
        let version = s
            .current
            .load()
            .as_ref()
            .map(|set| Arc::clone(set.version_arc()));
        let age = s.age();
        let stale = version.is_none()
            || s.opts
                .max_age
                .is_some_and(|max| age.is_none_or(|a| a > max));
        let observed = s.observed.lock().unwrap_or_else(|e| e.into_inner());
        CacheStatus {
            source: s.source.clone(),
            state: observed.state,
            version,
            age,
            stale,
            max_age: s.opts.max_age,
            loads: s.loads.load(Ordering::Relaxed),
            last_error: observed.last_error.clone(),
            state_changes: observed.changes,
        }
    }

    /// Waits (bounded) until a first set is loaded; for start-up, never for requests.
    pub async fn wait_loaded(&self, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if self.shared.current.load().is_some() {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    pub(crate) fn add_task(&self, handle: tokio::task::AbortHandle) {
        self.tasks
            .handles
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(handle);
    }
}

impl Shared {
    /// Swaps in a new set (one atomic store) and counts the load.
    pub(crate) fn install(&self, set: RateSet) {
        self.install_arc(Arc::new(set));
    }

    fn install_arc(&self, set: Arc<RateSet>) {
        tracing::info!(source = %self.source, version = set.version(), pairs = set.pairs().len(),
            "rate set loaded");
        self.current.store(Some(set));
        self.loads.fetch_add(1, Ordering::Relaxed);
    }

    /// The source has just confirmed the snapshot is current.
    pub(crate) fn confirm(&self) {
        let ms = u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(NEVER - 1);
        self.confirmed_ms.store(ms, Ordering::Release);
    }

    pub(crate) fn current_version(&self) -> Option<Arc<str>> {
        self.current
            .load()
            .as_ref()
            .map(|s| Arc::clone(s.version_arc()))
    }

    fn age(&self) -> Option<Duration> {
        match self.confirmed_ms.load(Ordering::Acquire) {
            NEVER => None,
            at => {
                let now = u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(NEVER - 1);
                Some(Duration::from_millis(now.saturating_sub(at)))
            }
        }
    }

    /// Records the source's state; logs only when it changes (not per poll, not per request).
    pub(crate) fn observe(&self, state: SourceState, error: Option<&FxError>) {
        let mut o = self.observed.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(e) = error {
            o.last_error = Some(e.to_string());
        }
        if o.state == state {
            return;
        }
        let before = o.state;
        o.state = state;
        o.changes += 1;
        drop(o);
        match (state, error) {
            (SourceState::Live, _) => {
                tracing::info!(source = %self.source, from = before.name(), "rate source live")
            }
            (_, Some(e)) => tracing::warn!(source = %self.source, from = before.name(),
                to = state.name(), error = %e, "rate source state changed; last snapshot keeps serving"),
            (_, None) => tracing::warn!(source = %self.source, from = before.name(),
                to = state.name(), "rate source state changed"),
        }
    }

    pub(crate) fn with_file_fingerprint<R>(
        &self,
        f: impl FnOnce(&mut Option<Fingerprint>) -> R,
    ) -> R {
        let mut o = self.observed.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut o.file_fingerprint)
    }
}
