//! The rules: synchronous, pure functions of (state, context, operation) that return the
//! operation's output and change the state. No I/O, no clock (`now` and the business date are
//! in the requests), no database: the same rules run over SQLite, PostgreSQL and memory, and
//! are tested without any of them.
//!
//! One file per family: `authorize.rs` (0100/0200), `reverse.rs` (0400/0420), `advise.rs`
//! (0120/0220 and captures), `lifecycle.rs` (void, expire, cutover, heartbeat, seed),
//! `balance.rs` (balance inquiry, read-only). This file holds what they share: repeats and
//! duplicate transmissions, and moving money between a hold and its wallet.

mod admin;
mod advise;
mod authorize;
pub(crate) mod balance;
mod clearing;
mod controls;
mod hook;
mod lifecycle;
mod reverse;
mod security;

use jiff::civil::Date;
use jiff::Timestamp;

use super::events::{Event, EventKind};
use super::{Ctx, Op, Output, Prepared, State};
use money::Currency;

use crate::decide::{self, Funds};
use crate::{
    Billing, CardRecord, Decision, DecisionKind, DuplicateRecord, Hold, HoldStatus, LedgerError,
    NetworkKey, ResponseCode, Result, Wallet,
};

/// What makes a message under its key the same request (a repeat) rather than another one
/// reusing the key (a duplicate): a hash of its terms and what the operation is asked to do,
/// with the card's keyed hash. `None` for operations that are not network messages.
/// Computed once per request, before the writer ([`Prepared::new`]).
pub(crate) fn fingerprint(op: &Op, pan_hash: Option<&str>) -> Option<String> {
    match op {
        Op::Authorize(r) | Op::VoidAuthorization { request: r, .. } => {
            pan_hash.map(|h| authorize::fingerprint(h, r))
        }
        Op::Advise(r) => pan_hash.map(|h| advise::fingerprint(h, r)),
        Op::Reverse(r) => Some(reverse::fingerprint(pan_hash, r)),
        Op::Capture(r) => Some(advise::capture_fingerprint(r)),
        _ => None,
    }
}

/// Runs one operation over the state.
pub(crate) fn run(st: &mut State<'_>, ctx: &Ctx, p: &Prepared) -> Result<Output> {
    let pan_hash = p.pan_hash.as_deref();
    let fp = || {
        p.fingerprint
            .as_deref()
            .ok_or_else(|| LedgerError::corrupt("decisions", "a request without its fingerprint"))
    };
    Ok(match &p.op {
        Op::Authorize(r) => match authorize::authorize(st, ctx, r, pan_hash, fp()?)? {
            crate::Authorized::Decided(d) => Output::Decision(Box::new(d)),
            crate::Authorized::AskHook(q) => Output::AskHook(q),
        },
        Op::Reverse(r) => Output::Decision(Box::new(reverse::reverse(st, r, pan_hash, fp()?)?)),
        Op::Advise(r) => Output::Decision(Box::new(advise::advise(st, ctx, r, pan_hash, fp()?)?)),
        Op::Capture(r) => Output::Decision(Box::new(advise::capture(
            st,
            r,
            DecisionKind::Completion,
            fp()?,
        )?)),
        Op::VoidTimedOut {
            key,
            business_date,
            now,
        } => Output::Decision(Box::new(lifecycle::void_timed_out(
            st,
            key,
            *business_date,
            *now,
        )?)),
        Op::VoidAuthorization {
            request,
            business_date,
            now,
        } => Output::Decision(Box::new(lifecycle::void_authorization(
            st,
            request,
            pan_hash,
            fp()?,
            *business_date,
            *now,
        )?)),
        Op::Heartbeat { now } => {
            st.heartbeat(*now);
            Output::Count(1)
        }
        Op::Expire { now, limit } => Output::Count(lifecycle::expire(st, *now, *limit)?),
        Op::Seed(s) => Output::Count(lifecycle::seed(st, s)?),
        Op::PinTry { security, now, .. } => {
            Output::Refusal(security::pin_try(st, pan_hash, security, *now)?)
        }
        Op::ResetPinTries {
            card_id,
            actor,
            now,
            ..
        } => Output::PinTries(security::reset_pin_tries(st, card_id, actor, *now)?),
        Op::Cutover { key, current, now } => {
            Output::Date(lifecycle::cutover(st, key, *current, *now)?)
        }
        Op::ChangeCard { change, pan_hash } => {
            Output::Card(admin::change_card(st, change, pan_hash)?.map(Box::new))
        }
        Op::Adjust(a) => Output::Adjustment(Box::new(admin::adjust(st, a)?)),
        Op::Present {
            presentment,
            candidates,
        } => Output::Presentment(Box::new(clearing::present(
            st,
            ctx,
            presentment,
            candidates,
            pan_hash,
        )?)),
        Op::MarkClearingFile {
            file_id,
            key,
            count,
            business_date,
            now,
        } => Output::Count(usize::from(clearing::mark_file(
            st,
            file_id,
            key,
            *count,
            *business_date,
            *now,
        )?)),
    })
}

