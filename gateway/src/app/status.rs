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

/// The admin view of the switch.
#[derive(Debug)]
pub(crate) struct Status {
    pub(crate) core: Arc<SwitchCore>,
    pub(crate) quoter: Arc<RateQuoter>,
    pub(crate) shared: Arc<Shared>,
}

impl AdminSource for Status {
    async fn ready(&self) -> Result<(), String> {
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
