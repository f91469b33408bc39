//! `[clearing]` (issue 24): how `gateway clearing import` matches and posts presentments,
//! and how a running switch takes them from it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::ConfigError;

/// Matching tolerances and the import's pace. Every key is optional.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ClearingConfig {
    /// How many days apart an authorization and its presentment's DE 12 date may be.
    #[serde(default = "default_window_days")]
    pub window_days: u32,
    /// Over-capture a presentment may have over its hold, percent, when its MCC is not in
    /// `tip_percent_by_mcc`.
    #[serde(default)]
    pub over_percent: u32,
    /// Over-capture allowed by MCC (tips): e.g. `{ "5812" = 20, "4121" = 20 }`.
    #[serde(default = "default_tips")]
    pub tip_percent_by_mcc: BTreeMap<String, u32>,
    /// Presentments in flight at once: each is one small operation of the ledger's writer,
    /// batched with the authorizations, so that the writer is never held long.
    #[serde(default = "default_in_flight")]
    pub in_flight: usize,
    /// Presentments in flight at once when the import goes through a running switch's API
    /// (`POST /v1/clearing/presentments`): they share the switch's writer with the
    /// authorizations, so few, that an authorization waits behind a few presentments at
    /// most.
    #[serde(default = "default_switch_in_flight")]
    pub switch_in_flight: usize,
    /// Presentments sent to a running switch in one request (1 to
    /// [`MAX_PRESENTMENT_BATCH`]).
    #[serde(default = "default_batch")]
    pub batch: usize,
    /// The import's pace, presentments per second. Left out: through a running switch on
    /// the embedded ledger [`SWITCH_RECORDS_PER_S`] (the authorizations' p99 stays within
    /// 1.5x of what it is without the import), otherwise no cap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub records_per_s: Option<u32>,
    /// How long a paced import through a running switch stops posting after one of the
    /// ledger writer's batches took [`ledger::SLOW_BATCH`] or longer, milliseconds (0: it
    /// never stops). Slow commits mean the disk is behind: on a large embedded ledger they
    /// come in episodes of a minute or two, and presentments posted into one make it last
    /// (docs/PERFORMANCE.md, fourteenth pass). At most [`MAX_YIELD_PER_REQUEST`] a request.
    #[serde(default = "default_yield_ms")]
    pub yield_ms: u32,
}

/// The longest a request of `POST /v1/clearing/presentments` stops for slow commits in all:
/// with its paced 2 s it is answered within the API's 10 s request timeout.
pub const MAX_YIELD_PER_REQUEST: std::time::Duration = std::time::Duration::from_secs(5);

/// Most presentments in one `POST /v1/clearing/presentments`.
pub const MAX_PRESENTMENT_BATCH: usize = 500;

/// The pace of an import through a running switch on the embedded ledger when
/// `records_per_s` is left out (on PostgreSQL the p99 measured within 1.5x flat out).
/// Measured (docs/PERFORMANCE.md, twelfth pass): the authorizations' p99 during a clearing
/// import at 500 a second 1.06-1.35x of without it; at 1,000 1.8x; flat out (about 3,400) 2.5x.
pub const SWITCH_RECORDS_PER_S: u32 = 500;

/// The highest pace an import may ask for, presentments per second (far above what one
/// writer posts: it bounds a request's arithmetic, not the import).
pub const MAX_RECORDS_PER_S: u32 = 100_000;

fn default_yield_ms() -> u32 {
    1_000
}

fn default_switch_in_flight() -> usize {
    4
}

fn default_batch() -> usize {
    200
}

fn default_window_days() -> u32 {
    30
}

fn default_in_flight() -> usize {
    32
}

/// Restaurants, bars, fast food, taxis, beauty salons: where a tip is added after the
/// authorization.
fn default_tips() -> BTreeMap<String, u32> {
    ["5812", "5813", "5814", "4121", "7230"]
        .into_iter()
        .map(|m| (m.to_owned(), 20))
        .collect()
}

impl Default for ClearingConfig {
    fn default() -> Self {
        ClearingConfig {
            window_days: default_window_days(),
            over_percent: 0,
            tip_percent_by_mcc: default_tips(),
            in_flight: default_in_flight(),
            switch_in_flight: default_switch_in_flight(),
            batch: default_batch(),
            records_per_s: None,
            yield_ms: default_yield_ms(),
        }
    }
}

impl ClearingConfig {
    /// Ranges serde cannot check.
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        if self.window_days > 366 {
            return Err(ConfigError::invalid("clearing.window_days", "at most 366"));
        }
        if self.over_percent > 1000 {
            return Err(ConfigError::invalid(
                "clearing.over_percent",
                "at most 1000",
            ));
        }
        for (mcc, p) in &self.tip_percent_by_mcc {
            if mcc.len() != 4 || !mcc.bytes().all(|b| b.is_ascii_digit()) || *p > 1000 {
                return Err(ConfigError::invalid(
                    "clearing.tip_percent_by_mcc",
                    "4-digit MCCs, percentages at most 1000",
                ));
            }
        }
        if !(1..=1024).contains(&self.in_flight) {
            return Err(ConfigError::invalid("clearing.in_flight", "1 to 1024"));
        }
        if !(1..=64).contains(&self.switch_in_flight) {
            return Err(ConfigError::invalid("clearing.switch_in_flight", "1 to 64"));
        }
        if !(1..=MAX_PRESENTMENT_BATCH).contains(&self.batch) {
            return Err(ConfigError::invalid("clearing.batch", "1 to 500"));
        }
        if self
            .records_per_s
            .is_some_and(|r| !(1..=MAX_RECORDS_PER_S).contains(&r))
        {
            return Err(ConfigError::invalid(
                "clearing.records_per_s",
                "1 to 100000 (leave it out for no cap)",
            ));
        }
        if self.yield_ms > 60_000 {
            return Err(ConfigError::invalid(
                "clearing.yield_ms",
                "at most 60000 (0: never stop for slow commits)",
            ));
        }
        Ok(())
    }

    /// The over-capture allowed for `mcc`, basis points.
    pub fn over_bp(&self, mcc: Option<&str>) -> u32 {
        let pct = mcc
            .and_then(|m| self.tip_percent_by_mcc.get(m))
            .copied()
            .unwrap_or(self.over_percent);
        pct.saturating_mul(100)
    }
}
