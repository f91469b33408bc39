//! Authorization holds: funds reserved on a wallet until captured, reversed or expired.

use jiff::civil::Date;
use jiff::Timestamp;
use money::Currency;

use crate::NetworkKey;

/// Default life of a hold: "they expire after a configurable period (default 7 days)".
pub const DEFAULT_HOLD_TTL_SECS: i64 = 7 * 24 * 3600;

/// Where a hold is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HoldStatus {
    /// Reserving `held_minor` on its wallet.
    Active,
    /// Reversed in full.
    Released,
    /// Completed (or force-posted by an advice): `captured_minor` left the balance.
    Captured,
    /// Released by [`crate::Store::expire`] after `expires_at`.
    Expired,
}

impl HoldStatus {
    /// The word kept in the stores.
    pub fn as_str(self) -> &'static str {
        match self {
            HoldStatus::Active => "active",
            HoldStatus::Released => "released",
            HoldStatus::Captured => "captured",
            HoldStatus::Expired => "expired",
        }
    }

    pub(crate) fn parse(s: &str) -> crate::Result<Self> {
        Ok(match s {
            "active" => HoldStatus::Active,
            "released" => HoldStatus::Released,
            "captured" => HoldStatus::Captured,
            "expired" => HoldStatus::Expired,
            _ => return Err(crate::LedgerError::corrupt("holds", "unknown status")),
        })
    }
}

/// One hold, keyed by the decision that placed it: a key has at most one hold.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hold {
    /// The decision that placed it.
    pub key: NetworkKey,
    /// For an incremental authorization: the original it extends.
    pub original: Option<NetworkKey>,
    /// Account of the wallet.
    pub account_id: String,
    /// Currency of the wallet held on.
    pub currency: Currency,
    /// Amount first held, minor units of `currency`.
    pub amount_minor: i64,
    /// Amount held now (after partial reversals); 0 unless active.
    pub held_minor: i64,
    /// Amount posted to the balance by a capture or an advice.
    pub captured_minor: i64,
    /// The transaction amount behind it (DE 4), minor units of `txn_currency`.
    pub txn_amount_minor: i64,
    /// DE 49 alpha.
    pub txn_currency: Currency,
    /// Status.
    pub status: HoldStatus,
    /// Business date it was placed on.
    pub business_date: Date,
    /// Rate-set version when it was converted.
    pub rate_version: Option<String>,
    /// When placed.
    pub created_at: Timestamp,
    /// When [`crate::Store::expire`] may release it.
    pub expires_at: Timestamp,
    /// What the spend controls counted for it: the card, the amount (home currency) and the
    /// counters it was added to; given back when the hold is released by a reversal or a
    /// void. `None` when nothing was counted.
    pub counted: Option<Counted>,
}

/// The part of an approval the spend controls counted ([`Hold::counted`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Counted {
    /// The card's id.
    pub card_id: String,
    /// Minor units of the home currency still counted (less what was given back).
    pub minor: i64,
    /// The period counters it is in (`D2026-12-05`, `M2026-12`, `C2026-12-05`).
    pub periods: Vec<String>,
}

impl Hold {
    /// Re-expresses a transaction-currency amount in the wallet's currency at the rate the
    /// hold was placed at (exact when the currencies are the same).
    pub(crate) fn wallet_amount(&self, txn_minor: i64) -> i64 {
        if self.currency == self.txn_currency || self.txn_amount_minor == 0 {
            txn_minor
        } else {
            crate::decide::pro_rata(txn_minor, self.amount_minor, self.txn_amount_minor)
        }
    }
}
