//! What `/readyz` and `/metrics` report about the running switch.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use ledger::{BatchSnapshot, NetworkKey, BATCH_SIZE_BOUNDS};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, NoLabelSet};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;

use crate::metrics::{encode_counter, encode_gauge};
use crate::quoter::RateQuoter;
use crate::server::Shared;
use crate::switch::SwitchCore;

/// Bound on the ledger probe of `/readyz`.
const READY_PROBE_TIMEOUT: Duration = Duration::from_secs(1);
/// Longest time without a commit that `/readyz` accepts: the heartbeat commits every second.
const READY_MAX_COMMIT_SILENCE: jiff::SignedDuration = jiff::SignedDuration::from_millis(2_500);

/// The admin view of the switch: readiness, metrics, and what the API reads.
#[derive(Debug)]
pub(crate) struct Status {
    pub(crate) core: Arc<SwitchCore>,
    pub(crate) quoter: Arc<RateQuoter>,
    pub(crate) shared: Arc<Shared>,
    /// The event relay's counts.
    pub(crate) events: Arc<crate::events::RelayStats>,
}

impl Status {
    /// `Ok` when the switch can serve: the ledger commits and answers, and a fresh rate set
    /// is loaded; otherwise why not.
    pub(crate) async fn ready(&self) -> Result<(), String> {
        // Reads answer from another connection than the writer's: a ledger that reads may
        // still be unable to commit (a full disk, fsync errors, a stopped writer).
        self.core
            .store()
            .health()
            .commit_ready(jiff::Timestamp::now(), READY_MAX_COMMIT_SILENCE)?;
        // A read of a key no network sends (DE 11 000000) proves the ledger answers.
        let probe = NetworkKey::new("0", "000000", "0000000000").map_err(|e| e.to_string())?;
        match tokio::time::timeout(READY_PROBE_TIMEOUT, self.core.store().decision(&probe)).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return Err(format!("ledger: {e}")),
            Err(_) => return Err("ledger: no answer within 1 s".into()),
        }
        let rates = self.quoter.cache().status();
        if rates.version.is_none() {
            return Err(format!("rates: not loaded ({})", rates.state.name()));
        }
        if rates.stale {
            return Err("rates: stale".into());
        }
        Ok(())
    }

    /// What `/readyz` says besides ready: the outbox past its bound (a broker outage; the
    /// switch still serves, so it stays ready).
    pub(crate) fn warnings(&self) -> Option<String> {
        let e = &self.events;
        e.over_bound().then(|| {
            format!(
                "warning: events outbox holds {} unpublished events (bound {})",
                e.pending.load(Ordering::Relaxed),
                e.bound.load(Ordering::Relaxed)
            )
        })
    }

    /// The switch's core (ledger, business date).
    pub(crate) fn core(&self) -> &Arc<SwitchCore> {
        &self.core
    }

    /// The rates in use.
    pub(crate) fn quoter(&self) -> &Arc<RateQuoter> {
        &self.quoter
    }
}

impl Collector for Status {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let e = &mut encoder;
        self.shared.metrics.encode(e)?;
        let rates = self.quoter.cache().status();
        let version = rates.version.as_deref().unwrap_or("");
        let labels = [("version", version), ("state", rates.state.name())];
        e.encode_descriptor(
            "gateway_rate_set",
            "The rate set in use.",
            None,
            MetricType::Info,
        )?
        .encode_info(&labels)?;
        let age = rates.age.map_or(-1.0, |a| a.as_secs_f64());
        encode_gauge(
            e,
            "gateway_rate_set_age_seconds",
            "Time since the rate source last confirmed the set (-1: never).",
            age,
        )?;
        encode_batches(e, &self.core.store().batch_stats())?;
        encode_events(e, &self.events)?;
        encode_health(e, &self.core.store().health(), self.core.void_counts())?;
        let d = self.core.business_date().today();
        let date = d.to_string();
        let packed = i64::from(d.year()) * 10_000 + i64::from(d.month()) * 100 + i64::from(d.day());
        let mut family = e.encode_descriptor(
            "gateway_business_date",
            "The business date as YYYYMMDD.",
            None,
            MetricType::Gauge,
        )?;
        ConstGauge::new(packed).encode(family.encode_family(&[("date", date.as_str())])?)
    }
}

