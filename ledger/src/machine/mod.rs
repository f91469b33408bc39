//! The ledger as a state machine: prefetch, execute, commit (after TigerBeetle's).
//!
//! A batch of operations says what it needs (`needs.rs`: cards, decisions, holds, wallets by
//! key); the engine loads it once into a [`Snapshot`]; pure synchronous rules (`rules/`) turn
//! (state, operation) into an output and changes to the state; invariants are checked on the
//! changes (`invariants.rs`); and one commit driver (`driver.rs`) has the engine write the
//! batch's [`Effects`] in one transaction. The engines (`Engine`: SQLite, PostgreSQL, memory)
//! only load and write rows; the rules, the fast path, the isolation of a failing operation
//! and the failure of a whole batch exist once, here.

pub(crate) mod driver;
pub(crate) mod engine;
pub(crate) mod events;
mod execute;
pub(crate) mod invariants;
pub(crate) mod needs;
pub(crate) mod rules;
pub(crate) mod state;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use jiff::civil::Date;
use jiff::{SignedDuration, Timestamp};

pub(crate) use execute::execute;
pub(crate) use state::{Approvals, Effects, Snapshot, State};

use crate::{
    AdviceRequest, AuthRequest, CaptureRequest, Decision, LedgerError, NetworkKey, PanHasher,
    Quoter, Result, ReversalRequest, SeedData,
};

/// What every operation needs besides its request.
#[derive(Clone)]
pub(crate) struct Ctx {
    pub(crate) hasher: PanHasher,
    pub(crate) quoter: Arc<dyn Quoter>,
    pub(crate) hold_ttl: SignedDuration,
    /// Batch sizes, shared by the writer/workers and every clone of the store handle.
    pub(crate) stats: Arc<crate::stats::BatchStats>,
    /// Whether commits succeed (readiness), kept by the writer/workers.
    pub(crate) health: Arc<crate::health::CommitHealth>,
    /// Cards' security data read before the writer (issue 23), shared by every clone.
    pub(crate) security_cache: Arc<crate::pin::SecurityCache>,
    /// Card programs with a real-time decision hook (issue 22), replaced on reload
    /// ([`crate::Store::set_programs`]); read once per approval by the rules.
    pub(crate) programs: Arc<arc_swap::ArcSwap<crate::Programs>>,
}

/// A write operation queued for a store's writer. Requests are shared (`Arc`), so that the
/// caller keeps them when the writer takes the operation: to read its outcome back when the
/// answer is lost, or to void it.
#[derive(Clone, Debug)]
pub(crate) enum Op {
    Authorize(Arc<AuthRequest>),
    Reverse(Arc<ReversalRequest>),
    Advise(Arc<AdviceRequest>),
    Capture(Arc<CaptureRequest>),
    VoidTimedOut {
        key: NetworkKey,
        business_date: Date,
        now: Timestamp,
    },
    /// A void of this authorization request only: its decision, or none yet (a decision
    /// of another request under the same key is not its to void).
    VoidAuthorization {
        request: Arc<AuthRequest>,
        business_date: Date,
        now: Timestamp,
    },
    /// A write that proves the ledger commits (readiness when there is no traffic).
    Heartbeat {
        now: Timestamp,
    },
    Expire {
        now: Timestamp,
        limit: usize,
    },
    Seed(Arc<SeedData>),
    /// A PIN (and card checks) presented with a balance inquiry: the verdicts and the try
    /// counter as an authorization's (issue 23).
    PinTry {
        pan: crate::Pan,
        security: crate::Security,
        now: Timestamp,
    },
    /// An operator's reset of a card's PIN try counter (issue 23).
    ResetPinTries {
        card_id: String,
        /// The card's PAN hash, found by its id beforehand: loading the card names its
        /// account, which the batch locks (and numbers the `card.updated` event in).
        pan_hash: Option<String>,
        actor: String,
        now: Timestamp,
    },
    /// A business-date cutover asked for by the message with `key`; `current` is the
    /// asking instance's business date.
    Cutover {
        key: String,
        current: Date,
        now: Timestamp,
    },
    /// An operator's change to a card (status, controls), the card found by id beforehand
    /// (`pan_hash`): written under its account's lock like an authorization.
    ChangeCard {
        change: Arc<crate::CardChange>,
        pan_hash: String,
    },
    /// An operator's adjustment of a wallet's balance.
    Adjust(Arc<crate::Adjustment>),
    /// A clearing presentment (issue 24), with the decisions found beforehand by its DE 38
    /// on its card (checked again by the rule under the account's lock).
    Present {
        presentment: Arc<crate::Presentment>,
        candidates: Vec<NetworkKey>,
    },
    /// The mark of a clearing file imported whole (a row of `clearing_files`), with the
    /// number of its presentments; `key`: where ledgers from before marked it
    /// (`presentment::clearing_file_key`), still honoured.
    MarkClearingFile {
        file_id: String,
        key: NetworkKey,
        count: i64,
        business_date: Date,
        now: Timestamp,
    },
}