/// What `op` left in the ledger, read back when its answer was lost (the writer stopped, or
/// PostgreSQL's `COMMIT` failed on the way back): the decision it made, when the one under
/// its key is this request's, answered as a repeat would be. `None` when nothing of it is
/// there, or when the operation leaves nothing to find by key.
pub(crate) fn read_back(st: &State<'_>, p: &Prepared) -> Result<Option<Output>> {
    let found = |d: &Decision| Some(Output::Decision(Box::new(replay(d.clone()))));
    Ok(match &p.op {
        Op::Authorize(r) => {
            let (Some(pan_hash), Some(fp)) = (p.pan_hash.as_deref(), p.fingerprint.as_deref())
            else {
                return Ok(None);
            };
            match st.decision(&r.key)? {
                Some(d) if same_request(d, &authorize::asked(r, fp, pan_hash)) => found(d),
                _ => None,
            }
        }
        Op::VoidTimedOut { key, .. } => match st.decision(key)? {
            Some(d) if d.kind == DecisionKind::TimedOut => found(d),
            _ => None,
        },
        Op::VoidAuthorization { request, .. } => match st.decision(&request.key)? {
            Some(d) if d.kind == DecisionKind::TimedOut => found(d),
            _ => None,
        },
        Op::Cutover { key, .. } => st.cutover(key)?.map(Output::Date),
        // The others are rare (reversals and advices are repeated by the network until
        // acknowledged) or leave nothing to find by key: the caller treats them as unknown.
        _ => None,
    })
}

fn replay(mut d: Decision) -> Decision {
    d.replayed = true;
    d
}

/// `a + b` for amounts that move: an overflow fails the operation, never wraps.
fn plus(a: i64, b: i64) -> Result<i64> {
    money::add(a, b).map_err(|_| LedgerError::invalid("amount", "arithmetic overflow"))
}

/// `a - b`, checked as [`plus`].
fn minus(a: i64, b: i64) -> Result<i64> {
    money::sub(a, b).map_err(|_| LedgerError::invalid("amount", "arithmetic overflow"))
}

/// A message under a key that already has a decision, as it asks to be taken.
struct Asked<'a> {
    kind: DecisionKind,
    fingerprint: &'a str,
    /// The card's keyed hash, when the message names a card (to record its account).
    pan_hash: Option<&'a str>,
    amount_minor: i64,
    currency: Option<Currency>,
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
fn repeat_or_duplicate(
    st: &mut State<'_>,
    stored: &Decision,
    asked: Asked<'_>,
) -> Result<Decision> {
    if same_request(stored, &asked) {
        return Ok(replay(stored.clone()));
    }
    let account_id = match asked.pan_hash {
        Some(h) => st.card(h)?.map(|c| c.account_id.clone()),
        None => None,
    };
    let record = DuplicateRecord {
        key: stored.key.clone(),
        kind: asked.kind,
        account_id: account_id.clone(),
        amount_minor: asked.amount_minor,
        currency: asked.currency,
        first_at: asked.now,
        last_at: asked.now,
        times: 1,
    };
    st.record_duplicate(record, asked.fingerprint.to_owned());
    let mut d = Decision::new(
        stored.key.clone(),
        DecisionKind::Duplicate,
        ResponseCode::DUPLICATE_TRANSMISSION,
        asked.business_date,
        asked.now,
    );
    d.account_id = account_id;
    d.amount_minor = asked.amount_minor;
    d.currency = asked.currency;
    d.fingerprint = Some(asked.fingerprint.to_owned());
    d.replayed = true;
    Ok(d)
}

/// Records `d` (new, or its new state) and the event it makes.
fn record(st: &mut State<'_>, d: Decision, kind: Option<EventKind>) -> Decision {
    record_on(st, d, kind, None)
}

/// [`record`], naming the card for the event when the decision does not (a declined card).
fn record_on(
    st: &mut State<'_>,
    d: Decision,
    kind: Option<EventKind>,
    card: Option<&CardRecord>,
) -> Decision {
    if let Some(kind) = kind {
        let card = card.or_else(|| d.card_id.as_deref().and_then(|id| st.card_by_id(id)));
        let mut e = Event::decision(kind, &d, card);
        name_masked(st, &mut e);
        st.events.push(e);
    }
    st.put_decision(d.clone());
    d
}

