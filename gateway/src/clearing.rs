//! `gateway clearing import` (issue 24): a clearing file checked whole, then its
//! presentments posted through the ledger's writer a few at a time, and a JSON report.
//!
//! When a switch is running for the configuration (its admin listener answers `/readyz`),
//! the presentments go through that switch's own ledger writer: batches of `[clearing]
//! batch` sent one after the other to `POST /v1/clearing/presentments` ([`import_via_api`]),
//! which posts them at most `[clearing] switch_in_flight` at once, so they ride the same
//! group commits as the authorizations and an authorization waits behind a few of them at
//! most, spaced evenly at `[clearing] records_per_s` (on the embedded ledger 500 a second
//! when left out: [`crate::config::SWITCH_RECORDS_PER_S`]).
//! No second writer contends for SQLite's write lock or PostgreSQL's row locks.
//!
//! With no switch running, the import opens the ledger itself ([`import`]), as `gateway
//! check-ledger` does, each presentment one operation of the writer's batches, at most
//! `[clearing] in_flight` at once.
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
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

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
    /// How the presentments were posted: `switch` (through the running switch's ledger
    /// writer, its API) or `ledger` (this process opened the ledger: no switch running).
    pub via: &'static str,
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

    /// Adds one presentment's outcome (`second`: DE 24 = 205).
    fn record(&mut self, arn: &str, second: bool, r: &Posted) {
        match r.outcome {
            Outcome::Matched => self.matched += 1,
            Outcome::Partial => self.partial += 1,
            Outcome::Over => self.over += 1,
            Outcome::Forced => self.forced += 1,
            Outcome::Duplicate => {
                self.duplicates += 1;
                return;
            }
            Outcome::Rejected => {
                let why = r.reason.clone().unwrap_or_else(|| "rejected".into());
                self.reject(r.record, Some(arn.to_owned()), why);
                return;
            }
        }
        if r.late {
            self.late += 1;
        }
        if second {
            self.second += 1;
        }
        if let Some(c) = &r.currency {
            add(&mut self.totals.presented, c, r.amount_minor);
        }
        if let Some(c) = &r.wallet_currency {
            add(&mut self.totals.posted, c, r.posted_minor);
            if r.released_minor != 0 {
                add(&mut self.totals.released, c, r.released_minor);
            }
            if let Some(d) = r.fx_difference_minor {
                add(&mut self.totals.fx_difference, c, d);
            }
        }
    }

    fn finish(&mut self, handled: u64, started: Instant) {
        let elapsed = started.elapsed();
        self.elapsed_ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX);
        self.records_per_s = if elapsed.as_secs_f64() > 0.0 {
            (handled as f64 / elapsed.as_secs_f64() * 10.0).round() / 10.0
        } else {
            0.0
        };
    }
}

/// How one presentment was taken (the report's counts by another name: `duplicate` counts
/// in `duplicates`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// Cleared its authorization for the amount held (or a hold already gone: `late`).
    Matched,
    /// Less than held.
    Partial,
    /// More than held, within the tolerance.
    Over,
    /// Matched no authorization: posted to the card's account.
    Forced,
    /// Posted before (same DE 31 and kind): nothing moved now.
    Duplicate,
    /// Not postable: nothing moved (`reason` says why).
    Rejected,
}

impl From<ClearingOutcome> for Outcome {
    fn from(o: ClearingOutcome) -> Self {
        match o {
            ClearingOutcome::Matched => Outcome::Matched,
            ClearingOutcome::Partial => Outcome::Partial,
            ClearingOutcome::Over => Outcome::Over,
            ClearingOutcome::Forced => Outcome::Forced,
            ClearingOutcome::Duplicate => Outcome::Duplicate,
            ClearingOutcome::Rejected => Outcome::Rejected,
        }
    }
}

