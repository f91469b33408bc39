//! Counters and histograms for `/metrics`.
//!
//! Hot-path updates are our own atomics; the per-(MTI, code) request counters sit behind a
//! mutex held only for one map increment, never across I/O. The exposition (names, HELP,
//! TYPE, label escaping, histogram lines) is `prometheus-client`'s Prometheus text encoder:
//! [`Metrics`] is a `Collector` that reads the atomics at scrape time. The crate's own
//! metric types were measured against these atomics (`benches/switch.rs`, group `metrics`;
//! docs/PERFORMANCE.md) and cost more per request: its histogram takes a mutex on every
//! observation and its label families hash an owned label set, so the counting stays here.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, NoLabelSet};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;

/// Upper bounds of the latency buckets, in microseconds.
const LATENCY_BUCKETS_US: [u64; 13] = [
    250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000,
    2_500_000,
];

/// A cumulative histogram with fixed buckets.
#[derive(Debug)]
struct Histogram {
    bounds: &'static [u64],
    counts: Vec<AtomicU64>,
    sum: AtomicU64,
    count: AtomicU64,
}

impl Histogram {
    fn new(bounds: &'static [u64]) -> Self {
        Histogram {
            bounds,
            counts: bounds.iter().map(|_| AtomicU64::new(0)).collect(),
            sum: AtomicU64::new(0),
            count: AtomicU64::new(0),
        }
    }

    fn observe(&self, v: u64) {
        if let Some(i) = self.bounds.iter().position(|&b| v <= b) {
            self.counts[i].fetch_add(1, Ordering::Relaxed);
        }
        self.sum.fetch_add(v, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    /// Encodes the histogram as `name` (`_bucket`, `_sum`, `_count`); `scale` divides bounds
    /// and sum for the exposed unit (microseconds to seconds).
    fn encode(
        &self,
        encoder: &mut DescriptorEncoder,
        name: &str,
        help: &str,
        scale: f64,
    ) -> Result<(), std::fmt::Error> {
        let buckets: Vec<(f64, u64)> = self
            .bounds
            .iter()
            .zip(&self.counts)
            .map(|(b, c)| (*b as f64 / scale, c.load(Ordering::Relaxed)))
            .collect();
        let count = self.count.load(Ordering::Relaxed);
        let sum = self.sum.load(Ordering::Relaxed) as f64 / scale;
        encoder
            .encode_descriptor(name, help, None, MetricType::Histogram)?
            .encode_histogram::<NoLabelSet>(sum, count, &buckets, None)
    }
}

/// The switch's metrics.
#[derive(Debug)]
pub struct Metrics {
    /// By request MTI, then response code: nested so that counting a known pair borrows the
    /// strings instead of allocating a key per request.
    requests: Mutex<BTreeMap<String, BTreeMap<String, u64>>>,
    latency: Histogram,
    in_flight: AtomicI64,
    connections_open: AtomicI64,
    connections_accepted: AtomicU64,
    connections_refused: AtomicU64,
    connections_evicted: AtomicU64,
    received: AtomicU64,
    format_errors: AtomicU64,
    framing_errors: AtomicU64,
    deadline_misses: AtomicU64,
    /// Real-time decision hooks (issue 22): by program, then outcome (`approve`, `decline`,
    /// `partial`, `stand_in_timeout`, `stand_in_connection`, `stand_in_malformed`). Only
    /// cards in a program count here: the others never take this lock.
    hooks: Mutex<BTreeMap<String, BTreeMap<&'static str, u64>>>,
    hook_latency: Histogram,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            requests: Mutex::new(BTreeMap::new()),
            latency: Histogram::new(&LATENCY_BUCKETS_US),
            in_flight: AtomicI64::new(0),
            connections_open: AtomicI64::new(0),
            connections_accepted: AtomicU64::new(0),
            connections_refused: AtomicU64::new(0),
            connections_evicted: AtomicU64::new(0),
            received: AtomicU64::new(0),
            format_errors: AtomicU64::new(0),
            framing_errors: AtomicU64::new(0),
            deadline_misses: AtomicU64::new(0),
            hooks: Mutex::new(BTreeMap::new()),
            hook_latency: Histogram::new(&LATENCY_BUCKETS_US),
        }
    }
}

/// Decrements a gauge when dropped, so a panicking or cancelled task cannot leak a count.
#[derive(Debug)]
pub struct GaugeGuard<'a>(&'a AtomicI64);

