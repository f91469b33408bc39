//! The ledger operations, written once over [`Tx`] and run by both stores inside one
//! transaction each (or one savepoint each within a group-committed batch).

use std::sync::Arc;

use jiff::civil::Date;
use jiff::{SignedDuration, Timestamp};

use crate::decide::{self, Funds};
use crate::terms::Fingerprint;
use crate::tx::Tx;
use crate::{
    approval_code, order_for_de54, AdviceRequest, AuthRequest, BalanceAnswer, BalanceRequest,
    CaptureRequest, Decision, DecisionKind, DuplicateRecord, Hold, HoldStatus, LedgerError,
    NetworkKey, Pan, PanHasher, Quoter, ResponseCode, Result, ReversalRequest, SeedData, Wallet,
};

/// What every operation needs besides its request.
#[derive(Clone)]
pub(crate) struct Ctx {
    pub(crate) hasher: PanHasher,
    pub(crate) quoter: Arc<dyn Quoter>,
    pub(crate) hold_ttl: SignedDuration,
    /// Batch sizes, shared by the writer/workers and every clone of the store handle.
    pub(crate) stats: Arc<crate::stats::BatchStats>,
    /// Whether commits succeed (readiness), kept by the writer/workers.
    pub(crate) health: Arc<crate::health::CommitHealth>,
}

/// A write operation queued for a store's writer. Requests are shared (`Arc`), so that the
/// caller keeps them when the writer takes the operation: to read its outcome back when the
/// answer is lost, or to void it.
#[derive(Clone, Debug)]
pub(crate) enum Op {
    Authorize(Arc<AuthRequest>),
    Reverse(Arc<ReversalRequest>),
    Advise(Arc<AdviceRequest>),
    Capture(Arc<CaptureRequest>),
    VoidTimedOut {
        key: NetworkKey,
        business_date: Date,
        now: Timestamp,
    },
    /// A void of this authorization request only: its decision, or none yet (a decision
    /// of another request under the same key is not its to void).
    VoidAuthorization {
        request: Arc<AuthRequest>,
        business_date: Date,
        now: Timestamp,
    },
    /// A write that proves the ledger commits (readiness when there is no traffic).
    Heartbeat {
        now: Timestamp,
    },
    Expire {
        now: Timestamp,
        limit: usize,
    },
    Seed(Arc<SeedData>),
    /// A business-date cutover asked for by the message with `key`; `current` is the
    /// asking instance's business date.
    Cutover {
        key: String,
        current: Date,
        now: Timestamp,
    },
}

/// What a write operation returns.
#[derive(Debug)]
pub(crate) enum Output {
    Decision(Box<Decision>),
    Count(usize),
    Date(Date),
}

impl Output {
    pub(crate) fn decision(self) -> Result<Decision> {
        match self {
            Output::Decision(d) => Ok(*d),
            _ => Err(LedgerError::corrupt("ops", "expected a decision")),
        }
    }
    pub(crate) fn count(self) -> Result<usize> {
        match self {
            Output::Count(n) => Ok(n),
            _ => Err(LedgerError::corrupt("ops", "expected a count")),
        }
    }
    pub(crate) fn date(self) -> Result<Date> {
        match self {
            Output::Date(d) => Ok(d),
            _ => Err(LedgerError::corrupt("ops", "expected a date")),
        }
    }
}

pub(crate) async fn run<T: Tx>(t: &mut T, ctx: &Ctx, op: &Op) -> Result<Output> {
    Ok(match op {
        Op::Authorize(r) => Output::Decision(Box::new(authorize(t, ctx, r).await?)),
        Op::Reverse(r) => Output::Decision(Box::new(reverse(t, ctx, r).await?)),
        Op::Advise(r) => Output::Decision(Box::new(advise(t, ctx, r).await?)),
        Op::Capture(r) => {
            let fp = capture_fingerprint(r);
            Output::Decision(Box::new(capture(t, r, DecisionKind::Completion, fp).await?))
        }
        Op::VoidTimedOut {
            key,
            business_date,
            now,
        } => Output::Decision(Box::new(
            void_timed_out(t, key, *business_date, *now).await?,
        )),
        Op::VoidAuthorization {
            request,
            business_date,
            now,
        } => Output::Decision(Box::new(
            void_authorization(t, ctx, request, *business_date, *now).await?,
        )),
        Op::Heartbeat { now } => {
            t.heartbeat(*now).await?;
            Output::Count(1)
        }
        Op::Expire { now, limit } => Output::Count(expire(t, *now, *limit).await?),
        Op::Seed(s) => Output::Count(seed(t, s).await?),
        Op::Cutover { key, current, now } => Output::Date(cutover(t, key, *current, *now).await?),
    })
}