/// What posting one presentment did (an item of `POST /v1/clearing/presentments`'s answer).
/// Never a PAN.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct Posted {
    /// The record's number in the file, as sent.
    #[schema(example = 12)]
    pub record: u64,
    /// How it was taken.
    pub outcome: Outcome,
    /// The transaction currency (ISO 4217 alpha), when DE 49 is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(example = "USD", pattern = "^[A-Z]{3}$")]
    pub currency: Option<String>,
    /// DE 4, minor units of `currency`.
    #[schema(example = 2_500)]
    pub amount_minor: i64,
    /// The wallet posted to (ISO 4217 alpha).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(example = "USD", pattern = "^[A-Z]{3}$")]
    pub wallet_currency: Option<String>,
    /// Posted to the balance, minor units of `wallet_currency`.
    #[serde(default)]
    pub posted_minor: i64,
    /// Given back from the authorization's hold (a final partial presentment's rest).
    #[serde(default)]
    pub released_minor: i64,
    /// A foreign-currency presentment: today's rate minus the hold's (wallet currency).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fx_difference_minor: Option<i64>,
    /// Matched after its authorization's hold had expired or been cleared.
    #[serde(default)]
    pub late: bool,
    /// Why it was rejected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl Posted {
    fn rejected(record: u64, amount_minor: i64, reason: String) -> Self {
        Posted {
            record,
            outcome: Outcome::Rejected,
            currency: None,
            amount_minor,
            wallet_currency: None,
            posted_minor: 0,
            released_minor: 0,
            fx_difference_minor: None,
            late: false,
            reason: Some(reason),
        }
    }

    fn of(record: u64, p: &ledger::Presentment, r: &ledger::PresentmentRecord) -> Self {
        Posted {
            record,
            outcome: r.outcome.into(),
            currency: Some(p.currency.to_string()),
            amount_minor: p.amount_minor,
            wallet_currency: r.wallet_currency.map(|c| c.to_string()),
            posted_minor: r.posted_minor,
            released_minor: r.released_minor,
            fx_difference_minor: r.fx_difference_minor,
            late: r.late,
            reason: r.reason.clone(),
        }
    }
}

/// One presentment of a file as `POST /v1/clearing/presentments` takes it: the fields of
/// its 1240 the ledger needs, as the file gives them. Its `Debug` masks the PAN.
#[derive(Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PresentmentItem {
    /// The record's number in the file (the header is 0): answered back, for the report.
    #[schema(example = 12)]
    pub record: u64,
    /// DE 24: `200` first presentment, `205` second, `282` partial (split shipment).
    #[schema(example = "200", pattern = "^(200|205|282)$")]
    pub function_code: String,
    /// DE 2 (12 to 19 digits).
    #[schema(example = "4761739001010010", pattern = "^[0-9]{12,19}$")]
    pub pan: String,
    /// DE 4, minor units of `currency`.
    #[schema(example = 2_500, minimum = 0)]
    pub amount_minor: i64,
    /// DE 49: ISO 4217 numeric (`840`) or alpha (`USD`).
    #[schema(example = "840", max_length = 3)]
    pub currency: String,
    /// DE 31, the acquirer reference: with DE 24, what makes the presentment unique.
    #[schema(example = "74000001234567890123456", max_length = 99)]
    pub arn: String,
    /// DE 38 of the authorization it clears.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(example = "A1B2C3", max_length = 6)]
    pub approval_code: Option<String>,
    /// DE 26 (else DE 18): the merchant category, for the tip tolerance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(example = "5812", max_length = 4)]
    pub mcc: Option<String>,
    /// DE 12's date (ISO 8601), for the matching window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(example = "2026-12-05", format = Date)]
    pub local_date: Option<String>,
}

impl std::fmt::Debug for PresentmentItem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PresentmentItem")
            .field("record", &self.record)
            .field("function_code", &self.function_code)
            .field("pan", &iso8583::mask::mask_pan(&self.pan))
            .field("amount_minor", &self.amount_minor)
            .field("currency", &self.currency)
            .field("arn", &self.arn)
            .finish_non_exhaustive()
    }
}

