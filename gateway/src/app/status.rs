//! What `/readyz` and `/metrics` report about the running switch.

use std::fmt::Write;
use std::sync::Arc;
use std::time::Duration;

use ledger::{BatchSnapshot, NetworkKey, BATCH_SIZE_BOUNDS};

use crate::admin::AdminSource;
use crate::quoter::RateQuoter;
use crate::server::Shared;
use crate::switch::SwitchCore;

/// Bound on the ledger probe of `/readyz`.
const READY_PROBE_TIMEOUT: Duration = Duration::from_secs(1);
/// Longest time without a commit that `/readyz` accepts: the heartbeat commits every second.
const READY_MAX_COMMIT_SILENCE: jiff::SignedDuration = jiff::SignedDuration::from_millis(2_500);

/// The admin view of the switch.
#[derive(Debug)]
pub(crate) struct Status {
    pub(crate) core: Arc<SwitchCore>,
    pub(crate) quoter: Arc<RateQuoter>,
    pub(crate) shared: Arc<Shared>,
}

impl AdminSource for Status {
    async fn ready(&self) -> Result<(), String> {
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

    fn metrics(&self, out: &mut String) {
        self.shared.metrics.render(out);
        let rates = self.quoter.cache().status();
        let version = rates.version.as_deref().unwrap_or("");
        let _ = writeln!(
            out,
            "# HELP gateway_rate_set_info The rate set in use.\n# TYPE gateway_rate_set_info gauge\ngateway_rate_set_info{{version=\"{version}\",state=\"{}\"}} 1",
            rates.state.name()
        );
        let age = rates.age.map_or(-1.0, |a| a.as_secs_f64());
        let _ = writeln!(
            out,
            "# HELP gateway_rate_set_age_seconds Time since the rate source last confirmed the set (-1: never).\n# TYPE gateway_rate_set_age_seconds gauge\ngateway_rate_set_age_seconds {age}"
        );
        render_batches(out, &self.core.store().batch_stats());
        render_health(out, &self.core.store().health(), self.core.void_counts());
        let d = self.core.business_date().today();
        let _ = writeln!(
            out,
            "# HELP gateway_business_date The business date as YYYYMMDD.\n# TYPE gateway_business_date gauge\ngateway_business_date{{date=\"{d}\"}} {}{:02}{:02}",
            d.year(),
            d.month(),
            d.day()
        );
    }
}

/// The ledger's group commit as a Prometheus histogram: operations per committed batch.
fn render_batches(out: &mut String, b: &BatchSnapshot) {
    out.push_str(
        "# HELP gateway_ledger_batch_size Ledger operations per group-committed batch.\n\
         # TYPE gateway_ledger_batch_size histogram\n",
    );
    for (le, n) in BATCH_SIZE_BOUNDS.iter().zip(b.cumulative) {
        let _ = writeln!(out, "gateway_ledger_batch_size_bucket{{le=\"{le}\"}} {n}");
    }
    let _ = writeln!(
        out,
        "gateway_ledger_batch_size_bucket{{le=\"+Inf\"}} {}\ngateway_ledger_batch_size_sum {}\ngateway_ledger_batch_size_count {}",
        b.batches, b.operations, b.batches
    );
}

/// Whether the ledger commits, and the voids waiting, for alerts.
fn render_health(out: &mut String, h: &ledger::LedgerHealth, voids: (usize, u64, u64)) {
    let ready = h
        .commit_ready(jiff::Timestamp::now(), READY_MAX_COMMIT_SILENCE)
        .is_ok();
    let since = h.last_commit.map_or(-1.0, |t| {
        jiff::Timestamp::now().duration_since(t).as_secs_f64()
    });
    let (pending, dropped, done) = voids;
    let _ = writeln!(
        out,
        "# HELP gateway_ledger_commit_ready 1 when the ledger commits (readiness), else 0.\n\
         # TYPE gateway_ledger_commit_ready gauge\ngateway_ledger_commit_ready {}\n\
         # HELP gateway_ledger_last_commit_age_seconds Time since the ledger last committed (-1: never).\n\
         # TYPE gateway_ledger_last_commit_age_seconds gauge\ngateway_ledger_last_commit_age_seconds {since}\n\
         # HELP gateway_ledger_failing_batches Batches failed to commit since the last success.\n\
         # TYPE gateway_ledger_failing_batches gauge\ngateway_ledger_failing_batches {}\n\
         # HELP gateway_ledger_writer_restarts_total Restarts of the ledger writer after a panic.\n\
         # TYPE gateway_ledger_writer_restarts_total counter\ngateway_ledger_writer_restarts_total {}\n\
         # HELP gateway_voids_pending Requests answered 91 waiting to be voided.\n\
         # TYPE gateway_voids_pending gauge\ngateway_voids_pending {pending}\n\
         # HELP gateway_voids_dropped_total Voids dropped because the queue was full.\n\
         # TYPE gateway_voids_dropped_total counter\ngateway_voids_dropped_total {dropped}\n\
         # HELP gateway_voids_total Voids that stuck.\n\
         # TYPE gateway_voids_total counter\ngateway_voids_total {done}",
        u8::from(ready),
        h.failing_batches,
        h.restarts,
    );
}
