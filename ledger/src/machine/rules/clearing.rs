//! Clearing (issue 24): a presentment posted against the authorization it clears, or forced
//! when it clears none, and the mark of a clearing file imported whole.
//!
//! Matching: the authorizations the caller found beforehand by DE 38 on the card
//! (`Store::present`) are checked again here, under the account's lock: approved, on this
//! card, in the presentment's currency, within the date window, and for an amount the
//! presentment may clear (at most the hold plus the MCC's tip tolerance). The first that
//! fits, an active hold before one already gone, is cleared:
//!
//! - equal: the hold becomes the posting (matched);
//! - less, DE 24 = 200 (final): the posting, and the rest of the hold released (partial);
//! - less, DE 24 = 282 (split shipment): the posting, the rest stays held for the next;
//! - more, within the tolerance: the whole hold, and the posting of the larger amount (over);
//! - its hold already expired, released or cleared: the posting alone (matched, `late`).
//!
//! Nothing fits: a forced post to the card's account (the same wallet choice as a forced
//! advice). A foreign-currency presentment posts at today's fee-free rate (the quoter), and
//! the difference from the same amount at the hold's rate is shown.

use money::Currency;

use super::{force_post, minus, record_on, State};
use crate::decide;
use crate::machine::events::{Event, EventKind};
use crate::machine::Ctx;
use crate::presentment::{ClearingOutcome, Presentment, PresentmentKind, PresentmentRecord};
use crate::{
    Billing, CardRecord, Decision, DecisionKind, Hold, HoldStatus, LedgerError, NetworkKey,
    ResponseCode, Result,
};

/// Posts `p` (see the module's comment). `candidates`: the decisions found by DE 38 on its
/// card beforehand.
pub(super) fn present(
    st: &mut State<'_>,
    ctx: &Ctx,
    p: &Presentment,
    candidates: &[NetworkKey],
    pan_hash: Option<&str>,
) -> Result<PresentmentRecord> {
    let key = p.key()?;
    let mut rec = PresentmentRecord {
        outcome: ClearingOutcome::Rejected,
        key: key.clone(),
        matched: None,
        account_id: None,
        posted_minor: 0,
        wallet_currency: None,
        consumed_minor: 0,
        released_minor: 0,
        fx_difference_minor: None,
        late: false,
        reason: None,
    };
    if let Some(d) = st.decision(&key)? {
        rec.outcome = ClearingOutcome::Duplicate;
        rec.matched.clone_from(&d.original);
        rec.account_id.clone_from(&d.account_id);
        rec.wallet_currency = d.wallet_currency;
        return Ok(rec);
    }
    if decide::check_amount(p.amount_minor).is_err() || p.amount_minor == 0 {
        rec.reason = Some("amount out of range".into());
        return Ok(rec);
    }
    let pan_hash = pan_hash.ok_or_else(|| LedgerError::corrupt("cards", "no PAN hash"))?;
    let Some(card) = st.card(pan_hash)?.cloned() else {
        rec.reason = Some("unknown card".into());
        return Ok(rec);
    };
    rec.account_id = Some(card.account_id.clone());
    let found = find_hold(st, p, &card, candidates)?;
    let mut d = Decision::new(
        key.clone(),
        DecisionKind::Completion,
        ResponseCode::APPROVED,
        p.business_date,
        p.now,
    );
    d.account_id = Some(card.account_id.clone());
    d.card_id = Some(card.id.clone());
    d.amount_minor = p.amount_minor;
    d.currency = Some(p.currency);
    d.approved_minor = p.amount_minor;
    d.approval_code.clone_from(&p.approval_code);
    d.fingerprint = Some(fingerprint(p));
    let (currency, posted, billing) = match found {
        Some(h) => {
            let (currency, posted, billing) = clear_hold(st, ctx, p, h, &mut rec)?;
            d.original = rec.matched.clone();
            (currency, posted, billing)
        }
        None => {
            d.kind = DecisionKind::Advice;
            rec.outcome = ClearingOutcome::Forced;
            force_post(
                st,
                ctx,
                &card.account_id,
                card.home_currency,
                p.amount_minor,
                p.currency,
            )?
        }
    };
    rec.posted_minor = posted;
    rec.wallet_currency = Some(currency);
    // The posting, kept as a hold captured at once under the presentment's key.
    st.put_hold(Hold {
        key: key.clone(),
        original: None,
        account_id: card.account_id.clone(),
        currency,
        amount_minor: posted,
        held_minor: 0,
        captured_minor: posted,
        txn_amount_minor: p.amount_minor,
        txn_currency: p.currency,
        status: HoldStatus::Captured,
        business_date: p.business_date,
        rate_version: billing.as_ref().map(|b| b.version.clone()),
        created_at: p.now,
        expires_at: p.now,
        counted: None,
    });
    d.billing = billing;
    d.wallet_currency = Some(currency);
    let d = record_on(st, d, None, Some(&card));
    let mut e = Event::decision(EventKind::ClearingPosted, &d, Some(&card));
    e.wallet_amount = Some((posted, currency));
    st.events.push(e);
    Ok(rec)
}

