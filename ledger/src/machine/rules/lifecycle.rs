//! What happens to decisions and holds besides the network's requests: voids of requests
//! answered 91, expiry of old holds, business-date cutovers, seeding.

use jiff::civil::Date;
use jiff::Timestamp;

use super::authorize;
use super::{hold_event, hold_wallet, minus, record, release_down_to, replay, same_request, State};
use crate::machine::events::{Event, EventKind};
use crate::{
    AuthRequest, Decision, DecisionKind, HoldStatus, LedgerError, NetworkKey, ResponseCode, Result,
    SeedData,
};

/// The gateway missed its deadline for `key`: with no decision yet, records a 91 so a late
/// authorization places no hold; an approval is turned into a 91 and its hold released.
pub(super) fn void_timed_out(
    st: &mut State<'_>,
    key: &NetworkKey,
    business_date: Date,
    now: Timestamp,
) -> Result<Decision> {
    match st.decision(key)?.cloned() {
        None => {
            let d = Decision::new(
                key.clone(),
                DecisionKind::TimedOut,
                ResponseCode::ISSUER_UNAVAILABLE,
                business_date,
                now,
            );
            Ok(record(st, d, None))
        }
        Some(mut d) if d.response_code.is_approval() && d.kind == DecisionKind::Authorization => {
            // Only an active hold is released: a captured one was completed by the network,
            // which means our answer did get through after all.
            if let Some(mut h) = st
                .hold(key)?
                .filter(|h| h.status == HoldStatus::Active)
                .cloned()
            {
                release_down_to(st, &mut h, 0, now)?;
            }
            d.kind = DecisionKind::TimedOut;
            d.response_code = ResponseCode::ISSUER_UNAVAILABLE;
            d.approval_code = None;
            d.approved_minor = 0;
            d.updated_at = now;
            d.replayed = false;
            Ok(record(st, d, Some(EventKind::AuthorizationDeclined)))
        }
        Some(d) => Ok(replay(d)),
    }
}

/// [`void_timed_out`] of `r`'s key, unless the decision there is another request's (a
/// message that reused the key): voiding that would take an approval's hold away from under
/// the answer its network received.
pub(super) fn void_authorization(
    st: &mut State<'_>,
    r: &AuthRequest,
    pan_hash: Option<&str>,
    fp: &str,
    business_date: Date,
    now: Timestamp,
) -> Result<Decision> {
    let pan_hash = pan_hash.ok_or_else(|| LedgerError::corrupt("cards", "no PAN hash"))?;
    if let Some(d) = st.decision(&r.key)? {
        if !same_request(d, &authorize::asked(r, fp, pan_hash)) {
            return Ok(replay(d.clone()));
        }
    }
    void_timed_out(st, &r.key, business_date, now)
}

/// Releases up to `limit` of the expired active holds the batch loaded.
pub(super) fn expire(st: &mut State<'_>, now: Timestamp, limit: usize) -> Result<usize> {
    let due: Vec<_> = st
        .snapshot()
        .expired
        .iter()
        .filter(|h| h.expires_at <= now)
        .map(|h| h.key.clone())
        .collect();
    let mut n = 0;
    for key in due {
        if n == limit {
            break;
        }
        // Another operation of the batch may have released or captured it meanwhile.
        let Some(mut h) = st
            .hold(&key)?
            .filter(|h| h.status == HoldStatus::Active)
            .cloned()
        else {
            continue;
        };
        let mut w = hold_wallet(st, &h)?;
        w.held_minor = minus(w.held_minor, h.held_minor)?;
        st.put_wallet(w)?;
        let released = h.held_minor;
        h.held_minor = 0;
        h.status = HoldStatus::Expired;
        let e = hold_event(st, EventKind::HoldExpired, &h, released, now);
        st.events.push(e);
        st.put_hold(h);
        n += 1;
    }
    Ok(n)
}

/// Inserts the accounts (with their wallets) and cards of `s` that are not there yet
/// (existing accounts keep their balances); returns how many accounts were added.
pub(super) fn seed(st: &mut State<'_>, s: &SeedData) -> Result<usize> {
    let mut inserted = 0;
    for a in &s.accounts {
        if !st.account_exists(&a.id)? {
            st.create_account(&a.id, a.home_currency, &a.wallets);
            if a.controls.is_some() {
                st.set_account_controls(&a.id, a.controls.clone());
            }
            inserted += 1;
        }
    }
    for c in &s.cards {
        st.create_card(c.clone());
    }
    for sec in &s.security {
        st.create_security(sec.clone());
    }
    Ok(inserted)
}

/// A cutover: the date recorded for `key` when this message was seen before (a
/// retransmission, to this instance or another); otherwise the day after the later of the
/// latest recorded cutover and `current`, recorded under `key`.
pub(super) fn cutover(
    st: &mut State<'_>,
    key: &str,
    current: Date,
    now: Timestamp,
) -> Result<Date> {
    if let Some(d) = st.cutover(key)? {
        return Ok(d);
    }
    let from = st.latest_cutover().map_or(current, |l| l.max(current));
    let next = from
        .tomorrow()
        .map_err(|_| LedgerError::invalid("business date", "no day after it"))?;
    st.put_cutover(key.to_owned(), next, now);
    st.events.push(Event::business_date(key, next, now));
    Ok(next)
}