impl PresentmentItem {
    fn new(record: u64, p: clearing::Presentment) -> Self {
        PresentmentItem {
            record,
            function_code: p.function_code,
            pan: p.pan,
            amount_minor: p.amount_minor,
            currency: p.currency,
            arn: p.arn,
            approval_code: p.approval_code,
            mcc: p.mcc,
            local_date: p
                .local_date
                .and_then(|(y, m, d)| Date::new(y, m, d).ok())
                .map(|d| d.to_string()),
        }
    }
}

/// Where presentments are posted and what with: the configuration's tolerances, the
/// business date, the file.
#[derive(Clone, Debug)]
pub struct PostContext<'a> {
    /// Tolerances.
    pub clearing: &'a ClearingConfig,
    /// The file's id.
    pub file_id: &'a str,
    /// The business date postings are recorded on.
    pub business_date: Date,
    /// When.
    pub now: Timestamp,
}

/// A presentment as the ledger takes it, or why not (never card data).
fn to_ledger(p: &PresentmentItem, cx: &PostContext<'_>) -> Result<ledger::Presentment, String> {
    let kind = PresentmentKind::from_function_code(&p.function_code)
        .ok_or_else(|| "DE 24 is not a presentment (200, 205, 282)".to_owned())?;
    let bad_currency = || "DE 49 is not a currency".to_owned();
    if p.currency.len() > 3 {
        return Err(bad_currency());
    }
    let currency: ledger::Currency = fx_rates::currency(&p.currency)
        .map_err(|_| bad_currency())?
        .alpha
        .parse()
        .map_err(|_| bad_currency())?;
    if !(12..=19).contains(&p.pan.len()) || !p.pan.bytes().all(|b| b.is_ascii_digit()) {
        return Err("DE 2 is not a PAN".into());
    }
    let pan = Pan::new(&p.pan).map_err(|_| "DE 2 is not a PAN".to_owned())?;
    if p.arn.trim().is_empty() || p.arn.len() > 99 || p.arn.chars().any(char::is_control) {
        return Err("DE 31 must be 1 to 99 characters".into());
    }
    if p.amount_minor < 0 {
        return Err("DE 4 is not an amount".into());
    }
    let short = |s: &Option<String>, n: usize| {
        s.as_ref()
            .is_none_or(|s| s.len() <= n && !s.chars().any(char::is_control))
    };
    if !short(&p.approval_code, 6) {
        return Err("DE 38 is longer than 6".into());
    }
    if !short(&p.mcc, 4) {
        return Err("DE 26 is longer than 4".into());
    }
    let txn_date = match &p.local_date {
        None => None,
        Some(d) => Some(
            d.parse::<Date>()
                .map_err(|_| "local_date is not a date (YYYY-MM-DD)".to_owned())?,
        ),
    };
    Ok(ledger::Presentment {
        over_bp: cx.clearing.over_bp(p.mcc.as_deref()),
        arn: p.arn.clone(),
        kind,
        pan,
        approval_code: p.approval_code.clone(),
        amount_minor: p.amount_minor,
        currency,
        mcc: p.mcc.clone(),
        txn_date,
        window_days: i64::from(cx.clearing.window_days),
        file_id: cx.file_id.to_owned(),
        business_date: cx.business_date,
        now: cx.now,
    })
}

/// Posts one presentment through `store`'s writer: its outcome (`rejected` when its fields
/// are not postable, or the ledger finds them invalid), or the ledger's failure.
pub async fn post(
    store: &Store,
    p: &PresentmentItem,
    cx: &PostContext<'_>,
) -> ledger::Result<Posted> {
    match to_ledger(p, cx) {
        Err(why) => Ok(Posted::rejected(p.record, p.amount_minor, why)),
        Ok(lp) => match store.present(lp.clone()).await {
            Ok(r) => Ok(Posted::of(p.record, &lp, &r)),
            Err(ledger::LedgerError::Invalid { field, reason }) => Ok(Posted::rejected(
                p.record,
                p.amount_minor,
                format!("{field}: {reason}"),
            )),
            Err(e) => Err(e),
        },
    }
}

