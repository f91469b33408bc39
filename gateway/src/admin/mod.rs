//! The admin listener (loopback only): `/healthz`, `/readyz`, `/metrics` and `/openapi.json`
//! open; the operations API under `/v1/` behind a bearer token.
//!
//! axum routes on hyper's HTTP/1.1 server. The accept loop is ours (mini-redis style: a
//! semaphore bounds the connections, the server's [`Shutdown`] stops it); hyper bounds the
//! request head and the time to send it; tower layers bound the requests in flight, the time
//! to answer and the body size. Every error answer is JSON ([`error::ApiError`]) but
//! `/readyz`'s plain-text reason.

mod auth;
mod error;
mod health;
mod json;
mod openapi;
mod sandbox;
pub(crate) mod simulator;
mod v1;

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{header, Request, StatusCode};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;
use tower::limit::ConcurrencyLimitLayer;
use tower::{Service, ServiceBuilder};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;
use tracing::{debug, warn};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::Status;
use crate::config::ApiToken;
use crate::server::Shutdown;
use auth::TokenDigest;
use error::ApiError;

/// Largest request head (request line and headers); a longer one is answered 431.
const MAX_REQUEST_HEAD: usize = 8 * 1024;

/// Time a client has to send a request head (also how long an idle kept-alive connection
/// keeps its slot).
const REQUEST_HEAD_TIMEOUT: Duration = Duration::from_secs(5);

/// Time a request has to be answered, body read included; then 408.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Concurrent admin connections; more wait in the backlog.
const MAX_ADMIN_CONNECTIONS: usize = 16;

/// Requests being answered at once, over all connections; more wait (within the timeout).
const MAX_CONCURRENT_REQUESTS: usize = 16;

/// Largest request body; a larger one is answered 413. The API's bodies are small JSON
/// objects (a card lookup, a controls document).
pub(crate) const MAX_BODY_BYTES: usize = 16 * 1024;

/// Largest body of `POST /v1/clearing/presentments` (500 presentments of a few hundred
/// bytes each), and so the listener's own limit; every other endpoint holds its body to
/// [`MAX_BODY_BYTES`] (`json::ApiJson`).
pub(crate) const MAX_CLEARING_BODY_BYTES: usize = 512 * 1024;

/// How long a drain waits for admin requests under way.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// What the admin handlers read.
#[derive(Debug)]
pub(crate) struct AdminState {
    status: Arc<Status>,
    registry: Registry,
    token: Option<TokenDigest>,
    /// The simulation endpoints' path into the first listener (`None`: no listener).
    simulator: Option<Arc<simulator::Simulator>>,
    /// The token the sandbox page fills in for its visitor: only with `[admin] sandbox =
    /// true` (a sandbox's committed test token), never otherwise.
    sandbox_token: Option<ApiToken>,
    /// Event streams open now (each holds an admin connection): bounded.
    event_streams: Arc<tokio::sync::Semaphore>,
    /// Ends the event streams at drain.
    shutdown: Shutdown,
    /// `[clearing]`: the tolerances and pace of presentments posted through the API.
    clearing: crate::config::ClearingConfig,
}

/// What [`AdminState::new`] takes beside the status.
#[derive(Debug)]
pub(crate) struct AdminParts {
    /// The API token (`None`: the API is off).
    pub(crate) token: Option<ApiToken>,
    /// `[admin] sandbox`: the sandbox page fills the token in.
    pub(crate) sandbox: bool,
    pub(crate) simulator: Option<Arc<simulator::Simulator>>,
    pub(crate) shutdown: Shutdown,
    /// `[clearing]`.
    pub(crate) clearing: crate::config::ClearingConfig,
}

impl AdminState {
    /// The switch's status and the rest of what the handlers need.
    pub(crate) fn new(status: Arc<Status>, p: AdminParts) -> Self {
        let mut registry = Registry::default();
        registry.register_collector(Box::new(status.clone()));
        AdminState {
            status,
            registry,
            token: p.token.as_ref().map(TokenDigest::new),
            sandbox_token: p.token.filter(|_| p.sandbox),
            simulator: p.simulator,
            event_streams: Arc::new(tokio::sync::Semaphore::new(v1::MAX_EVENT_STREAMS)),
            shutdown: p.shutdown,
            clearing: p.clearing,
        }
    }
}

