//! The relay: publishes the outbox's unpublished events, in commit order, to Kafka.
//!
//! One relay publishes at a time per ledger: each round first takes or renews a lease in the
//! ledger ([`ledger::Store::events_lease`], [`LEASE`]). A lease rather than `FOR UPDATE SKIP
//! LOCKED`: with SKIP LOCKED two instances would each take a different slice of the
//! unpublished rows and produce them at once, so that two events of one account could reach
//! the topic out of order; the lease keeps one producer, whose idempotence keeps each
//! partition's order, and costs a standby instance nothing but a one-row update a round. When
//! the holder dies, another instance takes over once the lease lapses (at most [`LEASE`]
//! later) and publishes what the dead one had not marked: at-least-once, with the same ids.
//!
//! The relay runs beside the authorization flow, never in it: it reads with the ledger's
//! read connection, marks rows on its own, and a broker that does not answer only makes the
//! outbox grow (bounded by `events.outbox_bound` for alerts, never a decline).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use jiff::{SignedDuration, Timestamp};
use ledger::{OutboxEvent, Store};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use tracing::{info, warn};

use super::{kafka, with_position};
use crate::config::EventsConfig;
use crate::server::Shutdown;

/// How long a relay's lease lasts unless renewed (every round renews it).
pub const LEASE: Duration = Duration::from_secs(10);
/// Pause between rounds that found nothing to publish (or could not publish).
const IDLE: Duration = Duration::from_millis(100);
/// Pause after a failed round (the broker is down or the ledger did not answer).
const BACKOFF: Duration = Duration::from_millis(1_000);
/// How much longer than `ack_timeout_ms` a round waits for acknowledgements.
const ROUND_GRACE: Duration = Duration::from_secs(2);
/// Failed rounds in a row after which the relay starts a new producer.
const REPLACE_AFTER: u32 = 2;
/// How often the outbox's unpublished events are counted (`/readyz`, `/metrics`).
const COUNT_EVERY: Duration = Duration::from_secs(2);
/// How often published events past the retention are pruned.
const PRUNE_EVERY: Duration = Duration::from_secs(60);

/// What the relay reports to `/readyz` and `/metrics`.
#[derive(Debug, Default)]
pub struct RelayStats {
    /// Events the broker acknowledged.
    pub published: AtomicU64,
    /// Unpublished events at the last count.
    pub pending: AtomicU64,
    /// Rounds that failed (broker or ledger).
    pub failures: AtomicU64,
    /// Events pruned after the retention.
    pub pruned: AtomicU64,
    /// Whether this instance holds the lease.
    pub leader: AtomicBool,
    /// Whether a broker is configured.
    pub enabled: AtomicBool,
    /// `events.outbox_bound`.
    pub bound: AtomicU64,
}

impl RelayStats {
    /// Whether the outbox holds more unpublished events than its bound (with a broker).
    pub fn over_bound(&self) -> bool {
        self.enabled.load(Ordering::Relaxed)
            && self.pending.load(Ordering::Relaxed) > self.bound.load(Ordering::Relaxed)
    }
}

/// This process's name in the lease.
fn holder() -> String {
    format!("pid{}-{:08x}", std::process::id(), rand::random::<u32>())
}

/// Runs until `shutdown`: counts the outbox, and with a broker publishes and prunes.
pub async fn run(store: Store, cfg: EventsConfig, stats: Arc<RelayStats>, mut shutdown: Shutdown) {
    stats.bound.store(cfg.outbox_bound, Ordering::Relaxed);
    stats.enabled.store(cfg.kafka.is_some(), Ordering::Relaxed);
    let producer = match cfg.kafka.as_deref().map(|b| kafka::producer(b, &cfg)) {
        Some(Ok(p)) => Some(p),
        Some(Err(e)) => {
            warn!(error = %e, "events: no relay; events stay in the outbox");
            None
        }
        None => None,
    };
    let me = holder();
    let mut producer = producer;
    let (mut counted, mut pruned) = (None::<Instant>, Instant::now());
    let mut warned = false;
    let mut failed_rounds = 0;
    loop {
        // Without a broker nothing is published and the bound does not apply: no count
        // (it reads every unpublished row's index entry).
        if producer.is_some() && counted.is_none_or(|t| t.elapsed() >= COUNT_EVERY) {
            counted = Some(Instant::now());
            if let Ok(n) = store.events_pending().await {
                stats.pending.store(n, Ordering::Relaxed);
                if stats.over_bound() && !warned {
                    warn!(
                        pending = n,
                        bound = cfg.outbox_bound,
                        "events: outbox past its bound (is the broker down?); authorizations go on"
                    );
                }
                warned = stats.over_bound();
            }
        }
        let mut pause = IDLE;
        if let Some(p) = &producer {
            match round(&store, p, &cfg, &me, &stats).await {
                Ok(n) => {
                    failed_rounds = 0;
                    // (The embedded ledger hands out whole transactions: a round may
                    // publish a few more.)
                    if n >= cfg.relay_batch {
                        pause = Duration::ZERO;
                    }
                }
                Err(e) => {
                    stats.failures.fetch_add(1, Ordering::Relaxed);
                    failed_rounds += 1;
                    warn!(error = %e, "events: relay round failed; retrying");
                    pause = BACKOFF;
                    // An idempotent producer whose requests were in flight to a broker that
                    // restarted without their state may wait for ever (seen with tansu); one
                    // that hit a fatal error cannot go on. A new one (a new producer id)
                    // publishes the rest, from the outbox.
                    if p.client().fatal_error().is_some() || failed_rounds >= REPLACE_AFTER {
                        failed_rounds = 0;
                        producer = cfg
                            .kafka
                            .as_deref()
                            .and_then(|b| kafka::producer(b, &cfg).ok());
                    }
                }
            }
            if pruned.elapsed() >= PRUNE_EVERY {
                pruned = Instant::now();
                prune(&store, &cfg, &stats).await;
            }
        }
        tokio::select! {
            _ = shutdown.wait() => break,
            _ = tokio::time::sleep(pause) => {}
        }
    }
    if stats.leader.load(Ordering::Relaxed) {
        info!("events: relay stopped; the outbox keeps what is unpublished");
    }
}