/// Posts `amount` to `account` without a hold and without a decline (an advice the network
/// decided, a presentment nothing authorized): the wallet an authorization would use, or,
/// when nothing covers it, the transaction currency's (made if missing) goes negative.
/// Returns the wallet's currency, the amount posted in it and the conversion, if any.
fn force_post(
    st: &mut State<'_>,
    ctx: &Ctx,
    account: &str,
    home: Currency,
    amount_minor: i64,
    currency: Currency,
) -> Result<(Currency, i64, Option<Billing>)> {
    let wallets = st.wallets(account)?;
    let (wallet_currency, posted, billing) = match decide::decide_funds(
        amount_minor,
        currency,
        false,
        home,
        &wallets,
        ctx.quoter.as_ref(),
    ) {
        Funds::Approve {
            wallet_currency,
            hold_minor,
            billing,
            ..
        } => (wallet_currency, hold_minor, billing),
        Funds::Decline(_) => (currency, amount_minor, None),
    };
    let mut w = wallets
        .into_iter()
        .find(|w| w.currency == wallet_currency)
        .unwrap_or_else(|| Wallet {
            account_id: account.to_owned(),
            currency: wallet_currency,
            balance_minor: 0,
            held_minor: 0,
            overdraft_minor: 0,
            opening_minor: 0,
        });
    w.balance_minor = minus(w.balance_minor, posted)?;
    st.put_wallet(w)?;
    Ok((wallet_currency, posted, billing))
}

/// The event of a hold's change, with its card when the batch knows it (its counted card, or
/// the card of the decision that placed it).
fn hold_event(
    st: &State<'_>,
    kind: EventKind,
    h: &Hold,
    wallet_minor: i64,
    at: Timestamp,
) -> Event {
    let card_id = h
        .counted
        .as_ref()
        .map(|c| c.card_id.clone())
        .or_else(|| {
            st.decision(&h.key)
                .ok()
                .flatten()
                .and_then(|d| d.card_id.clone())
        })
        .or_else(|| st.card_of_key(&h.key).map(str::to_owned));
    let card = card_id.as_deref().and_then(|id| st.card_by_id(id));
    let mut e = Event::hold(kind, h, card, wallet_minor, at);
    if e.card_id.is_none() {
        e.card_id = card_id;
    }
    name_masked(st, &mut e);
    e
}

/// Gives `e` the masked PAN of its card when the card it was made with gave none: a card the
/// batch did not load by PAN, looked up for its events ([`State::masked_of`]).
fn name_masked(st: &State<'_>, e: &mut Event) {
    if e.pan_masked.is_none() {
        e.pan_masked = e
            .card_id
            .as_deref()
            .and_then(|id| st.masked_of(id))
            .map(str::to_owned);
    }
}

/// The wallet `h` holds on.
fn hold_wallet(st: &State<'_>, h: &Hold) -> Result<Wallet> {
    st.wallet(&h.account_id, h.currency)?.ok_or_else(|| {
        LedgerError::corrupt("wallets", format!("no {} wallet for hold", h.currency))
    })
}

/// Lowers a hold (or, once captured, the captured amount) to `keep_txn` of the transaction
/// currency, moving the difference back to the wallet. Idempotent: it sets, not subtracts.
fn release_down_to(st: &mut State<'_>, h: &mut Hold, keep_txn: i64, at: Timestamp) -> Result<()> {
    let keep = h.wallet_amount(keep_txn).max(0);
    let held_before = h.held_minor;
    let mut w = hold_wallet(st, h)?;
    match h.status {
        HoldStatus::Active if keep < h.held_minor => {
            controls::give_back(st, h, h.held_minor, keep)?;
            w.held_minor = minus(w.held_minor, minus(h.held_minor, keep)?)?;
            h.held_minor = keep;
            if keep == 0 {
                h.status = HoldStatus::Released;
            }
        }
        // A reversal of a captured amount refunds it: one of the three ways the balance moves.
        HoldStatus::Captured if keep < h.captured_minor => {
            controls::give_back(st, h, h.captured_minor, keep)?;
            w.balance_minor = plus(w.balance_minor, minus(h.captured_minor, keep)?)?;
            h.captured_minor = keep;
        }
        _ => return Ok(()),
    }
    st.put_wallet(w)?;
    if h.status == HoldStatus::Released {
        let e = hold_event(st, EventKind::HoldReleased, h, held_before, at);
        st.events.push(e);
    }
    st.put_hold(h.clone());
    Ok(())
}

/// A key's decision when it must exist (the rules found it before).
fn known(st: &State<'_>, key: &NetworkKey) -> Result<Decision> {
    st.decision(key)?
        .cloned()
        .ok_or_else(|| LedgerError::corrupt("decisions", "checked decision vanished"))
}