/// Posts a batch of one file through `store`, at most `in_flight` at once and, with
/// `per_s`, each one started no sooner than its turn at that pace (evenly spaced: a batch
/// posted at full speed and then a pause would meet the authorizations of its burst with
/// all of `in_flight`). The answers come in the batch's order. Stops at the ledger's first
/// failure (what was posted stays posted).
///
/// A paced batch also yields to the writer: after its tick, a post waits while one of the
/// writer's batches was slow within the last `yield_for` (the disk is behind), up to
/// [`MAX_YIELD_PER_REQUEST`](crate::config::MAX_YIELD_PER_REQUEST) for the whole batch.
pub async fn post_batch(
    store: &Store,
    items: &[PresentmentItem],
    cx: &PostContext<'_>,
    in_flight: usize,
    per_s: Option<u32>,
    yield_for: std::time::Duration,
) -> ledger::Result<Vec<Posted>> {
    // Each post waits for its tick (in the batch's order: the lock is first come, first
    // served). A tick missed because the writer was slow is not made up in a burst: the next
    // one comes a full gap later.
    let ticks = per_s.filter(|r| *r > 0).map(|r| {
        let mut every = tokio::time::interval(std::time::Duration::from_secs(1) / r);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tokio::sync::Mutex::new(every)
    });
    let ticks = &ticks;
    let yield_until = Instant::now() + crate::config::MAX_YIELD_PER_REQUEST;
    // The futures gathered first (they start when polled): a stream over a closure that
    // borrows the items would be too general for the router's `Send` bound.
    let posts: Vec<_> = items
        .iter()
        .map(|p| async move {
            if let Some(t) = ticks {
                // Under the lock: the posts behind this one wait with it.
                let mut t = t.lock().await;
                t.tick().await;
                if !yield_for.is_zero() {
                    let left = yield_until.saturating_duration_since(Instant::now());
                    store.yield_to_writer(yield_for, left).await;
                }
            }
            post(store, p, cx).await
        })
        .collect();
    let mut work = futures::stream::iter(posts).buffered(in_flight.max(1));
    let mut out = Vec::with_capacity(items.len());
    while let Some(r) = work.next().await {
        out.push(r?);
    }
    Ok(out)
}

/// Holds the import to `[clearing] records_per_s`.
struct Pace {
    per_s: Option<u32>,
    started: Instant,
}

impl Pace {
    async fn wait(&self, handled: u64) {
        if let Some(r) = self.per_s.filter(|r| *r > 0) {
            let due = std::time::Duration::from_secs_f64(handled as f64 / f64::from(r));
            let spent = self.started.elapsed();
            if due > spent {
                tokio::time::sleep(due - spent).await;
            }
        }
    }
}

fn progress_bar(show: bool, len: u64) -> Option<indicatif::ProgressBar> {
    show.then(|| {
        let b = indicatif::ProgressBar::new(len);
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "{bar:40} {pos}/{len} presentments {per_sec} eta {eta}",
        ) {
            b.set_style(style);
        }
        b
    })
}

type FileReader = BufReader<std::fs::File>;

/// Ends a run's posting on either path: the progress bar cleared, the report's totals; an
/// import that stopped on an error says how far it got and that running it again is safe.
fn conclude(
    bar: Option<&indicatif::ProgressBar>,
    report: &mut Report,
    handled: u64,
    started: Instant,
    failure: Option<anyhow::Error>,
) -> anyhow::Result<()> {
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    report.finish(handled, started);
    match failure {
        Some(e) => Err(e.context(format!(
            "the import stopped after {handled} presentments; run it again to post the rest \
             (each is posted once)"
        ))),
        None => Ok(()),
    }
}

