//! `gateway clearing import` (issue 24): a clearing file checked whole, then its
//! presentments posted through the ledger's writer a few at a time, and a JSON report.
//!
//! The import opens the ledger the configuration names next to a running switch, as
//! `gateway check-ledger` and `events tail` do: SQLite is shared with the switch's writer
//! through the file's own write lock (each batch one short `BEGIN IMMEDIATE` transaction;
//! the switch's writer waits at most a batch), PostgreSQL through its row locks as a second
//! instance would. Each presentment is one operation of the writer's batches, at most
//! `[clearing] in_flight` at once, so that authorizations keep flowing between them.
//!
//! Resumable: a presentment is recorded under its DE 31 (and kind), so running the import
//! again after a crash posts what was not posted and finds the rest (`duplicates`). The
//! file is marked imported only after its last presentment: a complete import run again is
//! refused as a whole.

use std::collections::BTreeMap;
use std::io::BufReader;
use std::path::Path;
use std::time::Instant;

use futures::StreamExt;
use jiff::civil::Date;
use jiff::Timestamp;
use ledger::{ClearingOutcome, Pan, PresentmentKind, Store};
use serde::Serialize;

use crate::config::ClearingConfig;

/// Rejections listed in the report (the counts are always complete).
pub const MAX_LISTED_REJECTIONS: usize = 100;

/// The import's outcome, printed as JSON.
#[derive(Debug, Default, Serialize)]
pub struct Report {
    /// The file's id (PDS 0105), when the header was read.
    pub file_id: Option<String>,
    /// `ascii`, `ebcdic` or `json`.
    pub layout: Option<&'static str>,
    /// Why the file was refused as a whole (nothing posted by this run).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refused: Option<String>,
    /// Presentments in the file.
    pub presentments: u64,
    /// Cleared their authorization for the amount held (or a hold already gone: `late`).
    pub matched: u64,
    /// Less than held (final: the rest released; split: the rest kept).
    pub partial: u64,
    /// More than held, within the tip tolerance.
    pub over: u64,
    /// Matched no authorization, posted to the card's account.
    pub forced: u64,
    /// Posted before (a second run, or a run resumed after a crash).
    pub duplicates: u64,
    /// Not postable (unknown card, bad fields): nothing moved.
    pub rejected: u64,
    /// Of the posted: matched after their hold had expired or been cleared.
    pub late: u64,
    /// Of the posted: second presentments (DE 24 = 205).
    pub second: u64,
    /// Sums, by currency (minor units).
    pub totals: Totals,
    /// The first rejections, with why (never a PAN).
    pub rejections: Vec<Rejection>,
    /// Wall time of the posting pass, milliseconds.
    pub elapsed_ms: u64,
    /// Presentments handled per second in the posting pass.
    pub records_per_s: f64,
}

/// The report's sums.
#[derive(Debug, Default, Serialize)]
pub struct Totals {
    /// The trailer's total (sum of DE 4, currencies mixed, as the network sums it).
    pub file_minor: u128,
    /// Presented (DE 4) by transaction currency, of what this run posted.
    pub presented: BTreeMap<String, i64>,
    /// Posted to balances, by wallet currency.
    pub posted: BTreeMap<String, i64>,
    /// Holds given back by final partial presentments, by wallet currency.
    pub released: BTreeMap<String, i64>,
    /// Foreign-currency presentments: today's rate minus the hold's, by wallet currency.
    pub fx_difference: BTreeMap<String, i64>,
}

/// One rejected presentment.
#[derive(Debug, Serialize)]
pub struct Rejection {
    /// Position in the file (0: the header).
    pub record: u64,
    /// DE 31, when it had one.
    pub arn: Option<String>,
    /// Why.
    pub reason: String,
}

