//! 0400/0420: "release the hold (partial when DE 95 is present); a reversal that arrives
//! before its original is remembered, and the late original places no hold."

use super::{known, minus, plus, record, release_down_to, repeat_or_duplicate, Asked, State};
use crate::machine::events::EventKind;
use crate::terms::Fingerprint;
use crate::{Decision, DecisionKind, ResponseCode, Result, ReversalRequest};

pub(super) fn fingerprint(pan_hash: Option<&str>, r: &ReversalRequest) -> String {
    Fingerprint::new("reverse", pan_hash, &r.terms)
        .text(Some(r.original.db_str()))
        .int(r.keep_minor.unwrap_or(0))
        .finish()
}

pub(super) fn reverse(
    st: &mut State<'_>,
    r: &ReversalRequest,
    pan_hash: Option<&str>,
    fp: &str,
) -> Result<Decision> {
    let own_record = r.key != r.original;
    if own_record {
        if let Some(stored) = st.decision(&r.key)?.cloned() {
            let asked = Asked {
                kind: DecisionKind::Reversal,
                fingerprint: fp,
                pan_hash,
                amount_minor: stored.amount_minor,
                currency: stored.currency,
                business_date: r.business_date,
                now: r.now,
            };
            return repeat_or_duplicate(st, &stored, asked);
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
    rec.fingerprint = Some(fp.to_owned());
    let keep_txn = r.keep_minor.unwrap_or(0).max(0);
    match st.decision(&r.original)?.is_some() {
        false => {
            // Remember the reversal so that the late original places no hold.
            let mut p = Decision::new(
                r.original.clone(),
                DecisionKind::ReversedBeforeOriginal,
                ResponseCode::INVALID_TRANSACTION,
                r.business_date,
                r.now,
            );
            p.original = Some(r.key.clone());
            record(st, p, None);
        }
        true => {
            let mut orig = known(st, &r.original)?;
            rec.account_id.clone_from(&orig.account_id);
            rec.currency.clone_from(&orig.currency);
            if let Some(mut h) = st.hold(&r.original)?.cloned() {
                // An original's incremental authorizations are one authorization with it
                // for the network: its reversal reverses them too (a full one releases all,
                // DE 95's actual amount is what stays of the cumulative total), as a
                // completion completes them together.
                let linked = if h.original.is_none() {
                    st.active_linked(&r.original)?
                } else {
                    Vec::new()
                };
                let mut total = orig.approved_minor;
                for l in &linked {
                    total = plus(total, l.txn_amount_minor)?;
                }
                rec.amount_minor = minus(total, keep_txn.min(total))?;
                // What stays is kept by the original first, then by the incrementals in
                // the order they were placed.
                let mut keep = keep_txn;
                let own = keep.min(orig.approved_minor);
                keep = minus(keep, own)?;
                release_down_to(st, &mut h, own, r.now)?;
                for mut l in linked {
                    let k = keep.min(l.txn_amount_minor);
                    keep = minus(keep, k)?;
                    release_down_to(st, &mut l, k, r.now)?;
                }
                orig.updated_at = r.now;
                orig.replayed = false;
                st.put_decision(orig);
            } else {
                rec.amount_minor = minus(orig.approved_minor, keep_txn.min(orig.approved_minor))?;
            }
        }
    }
    if own_record {
        return Ok(record(st, rec, Some(EventKind::ReversalRecorded)));
    }
    Ok(rec)
}
