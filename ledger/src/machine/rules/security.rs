//! Card security in the authorization rule (issue 23): the HSM's verdicts, computed before
//! the writer and carried by the request ([`crate::Security`]), decided on here with the PIN
//! try counter in the same transaction as the decision; and an operator's reset of the
//! counter.
//!
//! Order, after the card's own checks (unknown, expired, lost, stolen, blocked): the
//! application transaction counter of a verified ARQC (`crate::atc`): one the card has seen,
//! or older than its window, is a replayed cryptogram, refused with the card-check code (82)
//! before anything else counts, and moves nothing; a fresh one is taken here, and stays taken
//! whatever the decision (a decline for the PIN, the funds or the controls included: the
//! card counted it, the cryptogram verified, and the same cryptogram must not pass in another
//! message, as issuers do it). Then a PIN
//! presented to a card whose tries are exhausted is answered "tries exceeded" (75), whatever
//! the PIN; then a failed card check (CVV, iCVV, cryptogram: 82; CVV2: N7), which does not
//! count a PIN try (the card is not shown genuine); then the PIN: a wrong one counts a try
//! (the try that reaches the limit is answered 75, the others 55), a right one resets the
//! count to zero.

use jiff::Timestamp;

use super::State;
use crate::atc::AtcChange;
use crate::machine::events::Event;
use crate::pin::PinTriesChange;
use crate::{CardRecord, PinVerdict, ResponseCode, Result, Security, MAX_PIN_TRIES_LIMIT};

/// The refusal the security verdicts `s` make on `card`, if any; records the ATC window's
/// and the PIN try counter's new values.
pub(super) fn check(
    st: &mut State<'_>,
    s: &Security,
    now: Timestamp,
    card: &CardRecord,
) -> Result<Option<ResponseCode>> {
    if let Some(atc) = s.atc {
        let seq = crate::atc::sequence(s.atc_psn, atc);
        let Some(window) = st.atc(&card.id)?.accept(seq) else {
            return Ok(Some(s.card_check_code));
        };
        let change = AtcChange {
            card_id: card.id.clone(),
            window,
            at_us: now.as_microsecond(),
        };
        st.put_atc(&card.id, Some(change));
    }
    let policy = s.pin_policy;
    let max = policy.tries_max.clamp(1, MAX_PIN_TRIES_LIMIT);
    let tries = match s.pin {
        PinVerdict::Match | PinVerdict::Mismatch => st.pin_tries(&card.id)?,
        PinVerdict::NotChecked | PinVerdict::Unverifiable => None,
    };
    if tries.is_some_and(|t| t >= max) {
        return Ok(Some(policy.exceeded_code));
    }
    if let Some(code) = s.refusal {
        return Ok(Some(code));
    }
    let set = |st: &mut State<'_>, tries: u32| {
        st.put_pin_tries(PinTriesChange {
            card_id: card.id.clone(),
            tries,
            at_us: now.as_microsecond(),
            reset_by: None,
        })
    };
    Ok(match (s.pin, tries) {
        (PinVerdict::NotChecked, _) => None,
        (PinVerdict::Match, Some(t)) => {
            if t > 0 {
                set(st, 0);
            }
            None
        }
        // A PVV read before the writer whose row is gone now: nothing to verify against.
        (PinVerdict::Match, None) | (PinVerdict::Unverifiable, _) => Some(policy.wrong_code),
        (PinVerdict::Mismatch, Some(t)) => {
            let n = t.saturating_add(1);
            set(st, n);
            Some(if n >= max {
                policy.exceeded_code
            } else {
                policy.wrong_code
            })
        }
        (PinVerdict::Mismatch, None) => Some(policy.wrong_code),
    })
}

/// A PIN (and the card checks) presented with a request the ledger does not otherwise decide
/// (a balance inquiry): the same verdicts and counter as an authorization's, in the writer's
/// transaction. `None`: nothing refuses it (an unknown card is the inquiry's to answer).
pub(super) fn pin_try(
    st: &mut State<'_>,
    pan_hash: Option<&str>,
    s: &Security,
    now: Timestamp,
) -> Result<Option<ResponseCode>> {
    let pan_hash = pan_hash.ok_or_else(|| crate::LedgerError::corrupt("cards", "no PAN hash"))?;
    let Some(card) = st.card(pan_hash)?.cloned() else {
        return Ok(None);
    };
    check(st, s, now, &card)
}

/// An operator's reset of `card_id`'s PIN try counter: the count before (`None` when the
/// card has no PIN on record, and nothing changes).
pub(super) fn reset_pin_tries(
    st: &mut State<'_>,
    card_id: &str,
    actor: &str,
    now: Timestamp,
) -> Result<Option<u32>> {
    let Some(before) = st.pin_tries(card_id)? else {
        return Ok(None);
    };
    st.put_pin_tries(PinTriesChange {
        card_id: card_id.to_owned(),
        tries: 0,
        at_us: now.as_microsecond(),
        reset_by: Some(actor.to_owned()),
    });
    let account = st
        .snapshot()
        .pins
        .get(card_id)
        .and_then(Option::as_ref)
        .map(|p| p.account_id.clone());
    let masked = st.masked_of(card_id).map(str::to_owned);
    st.events.push(Event::card_updated(
        card_id,
        account.as_deref(),
        masked.as_deref(),
        format!("pin-tries-reset/{card_id}/{}", now.as_microsecond()),
        now,
    ));
    Ok(Some(before))
}