/// The keys whose decisions an operation reads: a batch reads them all in one query once
/// its accounts are locked. Missing one costs only a round trip of its own later.
pub(crate) fn keys_of(op: &Op) -> Vec<&NetworkKey> {
    match op {
        Op::Authorize(r) => std::iter::once(&r.key).chain(&r.original).collect(),
        Op::Advise(r) => std::iter::once(&r.key).chain(&r.original).collect(),
        Op::Reverse(r) => vec![&r.key, &r.original],
        Op::Capture(r) => vec![&r.key, &r.original],
        Op::VoidTimedOut { key, .. } => vec![key],
        Op::VoidAuthorization { request, .. } => vec![&request.key],
        Op::Expire { .. } | Op::Seed(_) | Op::Cutover { .. } | Op::Heartbeat { .. } => Vec::new(),
    }
}

/// The accounts an operation may lock, found without locking, so that a batch can take all
/// its locks up front in one order (no deadlock between batches of different connections).
/// Erring on the side of more is harmless; missing one only risks a deadlock, which
/// PostgreSQL breaks and the batch retries.
pub(crate) async fn accounts_of<T: Tx>(t: &mut T, ctx: &Ctx, op: &Op) -> Result<Vec<String>> {
    let mut out = Vec::new();
    // An authorization or a force post locks the card's account; a completion, a reversal,
    // a capture or a void its original's.
    if let Some(pan) = card_of(op) {
        out.extend(t.card(&ctx.hasher.hash(pan)).await?.map(|c| c.account_id));
    }
    if let Some(k) = account_decision_of(op) {
        out.extend(t.decision(k).await?.and_then(|d| d.account_id));
    }
    Ok(out)
}

/// The card [`accounts_of`] (and the operation) reads, if any: authorizations and advices,
/// the operations that may take an approval number.
pub(crate) fn card_of(op: &Op) -> Option<&Pan> {
    match op {
        Op::Authorize(r) => Some(&r.pan),
        Op::Advise(r) => Some(&r.pan),
        _ => None,
    }
}

/// The decision [`accounts_of`] reads to find the account `op` locks, if any.
pub(crate) fn account_decision_of(op: &Op) -> Option<&NetworkKey> {
    match op {
        Op::Advise(r) => r.original.as_ref(),
        Op::Reverse(r) => Some(&r.original),
        Op::Capture(r) => Some(&r.original),
        Op::VoidTimedOut { key, .. } => Some(key),
        Op::VoidAuthorization { request, .. } => Some(&request.key),
        Op::Authorize(_)
        | Op::Expire { .. }
        | Op::Seed(_)
        | Op::Cutover { .. }
        | Op::Heartbeat { .. } => None,
    }
}

/// The holds `op` reads: by key, and (second) the active holds extending an original, so
/// that a batch can read them with its locks.
pub(crate) fn holds_read_by(op: &Op) -> (Option<&NetworkKey>, Option<&NetworkKey>) {
    match op {
        Op::Authorize(r) => (r.original.as_ref(), None),
        Op::Advise(r) => (r.original.as_ref(), None),
        Op::Reverse(r) => (Some(&r.original), Some(&r.original)),
        Op::Capture(r) => (Some(&r.original), Some(&r.original)),
        Op::VoidTimedOut { key, .. } => (Some(key), None),
        Op::VoidAuthorization { request, .. } => (Some(&request.key), None),
        Op::Expire { .. } | Op::Seed(_) | Op::Cutover { .. } | Op::Heartbeat { .. } => (None, None),
    }
}

/// A cutover: the date recorded for `key` when this message was seen before (a
/// retransmission, to this instance or another); otherwise the day after the later of the
/// latest recorded cutover and `current`, recorded under `key`.
async fn cutover<T: Tx>(t: &mut T, key: &str, current: Date, now: Timestamp) -> Result<Date> {
    if let Some(d) = t.cutover(key).await? {
        return Ok(d);
    }
    let from = t
        .latest_cutover()
        .await?
        .map_or(current, |l| l.max(current));
    let next = from
        .tomorrow()
        .map_err(|_| LedgerError::invalid("business date", "no day after it"))?;
    t.insert_cutover(key, next, now).await?;
    // Another instance may have recorded the same key since the read: its date stands.
    Ok(t.cutover(key).await?.unwrap_or(next))
}