/// What the import needs besides the file.
#[derive(Clone, Debug)]
pub struct ImportOptions {
    /// Tolerances and pace.
    pub clearing: ClearingConfig,
    /// The business date postings are recorded on.
    pub business_date: Date,
    /// Draw a progress bar on stderr.
    pub progress: bool,
}

fn add(map: &mut BTreeMap<String, i64>, currency: impl ToString, minor: i64) {
    let e = map.entry(currency.to_string()).or_default();
    *e = e.saturating_add(minor);
}

impl Report {
    fn reject(&mut self, record: u64, arn: Option<String>, reason: String) {
        self.rejected += 1;
        if self.rejections.len() < MAX_LISTED_REJECTIONS {
            self.rejections.push(Rejection {
                record,
                arn,
                reason,
            });
        }
    }

    fn count(&mut self, p: &ledger::Presentment, r: &ledger::PresentmentRecord) {
        match r.outcome {
            ClearingOutcome::Matched => self.matched += 1,
            ClearingOutcome::Partial => self.partial += 1,
            ClearingOutcome::Over => self.over += 1,
            ClearingOutcome::Forced => self.forced += 1,
            ClearingOutcome::Duplicate => {
                self.duplicates += 1;
                return;
            }
            ClearingOutcome::Rejected => return,
        }
        if r.late {
            self.late += 1;
        }
        if p.kind == PresentmentKind::Second {
            self.second += 1;
        }
        add(&mut self.totals.presented, p.currency, p.amount_minor);
        if let Some(c) = r.wallet_currency {
            add(&mut self.totals.posted, c, r.posted_minor);
            if r.released_minor != 0 {
                add(&mut self.totals.released, c, r.released_minor);
            }
            if let Some(d) = r.fx_difference_minor {
                add(&mut self.totals.fx_difference, c, d);
            }
        }
    }
}

/// A presentment of the file as the ledger takes it, or why not.
fn to_ledger(
    p: clearing::Presentment,
    file_id: &str,
    opts: &ImportOptions,
    now: Timestamp,
) -> Result<ledger::Presentment, String> {
    let kind = PresentmentKind::from_function_code(&p.function_code)
        .ok_or_else(|| format!("DE 24 = {} is not a presentment", p.function_code))?;
    let currency: ledger::Currency = fx_rates::currency(&p.currency)
        .map_err(|_| format!("DE 49 {:?} is not a currency", p.currency))?
        .alpha
        .parse()
        .map_err(|_| format!("DE 49 {:?} is not a currency", p.currency))?;
    let pan = Pan::new(&p.pan).map_err(|_| "DE 2 is not a PAN".to_owned())?;
    if p.arn.len() > 99 {
        return Err("DE 31 too long".into());
    }
    let txn_date = p.local_date.and_then(|(y, m, d)| Date::new(y, m, d).ok());
    Ok(ledger::Presentment {
        over_bp: opts.clearing.over_bp(p.mcc.as_deref()),
        arn: p.arn,
        kind,
        pan,
        approval_code: p.approval_code,
        amount_minor: p.amount_minor,
        currency,
        mcc: p.mcc,
        txn_date,
        window_days: i64::from(opts.clearing.window_days),
        file_id: file_id.to_owned(),
        business_date: opts.business_date,
        now,
    })
}

