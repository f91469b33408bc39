//! Operators' changes (the operations API): a card's status and its own spend controls.
//!
//! A change is an operation of the batch like an authorization: it reads the card under its
//! account's lock and writes it in the same transaction as its audit rows, so the very next
//! authorization of the card, on this instance or another, decides on the new values, and
//! the ledger says who changed what, when, from what to what.

use rand::Rng;

use super::State;
use crate::machine::events::Event;
use crate::{
    Adjustment, AdjustmentRecord, CardAudit, CardChange, CardRecord, Controls, LedgerError, Result,
    MAX_AMOUNT_MINOR,
};

/// Applies `change` to the card whose PAN hash is `pan_hash` (found by its id beforehand).
/// `None` when there is no such card, or when the card under that hash is not the one named
/// (it cannot be: ids are unique; a stale lookup is treated as unknown).
pub(super) fn change_card(
    st: &mut State<'_>,
    change: &CardChange,
    pan_hash: &str,
) -> Result<Option<CardRecord>> {
    let Some(card) = st.card(pan_hash)?.filter(|c| c.id == change.card_id) else {
        return Ok(None);
    };
    if let Some(Some(c)) = &change.controls {
        c.validate()
            .map_err(|reason| LedgerError::invalid("controls", reason))?;
    }
    let mut next = card.clone();
    let mut audit = Vec::new();
    let mut record = |field: &str, before: String, after: String| {
        if before != after {
            audit.push(CardAudit {
                id: format!(
                    "{}/{}/{field}/{:016x}",
                    change.card_id,
                    change.at.as_microsecond(),
                    rand::rng().random::<u64>()
                ),
                card_id: change.card_id.clone(),
                at: change.at,
                actor: change.actor.clone(),
                field: field.to_owned(),
                before,
                after,
            });
        }
    };
    if let Some(status) = change.status {
        record(
            "status",
            json_str(card.status.as_str()),
            json_str(status.as_str()),
        );
        next.status = status;
    }
    if let Some(own) = &change.controls {
        record(
            "controls",
            controls_json(card.own_controls.as_ref())?,
            controls_json(own.as_ref())?,
        );
        let account = card.account_controls.clone();
        next = next.with_controls(own.clone(), account.as_deref());
    }
    if let Some(first) = audit.first() {
        let event = Event::card_updated(
            &next.id,
            Some(&next.account_id),
            Some(&next.masked),
            first.id.clone(),
            change.at,
        );
        st.change_card(next.clone(), audit);
        st.events.push(event);
    }
    Ok(Some(next))
}

fn json_str(s: &str) -> String {
    serde_json::Value::String(s.to_owned()).to_string()
}

fn controls_json(c: Option<&Controls>) -> Result<String> {
    serde_json::to_string(&c).map_err(|_| LedgerError::invalid("controls", "not serializable"))
}

/// Records an operator's adjustment of a wallet's balance, once per key: a retry with the
/// same terms gets the record back (`replayed`) and moves nothing; the key reused for other
/// terms is refused (`Invalid` on `idempotency_key`).
pub(super) fn adjust(st: &mut State<'_>, a: &Adjustment) -> Result<AdjustmentRecord> {
    if let Some(found) = st.adjustment(&a.db_key())? {
        if found.adjustment.same_terms(a) {
            let mut again = found.clone();
            again.replayed = true;
            return Ok(again);
        }
        return Err(LedgerError::invalid(
            "idempotency_key",
            "already used for another adjustment of this account",
        ));
    }
    if a.amount_minor == 0 || a.amount_minor.unsigned_abs() > MAX_AMOUNT_MINOR.unsigned_abs() {
        return Err(LedgerError::invalid(
            "amount_minor",
            "must be a non-zero amount of at most 999,999,999,999 minor units either way",
        ));
    }
    let Some(mut w) = st.wallet(&a.account_id, a.currency)? else {
        return Err(LedgerError::invalid(
            "currency",
            "the account has no wallet in this currency",
        ));
    };
    w.balance_minor = super::plus(w.balance_minor, a.amount_minor)?;
    let record = AdjustmentRecord {
        adjustment: a.clone(),
        balance_after_minor: w.balance_minor,
        replayed: false,
    };
    st.put_wallet(w)?;
    st.events.push(Event::adjusted(&record));
    st.put_adjustment(record.clone());
    Ok(record)
}
