//! A message that reused a decided key for another request, as the ledger counts it.

use jiff::Timestamp;
use money::Currency;

use crate::{DecisionKind, NetworkKey};

/// One kind of duplicate transmission under a key: the request it asked for (its
/// fingerprint differs from the decision's), when it came first and last, and how often.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DuplicateRecord {
    /// The key it reused.
    pub key: NetworkKey,
    /// What it asked for (authorization, advice, reversal, completion).
    pub kind: DecisionKind,
    /// Its card's account, when the card was known.
    pub account_id: Option<String>,
    /// Its DE 4, minor units of `currency`.
    pub amount_minor: i64,
    /// Its DE 49 (`None` for a reversal, which carries none the ledger reads).
    pub currency: Option<Currency>,
    /// When it first arrived.
    pub first_at: Timestamp,
    /// When it last arrived.
    pub last_at: Timestamp,
    /// How many times it arrived.
    pub times: i64,
}