/// The routes and the OpenAPI document built from them.
fn routes() -> (Router<Arc<AdminState>>, utoipa::openapi::OpenApi) {
    OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .routes(routes!(health::healthz))
        .routes(routes!(health::readyz))
        .routes(routes!(health::metrics))
        .merge(v1::routes())
        .split_for_parts()
}

/// The whole application: routes, `/openapi.json`, fallbacks and authentication.
fn app(state: Arc<AdminState>) -> Router {
    let (router, doc) = routes();
    let doc = Bytes::from(doc.to_json().unwrap_or_else(|e| {
        // Serializing a document of our own types cannot fail short of a bug.
        tracing::error!(error = %e, "OpenAPI document");
        "{}".to_owned()
    }));
    router
        .route("/sandbox", get(sandbox::page))
        .route("/sandbox.js", get(sandbox::script))
        .route("/sandbox.css", get(sandbox::style))
        .route(
            "/openapi.json",
            get(move || async move { ([(header::CONTENT_TYPE, "application/json")], doc) }),
        )
        .fallback(|| async { ApiError::for_status(StatusCode::NOT_FOUND) })
        .method_not_allowed_fallback(|| async {
            ApiError::for_status(StatusCode::METHOD_NOT_ALLOWED)
        })
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::require_token,
        ))
        .layer(axum::middleware::from_fn(declared_body_limit))
        .with_state(state)
}

/// The path whose bodies may be larger than [`MAX_BODY_BYTES`] (up to
/// [`MAX_CLEARING_BODY_BYTES`], the listener's own limit).
const LARGE_BODY_PATH: &str = "/v1/clearing/presentments";

/// 413 for a body whose `Content-Length` is over [`MAX_BODY_BYTES`] (but on
/// [`LARGE_BODY_PATH`]), before routing or authentication: whatever the route, as when the
/// listener's own limit was that. A body without a length is held to it as it is read
/// (`json::ApiJson`).
async fn declared_body_limit(
    req: Request<Body>,
    next: axum::middleware::Next,
) -> Result<Response, ApiError> {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if req.uri().path() != LARGE_BODY_PATH && declared.is_some_and(|n| n > MAX_BODY_BYTES as u64) {
        return Err(ApiError::for_status(StatusCode::PAYLOAD_TOO_LARGE));
    }
    Ok(next.run(req).await)
}

/// The application under the listener's limits, as one service every connection clones
/// (clones share the concurrency limit).
fn service(
    state: Arc<AdminState>,
) -> impl Service<
    Request<Incoming>,
    Response = Response,
    Error = Infallible,
    Future = impl Send + 'static,
> + Clone
       + Send
       + 'static {
    ServiceBuilder::new()
        .map_response(error::json_errors)
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            REQUEST_TIMEOUT,
        ))
        .map_response(|r: Response<_>| r.map(Body::new))
        .layer(ConcurrencyLimitLayer::new(MAX_CONCURRENT_REQUESTS))
        .layer(RequestBodyLimitLayer::new(MAX_CLEARING_BODY_BYTES))
        .service(app(state))
}

/// Serves the admin listener until `shutdown`, then lets requests under way finish (for
/// [`SHUTDOWN_GRACE`] at most).
pub(crate) async fn serve_admin(
    listener: TcpListener,
    state: Arc<AdminState>,
    mut shutdown: Shutdown,
) {
    let svc = service(state);
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(REQUEST_HEAD_TIMEOUT)
        .max_header_size(MAX_REQUEST_HEAD);
    let graceful = GracefulShutdown::new();
    let permits = Arc::new(tokio::sync::Semaphore::new(MAX_ADMIN_CONNECTIONS));
    loop {
        let permit = tokio::select! {
            biased;
            _ = shutdown.wait() => break,
            p = permits.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
        };
        let accepted = tokio::select! {
            biased;
            _ = shutdown.wait() => break,
            r = listener.accept() => r,
        };
        match accepted {
            Ok((stream, _)) => {
                let conn = http
                    .serve_connection(TokioIo::new(stream), TowerToHyperService::new(svc.clone()));
                let conn = graceful.watch(conn);
                tokio::spawn(async move {
                    if let Err(e) = conn.await {
                        debug!(error = %e, "admin connection ended with an error");
                    }
                    drop(permit);
                });
            }
            Err(e) => {
                warn!(error = %e, "admin accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    drop(listener);
    if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown())
        .await
        .is_err()
    {
        debug!("admin requests still under way at shutdown: dropped");
    }
}