/// The authorization hold `p` clears, if one fits: active ones first, then those already
/// gone (a late presentment), newest first within each.
fn find_hold(
    st: &State<'_>,
    p: &Presentment,
    card: &CardRecord,
    candidates: &[NetworkKey],
) -> Result<Option<Hold>> {
    let Some(code) = p.approval_code.as_deref() else {
        return Ok(None);
    };
    let mut fits: Vec<Hold> = Vec::new();
    for k in candidates {
        let Some(d) = st.decision(k)? else { continue };
        let ok = d.kind == DecisionKind::Authorization
            && d.response_code.is_approval()
            && d.approval_code.as_deref() == Some(code)
            && d.card_id.as_deref() == Some(card.id.as_str())
            && d.currency == Some(p.currency);
        if !ok {
            continue;
        }
        let Some(h) = st.hold(k)?.cloned() else {
            continue;
        };
        if let Some(date) = p.txn_date {
            let gap = (h.business_date - date).get_days().abs();
            let gap_created = (h.created_at.to_zoned(jiff::tz::TimeZone::UTC).date() - date)
                .get_days()
                .abs();
            if i64::from(gap.min(gap_created)) > p.window_days {
                continue;
            }
        }
        if h.status == HoldStatus::Active {
            let most = tolerance(remaining_txn(&h), p.over_bp);
            if p.amount_minor > most {
                continue;
            }
        }
        fits.push(h);
    }
    fits.sort_by_key(|h| {
        (
            h.status != HoldStatus::Active,
            std::cmp::Reverse(h.created_at),
        )
    });
    Ok(fits.into_iter().next())
}

/// What a hold still holds, in its transaction currency.
fn remaining_txn(h: &Hold) -> i64 {
    if h.held_minor == h.amount_minor {
        h.txn_amount_minor
    } else {
        decide::pro_rata(h.held_minor, h.txn_amount_minor, h.amount_minor)
    }
}

/// `amount` plus `bp` basis points of it (rounded down).
fn tolerance(amount: i64, bp: u32) -> i64 {
    let extra = i128::from(amount) * i128::from(bp) / 10_000;
    amount.saturating_add(i64::try_from(extra).unwrap_or(i64::MAX))
}

/// Clears `h` by `p`: the wallet's held amount and balance, the hold's rest; returns the
/// wallet's currency, the amount posted and the conversion (foreign currency).
fn clear_hold(
    st: &mut State<'_>,
    ctx: &Ctx,
    p: &Presentment,
    mut h: Hold,
    rec: &mut PresentmentRecord,
) -> Result<(Currency, i64, Option<Billing>)> {
    rec.matched = Some(h.key.clone());
    // What the amount is at the hold's rate, and at today's.
    let at_hold_rate = h.wallet_amount(p.amount_minor);
    let (posted, billing) = if h.currency == p.currency {
        (p.amount_minor, None)
    } else {
        match ctx.quoter.quote(
            u64::try_from(p.amount_minor).unwrap_or(0),
            p.currency,
            h.currency,
        ) {
            Ok(q) => {
                let minor = i64::try_from(q.amount_minor)
                    .map_err(|_| LedgerError::invalid("amount", "conversion overflow"))?;
                let b = Billing {
                    amount_minor: minor,
                    currency: q.currency,
                    rate: q.rate,
                    de10: q.de10,
                    version: q.version,
                };
                rec.fx_difference_minor = Some(minus(minor, at_hold_rate)?);
                (minor, Some(b))
            }
            // No rate today: at the hold's rate, which the hold was approved at.
            Err(_) => (at_hold_rate, None),
        }
    };
    let mut w = st.wallet(&h.account_id, h.currency)?.ok_or_else(|| {
        LedgerError::corrupt("wallets", format!("no {} wallet for hold", h.currency))
    })?;
    if h.status != HoldStatus::Active || h.held_minor == 0 {
        rec.late = true;
        rec.outcome = ClearingOutcome::Matched;
    } else {
        let remaining = remaining_txn(&h);
        let held = h.held_minor;
        let consumed = if p.amount_minor >= remaining {
            held
        } else {
            at_hold_rate.min(held)
        };
        let keep = if p.kind == PresentmentKind::Partial {
            minus(held, consumed)?
        } else {
            0
        };
        let released = minus(minus(held, consumed)?, keep)?;
        rec.outcome = if p.amount_minor == remaining {
            ClearingOutcome::Matched
        } else if p.amount_minor < remaining {
            ClearingOutcome::Partial
        } else {
            ClearingOutcome::Over
        };
        if released > 0 {
            // The released rest is no longer spent: the controls give it back.
            super::controls::give_back(st, &mut h, held, minus(held, released)?)?;
        }
        w.held_minor = minus(w.held_minor, minus(held, keep)?)?;
        h.held_minor = keep;
        if keep == 0 {
            h.status = HoldStatus::Captured;
        }
        rec.consumed_minor = consumed;
        rec.released_minor = released;
        st.put_hold(h.clone());
    }
    w.balance_minor = minus(w.balance_minor, posted)?;
    st.put_wallet(w)?;
    Ok((h.currency, posted, billing))
}

fn fingerprint(p: &Presentment) -> String {
    crate::terms::Fingerprint::new("presentment", None, &crate::Terms::default())
        .text(Some(&p.arn))
        .text(Some(p.kind.function_code()))
        .int(p.amount_minor)
        .text(Some(p.currency.as_str()))
        .finish()
}

/// Marks the clearing file under `key` imported: `Ok(true)` when this call marked it,
/// `Ok(false)` when it was marked before.
pub(super) fn mark_file(
    st: &mut State<'_>,
    file_id: &str,
    legacy: &NetworkKey,
    count: i64,
    business_date: jiff::civil::Date,
    now: jiff::Timestamp,
) -> Result<bool> {
    // Marked in `clearing_files`, or, by a ledger from before that table, as a decision
    // under its synthetic key.
    if st.clearing_file(file_id)?.is_some() || st.decision(legacy)?.is_some() {
        return Ok(false);
    }
    st.put_clearing_file(crate::ClearingFileMark {
        file_id: file_id.to_owned(),
        presentments: count,
        business_date,
        at: now,
    });
    Ok(true)
}
