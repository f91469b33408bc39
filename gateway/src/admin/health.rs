//! The open endpoints: liveness, readiness, metrics (no token: probes and scrapers).

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

use super::error::KeepBody;
use super::AdminState;

/// The content type of the Prometheus text exposition format 0.0.4.
const PROMETHEUS_TEXT: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// Liveness: the process answers.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "health",
    responses((status = OK, description = "The process answers", body = String, content_type = "text/plain"))
)]
pub(crate) async fn healthz() -> &'static str {
    "ok\n"
}

/// Readiness: the ledger commits and answers, and a fresh rate set is loaded. A 503 says
/// why not, in one line of text. A ready switch may add warnings, one line each (the events
/// outbox past its bound: the switch serves on).
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "health",
    responses(
        (status = OK, description = "Ready to serve", body = String, content_type = "text/plain"),
        (status = SERVICE_UNAVAILABLE, description = "Not ready, and why", body = String, content_type = "text/plain"),
    )
)]
pub(crate) async fn readyz(State(state): State<Arc<AdminState>>) -> Response {
    match state.status.ready().await {
        Ok(()) => match state.status.warnings() {
            None => "ready\n".into_response(),
            Some(w) => format!("ready\n{w}\n").into_response(),
        },
        Err(why) => {
            let mut resp = (
                StatusCode::SERVICE_UNAVAILABLE,
                format!("not ready: {why}\n"),
            )
                .into_response();
            resp.extensions_mut().insert(KeepBody);
            resp
        }
    }
}

/// The switch's metrics in the Prometheus text format (0.0.4).
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "health",
    responses((status = OK, description = "Prometheus text exposition", body = String, content_type = "text/plain"))
)]
pub(crate) async fn metrics(State(state): State<Arc<AdminState>>) -> Response {
    let mut body = String::with_capacity(8 * 1024);
    match prometheus_client::encoding::prometheus_text::encode(&mut body, &state.registry) {
        Ok(()) => ([(header::CONTENT_TYPE, PROMETHEUS_TEXT)], body).into_response(),
        Err(_) => {
            // Writing to a String fails only if a collector reports an error.
            tracing::error!("metrics encoding failed");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}