/// Imports the clearing file at `path` into `store`. `Ok` with `refused` set when the file
/// is refused as a whole (nothing of it posted); `Err` when the ledger failed midway (run it
/// again: what was posted stays posted, once).
pub async fn import(store: &Store, path: &Path, opts: &ImportOptions) -> anyhow::Result<Report> {
    let mut report = Report::default();
    let open = || -> anyhow::Result<BufReader<std::fs::File>> {
        let f =
            std::fs::File::open(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        Ok(BufReader::with_capacity(1 << 16, f))
    };
    let summary = match clearing::check(open()?) {
        Ok(s) => s,
        Err(e) => {
            report.refused = Some(e.to_string());
            return Ok(report);
        }
    };
    report.file_id = Some(summary.file_id.clone());
    report.layout = Some(summary.layout.as_str());
    report.presentments = summary.presentments;
    report.totals.file_minor = summary.total_minor;
    if store.clearing_file_imported(&summary.file_id).await? {
        report.refused = Some(format!("file {} was imported before", summary.file_id));
        return Ok(report);
    }
    let bar = opts.progress.then(|| {
        let b = indicatif::ProgressBar::new(summary.presentments);
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "{bar:40} {pos}/{len} presentments {per_sec} eta {eta}",
        ) {
            b.set_style(style);
        }
        b
    });
    let started = Instant::now();
    let now = Timestamp::now();
    let file_id = summary.file_id.clone();
    let mut handled = 0u64;
    let mut failure = None;
    // Two passes over the file, each message by message: the partial amounts of split
    // shipments (DE 24 = 282) first, then the rest, so that a shipment's final presentment
    // (which releases what is left of the hold) never overtakes its earlier ones among the
    // presentments in flight at once. Checked above: a failure now is the file changing
    // under us.
    for partials in [true, false] {
        let records = clearing::Records::new(open()?)?;
        let mut index = 0u64;
        let mut work = futures::stream::iter(records.map(move |m| {
            let i = index;
            index += 1;
            (i, m)
        }))
        .filter_map(|(i, m)| {
            let out = match m {
                Err(e) => Some(Err(e)),
                Ok(m)
                    if clearing::kind(&m) == clearing::Kind::Presentment
                        && (m.get_str(24) == Some("282")) == partials =>
                {
                    Some(Ok((i, m)))
                }
                Ok(_) => None,
            };
            std::future::ready(out)
        })
        .map(|item| {
            let store = store.clone();
            let file_id = file_id.clone();
            async move {
                let (i, m) = item?;
                let p = match clearing::Presentment::from_message(&m) {
                    Ok(p) => p,
                    Err(why) => {
                        let arn = m.get_str(31).map(str::to_owned);
                        return Ok((i, Err((arn, why))));
                    }
                };
                let arn = p.arn.clone();
                let p = match to_ledger(p, &file_id, opts, now) {
                    Ok(p) => p,
                    Err(why) => return Ok((i, Err((Some(arn), why)))),
                };
                let r = store.present(p.clone()).await?;
                anyhow::Ok((i, Ok((p, r))))
            }
        })
        .buffer_unordered(opts.clearing.in_flight);
        while let Some(done) = work.next().await {
            match done {
                Ok((i, Ok((p, r)))) => {
                    if r.outcome == ClearingOutcome::Rejected {
                        let why = r.reason.clone().unwrap_or_else(|| "rejected".into());
                        report.reject(i, Some(p.arn.clone()), why);
                    } else {
                        report.count(&p, &r);
                    }
                }
                Ok((i, Err((arn, why)))) => report.reject(i, arn, why),
                Err(e) => {
                    // Stop taking more; what is in flight is dropped (each one either
                    // committed or not: the next run finds out).
                    failure.get_or_insert(e);
                    break;
                }
            }
            if let Some(b) = &bar {
                b.inc(1);
            }
            handled += 1;
        }
        if failure.is_some() {
            break;
        }
    }
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    let elapsed = started.elapsed();
    report.elapsed_ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX);
    report.records_per_s = if elapsed.as_secs_f64() > 0.0 {
        (handled as f64 / elapsed.as_secs_f64() * 10.0).round() / 10.0
    } else {
        0.0
    };
    if let Some(e) = failure {
        return Err(e.context(format!(
            "the import stopped after {} presentments; run it again to post the rest \
             (each is posted once)",
            handled
        )));
    }
    let count = i64::try_from(summary.presentments).unwrap_or(i64::MAX);
    store
        .mark_clearing_file(
            &summary.file_id,
            count,
            opts.business_date,
            Timestamp::now(),
        )
        .await?;
    Ok(report)
}