/// What a write operation returns.
#[derive(Debug)]
pub(crate) enum Output {
    Decision(Box<Decision>),
    /// An authorization of a card in a program: ask its hook, nothing recorded (issue 22).
    AskHook(Box<crate::HookQuery>),
    Count(usize),
    Date(Date),
    /// A card as it is after a change (`None`: no such card).
    Card(Option<Box<crate::CardRecord>>),
    /// An adjustment recorded (or found again).
    Adjustment(Box<crate::AdjustmentRecord>),
    /// A presentment posted (or found posted before).
    Presentment(Box<crate::PresentmentRecord>),
    /// A PIN counter's value before a reset (`None`: the card has no PIN on record).
    PinTries(Option<u32>),
    /// What refuses a PIN try (`None`: nothing).
    Refusal(Option<crate::ResponseCode>),
}

impl Output {
    pub(crate) fn decision(self) -> Result<Decision> {
        match self {
            Output::Decision(d) => Ok(*d),
            _ => Err(LedgerError::corrupt("ops", "expected a decision")),
        }
    }
    /// An authorization's outcome where hooks apply.
    pub(crate) fn authorized(self) -> Result<crate::Authorized> {
        match self {
            Output::Decision(d) => Ok(crate::Authorized::Decided(*d)),
            Output::AskHook(q) => Ok(crate::Authorized::AskHook(q)),
            _ => Err(LedgerError::corrupt("ops", "expected a decision")),
        }
    }
    pub(crate) fn count(self) -> Result<usize> {
        match self {
            Output::Count(n) => Ok(n),
            _ => Err(LedgerError::corrupt("ops", "expected a count")),
        }
    }
    pub(crate) fn card(self) -> Result<Option<crate::CardRecord>> {
        match self {
            Output::Card(c) => Ok(c.map(|c| *c)),
            _ => Err(LedgerError::corrupt("ops", "expected a card")),
        }
    }
    pub(crate) fn adjustment(self) -> Result<crate::AdjustmentRecord> {
        match self {
            Output::Adjustment(a) => Ok(*a),
            _ => Err(LedgerError::corrupt("ops", "expected an adjustment")),
        }
    }
    pub(crate) fn presentment(self) -> Result<crate::PresentmentRecord> {
        match self {
            Output::Presentment(p) => Ok(*p),
            _ => Err(LedgerError::corrupt("ops", "expected a presentment")),
        }
    }
    pub(crate) fn pin_tries(self) -> Result<Option<u32>> {
        match self {
            Output::PinTries(n) => Ok(n),
            _ => Err(LedgerError::corrupt("ops", "expected a PIN counter")),
        }
    }
    pub(crate) fn refusal(self) -> Result<Option<crate::ResponseCode>> {
        match self {
            Output::Refusal(c) => Ok(c),
            _ => Err(LedgerError::corrupt("ops", "expected a refusal")),
        }
    }
    pub(crate) fn date(self) -> Result<Date> {
        match self {
            Output::Date(d) => Ok(d),
            _ => Err(LedgerError::corrupt("ops", "expected a date")),
        }
    }
}

/// An operation with what is computed once per operation, by the caller, before it queues
/// it: the keyed hash of its card (an HMAC: the needs, the card lookup and the fingerprint all
/// use it) and an authorization's fingerprint (a SHA-256). Both are pure functions of the
/// request, so computing them on the caller's thread keeps them off the one writer, whose
/// time bounds the switch (measured: about a tenth of the writer's instructions).
#[derive(Debug, Clone)]
pub(crate) struct Prepared {
    pub(crate) op: Op,
    pub(crate) pan_hash: Option<String>,
    pub(crate) fingerprint: Option<String>,
}

impl Prepared {
    pub(crate) fn new(op: Op, ctx: &Ctx) -> Self {
        let pan = match &op {
            Op::Authorize(r) => Some(&r.pan),
            Op::Advise(r) => Some(&r.pan),
            Op::VoidAuthorization { request, .. } => Some(&request.pan),
            Op::Reverse(r) => r.pan.as_ref(),
            Op::PinTry { pan, .. } => Some(pan),
            Op::Present { presentment, .. } => Some(&presentment.pan),
            _ => None,
        };
        let pan_hash = pan.map(|p| ctx.hasher.hash(p));
        let fingerprint = rules::fingerprint(&op, pan_hash.as_deref());
        Prepared {
            op,
            pan_hash,
            fingerprint,
        }
    }
}