fn replay(mut d: Decision) -> Decision {
    d.replayed = true;
    d
}

/// A message under a key that already has a decision, as it asks to be taken.
struct Asked<'a> {
    kind: DecisionKind,
    fingerprint: &'a str,
    /// The card's keyed hash, when the message names a card (to record its account).
    pan_hash: Option<&'a str>,
    amount_minor: i64,
    currency: &'a str,
    business_date: Date,
    now: Timestamp,
}

/// What a message's kind is for comparing it with a decision recorded before fingerprints:
/// an advice may have been recorded as the completion it was.
fn request_class(kind: DecisionKind) -> DecisionKind {
    match kind {
        DecisionKind::Completion => DecisionKind::Advice,
        k => k,
    }
}

/// Whether `asked` is a repeat of the request `stored` decided.
fn same_request(stored: &Decision, asked: &Asked<'_>) -> bool {
    match &stored.fingerprint {
        Some(f) => f == asked.fingerprint,
        // Placeholders never saw a request: what comes under their key is what they wait for
        // (the late original of a remembered reversal, the request whose deadline passed).
        None if matches!(
            stored.kind,
            DecisionKind::ReversedBeforeOriginal | DecisionKind::TimedOut
        ) =>
        {
            true
        }
        // Recorded before fingerprints: what it kept of its request must agree.
        None => {
            request_class(stored.kind) == request_class(asked.kind)
                && stored.amount_minor == asked.amount_minor
                && stored.currency == asked.currency
        }
    }
}

/// The answer to a message under a decided key: the stored decision when the message is a
/// repeat of the request it decided; otherwise a duplicate transmission, counted in
/// `duplicates`, that moves nothing and leaves the stored decision as it was.
async fn repeat_or_duplicate<T: Tx>(
    t: &mut T,
    stored: Decision,
    asked: Asked<'_>,
) -> Result<Decision> {
    if same_request(&stored, &asked) {
        return Ok(replay(stored));
    }
    let account_id = match asked.pan_hash {
        Some(h) => t.card(h).await?.map(|c| c.account_id),
        None => None,
    };
    let record = DuplicateRecord {
        key: stored.key.clone(),
        kind: asked.kind,
        account_id: account_id.clone(),
        amount_minor: asked.amount_minor,
        currency: asked.currency.to_owned(),
        first_at: asked.now,
        last_at: asked.now,
        times: 1,
    };
    t.record_duplicate(&record, asked.fingerprint).await?;
    let mut d = Decision::new(
        stored.key,
        DecisionKind::Duplicate,
        ResponseCode::DUPLICATE_TRANSMISSION,
        asked.business_date,
        asked.now,
    );
    d.account_id = account_id;
    d.amount_minor = asked.amount_minor;
    d.currency = asked.currency.to_owned();
    d.fingerprint = Some(asked.fingerprint.to_owned());
    d.replayed = true;
    Ok(d)
}

async fn record<T: Tx>(t: &mut T, d: Decision) -> Result<Decision> {
    t.insert_decision(&d).await?;
    Ok(d)
}

fn wallet_mut<'w>(wallets: &'w mut [Wallet], currency: &str) -> Result<&'w mut Wallet> {
    wallets
        .iter_mut()
        .find(|w| w.currency == currency)
        .ok_or_else(|| LedgerError::corrupt("wallets", format!("no {currency} wallet for hold")))
}

fn authorization_fingerprint(pan_hash: &str, r: &AuthRequest) -> String {
    Fingerprint::new("authorize", Some(pan_hash), &r.terms)
        .text(Some(r.kind.as_str()))
        .int(r.amount_minor)
        .text(Some(&r.currency))
        .text(r.expiry.as_deref())
        .text(r.original.as_ref().map(NetworkKey::db_str))
        .int(i64::from(r.allow_partial))
        .finish()
}

fn asked_authorization<'a>(r: &'a AuthRequest, fp: &'a str, pan_hash: &'a str) -> Asked<'a> {
    Asked {
        kind: DecisionKind::Authorization,
        fingerprint: fp,
        pan_hash: Some(pan_hash),
        amount_minor: r.amount_minor,
        currency: &r.currency,
        business_date: r.business_date,
        now: r.now,
    }
}

