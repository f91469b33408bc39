//! What must hold of every change a batch makes, checked on the changes before anything is
//! written (in release builds too): a violation fails the operation (or the batch) with a
//! logged error, answered 91, and nothing of it is written.
//!
//! The ledger-wide invariants are `held = sum of the active holds` and `balance = opening -
//! sum of the captured amounts + sum of the adjustments` per wallet, and every hold has an approving decision. They
//! hold before a batch (the previous batches kept them), so it is enough that each batch's
//! *changes* keep them: per wallet changed, the change of `held` equals the change of its
//! holds' active amounts, and the change of `balance` minus the change of their captured
//! amounts; every hold the batch places has its approval in the same batch (or, for a
//! completion's or an advice's posting, a recorded decision of its own). A posting placed
//! captured at once (a forced advice, a clearing presentment: issue 24) captures exactly its
//! amount.

use std::collections::HashMap;

use money::Currency;

use super::State;
use crate::{Hold, HoldStatus, LedgerError, Result};

fn active(h: Option<&Hold>) -> i64 {
    h.filter(|h| h.status == HoldStatus::Active)
        .map_or(0, |h| h.held_minor)
}

fn captured(h: Option<&Hold>) -> i64 {
    h.map_or(0, |h| h.captured_minor)
}

/// Checks the changes of `after` against what it was built on (`before`: the snapshot, or
/// the state before one operation when it is checked alone).
pub(crate) fn check(before: &State<'_>, after: &State<'_>) -> Result<()> {
    // Per wallet: (change of held, change of -captured) its holds made.
    let mut by_wallet: HashMap<(String, Currency), (i128, i128)> = HashMap::new();
    let (holds, wallets) = after.changed();
    for h in holds {
        // A hold `before` did not load cannot have existed: its key had no decision.
        let was = before.hold(&h.key).ok().flatten().cloned();
        let e = by_wallet
            .entry((h.account_id.clone(), h.currency))
            .or_default();
        e.0 += i128::from(active(Some(h))) - i128::from(active(was.as_ref()));
        e.1 += i128::from(captured(Some(h))) - i128::from(captured(was.as_ref()));
        if h.status != HoldStatus::Active && h.held_minor != 0 {
            return Err(violation(format!(
                "hold {}: {} but holds {}",
                h.key,
                h.status.as_str(),
                h.held_minor
            )));
        }
        if h.held_minor < 0 || h.captured_minor < 0 {
            return Err(violation(format!("hold {}: negative amount", h.key)));
        }
        // A posting placed captured at once (a forced advice, a clearing presentment) moves
        // exactly its amount: nothing held, nothing more or less captured.
        if was.is_none()
            && h.status == HoldStatus::Captured
            && (h.captured_minor != h.amount_minor || h.held_minor != 0)
        {
            return Err(violation(format!(
                "posting {}: captured {} of {}",
                h.key, h.captured_minor, h.amount_minor
            )));
        }
        if was.is_none() {
            match after.decision(&h.key) {
                Ok(Some(d)) if d.response_code.is_approval() => {}
                _ => {
                    return Err(violation(format!(
                        "hold {} without an approving decision",
                        h.key
                    )))
                }
            }
        }
    }
    // An adjustment moves its wallet's balance by its amount: as much as a capture of
    // minus that amount would.
    for a in &after.new_adjustments()[before.new_adjustments().len()..] {
        let adj = &a.adjustment;
        by_wallet
            .entry((adj.account_id.clone(), adj.currency))
            .or_default()
            .1 -= i128::from(adj.amount_minor);
    }
    for w in wallets {
        // An account `before` did not lock is one the batch created (seeding).
        let was = before.wallet(&w.account_id, w.currency).ok().flatten();
        let (held0, bal0) = was
            .as_ref()
            .map_or((0, 0), |x| (x.held_minor, x.balance_minor));
        let (dh, dc) = by_wallet
            .remove(&(w.account_id.clone(), w.currency))
            .unwrap_or_default();
        if i128::from(w.held_minor) - i128::from(held0) != dh {
            return Err(violation(format!(
                "{}/{}: held moved by {} but its active holds by {dh}",
                w.account_id,
                w.currency,
                i128::from(w.held_minor) - i128::from(held0)
            )));
        }
        // A wallet created by seeding brings its opening balance.
        let created = was.is_none() && w.opening_minor != 0;
        if !created && i128::from(w.balance_minor) - i128::from(bal0) != -dc {
            return Err(violation(format!(
                "{}/{}: balance moved by {} but captured amounts by {dc}",
                w.account_id,
                w.currency,
                i128::from(w.balance_minor) - i128::from(bal0)
            )));
        }
        if w.held_minor < 0 {
            return Err(violation(format!(
                "{}/{}: negative held",
                w.account_id, w.currency
            )));
        }
    }
    // Holds changed on a wallet the batch did not change.
    if let Some(((a, c), (dh, dc))) = by_wallet.into_iter().find(|(_, (h, c))| *h != 0 || *c != 0) {
        return Err(violation(format!(
            "{a}/{c}: its holds moved (held {dh}, captured {dc}) but the wallet did not"
        )));
    }
    Ok(())
}

fn violation(what: String) -> LedgerError {
    tracing::error!(invariant = %what, "ledger invariant violated: the operation is refused, nothing of it is written");
    LedgerError::corrupt("invariant", what)
}

/// The ledger-wide invariants over every wallet and hold (a consistent read of both), one
/// line per violation: for audits (`gateway check-ledger`) and tests.
pub(crate) fn violations(
    wallets: &[crate::Wallet],
    holds: &[Hold],
    adjusted: &[(String, Currency, i128)],
) -> Vec<String> {
    let mut out = Vec::new();
    let mut by_wallet: HashMap<(&str, Currency), (i128, i128)> = HashMap::new();
    for (account, currency, sum) in adjusted {
        by_wallet
            .entry((account.as_str(), *currency))
            .or_default()
            .1 -= *sum;
    }
    for h in holds {
        let e = by_wallet
            .entry((h.account_id.as_str(), h.currency))
            .or_default();
        e.0 += i128::from(active(Some(h)));
        e.1 += i128::from(h.captured_minor);
        if h.status != HoldStatus::Active && h.held_minor != 0 {
            out.push(format!(
                "hold {}: {} but holds {}",
                h.key,
                h.status.as_str(),
                h.held_minor
            ));
        }
    }
    for w in wallets {
        let (active, captured) = by_wallet
            .get(&(w.account_id.as_str(), w.currency))
            .copied()
            .unwrap_or_default();
        if i128::from(w.held_minor) != active {
            out.push(format!(
                "{}/{}: held {} but active holds sum to {active}",
                w.account_id, w.currency, w.held_minor
            ));
        }
        if i128::from(w.balance_minor) != i128::from(w.opening_minor) - captured {
            out.push(format!(
                "{}/{}: balance {} but opening {} - captured + adjusted {captured}",
                w.account_id, w.currency, w.balance_minor, w.opening_minor
            ));
        }
        if w.held_minor < 0 {
            out.push(format!("{}/{}: negative held", w.account_id, w.currency));
        }
    }
    out
}