impl Drop for GaugeGuard<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Metrics {
    /// Counts one answered request.
    pub fn request(&self, mti: &str, code: &str, latency: Duration) {
        if let Ok(mut m) = self.requests.lock() {
            let codes = match m.get_mut(mti) {
                Some(c) => c,
                None => m.entry(mti.to_owned()).or_default(),
            };
            match codes.get_mut(code) {
                Some(n) => *n += 1,
                None => {
                    codes.insert(code.to_owned(), 1);
                }
            }
        }
        self.latency
            .observe(u64::try_from(latency.as_micros()).unwrap_or(u64::MAX));
    }

    /// One more request in flight until the guard drops.
    pub fn in_flight(&self) -> GaugeGuard<'_> {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        GaugeGuard(&self.in_flight)
    }

    /// One more open connection until the guard drops.
    pub fn connection(&self) -> GaugeGuard<'_> {
        self.connections_accepted.fetch_add(1, Ordering::Relaxed);
        self.connections_open.fetch_add(1, Ordering::Relaxed);
        GaugeGuard(&self.connections_open)
    }

    /// A connection refused (the per-listener limit, or a peer not in the allow-list).
    pub fn connection_refused(&self) {
        self.connections_refused.fetch_add(1, Ordering::Relaxed);
    }

    /// An unproven connection closed to make room at the per-listener limit.
    pub fn connection_evicted(&self) {
        self.connections_evicted.fetch_add(1, Ordering::Relaxed);
    }

    /// A message read from a network (keep-alives excluded).
    pub fn received(&self) {
        self.received.fetch_add(1, Ordering::Relaxed);
    }

    /// A message that could not be decoded.
    pub fn format_error(&self) {
        self.format_errors.fetch_add(1, Ordering::Relaxed);
    }

    /// A stream that could not be framed (connection closed).
    pub fn framing_error(&self) {
        self.framing_errors.fetch_add(1, Ordering::Relaxed);
    }

    /// A request whose ledger call missed its deadline (answered 91).
    pub fn deadline_miss(&self) {
        self.deadline_misses.fetch_add(1, Ordering::Relaxed);
    }

    /// A hook asked (or its stand-in used) for `program`, with what came of it and how long
    /// it took.
    pub fn hook(&self, program: &str, outcome: &'static str, latency: Duration) {
        if let Ok(mut m) = self.hooks.lock() {
            let outcomes = match m.get_mut(program) {
                Some(o) => o,
                None => m.entry(program.to_owned()).or_default(),
            };
            *outcomes.entry(outcome).or_default() += 1;
        }
        self.hook_latency
            .observe(u64::try_from(latency.as_micros()).unwrap_or(u64::MAX));
    }

    /// Requests currently in flight.
    pub fn in_flight_now(&self) -> i64 {
        self.in_flight.load(Ordering::Relaxed)
    }

    /// Connections currently open.
    pub fn connections_now(&self) -> i64 {
        self.connections_open.load(Ordering::Relaxed)
    }
}

/// Encodes a counter `name` (the encoder appends `_total`) with `value`.
pub(crate) fn encode_counter(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    value: u64,
) -> Result<(), std::fmt::Error> {
    ConstCounter::new(value).encode(encoder.encode_descriptor(
        name,
        help,
        None,
        MetricType::Counter,
    )?)
}

/// Encodes a gauge `name` with `value` (an integer or a float).
pub(crate) fn encode_gauge<V>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    value: V,
) -> Result<(), std::fmt::Error>
where
    ConstGauge<V>: EncodeMetric,
{
    ConstGauge::new(value).encode(encoder.encode_descriptor(name, help, None, MetricType::Gauge)?)
}