async fn authorize<T: Tx>(t: &mut T, ctx: &Ctx, r: &AuthRequest) -> Result<Decision> {
    let pan_hash = ctx.hasher.hash(&r.pan);
    let fp = authorization_fingerprint(&pan_hash, r);
    if let Some(d) = t.decision(&r.key).await? {
        return repeat_or_duplicate(t, d, asked_authorization(r, &fp, &pan_hash)).await;
    }
    let mut d = Decision::new(
        r.key.clone(),
        DecisionKind::Authorization,
        ResponseCode::APPROVED,
        r.business_date,
        r.now,
    );
    d.amount_minor = r.amount_minor;
    d.currency = r.currency.clone();
    d.original = r.original.clone();
    d.fingerprint = Some(fp);
    if let Err(code) = decide::check_amount(r.amount_minor, &r.currency) {
        d.response_code = code;
        return record(t, d).await;
    }
    let card = t.card(&pan_hash).await?;
    if let Err(code) = decide::check_card(card.as_ref(), r.expiry.as_deref(), r.business_date) {
        d.account_id = card.map(|c| c.account_id);
        d.response_code = code;
        return record(t, d).await;
    }
    let Some(card) = card else {
        return Err(LedgerError::corrupt("cards", "checked card vanished"));
    };
    d.account_id = Some(card.account_id.clone());
    // Lock the wallets before looking at the original: an incremental racing its original's
    // reversal then sees the reversal's outcome.
    let mut wallets = t.wallets(&card.account_id, true).await?;
    if let Some(orig) = &r.original {
        // "A further 0100 with its own key whose DE 90 names an approved original": anything
        // else (unknown, declined, reversed, another account) is an invalid transaction.
        let ok = match t.decision(orig).await? {
            Some(o) => {
                o.response_code.is_approval()
                    && o.account_id.as_deref() == Some(card.account_id.as_str())
                    && t.hold(orig)
                        .await?
                        .is_some_and(|h| h.status == HoldStatus::Active)
            }
            None => false,
        };
        if !ok {
            d.response_code = ResponseCode::INVALID_TRANSACTION;
            return record(t, d).await;
        }
    }
    match decide::decide_funds(
        r.amount_minor,
        &r.currency,
        r.allow_partial,
        &card.home_currency,
        &wallets,
        ctx.quoter.as_ref(),
    ) {
        Funds::Decline(code) => {
            d.response_code = code;
            record(t, d).await
        }
        Funds::Approve {
            wallet_currency,
            approved_minor,
            hold_minor,
            billing,
            partial,
        } => {
            let expires_at = r
                .now
                .saturating_add(ctx.hold_ttl)
                .map_err(|_| LedgerError::invalid("now", "hold expiry out of range"))?;
            let w = wallet_mut(&mut wallets, &wallet_currency)?;
            w.held_minor += hold_minor;
            t.update_wallet(w).await?;
            let hold = Hold {
                key: r.key.clone(),
                original: r.original.clone(),
                account_id: card.account_id.clone(),
                currency: wallet_currency.clone(),
                amount_minor: hold_minor,
                held_minor: hold_minor,
                captured_minor: 0,
                txn_amount_minor: approved_minor,
                txn_currency: r.currency.clone(),
                status: HoldStatus::Active,
                business_date: r.business_date,
                rate_version: billing.as_ref().map(|b| b.version.clone()),
                created_at: r.now,
                expires_at,
            };
            t.insert_hold(&hold).await?;
            d.response_code = if partial {
                ResponseCode::PARTIAL_APPROVAL
            } else {
                ResponseCode::APPROVED
            };
            d.approval_code = Some(approval_code(t.next_approval_number().await?));
            d.approved_minor = approved_minor;
            d.billing = billing;
            d.wallet_currency = Some(wallet_currency);
            d.expires_at = Some(expires_at);
            record(t, d).await
        }
    }
}

