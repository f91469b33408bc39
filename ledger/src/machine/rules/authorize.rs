//! 0100/0200: "validate, find the card, pay from the wallet in the transaction currency when
//! it covers the amount, else convert from the home wallet at the fee-free rate; approval 00
//! with a unique DE 38", and the incremental authorization naming its original in DE 90.

use super::hook::{self, Gate};
use super::{
    controls, plus, record, record_on, repeat_or_duplicate, security, Asked, EventKind, State,
};
use crate::decide::{self, Funds};
use crate::machine::Ctx;
use crate::terms::Fingerprint;
use crate::{
    approval_code, AuthRequest, Authorized, ControlsResult, Decision, DecisionKind, Hold,
    HoldStatus, LedgerError, NetworkKey, ResponseCode, Result, TransactionKind,
};

/// What makes a message under this key the same authorization.
pub(super) fn fingerprint(pan_hash: &str, r: &AuthRequest) -> String {
    Fingerprint::new("authorize", Some(pan_hash), &r.terms)
        .text(Some(r.kind.as_str()))
        .int(r.amount_minor)
        .text(Some(r.currency.as_str()))
        .text(r.expiry.as_deref())
        .text(r.original.as_ref().map(NetworkKey::db_str))
        .int(i64::from(r.allow_partial))
        .finish()
}

pub(super) fn asked<'a>(r: &'a AuthRequest, fp: &'a str, pan_hash: &'a str) -> Asked<'a> {
    Asked {
        kind: DecisionKind::Authorization,
        fingerprint: fp,
        pan_hash: Some(pan_hash),
        amount_minor: r.amount_minor,
        currency: Some(r.currency),
        business_date: r.business_date,
        now: r.now,
    }
}

fn declined(st: &mut State<'_>, mut d: Decision, code: ResponseCode) -> Decision {
    d.response_code = code;
    record(st, d, Some(EventKind::AuthorizationDeclined))
}

/// The authorization: decided and recorded, or, for a card in a program with a hook and no
/// verdict yet, sent back to ask it (nothing recorded: see `hook.rs`).
pub(super) fn authorize(
    st: &mut State<'_>,
    ctx: &Ctx,
    r: &AuthRequest,
    pan_hash: Option<&str>,
    fp: &str,
) -> Result<Authorized> {
    let decided = |d: Decision| Ok(Authorized::Decided(d));
    let pan_hash = pan_hash.ok_or_else(|| LedgerError::corrupt("cards", "no PAN hash"))?;
    if let Some(stored) = st.decision(&r.key)?.cloned() {
        return decided(repeat_or_duplicate(st, &stored, asked(r, fp, pan_hash))?);
    }
    let mut d = Decision::new(
        r.key.clone(),
        DecisionKind::Authorization,
        ResponseCode::APPROVED,
        r.business_date,
        r.now,
    );
    d.amount_minor = r.amount_minor;
    d.currency = Some(r.currency);
    d.original = r.original.clone();
    d.fingerprint = Some(fp.to_owned());
    if let Err(code) = decide::check_amount(r.amount_minor) {
        return decided(declined(st, d, code));
    }
    let card = st.card(pan_hash)?.cloned();
    if let Err(code) = decide::check_card(card.as_ref(), r.expiry.as_deref(), r.business_date) {
        // On the card's record too: an operator sees the declines of a blocked card.
        d.card_id = card.as_ref().map(|c| c.id.clone());
        d.account_id = card.as_ref().map(|c| c.account_id.clone());
        d.response_code = code;
        let kind = Some(EventKind::AuthorizationDeclined);
        return decided(record_on(st, d, kind, card.as_ref()));
    }
    let Some(card) = card else {
        return Err(LedgerError::corrupt("cards", "checked card vanished"));
    };
    d.account_id = Some(card.account_id.clone());
    d.card_id = Some(card.id.clone());
    // Asking the hook records nothing: the counter this check takes is given back then.
    let atc_before = st.atc_change(&card.id);
    if let Some(code) = security::check(st, &r.security, r.now, &card)? {
        return decided(declined(st, d, code));
    }
    if let Some(orig) = &r.original {
        // "A further 0100 with its own key whose DE 90 names an approved original": anything
        // else (unknown, declined, reversed, another account) is an invalid transaction.
        let ok = match st.decision(orig)? {
            Some(o) => {
                o.response_code.is_approval()
                    && o.account_id.as_deref() == Some(card.account_id.as_str())
                    && st
                        .hold(orig)?
                        .is_some_and(|h| h.status == HoldStatus::Active)
            }
            None => false,
        };
        if !ok {
            return decided(declined(st, d, ResponseCode::INVALID_TRANSACTION));
        }
    }
    let cash = r.kind == TransactionKind::Cash;
    let limits = match card.controls.as_deref() {
        None => None,
        Some(c) => match controls::check(st, ctx, r, &card, c, cash)? {
            Ok(l) => Some(l),
            Err(code) => return decided(declined(st, d, code)),
        },
    };
    let wallets = st.wallets(&card.account_id)?;
    let funds = decide::decide_funds(
        r.amount_minor,
        r.currency,
        r.allow_partial,
        card.home_currency,
        &wallets,
        ctx.quoter.as_ref(),
    );
    let controls_result = match limits {
        Some(_) => ControlsResult::Passed,
        None => ControlsResult::None,
    };
    let funds = match hook::gate(ctx, r, &card, &wallets, funds, controls_result) {
        Gate::Proceed(funds, outcome) => {
            d.hook = outcome;
            funds
        }
        Gate::Decline(code, outcome) => {
            d.hook = Some(outcome);
            return decided(declined(st, d, code));
        }
        Gate::Ask(query) => {
            st.put_atc(&card.id, atc_before);
            return Ok(Authorized::AskHook(query));
        }
    };
    match funds {
        Funds::Decline(code) => decided(declined(st, d, code)),
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
            let mut w = wallets
                .into_iter()
                .find(|w| w.currency == wallet_currency)
                .ok_or_else(|| LedgerError::corrupt("wallets", "no wallet for hold"))?;
            w.held_minor = plus(w.held_minor, hold_minor)?;
            st.put_wallet(w)?;
            let counted = match (&limits, card.controls.as_deref()) {
                (Some(l), Some(c)) => {
                    let home = l.approved_home(
                        r.amount_minor,
                        approved_minor,
                        billing.as_ref().map(|b| b.amount_minor),
                        (wallet_currency == card.home_currency).then_some(hold_minor),
                    )?;
                    controls::count(st, r, &card, c, l, home)?
                }
                _ => None,
            };
            st.put_hold(Hold {
                key: r.key.clone(),
                original: r.original.clone(),
                account_id: card.account_id.clone(),
                currency: wallet_currency,
                amount_minor: hold_minor,
                held_minor: hold_minor,
                captured_minor: 0,
                txn_amount_minor: approved_minor,
                txn_currency: r.currency,
                status: HoldStatus::Active,
                business_date: r.business_date,
                rate_version: billing.as_ref().map(|b| b.version.clone()),
                created_at: r.now,
                expires_at,
                counted,
            });
            d.response_code = if partial {
                ResponseCode::PARTIAL_APPROVAL
            } else {
                ResponseCode::APPROVED
            };
            d.approval_code = Some(approval_code(st.next_approval_number()?));
            d.approved_minor = approved_minor;
            d.billing = billing;
            d.wallet_currency = Some(wallet_currency);
            d.expires_at = Some(expires_at);
            decided(record(st, d, Some(EventKind::AuthorizationApproved)))
        }
    }
}