/// The event relay: published, waiting, over the bound (alert on it), failures.
fn encode_events(
    e: &mut DescriptorEncoder,
    s: &crate::events::RelayStats,
) -> Result<(), std::fmt::Error> {
    let get = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
    encode_counter(
        e,
        "gateway_events_published",
        "Events the broker acknowledged (this instance's relay).",
        get(&s.published),
    )?;
    encode_gauge(
        e,
        "gateway_events_outbox_pending",
        "Events in the ledger's outbox not yet published.",
        i64::try_from(get(&s.pending)).unwrap_or(i64::MAX),
    )?;
    encode_gauge(
        e,
        "gateway_events_outbox_over_bound",
        "1 when unpublished events exceed events.outbox_bound (with a broker configured).",
        i64::from(s.over_bound()),
    )?;
    encode_gauge(
        e,
        "gateway_events_relay_leader",
        "1 when this instance's relay holds the lease and publishes.",
        i64::from(s.leader.load(Ordering::Relaxed)),
    )?;
    encode_counter(
        e,
        "gateway_events_relay_failures",
        "Relay rounds that failed (broker or ledger).",
        get(&s.failures),
    )?;
    encode_counter(
        e,
        "gateway_events_pruned",
        "Published events pruned after the retention.",
        get(&s.pruned),
    )
}

/// The ledger's group commit as a Prometheus histogram: operations per committed batch.
fn encode_batches(e: &mut DescriptorEncoder, b: &BatchSnapshot) -> Result<(), std::fmt::Error> {
    // The snapshot is cumulative; the encoder wants each bucket's own count.
    let mut below = 0;
    let buckets: Vec<(f64, u64)> = BATCH_SIZE_BOUNDS
        .iter()
        .zip(b.cumulative)
        .map(|(le, cum)| {
            let own = cum.saturating_sub(below);
            below = cum;
            (*le as f64, own)
        })
        .collect();
    e.encode_descriptor(
        "gateway_ledger_batch_size",
        "Ledger operations per group-committed batch.",
        None,
        MetricType::Histogram,
    )?
    .encode_histogram::<NoLabelSet>(b.operations as f64, b.batches, &buckets, None)?;
    encode_counter(
        e,
        "gateway_ledger_slow_batches",
        "Ledger batches that took 10 ms or longer, and 4x the quickest (load, rules, writes, commit).",
        b.slow,
    )?;
    ConstCounter::new(b.yielded_us as f64 / 1e6).encode(e.encode_descriptor(
        "gateway_clearing_yield_seconds",
        "Time paced clearing imports stopped posting after slow ledger batches.",
        None,
        MetricType::Counter,
    )?)
}

/// Whether the ledger commits, and the voids waiting, for alerts.
fn encode_health(
    e: &mut DescriptorEncoder,
    h: &ledger::LedgerHealth,
    voids: (usize, u64, u64),
) -> Result<(), std::fmt::Error> {
    let ready = h
        .commit_ready(jiff::Timestamp::now(), READY_MAX_COMMIT_SILENCE)
        .is_ok();
    let since = h.last_commit.map_or(-1.0, |t| {
        jiff::Timestamp::now().duration_since(t).as_secs_f64()
    });
    let (pending, dropped, done) = voids;
    encode_gauge(
        e,
        "gateway_ledger_commit_ready",
        "1 when the ledger commits (readiness), else 0.",
        i64::from(ready),
    )?;
    encode_gauge(
        e,
        "gateway_ledger_last_commit_age_seconds",
        "Time since the ledger last committed (-1: never).",
        since,
    )?;
    encode_gauge(
        e,
        "gateway_ledger_failing_batches",
        "Batches failed to commit since the last success.",
        i64::from(h.failing_batches),
    )?;
    encode_counter(
        e,
        "gateway_ledger_writer_restarts",
        "Restarts of the ledger writer after a panic.",
        h.restarts,
    )?;
    encode_gauge(
        e,
        "gateway_voids_pending",
        "Requests answered 91 waiting to be voided.",
        i64::try_from(pending).unwrap_or(i64::MAX),
    )?;
    encode_counter(
        e,
        "gateway_voids_dropped",
        "Voids dropped because the queue was full.",
        dropped,
    )?;
    encode_counter(e, "gateway_voids", "Voids that stuck.", done)
}