fn open_file(path: &Path) -> anyhow::Result<FileReader> {
    let f = std::fs::File::open(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    Ok(BufReader::with_capacity(1 << 16, f))
}

/// Checks the file whole: its summary, or the report that refuses it.
fn check_whole(path: &Path, report: &mut Report) -> anyhow::Result<Option<clearing::Summary>> {
    let summary = match clearing::check(open_file(path)?) {
        Ok(s) => s,
        Err(e) => {
            report.refused = Some(e.to_string());
            return Ok(None);
        }
    };
    report.file_id = Some(summary.file_id.clone());
    report.layout = Some(summary.layout.as_str());
    report.presentments = summary.presentments;
    report.totals.file_minor = summary.total_minor;
    Ok(Some(summary))
}

/// A presentment of the file, numbered, or why it cannot be posted (with its DE 31).
type Read = Result<PresentmentItem, (u64, Option<String>, String)>;

/// The presentments of one of the two passes over the file, in order: the partial amounts
/// of split shipments (DE 24 = 282) first, then the rest, so that a shipment's final
/// presentment (which releases what is left of the hold) never overtakes its earlier ones
/// among the presentments in flight at once. The file was checked whole: a failure now is
/// the file changing under us.
fn pass(path: &Path, partials: bool) -> anyhow::Result<impl Iterator<Item = anyhow::Result<Read>>> {
    let records = clearing::Records::new(open_file(path)?)?;
    Ok(records.enumerate().filter_map(move |(i, m)| {
        let i = i as u64;
        match m {
            Err(e) => Some(Err(anyhow::Error::from(e))),
            Ok(m)
                if clearing::kind(&m) == clearing::Kind::Presentment
                    && (m.get_str(24) == Some("282")) == partials =>
            {
                Some(Ok(match clearing::Presentment::from_message(&m) {
                    Ok(p) => Ok(PresentmentItem::new(i, p)),
                    Err(why) => Err((i, m.get_str(31).map(str::to_owned), why)),
                }))
            }
            Ok(_) => None,
        }
    }))
}

/// Imports the clearing file at `path` into `store` (no switch running: this process is
/// the ledger's writer). `Ok` with `refused` set when the file is refused as a whole
/// (nothing of it posted); `Err` when the ledger failed midway (run it again: what was
/// posted stays posted, once).
pub async fn import(store: &Store, path: &Path, opts: &ImportOptions) -> anyhow::Result<Report> {
    let mut report = Report {
        via: "ledger",
        ..Report::default()
    };
    let Some(summary) = check_whole(path, &mut report)? else {
        return Ok(report);
    };
    if store.clearing_file_imported(&summary.file_id).await? {
        report.refused = Some(format!("file {} was imported before", summary.file_id));
        return Ok(report);
    }
    let bar = progress_bar(opts.progress, summary.presentments);
    let started = Instant::now();
    let pace = Pace {
        per_s: opts.clearing.records_per_s,
        started,
    };
    let cx = PostContext {
        clearing: &opts.clearing,
        file_id: &summary.file_id,
        business_date: opts.business_date,
        now: Timestamp::now(),
    };
    let mut handled = 0u64;
    let mut failure = None;
    for partials in [true, false] {
        let mut work = futures::stream::iter(pass(path, partials)?)
            .map(|item| {
                let cx = &cx;
                async move {
                    match item? {
                        Err(rejected) => anyhow::Ok(Err(rejected)),
                        Ok(p) => {
                            let r = post(store, &p, cx).await?;
                            Ok(Ok((p.arn, p.function_code == "205", r)))
                        }
                    }
                }
            })
            .buffer_unordered(opts.clearing.in_flight);
        while let Some(done) = work.next().await {
            match done {
                Ok(Ok((arn, second, r))) => report.record(&arn, second, &r),
                Ok(Err((i, arn, why))) => report.reject(i, arn, why),
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
            pace.wait(handled).await;
        }
        if failure.is_some() {
            break;
        }
    }
    conclude(bar.as_ref(), &mut report, handled, started, failure)?;
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

/// `POST /v1/clearing/presentments`'s body: presentments of one file.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PresentmentBatch {
    /// The clearing file's id (its header's DE 48, PDS 0105).
    #[schema(example = "F-20261205-001", max_length = 64)]
    pub file_id: String,
    /// 1 to 500 presentments, posted in this order (a few at once).
    #[schema(max_items = 500, min_items = 1)]
    pub presentments: Vec<PresentmentItem>,
    /// Post them evenly spaced at this many a second (absent: as fast as the writer takes
    /// them). The batch is answered once its last is posted: it may hold at most 2 seconds'
    /// worth (422 otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1, maximum = 100000, example = 1000)]
    pub records_per_s: Option<u32>,
}

/// `POST /v1/clearing/presentments`'s answer: each presentment's outcome, in the batch's
/// order.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct BatchOutcome {
    /// The file's id, as sent.
    pub file_id: String,
    /// One per presentment sent, in order.
    pub results: Vec<Posted>,
}

/// `GET`/`PUT /v1/clearing/files/{file_id}`'s answer.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct FileView {
    /// The file's id.
    #[schema(example = "F-20261205-001")]
    pub file_id: String,
    /// True once its import finished (a second import is refused).
    pub imported: bool,
}

