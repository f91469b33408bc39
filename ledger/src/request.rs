//! What the gateway asks of the ledger, one struct per operation. Each carries `now` and the
//! business date as arguments so that decisions are reproducible in tests.

use jiff::civil::Date;
use jiff::Timestamp;
use money::Currency;

use crate::{NetworkKey, Pan, ResponseCode, Terms};

/// Largest amount DE 4 can carry: "n 12".
pub const MAX_AMOUNT_MINOR: i64 = 999_999_999_999;

/// DE 3 positions 1-2 for the financial requests the ledger holds funds for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransactionKind {
    /// `00xxxx`.
    Purchase,
    /// `01xxxx`.
    Cash,
}

impl TransactionKind {
    /// The word kept in the stores.
    pub fn as_str(self) -> &'static str {
        match self {
            TransactionKind::Purchase => "purchase",
            TransactionKind::Cash => "cash",
        }
    }
}

/// 0100/0200: decide, and place a hold when approved.
#[derive(Clone, Debug)]
pub struct AuthRequest {
    /// `(DE 32, DE 11, DE 7)` of this request.
    pub key: NetworkKey,
    /// The data elements that make a repeat of this request the same request (see
    /// [`Terms`]): a later message under `key` with other terms is a duplicate transmission.
    pub terms: Terms,
    /// DE 2, used only to compute the keyed hash and compare the last four.
    pub pan: Pan,
    /// DE 14 (YYMM) when present: a mismatch with the card's expiry is declined 54.
    pub expiry: Option<String>,
    /// Purchase or cash.
    pub kind: TransactionKind,
    /// DE 4, minor units of `currency`.
    pub amount_minor: i64,
    /// DE 49 as an alpha code ("USD").
    pub currency: Currency,
    /// Whether the acquirer accepts a partial approval (39=10).
    pub allow_partial: bool,
    /// For an incremental authorization: the approved original named by DE 90.
    pub original: Option<NetworkKey>,
    /// Where and how the card is used (DE 18, 19, 22, 25, 43), for the spend controls.
    pub merchant: crate::Merchant,
    /// What the HSM checks found (PIN, CVV, CVV2, cryptogram), decided on in the writer's
    /// transaction ([`crate::Security::default`]: nothing checked).
    pub security: crate::Security,
    /// For a card in a program with a real-time decision hook (issue 22): its hook's verdict,
    /// asked once our own checks would approve ([`crate::Authorized::AskHook`]). `None` for
    /// every other card (a verdict given for a card in no program is ignored).
    pub hook: Option<crate::HookVerdict>,
    /// The switch's business date (DE 15).
    pub business_date: Date,
    /// Wall-clock time of the decision.
    pub now: Timestamp,
}

/// 0400/0420: release a hold in full, or down to the actual amount of DE 95.
#[derive(Clone, Debug)]
pub struct ReversalRequest {
    /// `(DE 32, DE 11, DE 7)` of the reversal message itself.
    pub key: NetworkKey,
    /// The data elements that make a repeat of this request the same request (see
    /// [`Terms`]): a later message under `key` with other terms is a duplicate transmission.
    pub terms: Terms,
    /// The original, from DE 90.
    pub original: NetworkKey,
    /// DE 95 "actual transaction amount", minor units of the original's currency: the hold
    /// keeps this much and releases the rest. `None` (or 0) reverses in full.
    pub keep_minor: Option<i64>,
    /// Business date.
    pub business_date: Date,
    /// Wall-clock time.
    pub now: Timestamp,
    /// DE 2 when the reversal carries it. Not used to decide anything (the original does
    /// that); the PostgreSQL store sends the reversal to the connection that serves its
    /// card, so that it joins the card's batches instead of taking the account's lock from
    /// another connection.
    pub pan: Option<Pan>,
}

/// 0120/0220: a decision taken elsewhere (stand-in) that the ledger must post.
#[derive(Clone, Debug)]
pub struct AdviceRequest {
    /// `(DE 32, DE 11, DE 7)` of the advice.
    pub key: NetworkKey,
    /// The data elements that make a repeat of this request the same request (see
    /// [`Terms`]): a later message under `key` with other terms is a duplicate transmission.
    pub terms: Terms,
    /// DE 2.
    pub pan: Pan,
    /// DE 4.
    pub amount_minor: i64,
    /// DE 49 as an alpha code.
    pub currency: Currency,
    /// DE 39 the network answered on our behalf; only approvals post funds.
    pub response_code: ResponseCode,
    /// DE 38 from the network, if any.
    pub approval_code: Option<String>,
    /// DE 90's original: when it names an approved authorization this advice is its
    /// completion and captures the hold.
    pub original: Option<NetworkKey>,
    /// Business date.
    pub business_date: Date,
    /// Wall-clock time.
    pub now: Timestamp,
}

/// A completion of an approved authorization for an amount that may differ from the hold.
#[derive(Clone, Debug)]
pub struct CaptureRequest {
    /// Key of the completion message (idempotency).
    pub key: NetworkKey,
    /// The data elements that make a repeat of this request the same request (see
    /// [`Terms`]): a later message under `key` with other terms is a duplicate transmission.
    pub terms: Terms,
    /// The authorization being completed.
    pub original: NetworkKey,
    /// Final amount in minor units of the original's transaction currency.
    pub amount_minor: i64,
    /// Business date.
    pub business_date: Date,
    /// Wall-clock time.
    pub now: Timestamp,
}

/// Balance inquiry (DE 3 `31xxxx`): card checks, then the wallets.
#[derive(Clone, Debug)]
pub struct BalanceRequest {
    /// DE 2.
    pub pan: Pan,
    /// DE 14 when present.
    pub expiry: Option<String>,
    /// Business date.
    pub business_date: Date,
}
