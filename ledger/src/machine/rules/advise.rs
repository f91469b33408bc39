//! 0120/0220: "advices (stand-in decisions, completions) are recorded even though the switch
//! did not decide them"; a 0220 naming an approved authorization in DE 90 completes it
//! (capture), and captures are also asked for directly.

use super::{force_post, hold_wallet, minus, record, repeat_or_duplicate, Asked, State};
use crate::decide;
use crate::machine::events::EventKind;
use crate::machine::Ctx;
use crate::terms::Fingerprint;
use crate::{
    AdviceRequest, CaptureRequest, Decision, DecisionKind, Hold, HoldStatus, LedgerError,
    NetworkKey, ResponseCode, Result,
};

pub(super) fn fingerprint(pan_hash: &str, r: &AdviceRequest) -> String {
    Fingerprint::new("advise", Some(pan_hash), &r.terms)
        .int(r.amount_minor)
        .text(Some(r.currency.as_str()))
        .text(Some(r.response_code.as_str()))
        .text(r.approval_code.as_deref())
        .text(r.original.as_ref().map(NetworkKey::db_str))
        .finish()
}

/// The fingerprint of a direct [`crate::Store::capture`].
pub(super) fn capture_fingerprint(r: &CaptureRequest) -> String {
    Fingerprint::new("capture", None, &r.terms)
        .text(Some(r.original.db_str()))
        .int(r.amount_minor)
        .finish()
}

pub(super) fn advise(
    st: &mut State<'_>,
    ctx: &Ctx,
    r: &AdviceRequest,
    pan_hash: Option<&str>,
    fp: &str,
) -> Result<Decision> {
    let pan_hash = pan_hash.ok_or_else(|| LedgerError::corrupt("cards", "no PAN hash"))?;
    if let Some(stored) = st.decision(&r.key)?.cloned() {
        let asked = Asked {
            kind: DecisionKind::Advice,
            fingerprint: fp,
            pan_hash: Some(pan_hash),
            amount_minor: r.amount_minor,
            currency: Some(r.currency),
            business_date: r.business_date,
            now: r.now,
        };
        return repeat_or_duplicate(st, &stored, asked);
    }
    if let Some(orig) = &r.original {
        let approved = st
            .decision(orig)?
            .is_some_and(|o| o.response_code.is_approval());
        let active = st
            .hold(orig)?
            .is_some_and(|h| h.status == HoldStatus::Active);
        if approved && active && r.response_code.is_approval() {
            let c = CaptureRequest {
                key: r.key.clone(),
                terms: r.terms.clone(),
                original: orig.clone(),
                amount_minor: r.amount_minor,
                business_date: r.business_date,
                now: r.now,
            };
            return capture(st, &c, DecisionKind::Completion, fp);
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
    d.currency = Some(r.currency);
    d.original = r.original.clone();
    d.approval_code = r.approval_code.clone();
    d.fingerprint = Some(fp.to_owned());
    let card = st.card(pan_hash)?.cloned();
    let postable = r.response_code.is_approval() && decide::check_amount(r.amount_minor).is_ok();
    let Some(card) = card.filter(|_| postable) else {
        // A declined advice, or one for a card we do not know, is recorded and moves nothing.
        return Ok(record(st, d, Some(EventKind::AdviceRecorded)));
    };
    d.account_id = Some(card.account_id.clone());
    d.card_id = Some(card.id.clone());
    let (currency, posted, billing) = force_post(
        st,
        ctx,
        &card.account_id,
        card.home_currency,
        r.amount_minor,
        r.currency,
    )?;
    // The posting is kept as a hold captured at once, so that a later 0420 finds it and the
    // balance stays `opening - sum(captured)`.
    st.put_hold(Hold {
        key: r.key.clone(),
        original: r.original.clone(),
        account_id: card.account_id.clone(),
        currency,
        amount_minor: posted,
        held_minor: 0,
        captured_minor: posted,
        txn_amount_minor: r.amount_minor,
        txn_currency: r.currency,
        status: HoldStatus::Captured,
        business_date: r.business_date,
        rate_version: billing.as_ref().map(|b| b.version.clone()),
        created_at: r.now,
        expires_at: r.now,
        // A stand-in decision the network made is not counted by our controls.
        counted: None,
    });
    d.approved_minor = r.amount_minor;
    d.billing = billing;
    d.wallet_currency = Some(currency);
    Ok(record(st, d, Some(EventKind::AdviceRecorded)))
}

/// A completion for `r`; `fp` is the fingerprint of the message asking for it (an advice's
/// includes its card, a direct capture's only its terms).
pub(super) fn capture(
    st: &mut State<'_>,
    r: &CaptureRequest,
    kind: DecisionKind,
    fp: &str,
) -> Result<Decision> {
    if let Some(stored) = st.decision(&r.key)?.cloned() {
        let asked = Asked {
            kind,
            fingerprint: fp,
            pan_hash: None,
            amount_minor: r.amount_minor,
            currency: stored.currency,
            business_date: r.business_date,
            now: r.now,
        };
        return repeat_or_duplicate(st, &stored, asked);
    }
    if r.amount_minor < 0 || r.amount_minor > crate::request::MAX_AMOUNT_MINOR {
        return Err(LedgerError::invalid(
            "DE 4",
            "completion amount out of range",
        ));
    }
    let approved = st
        .decision(&r.original)?
        .is_some_and(|o| o.response_code.is_approval());
    let mut main = match st.hold(&r.original)? {
        Some(h) if approved && h.status == HoldStatus::Active => h.clone(),
        _ => return Err(LedgerError::NoHold(r.original.to_string())),
    };
    let linked = st.active_linked(&r.original)?;
    // The completion replaces the original and its incremental holds by one posting of the
    // final amount, converted at the rate the original was held at.
    let posted = main.wallet_amount(r.amount_minor);
    for mut h in linked {
        let mut w = hold_wallet(st, &h)?;
        w.held_minor = minus(w.held_minor, h.held_minor)?;
        st.put_wallet(w)?;
        h.held_minor = 0;
        h.status = HoldStatus::Captured;
        st.put_hold(h);
    }
    let mut w = hold_wallet(st, &main)?;
    w.held_minor = minus(w.held_minor, main.held_minor)?;
    w.balance_minor = minus(w.balance_minor, posted)?;
    st.put_wallet(w)?;
    main.held_minor = 0;
    main.captured_minor = posted;
    main.status = HoldStatus::Captured;
    let e = super::hold_event(st, EventKind::HoldCaptured, &main, posted, r.now);
    st.events.push(e);
    st.put_hold(main.clone());
    let mut d = Decision::new(
        r.key.clone(),
        kind,
        ResponseCode::APPROVED,
        r.business_date,
        r.now,
    );
    d.account_id = Some(main.account_id.clone());
    d.amount_minor = r.amount_minor;
    d.currency = Some(main.txn_currency);
    d.approved_minor = r.amount_minor;
    d.wallet_currency = Some(main.currency);
    d.original = Some(r.original.clone());
    d.fingerprint = Some(fp.to_owned());
    Ok(record(st, d, None))
}
