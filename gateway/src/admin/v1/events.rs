//! `GET /v1/events/stream`: the ledger's events (DESIGN.md, "Events") as server-sent events,
//! read from the outbox as `gateway events tail --follow` reads it, so that a browser (the
//! sandbox page) sees each decision as it is committed, with or without a broker.
//!
//! Each SSE event is one CloudEvent: `event:` its type, `id:` its outbox position (a
//! reconnecting `EventSource` sends it back as `Last-Event-ID` and the stream resumes after
//! it), `data:` the CloudEvent JSON with `outboxpos`. `EventSource` cannot send an
//! `Authorization` header: this path alone also takes the token as `?access_token=` (RFC
//! 6750, section 2.3; see `auth.rs`).

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, Sse};
use futures::Stream;
use ledger::{OutboxEvent, Store};
use serde::Deserialize;
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::Instant;
use utoipa::IntoParams;

use super::cards::ledger_error;
use crate::admin::error::{ApiError, ErrorBody};
use crate::admin::AdminState;
use crate::events::with_position;
use crate::server::Shutdown;

/// Streams open at once: each holds one of the admin listener's few connections.
pub(crate) const MAX_EVENT_STREAMS: usize = 4;
/// How often the outbox is read for new events (as `events tail --follow`).
const POLL: Duration = Duration::from_millis(250);
/// Events read at once.
const PAGE: usize = 200;
/// Events before now a stream starts with when not told where to start.
const DEFAULT_BACKLOG: i64 = 20;
const MAX_BACKLOG: i64 = 1_000;
/// A comment line this often on a quiet stream: proxies and browsers keep it open.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// Where the stream starts.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct StreamQuery {
    /// The first outbox position sent (`outboxpos`); default: the latest `backlog` events.
    #[param(minimum = 1)]
    pub(crate) from: Option<i64>,
    /// How many of the latest events to start with when `from` is not given (default 20,
    /// at most 1000).
    #[param(minimum = 0, maximum = 1000)]
    pub(crate) backlog: Option<i64>,
    /// The API token, for clients that cannot send `Authorization` (a browser's
    /// `EventSource`). Accepted on this path only.
    // Read from the URI by `auth::require_token`, before the handler; declared here for the
    // OpenAPI document.
    #[allow(dead_code)]
    pub(crate) access_token: Option<String>,
}

/// The latest position in the outbox (0: empty), found with O(log n) reads of one event
/// each: the store offers reads after a position, not a count.
async fn last_position(store: &Store) -> ledger::Result<i64> {
    let after = |p: i64| async move {
        Ok::<_, ledger::LedgerError>(!store.events_after(p, false, 1).await?.is_empty())
    };
    if !after(0).await? {
        return Ok(0);
    }
    // Exponential probe for a position past the end, then bisection.
    let (mut lo, mut hi) = (0_i64, 1_i64);
    while after(hi).await? {
        lo = hi;
        hi = hi.saturating_mul(2);
        if hi == i64::MAX {
            break;
        }
    }
    // Invariant: an event after lo, none after hi.
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if after(mid).await? {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    Ok(hi)
}

struct Feed {
    store: Store,
    after: i64,
    queued: VecDeque<OutboxEvent>,
    shutdown: Shutdown,
    last_sent: Instant,
    _permit: OwnedSemaphorePermit,
}

fn sse_event(e: &OutboxEvent) -> Event {
    Event::default()
        .event(e.kind.as_str())
        .id(e.pos.to_string())
        .data(with_position(&e.body, e.pos))
}

/// The events after `feed.after`, as they are committed, until the drain.
fn feed(feed: Feed) -> impl Stream<Item = Result<Event, Infallible>> {
    futures::stream::unfold(feed, |mut f| async move {
        loop {
            if let Some(e) = f.queued.pop_front() {
                f.last_sent = Instant::now();
                return Some((Ok(sse_event(&e)), f));
            }
            if f.last_sent.elapsed() >= KEEP_ALIVE {
                f.last_sent = Instant::now();
                return Some((Ok(Event::default().comment("keep-alive")), f));
            }
            match f.store.events_after(f.after, false, PAGE).await {
                Ok(page) if !page.is_empty() => {
                    f.after = page.last().map_or(f.after, |e| e.pos);
                    f.queued.extend(page);
                    continue;
                }
                Ok(_) => {}
                Err(e) => tracing::debug!(error = %e, "event stream: outbox read failed; retrying"),
            }
            tokio::select! {
                _ = f.shutdown.wait() => return None,
                _ = tokio::time::sleep(POLL) => {}
            }
        }
    })
}

/// The ledger's events as server-sent events (`text/event-stream`), as they are committed:
/// `event:` the CloudEvents type (`authorization.approved`, ...), `id:` the outbox position,
/// `data:` the CloudEvent JSON. A reconnect with `Last-Event-ID` resumes after it. The token
/// may come as `access_token` (for `EventSource`).
#[utoipa::path(
    get,
    path = "/v1/events/stream",
    tag = "events",
    params(
        StreamQuery,
        ("Last-Event-ID" = Option<String>, Header, description = "Resume after this position (sent by a reconnecting EventSource)"),
    ),
    security(("bearer" = [])),
    responses(
        (status = OK, description = "A stream of server-sent events, one per ledger event", content_type = "text/event-stream", body = String),
        (status = BAD_REQUEST, description = "A bad from or backlog", body = ErrorBody),
        (status = UNAUTHORIZED, description = "No valid bearer token", body = ErrorBody),
        (status = FORBIDDEN, description = "The API is off (no token configured)", body = ErrorBody),
        (status = SERVICE_UNAVAILABLE, description = "Too many streams open, or the ledger cannot answer now", body = ErrorBody),
    )
)]
pub(crate) async fn stream(
    State(state): State<Arc<AdminState>>,
    headers: HeaderMap,
    query: Result<Query<StreamQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let bad = |m: &str| ApiError::new(StatusCode::BAD_REQUEST, "bad_request", m);
    let Query(q) =
        query.map_err(|_| bad("from must be a position (1 or more), backlog 0 to 1000"))?;
    if q.from.is_some_and(|f| f < 1) || q.backlog.is_some_and(|b| !(0..=MAX_BACKLOG).contains(&b)) {
        return Err(bad(
            "from must be a position (1 or more), backlog 0 to 1000",
        ));
    }
    let resume = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<i64>().ok())
        .filter(|&p| p >= 0);
    let permit = state
        .event_streams
        .clone()
        .try_acquire_owned()
        .map_err(|_| ApiError::unavailable("too many event streams open: close one"))?;
    let store = state.status.core().store().clone();
    let after = match (resume, q.from) {
        (Some(p), _) => p,
        (None, Some(from)) => from - 1,
        (None, None) => {
            let last = last_position(&store).await.map_err(ledger_error)?;
            (last - q.backlog.unwrap_or(DEFAULT_BACKLOG)).max(0)
        }
    };
    Ok(Sse::new(feed(Feed {
        store,
        after,
        queued: VecDeque::new(),
        shutdown: state.shutdown.clone(),
        last_sent: Instant::now(),
        _permit: permit,
    })))
}