async fn reverse<T: Tx>(t: &mut T, ctx: &Ctx, r: &ReversalRequest) -> Result<Decision> {
    let own_record = r.key != r.original;
    let pan_hash = r.pan.as_ref().map(|p| ctx.hasher.hash(p));
    let fp = Fingerprint::new("reverse", pan_hash.as_deref(), &r.terms)
        .text(Some(r.original.db_str()))
        .int(r.keep_minor.unwrap_or(0))
        .finish();
    if own_record {
        if let Some(d) = t.decision(&r.key).await? {
            let asked = Asked {
                kind: DecisionKind::Reversal,
                fingerprint: &fp,
                pan_hash: pan_hash.as_deref(),
                amount_minor: d.amount_minor,
                currency: &d.currency.clone(),
                business_date: r.business_date,
                now: r.now,
            };
            return repeat_or_duplicate(t, d, asked).await;
        }
    }
    let mut rec = Decision::new(
        r.key.clone(),
        DecisionKind::Reversal,
        ResponseCode::APPROVED,
        r.business_date,
        r.now,
    );
    rec.original = Some(r.original.clone());
    rec.fingerprint = Some(fp);
    let keep_txn = r.keep_minor.unwrap_or(0).max(0);
    match t.decision(&r.original).await? {
        None => {
            // Remember the reversal so that the late original places no hold.
            let mut p = Decision::new(
                r.original.clone(),
                DecisionKind::ReversedBeforeOriginal,
                ResponseCode::INVALID_TRANSACTION,
                r.business_date,
                r.now,
            );
            p.original = Some(r.key.clone());
            t.insert_decision(&p).await?;
        }
        Some(mut orig) => {
            rec.account_id = orig.account_id.clone();
            rec.currency = orig.currency.clone();
            if let Some(mut h) = t.hold(&r.original).await? {
                // An original's incremental authorizations are one authorization with it
                // for the network: its reversal reverses them too (a full one releases all,
                // DE 95's actual amount is what stays of the cumulative total), as a
                // completion completes them together.
                let mut linked = if h.original.is_none() {
                    t.active_linked_holds(&r.original).await?
                } else {
                    Vec::new()
                };
                linked.sort_by(|a, b| (a.created_at, &a.key).cmp(&(b.created_at, &b.key)));
                let total =
                    orig.approved_minor + linked.iter().map(|l| l.txn_amount_minor).sum::<i64>();
                rec.amount_minor = total - keep_txn.min(total);
                // What stays is kept by the original first, then by the incrementals in
                // the order they were placed.
                let mut keep = keep_txn;
                let own = keep.min(orig.approved_minor);
                keep -= own;
                release_down_to(t, &mut h, own).await?;
                for mut l in linked {
                    let k = keep.min(l.txn_amount_minor);
                    keep -= k;
                    release_down_to(t, &mut l, k).await?;
                }
                orig.updated_at = r.now;
                t.update_decision(&orig).await?;
            } else {
                rec.amount_minor = orig.approved_minor - keep_txn.min(orig.approved_minor);
            }
        }
    }
    if own_record {
        t.insert_decision(&rec).await?;
    }
    Ok(rec)
}

/// Lowers a hold (or, once captured, the captured amount) to `keep_txn` of the transaction
/// currency, moving the difference back to the wallet. Idempotent: it sets, not subtracts.
async fn release_down_to<T: Tx>(t: &mut T, h: &mut Hold, keep_txn: i64) -> Result<()> {
    let keep = h.wallet_amount(keep_txn).max(0);
    let mut wallets = t.wallets(&h.account_id, true).await?;
    let w = wallet_mut(&mut wallets, &h.currency)?;
    match h.status {
        HoldStatus::Active if keep < h.held_minor => {
            w.held_minor -= h.held_minor - keep;
            h.held_minor = keep;
            if keep == 0 {
                h.status = HoldStatus::Released;
            }
        }
        // A reversal of a captured amount refunds it: one of the three ways the balance moves.
        HoldStatus::Captured if keep < h.captured_minor => {
            w.balance_minor += h.captured_minor - keep;
            h.captured_minor = keep;
        }
        _ => return Ok(()),
    }
    t.update_wallet(w).await?;
    t.update_hold(h).await
}

