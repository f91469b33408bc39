//! What the cache reports about itself (for `/readyz` and `/metrics`).

use std::sync::Arc;
use std::time::Duration;

/// The state of the cache's source, as last observed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceState {
    /// Nothing read yet.
    Starting,
    /// The source answers and the snapshot is what it says is current.
    Live,
    /// The source cannot be reached (Redis down, file missing); the last snapshot serves.
    Unreachable,
    /// The source answered with something refused (a bad file, a corrupt set); the last good
    /// snapshot serves.
    Invalid,
}

impl SourceState {
    /// Short name for logs and metrics labels.
    pub fn name(self) -> &'static str {
        match self {
            SourceState::Starting => "starting",
            SourceState::Live => "live",
            SourceState::Unreachable => "unreachable",
            SourceState::Invalid => "invalid",
        }
    }
}

/// A point-in-time view of a [`crate::RateCache`].
#[derive(Clone, Debug)]
pub struct CacheStatus {
    /// Where rates come from: `file:PATH` or `redis:fx:{NS}`.
    pub source: String,
    /// The source's state.
    pub state: SourceState,
    /// Version of the snapshot served, if any.
    pub version: Option<Arc<str>>,
    /// Time since the snapshot was last confirmed current by its source.
    pub age: Option<Duration>,
    /// True when foreign-currency conversions are refused for age (or nothing is loaded).
    pub stale: bool,
    /// The configured maximum age, if any.
    pub max_age: Option<Duration>,
    /// Number of distinct sets loaded since start.
    pub loads: u64,
    /// The last refusal or connection error, for operators.
    pub last_error: Option<String>,
    /// How many times `state` has changed since start (each change is logged once; a flapping
    /// source shows here).
    pub state_changes: u64,
}