/// `PUT /v1/clearing/files/{file_id}`'s body: the file imported whole.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FileMark {
    /// The number of presentments in the file (its trailer's count).
    #[schema(example = 1_000, minimum = 0)]
    pub presentments: u64,
}

/// The running switch the import goes through: its admin listener and the API token.
#[derive(Clone, Debug)]
pub struct SwitchApi {
    /// `http://127.0.0.1:9090`.
    pub base: reqwest::Url,
    /// The bearer token (`[admin] api_token` / `api_token_file`).
    pub token: crate::config::ApiToken,
}

/// The HTTP client for a switch's admin listener (loopback: no proxy).
fn http_client(timeout: std::time::Duration) -> anyhow::Result<reqwest::Client> {
    // reqwest is built with `rustls-no-provider`: a client needs a process-wide provider,
    // even one that only speaks plain HTTP to loopback.
    #[allow(deprecated)]
    let _ = tokio_rustls::rustls::crypto::ring::default_provider().install_default();
    Ok(reqwest::Client::builder()
        .no_proxy()
        .timeout(timeout)
        .build()?)
}

/// Whether a switch answers on `admin` (its `/readyz` answers at all, ready or not).
pub async fn switch_answers(admin: std::net::SocketAddr) -> bool {
    if admin.port() == 0 {
        return false;
    }
    let Ok(client) = http_client(std::time::Duration::from_secs(2)) else {
        return false;
    };
    client
        .get(format!("http://{admin}/readyz"))
        .send()
        .await
        .is_ok()
}

impl SwitchApi {
    fn url(&self, segments: &[&str]) -> anyhow::Result<reqwest::Url> {
        let mut u = self.base.clone();
        u.path_segments_mut()
            .map_err(|()| anyhow::anyhow!("{} cannot be a base", self.base))?
            .clear()
            .extend(segments);
        Ok(u)
    }
}

/// An API answer's body as `T`, or an error naming the status and the API's message.
async fn answer<T: serde::de::DeserializeOwned>(
    what: &str,
    resp: reqwest::Response,
) -> anyhow::Result<(reqwest::StatusCode, T)> {
    let status = resp.status();
    let body = resp.bytes().await?;
    if !status.is_success() {
        let message = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v["error"]["message"].as_str().map(str::to_owned))
            .unwrap_or_default();
        anyhow::bail!("{what}: the switch answered {status}: {message}");
    }
    Ok((status, serde_json::from_slice(&body)?))
}