async fn advise<T: Tx>(t: &mut T, ctx: &Ctx, r: &AdviceRequest) -> Result<Decision> {
    let pan_hash = ctx.hasher.hash(&r.pan);
    let fp = Fingerprint::new("advise", Some(&pan_hash), &r.terms)
        .int(r.amount_minor)
        .text(Some(&r.currency))
        .text(Some(r.response_code.as_str()))
        .text(r.approval_code.as_deref())
        .text(r.original.as_ref().map(NetworkKey::db_str))
        .finish();
    if let Some(d) = t.decision(&r.key).await? {
        let asked = Asked {
            kind: DecisionKind::Advice,
            fingerprint: &fp,
            pan_hash: Some(&pan_hash),
            amount_minor: r.amount_minor,
            currency: &r.currency,
            business_date: r.business_date,
            now: r.now,
        };
        return repeat_or_duplicate(t, d, asked).await;
    }
    if let Some(orig) = &r.original {
        let approved = t
            .decision(orig)
            .await?
            .is_some_and(|o| o.response_code.is_approval());
        let active = t
            .hold(orig)
            .await?
            .is_some_and(|h| h.status == HoldStatus::Active);
        if approved && active && r.response_code.is_approval() {
            let c = CaptureRequest {
                key: r.key.clone(),
                original: orig.clone(),
                amount_minor: r.amount_minor,
                terms: r.terms,
                business_date: r.business_date,
                now: r.now,
            };
            return capture(t, &c, DecisionKind::Completion, fp).await;
        }
    }
    let mut d = Decision::new(
        r.key.clone(),
        DecisionKind::Advice,
        r.response_code,
        r.business_date,
        r.now,
    );
    d.amount_minor = r.amount_minor;
    d.currency = r.currency.clone();
    d.original = r.original.clone();
    d.approval_code = r.approval_code.clone();
    d.fingerprint = Some(fp);
    let card = t.card(&pan_hash).await?;
    let postable =
        r.response_code.is_approval() && decide::check_amount(r.amount_minor, &r.currency).is_ok();
    let Some(card) = card.filter(|_| postable) else {
        // A declined advice, or one for a card we do not know, is recorded and moves nothing.
        return record(t, d).await;
    };
    d.account_id = Some(card.account_id.clone());
    let mut wallets = t.wallets(&card.account_id, true).await?;
    // Force post: the same wallet choice as an authorization, but never a decline: when
    // nothing covers it, the transaction-currency wallet (created if missing) goes negative.
    let (currency, posted, billing) = match decide::decide_funds(
        r.amount_minor,
        &r.currency,
        false,
        &card.home_currency,
        &wallets,
        ctx.quoter.as_ref(),
    ) {
        Funds::Approve {
            wallet_currency,
            hold_minor,
            billing,
            ..
        } => (wallet_currency, hold_minor, billing),
        Funds::Decline(_) => (r.currency.clone(), r.amount_minor, None),
    };
    if !wallets.iter().any(|w| w.currency == currency) {
        let w = Wallet {
            account_id: card.account_id.clone(),
            currency: currency.clone(),
            balance_minor: 0,
            held_minor: 0,
            overdraft_minor: 0,
            opening_minor: 0,
        };
        t.insert_wallet(&w).await?;
        wallets.push(w);
    }
    let w = wallet_mut(&mut wallets, &currency)?;
    w.balance_minor -= posted;
    t.update_wallet(w).await?;
    // The posting is kept as a hold captured at once, so that a later 0420 finds it and the
    // balance stays `opening - sum(captured)`.
    t.insert_hold(&Hold {
        key: r.key.clone(),
        original: r.original.clone(),
        account_id: card.account_id.clone(),
        currency: currency.clone(),
        amount_minor: posted,
        held_minor: 0,
        captured_minor: posted,
        txn_amount_minor: r.amount_minor,
        txn_currency: r.currency.clone(),
        status: HoldStatus::Captured,
        business_date: r.business_date,
        rate_version: billing.as_ref().map(|b| b.version.clone()),
        created_at: r.now,
        expires_at: r.now,
    })
    .await?;
    d.approved_minor = r.amount_minor;
    d.billing = billing;
    d.wallet_currency = Some(currency);
    record(t, d).await
}

/// The fingerprint of a direct [`crate::Store::capture`].
fn capture_fingerprint(r: &CaptureRequest) -> String {
    Fingerprint::new("capture", None, &r.terms)
        .text(Some(r.original.db_str()))
        .int(r.amount_minor)
        .finish()
}

