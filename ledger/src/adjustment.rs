//! Adjustments: an operator's credit or debit of one wallet's balance (a goodwill credit, a
//! correction), idempotent by a key the caller chooses, recorded with who, when and why.

use jiff::Timestamp;
use money::Currency;

/// An adjustment asked for: `amount_minor` is signed (positive credits the wallet).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Adjustment {
    /// The account.
    pub account_id: String,
    /// The wallet's currency (the account must have a wallet in it).
    pub currency: Currency,
    /// Signed, minor units of `currency`; not zero.
    pub amount_minor: i64,
    /// The caller's key: the same key twice is one adjustment (per account).
    pub idempotency_key: String,
    /// Why (free text for people; never card data).
    pub reason: String,
    /// Who asked.
    pub actor: String,
    /// When.
    pub at: Timestamp,
}

/// An adjustment as recorded, and whether this call made it or found it (`replayed`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdjustmentRecord {
    /// What was asked, as first recorded.
    pub adjustment: Adjustment,
    /// The wallet's balance after it (as of this adjustment).
    pub balance_after_minor: i64,
    /// True when the key had been used before with the same terms: nothing moved now.
    pub replayed: bool,
}

impl Adjustment {
    /// The key the ledger stores it under: the account and the caller's key.
    pub(crate) fn db_key(&self) -> String {
        format!("{}/{}", self.account_id, self.idempotency_key)
    }

    /// Whether `other` asks for the same adjustment (a retry), not another under the key.
    pub(crate) fn same_terms(&self, other: &Adjustment) -> bool {
        self.account_id == other.account_id
            && self.currency == other.currency
            && self.amount_minor == other.amount_minor
            && self.reason == other.reason
    }
}
