//! The decision record kept per network key, and what the gateway answers from it.

use jiff::civil::Date;
use jiff::Timestamp;
use rust_decimal::Decimal;

use money::Currency;

use crate::{NetworkKey, ResponseCode};

/// What kind of message the record answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecisionKind {
    /// 0100/0200 decided here.
    Authorization,
    /// 0120/0220 posted as the network decided.
    Advice,
    /// A completion (0220 naming an approved authorization, or [`crate::Store::capture`]).
    Completion,
    /// 0400/0420 recorded under the reversal's own key.
    Reversal,
    /// Placeholder under an original's key whose reversal came first: the late original is
    /// answered 12 and places no hold.
    ReversedBeforeOriginal,
    /// Placeholder (or overwritten approval) under a key whose deadline passed: answered 91.
    TimedOut,
    /// Never stored under a key: the answer to a message that reused a decided key for
    /// another request (not a repeat, see [`crate::Terms`]). Its code is
    /// [`ResponseCode::DUPLICATE_TRANSMISSION`]; it is counted in `duplicates` and moves
    /// nothing.
    Duplicate,
}

impl DecisionKind {
    /// The word kept in the stores.
    pub fn as_str(self) -> &'static str {
        match self {
            DecisionKind::Authorization => "authorization",
            DecisionKind::Advice => "advice",
            DecisionKind::Completion => "completion",
            DecisionKind::Reversal => "reversal",
            DecisionKind::ReversedBeforeOriginal => "reversed_before_original",
            DecisionKind::TimedOut => "timed_out",
            DecisionKind::Duplicate => "duplicate",
        }
    }

    pub(crate) fn parse(s: &str) -> crate::Result<Self> {
        Ok(match s {
            "duplicate" => DecisionKind::Duplicate,
            "authorization" => DecisionKind::Authorization,
            "advice" => DecisionKind::Advice,
            "completion" => DecisionKind::Completion,
            "reversal" => DecisionKind::Reversal,
            "reversed_before_original" => DecisionKind::ReversedBeforeOriginal,
            "timed_out" => DecisionKind::TimedOut,
            _ => return Err(crate::LedgerError::corrupt("decisions", "unknown kind")),
        })
    }
}

/// The conversion applied when the home wallet paid for a foreign-currency transaction:
/// what the gateway puts in DE 6, DE 10 and DE 51.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Billing {
    /// DE 6, minor units of `currency`.
    pub amount_minor: i64,
    /// The home currency (DE 51 is its numeric code).
    pub currency: Currency,
    /// Full-precision rate, transaction currency -> home currency.
    pub rate: Decimal,
    /// DE 10, `ABBBBBBB`.
    pub de10: String,
    /// Rate-set version.
    pub version: String,
}

/// A recorded decision: everything needed to answer the request again, identically.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    /// The network key it is recorded under.
    pub key: NetworkKey,
    /// What it answers.
    pub kind: DecisionKind,
    /// DE 39.
    pub response_code: ResponseCode,
    /// DE 38 for approvals: 6 uppercase alphanumerics, unique per store.
    pub approval_code: Option<String>,
    /// The card's account, when the card was known.
    pub account_id: Option<String>,
    /// DE 4 as requested, minor units of `currency`.
    pub amount_minor: i64,
    /// DE 49 (`None` for placeholders that never saw the request).
    pub currency: Option<Currency>,
    /// The amount approved, in `currency`: equal to `amount_minor` unless partially
    /// approved (39=10), zero when declined.
    pub approved_minor: i64,
    /// Set when the home wallet paid through a conversion.
    pub billing: Option<Billing>,
    /// Currency of the wallet charged, when one was.
    pub wallet_currency: Option<Currency>,
    /// The original this record refers to (incremental, completion, reversal).
    pub original: Option<NetworkKey>,
    /// Business date of the decision.
    pub business_date: Date,
    /// When it was first recorded.
    pub created_at: Timestamp,
    /// When it last changed (a reversal or a deadline void changes an approval).
    pub updated_at: Timestamp,
    /// When its hold expires, if it placed one.
    pub expires_at: Option<Timestamp>,
    /// The card's id, for decisions on a known card (authorizations, advices).
    pub card_id: Option<String>,
    /// For a card in a program with a real-time decision hook: what its hook (or its
    /// stand-in) decided (issue 22).
    pub hook: Option<crate::HookOutcome>,
    /// The request's fingerprint (card and terms, see [`crate::Terms`]); `None` for
    /// placeholders and for decisions recorded before fingerprints were.
    pub(crate) fingerprint: Option<String>,
    /// True when this call found the record already stored (a repeat): the gateway answers
    /// it as it is, and no funds moved on this call.
    pub replayed: bool,
}

impl Decision {
    /// A fresh record with nothing approved, for the store to fill in.
    pub(crate) fn new(
        key: NetworkKey,
        kind: DecisionKind,
        response_code: ResponseCode,
        business_date: Date,
        now: Timestamp,
    ) -> Self {
        Decision {
            key,
            kind,
            response_code,
            approval_code: None,
            account_id: None,
            amount_minor: 0,
            currency: None,
            approved_minor: 0,
            billing: None,
            wallet_currency: None,
            original: None,
            business_date,
            created_at: now,
            updated_at: now,
            expires_at: None,
            card_id: None,
            hook: None,
            fingerprint: None,
            replayed: false,
        }
    }
}