/// A completion for `r`; `fp` is the fingerprint of the message asking for it (an advice's
/// includes its card, a direct capture's only its terms).
async fn capture<T: Tx>(
    t: &mut T,
    r: &CaptureRequest,
    kind: DecisionKind,
    fp: String,
) -> Result<Decision> {
    if let Some(d) = t.decision(&r.key).await? {
        let currency = d.currency.clone();
        let asked = Asked {
            kind,
            fingerprint: &fp,
            pan_hash: None,
            amount_minor: r.amount_minor,
            currency: &currency,
            business_date: r.business_date,
            now: r.now,
        };
        return repeat_or_duplicate(t, d, asked).await;
    }
    if r.amount_minor < 0 || r.amount_minor > crate::request::MAX_AMOUNT_MINOR {
        return Err(LedgerError::invalid(
            "DE 4",
            "completion amount out of range",
        ));
    }
    let orig = t.decision(&r.original).await?;
    let mut main = match (orig, t.hold(&r.original).await?) {
        (Some(o), Some(h)) if o.response_code.is_approval() && h.status == HoldStatus::Active => h,
        _ => return Err(LedgerError::NoHold(r.original.to_string())),
    };
    let linked = t.active_linked_holds(&r.original).await?;
    let mut wallets = t.wallets(&main.account_id, true).await?;
    // The completion replaces the original and its incremental holds by one posting of the
    // final amount, converted at the rate the original was held at.
    let posted = main.wallet_amount(r.amount_minor);
    for mut h in linked {
        let w = wallet_mut(&mut wallets, &h.currency)?;
        w.held_minor -= h.held_minor;
        h.held_minor = 0;
        h.status = HoldStatus::Captured;
        t.update_hold(&h).await?;
    }
    let w = wallet_mut(&mut wallets, &main.currency)?;
    w.held_minor -= main.held_minor;
    w.balance_minor -= posted;
    main.held_minor = 0;
    main.captured_minor = posted;
    main.status = HoldStatus::Captured;
    t.update_hold(&main).await?;
    for w in &wallets {
        t.update_wallet(w).await?;
    }
    let mut d = Decision::new(
        r.key.clone(),
        kind,
        ResponseCode::APPROVED,
        r.business_date,
        r.now,
    );
    d.account_id = Some(main.account_id.clone());
    d.amount_minor = r.amount_minor;
    d.currency = main.txn_currency.clone();
    d.approved_minor = r.amount_minor;
    d.wallet_currency = Some(main.currency.clone());
    d.original = Some(r.original.clone());
    d.fingerprint = Some(fp);
    record(t, d).await
}

async fn void_timed_out<T: Tx>(
    t: &mut T,
    key: &NetworkKey,
    business_date: Date,
    now: Timestamp,
) -> Result<Decision> {
    match t.decision(key).await? {
        None => {
            let d = Decision::new(
                key.clone(),
                DecisionKind::TimedOut,
                ResponseCode::ISSUER_UNAVAILABLE,
                business_date,
                now,
            );
            record(t, d).await
        }
        Some(mut d) if d.response_code.is_approval() && d.kind == DecisionKind::Authorization => {
            // Only an active hold is released: a captured one was completed by the network,
            // which means our answer did get through after all.
            if let Some(mut h) = t
                .hold(key)
                .await?
                .filter(|h| h.status == HoldStatus::Active)
            {
                release_down_to(t, &mut h, 0).await?;
            }
            d.kind = DecisionKind::TimedOut;
            d.response_code = ResponseCode::ISSUER_UNAVAILABLE;
            d.approval_code = None;
            d.approved_minor = 0;
            d.updated_at = now;
            t.update_decision(&d).await?;
            Ok(d)
        }
        Some(d) => Ok(replay(d)),
    }
}

/// [`void_timed_out`] of `r`'s key, unless the decision there is another request's (a
/// message that reused the key): voiding that would take an approval's hold away from under
/// the answer its network received.
async fn void_authorization<T: Tx>(
    t: &mut T,
    ctx: &Ctx,
    r: &AuthRequest,
    business_date: Date,
    now: Timestamp,
) -> Result<Decision> {
    let pan_hash = ctx.hasher.hash(&r.pan);
    let fp = authorization_fingerprint(&pan_hash, r);
    if let Some(d) = t.decision(&r.key).await? {
        if !same_request(&d, &asked_authorization(r, &fp, &pan_hash)) {
            return Ok(replay(d));
        }
    }
    void_timed_out(t, &r.key, business_date, now).await
}