/// Imports the clearing file at `path` through the running switch `api`: the file checked
/// whole here, then its presentments sent in batches of `[clearing] batch`, one after the
/// other (paced by `[clearing] records_per_s`: the switch spaces its posts at that pace),
/// posted by the switch's own ledger writer; the file marked imported after its last. Same
/// report, same refusals and the same resumability as [`import`].
pub async fn import_via_api(
    api: &SwitchApi,
    path: &Path,
    opts: &ImportOptions,
) -> anyhow::Result<Report> {
    let mut report = Report {
        via: "switch",
        ..Report::default()
    };
    let Some(summary) = check_whole(path, &mut report)? else {
        return Ok(report);
    };
    // A batch is answered within the switch's request timeout (10 s); the rest is margin.
    let client = http_client(std::time::Duration::from_secs(30))?;
    let token = api.token.expose();
    let file_url = api.url(&["v1", "clearing", "files", &summary.file_id])?;
    let (_, file): (_, FileView) = answer(
        "the file's status",
        client
            .get(file_url.clone())
            .bearer_auth(token)
            .send()
            .await?,
    )
    .await?;
    if file.imported {
        report.refused = Some(format!("file {} was imported before", summary.file_id));
        return Ok(report);
    }
    let post_url = api.url(&["v1", "clearing", "presentments"])?;
    let bar = progress_bar(opts.progress, summary.presentments);
    let started = Instant::now();
    let pace = Pace {
        per_s: opts.clearing.records_per_s,
        started,
    };
    // Paced, a batch lasts about a second at most: the switch spaces its posts at the pace
    // (an authorization then meets one presentment at a time, not a burst of them).
    let batch_size = opts
        .clearing
        .batch
        .min(pace.per_s.map_or(usize::MAX, |r| r as usize))
        .clamp(1, crate::config::MAX_PRESENTMENT_BATCH);
    let mut handled = 0u64;
    let mut failure = None;
    let send = async |batch: &mut Vec<PresentmentItem>,
                      report: &mut Report,
                      handled: &mut u64|
           -> anyhow::Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        let body = PresentmentBatch {
            file_id: summary.file_id.clone(),
            presentments: std::mem::take(batch),
            records_per_s: pace.per_s,
        };
        let resp = client
            .post(post_url.clone())
            .bearer_auth(token)
            .json(&body)
            .send()
            .await?;
        let (_, out): (_, BatchOutcome) = answer("posting presentments", resp).await?;
        if out.results.len() != body.presentments.len() {
            anyhow::bail!(
                "the switch answered {} of {} presentments",
                out.results.len(),
                body.presentments.len()
            );
        }
        for (p, r) in body.presentments.iter().zip(&out.results) {
            report.record(&p.arn, p.function_code == "205", r);
        }
        let n = out.results.len() as u64;
        *handled += n;
        if let Some(b) = &bar {
            b.inc(n);
        }
        pace.wait(*handled).await;
        Ok(())
    };
    'passes: for partials in [true, false] {
        let mut batch = Vec::with_capacity(batch_size);
        for item in pass(path, partials)? {
            let step = match item {
                Err(e) => Err(e),
                Ok(Err((i, arn, why))) => {
                    report.reject(i, arn, why);
                    handled += 1;
                    if let Some(b) = &bar {
                        b.inc(1);
                    }
                    Ok(())
                }
                Ok(Ok(p)) => {
                    batch.push(p);
                    if batch.len() >= batch_size {
                        send(&mut batch, &mut report, &mut handled).await
                    } else {
                        Ok(())
                    }
                }
            };
            if let Err(e) = step {
                failure = Some(e);
                break 'passes;
            }
        }
        if let Err(e) = send(&mut batch, &mut report, &mut handled).await {
            failure = Some(e);
            break;
        }
    }
    conclude(bar.as_ref(), &mut report, handled, started, failure)?;
    let resp = client
        .put(file_url)
        .bearer_auth(token)
        .json(&FileMark {
            presentments: summary.presentments,
        })
        .send()
        .await?;
    // 409: marked meanwhile by a concurrent run; imported all the same.
    if resp.status() != reqwest::StatusCode::CONFLICT {
        answer::<FileView>("marking the file imported", resp).await?;
    }
    Ok(report)
}
