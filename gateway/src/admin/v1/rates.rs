//! `GET /v1/rates`: the rate set the switch converts with, and whether it may.

use std::sync::Arc;

use axum::extract::State;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use crate::admin::error::ErrorBody;
use crate::admin::AdminState;

/// The rate source's state.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum RateSourceState {
    /// Nothing read yet.
    Starting,
    /// The source answers and the set is what it says is current.
    Live,
    /// The source cannot be reached; the last set serves.
    Unreachable,
    /// The source answered with something refused; the last good set serves.
    Invalid,
}

impl From<fx_rates::SourceState> for RateSourceState {
    fn from(s: fx_rates::SourceState) -> Self {
        match s {
            fx_rates::SourceState::Starting => RateSourceState::Starting,
            fx_rates::SourceState::Live => RateSourceState::Live,
            fx_rates::SourceState::Unreachable => RateSourceState::Unreachable,
            fx_rates::SourceState::Invalid => RateSourceState::Invalid,
        }
    }
}

/// The rate set in use.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RateSetStatus {
    /// Version of the set served; `null` when none is loaded.
    #[schema(example = "file-3f2a9c1e")]
    pub(crate) version: Option<String>,
    /// The source's state.
    pub(crate) state: RateSourceState,
    /// Milliseconds since the source last confirmed the set; `null` when never.
    #[schema(example = 1_250_u64)]
    pub(crate) age_ms: Option<u64>,
    /// The configured maximum age (`rates.max_age_s`) in seconds; `null` when unbounded.
    #[schema(example = 93_600_u64)]
    pub(crate) max_age_s: Option<u64>,
    /// True when conversions are refused (answered 91): no set, or older than the maximum.
    pub(crate) stale: bool,
    /// Distinct sets loaded since start.
    pub(crate) loads: u64,
    /// Changes of `state` since start (a flapping source shows here).
    pub(crate) state_changes: u64,
}

/// The rate set's version, state, age and staleness.
#[utoipa::path(
    get,
    path = "/v1/rates",
    tag = "switch",
    security(("bearer" = [])),
    responses(
        (status = OK, description = "The rate set in use", body = RateSetStatus),
        (status = UNAUTHORIZED, description = "No valid bearer token", body = ErrorBody),
        (status = FORBIDDEN, description = "The API is off (no token configured)", body = ErrorBody),
    )
)]
pub(crate) async fn get_rates(State(state): State<Arc<AdminState>>) -> Json<RateSetStatus> {
    let s = state.status.quoter().cache().status();
    Json(RateSetStatus {
        version: s.version.as_deref().map(str::to_owned),
        state: s.state.into(),
        age_ms: s
            .age
            .map(|a| u64::try_from(a.as_millis()).unwrap_or(u64::MAX)),
        max_age_s: s.max_age.map(|m| m.as_secs()),
        stale: s.stale,
        loads: s.loads,
        state_changes: s.state_changes,
    })
}