/// What `op` left in the ledger, read back when its answer was lost (the writer stopped, or
/// PostgreSQL's `COMMIT` failed on the way back): the decision it made, when the one under
/// its key is this request's, answered as a repeat would be. `None` when nothing of it is
/// there, or when the operation leaves nothing to find by key.
pub(crate) async fn read_back<T: Tx>(t: &mut T, ctx: &Ctx, op: &Op) -> Result<Option<Output>> {
    let found = |d: Decision| Some(Output::Decision(Box::new(replay(d))));
    Ok(match op {
        Op::Authorize(r) => {
            let pan_hash = ctx.hasher.hash(&r.pan);
            let fp = authorization_fingerprint(&pan_hash, r);
            match t.decision(&r.key).await? {
                Some(d) if same_request(&d, &asked_authorization(r, &fp, &pan_hash)) => found(d),
                _ => None,
            }
        }
        Op::VoidTimedOut { key, .. } => match t.decision(key).await? {
            Some(d) if d.kind == DecisionKind::TimedOut => found(d),
            _ => None,
        },
        Op::VoidAuthorization { request, .. } => match t.decision(&request.key).await? {
            Some(d) if d.kind == DecisionKind::TimedOut => found(d),
            _ => None,
        },
        Op::Cutover { key, .. } => t.cutover(key).await?.map(Output::Date),
        // The others are rare (reversals and advices are repeated by the network until
        // acknowledged) or leave nothing to find by key: the caller treats them as unknown.
        _ => None,
    })
}

async fn expire<T: Tx>(t: &mut T, now: Timestamp, limit: usize) -> Result<usize> {
    let holds = t.expired_holds(now, limit).await?;
    let n = holds.len();
    for mut h in holds {
        let mut wallets = t.wallets(&h.account_id, true).await?;
        let w = wallet_mut(&mut wallets, &h.currency)?;
        w.held_minor -= h.held_minor;
        h.held_minor = 0;
        h.status = HoldStatus::Expired;
        t.update_wallet(w).await?;
        t.update_hold(&h).await?;
    }
    Ok(n)
}

async fn seed<T: Tx>(t: &mut T, s: &SeedData) -> Result<usize> {
    let mut inserted = 0;
    for a in &s.accounts {
        // Existing accounts keep their balances: seeding twice changes nothing.
        if t.insert_account(&a.id, &a.home_currency).await? {
            inserted += 1;
            for w in &a.wallets {
                t.insert_wallet(w).await?;
            }
        }
    }
    for c in &s.cards {
        t.insert_card(c).await?;
    }
    Ok(inserted)
}

/// Balance inquiry: card checks, then the wallets (read only; nothing recorded).
pub(crate) async fn balance<T: Tx>(
    t: &mut T,
    ctx: &Ctx,
    r: &BalanceRequest,
) -> Result<BalanceAnswer> {
    let card = t.card(&ctx.hasher.hash(&r.pan)).await?;
    if let Err(code) = decide::check_card(card.as_ref(), r.expiry.as_deref(), r.business_date) {
        return Ok(BalanceAnswer {
            response_code: code,
            home_currency: card.map(|c| c.home_currency).unwrap_or_default(),
            wallets: Vec::new(),
        });
    }
    let Some(card) = card else {
        return Err(LedgerError::corrupt("cards", "checked card vanished"));
    };
    let mut wallets = t.wallets(&card.account_id, false).await?;
    order_for_de54(&mut wallets, &card.home_currency);
    Ok(BalanceAnswer {
        response_code: ResponseCode::APPROVED,
        home_currency: card.home_currency,
        wallets,
    })
}

/// A broken invariant, described for a test failure or an operator.
pub(crate) async fn invariant_violations<T: Tx>(t: &mut T) -> Result<Vec<String>> {
    let wallets = t.all_wallets().await?;
    let holds = t.all_holds().await?;
    let mut out = Vec::new();
    for w in &wallets {
        let mine = holds
            .iter()
            .filter(|h| h.account_id == w.account_id && h.currency == w.currency);
        let active: i64 = mine
            .clone()
            .filter(|h| h.status == HoldStatus::Active)
            .map(|h| h.held_minor)
            .sum();
        let captured: i64 = mine.map(|h| h.captured_minor).sum();
        if w.held_minor != active {
            out.push(format!(
                "{}/{}: held {} but active holds sum to {active}",
                w.account_id, w.currency, w.held_minor
            ));
        }
        if w.balance_minor != w.opening_minor - captured {
            out.push(format!(
                "{}/{}: balance {} but opening {} - captured {captured}",
                w.account_id, w.currency, w.balance_minor, w.opening_minor
            ));
        }
        if w.held_minor < 0 {
            out.push(format!("{}/{}: negative held", w.account_id, w.currency));
        }
    }
    for h in &holds {
        if h.status != HoldStatus::Active && h.held_minor != 0 {
            out.push(format!(
                "hold {}: {} but holds {}",
                h.key,
                h.status.as_str(),
                h.held_minor
            ));
        }
    }
    Ok(out)
}