impl Metrics {
    /// Encodes everything counted here (at scrape time; see the module's comment).
    pub fn encode(&self, encoder: &mut DescriptorEncoder) -> Result<(), std::fmt::Error> {
        {
            let mut family = encoder.encode_descriptor(
                "gateway_requests",
                "Requests answered, by request MTI and response code.",
                None,
                MetricType::Counter,
            )?;
            // Copied out so that the scrape never holds the hot path's lock while writing.
            let pairs: Vec<(String, String, u64)> = match self.requests.lock() {
                Ok(m) => m
                    .iter()
                    .flat_map(|(mti, codes)| {
                        codes.iter().map(move |(c, n)| (mti.clone(), c.clone(), *n))
                    })
                    .collect(),
                Err(_) => Vec::new(),
            };
            for (mti, code, n) in &pairs {
                let labels = [("mti", mti.as_str()), ("code", code.as_str())];
                ConstCounter::new(*n).encode(family.encode_family(&labels)?)?;
            }
        }
        self.latency.encode(
            encoder,
            "gateway_request_duration_seconds",
            "Time from frame read to response queued.",
            1_000_000.0,
        )?;
        {
            let mut family = encoder.encode_descriptor(
                "gateway_hook_decisions",
                "Real-time decision hooks asked, by program and outcome (approve, decline, \
                 partial, or stand_in_ with the reason the program's stand-in decided).",
                None,
                MetricType::Counter,
            )?;
            let pairs: Vec<(String, &'static str, u64)> = match self.hooks.lock() {
                Ok(m) => m
                    .iter()
                    .flat_map(|(p, o)| o.iter().map(move |(k, n)| (p.clone(), *k, *n)))
                    .collect(),
                Err(_) => Vec::new(),
            };
            for (program, outcome, n) in &pairs {
                let labels = [("program", program.as_str()), ("outcome", *outcome)];
                ConstCounter::new(*n).encode(family.encode_family(&labels)?)?;
            }
        }
        self.hook_latency.encode(
            encoder,
            "gateway_hook_duration_seconds",
            "Time a real-time decision hook took to answer (or its budget, when it did not).",
            1_000_000.0,
        )?;
        let e = encoder;
        encode_gauge(
            e,
            "gateway_in_flight",
            "Requests being processed.",
            self.in_flight_now(),
        )?;
        encode_gauge(
            e,
            "gateway_connections",
            "Open network connections.",
            self.connections_now(),
        )?;
        let counters = [
            (
                "gateway_connections_accepted",
                "Connections accepted.",
                &self.connections_accepted,
            ),
            (
                "gateway_connections_refused",
                "Connections refused by the per-listener limit or allow-list.",
                &self.connections_refused,
            ),
            (
                "gateway_connections_evicted",
                "Connections closed, unproven, to make room at the per-listener limit.",
                &self.connections_evicted,
            ),
            (
                "gateway_messages_received",
                "Messages read from the networks (keep-alives excluded).",
                &self.received,
            ),
            (
                "gateway_format_errors",
                "Messages that could not be decoded.",
                &self.format_errors,
            ),
            (
                "gateway_framing_errors",
                "Streams closed for broken framing.",
                &self.framing_errors,
            ),
            (
                "gateway_deadline_misses",
                "Ledger calls that missed the request deadline.",
                &self.deadline_misses,
            ),
        ];
        for (name, help, v) in counters {
            encode_counter(e, name, help, v.load(Ordering::Relaxed))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// Exposes [`Metrics`] alone.
    #[derive(Debug)]
    struct MetricsCollector(Arc<Metrics>);

    impl prometheus_client::collector::Collector for MetricsCollector {
        fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
            self.0.encode(&mut encoder)
        }
    }

    fn render(m: &Arc<Metrics>) -> String {
        let mut registry = prometheus_client::registry::Registry::default();
        registry.register_collector(Box::new(MetricsCollector(m.clone())));
        let mut out = String::new();
        prometheus_client::encoding::prometheus_text::encode(&mut out, &registry).unwrap();
        out
    }

    #[test]
    fn render_counts_requests_and_buckets_latency() {
        let m = Arc::new(Metrics::default());
        m.request("0100", "00", Duration::from_micros(300));
        m.request("0100", "00", Duration::from_millis(3));
        m.request("0100", "51", Duration::from_secs(10));
        m.received();
        let g = m.in_flight();
        let out = render(&m);
        assert!(
            out.contains("gateway_requests_total{mti=\"0100\",code=\"00\"} 2"),
            "{out}"
        );
        assert!(out.contains("gateway_requests_total{mti=\"0100\",code=\"51\"} 1"));
        assert!(
            out.contains("# TYPE gateway_requests_total counter\n"),
            "{out}"
        );
        assert!(out.contains("gateway_request_duration_seconds_bucket{le=\"0.0005\"} 1"));
        assert!(out.contains("gateway_request_duration_seconds_bucket{le=\"0.005\"} 2"));
        assert!(out.contains("gateway_request_duration_seconds_bucket{le=\"+Inf\"} 3"));
        assert!(
            out.contains("gateway_request_duration_seconds_count 3\n"),
            "{out}"
        );
        assert!(out.contains("gateway_in_flight 1\n"));
        assert!(out.contains("gateway_messages_received_total 1\n"));
        assert!(out.contains("gateway_connections_refused_total 0\n"));
        drop(g);
        assert_eq!(m.in_flight_now(), 0);
    }
}