async fn prune(store: &Store, cfg: &EventsConfig, stats: &RelayStats) {
    let keep = SignedDuration::from_secs(i64::try_from(cfg.retention_s).unwrap_or(i64::MAX));
    let Ok(before) = Timestamp::now().checked_sub(keep) else {
        return;
    };
    match store.events_prune(before).await {
        Ok(n) => {
            stats.pruned.fetch_add(n as u64, Ordering::Relaxed);
        }
        Err(e) => warn!(error = %e, "events: pruning failed"),
    }
}

/// One round: the lease, up to `relay_batch` unpublished events produced in order, and
/// those the broker acknowledged marked published. Returns how many were published.
async fn round(
    store: &Store,
    producer: &FutureProducer,
    cfg: &EventsConfig,
    me: &str,
    stats: &RelayStats,
) -> Result<usize, String> {
    let now = Timestamp::now();
    let until = now
        .checked_add(SignedDuration::try_from(LEASE).unwrap_or(SignedDuration::ZERO))
        .map_err(|e| e.to_string())?;
    let leader = store
        .events_lease(me, now, until)
        .await
        .map_err(|e| format!("lease: {e}"))?;
    if leader != stats.leader.swap(leader, Ordering::Relaxed) && leader {
        info!(
            holder = me,
            "events: this instance now publishes the outbox"
        );
    }
    if !leader {
        return Ok(0);
    }
    let rows = store
        .events_after(0, true, cfg.relay_batch)
        .await
        .map_err(|e| format!("outbox: {e}"))?;
    if rows.is_empty() {
        return Ok(0);
    }
    let (acked, error) = publish(
        producer,
        &cfg.topic,
        &rows,
        Duration::from_millis(cfg.ack_timeout_ms),
    )
    .await;
    let n = acked.len();
    if n > 0 {
        store
            .events_published(&acked, Timestamp::now())
            .await
            .map_err(|e| format!("marking published: {e}"))?;
        stats.published.fetch_add(n as u64, Ordering::Relaxed);
        let pending = stats.pending.load(Ordering::Relaxed);
        stats
            .pending
            .store(pending.saturating_sub(n as u64), Ordering::Relaxed);
    }
    if n < rows.len() {
        return Err(format!(
            "the broker acknowledged {n} of {} events ({})",
            rows.len(),
            error.unwrap_or_default()
        ));
    }
    Ok(n)
}

/// Produces `rows` in order and waits for every acknowledgement; returns the positions
/// acknowledged, without any event that follows an unacknowledged one of its account (it
/// goes again next round, after it, so that each account's order holds on the topic).
async fn publish(
    producer: &FutureProducer,
    topic: &str,
    rows: &[OutboxEvent],
    ack_timeout: Duration,
) -> (Vec<i64>, Option<String>) {
    let mut sent = Vec::with_capacity(rows.len());
    let mut first_error = None;
    for r in rows {
        let payload = with_position(&r.body, r.pos);
        let headers = OwnedHeaders::new()
            .insert(Header {
                key: "ce_id",
                value: Some(r.id.as_str()),
            })
            .insert(Header {
                key: "content-type",
                value: Some("application/cloudevents+json"),
            });
        let rec = FutureRecord::to(topic)
            .key(r.account.as_str())
            .payload(&payload)
            .headers(headers);
        match producer.send_result(rec) {
            Ok(f) => sent.push((r, f)),
            // The producer's queue is full, or it cannot take messages: the rest go next
            // round.
            Err((e, _)) => {
                first_error.get_or_insert_with(|| e.to_string());
                break;
            }
        }
    }
    let mut failed_accounts: Vec<&str> = Vec::new();
    let mut acked = Vec::with_capacity(sent.len());
    // librdkafka times messages out after `message.timeout.ms`, except an idempotent
    // producer's requests in flight to a broker that restarted without their state: seen
    // waiting for ever. The round gives up on them at this deadline.
    let deadline = tokio::time::Instant::now() + ack_timeout + ROUND_GRACE;
    for (r, f) in sent {
        let ok = match tokio::time::timeout_at(deadline, f).await {
            Ok(Ok(Ok(_))) => true,
            Ok(Ok(Err((e, _)))) => {
                first_error.get_or_insert_with(|| e.to_string());
                false
            }
            Ok(Err(_)) => false,
            Err(_) => {
                first_error.get_or_insert_with(|| "no acknowledgement in time".into());
                false
            }
        };
        if ok && !failed_accounts.contains(&r.account.as_str()) {
            acked.push(r.pos);
        } else if !ok {
            failed_accounts.push(r.account.as_str());
        }
    }
    (acked, first_error)
}
