//! What happened, one event per ledger change: the rules emit them with the rows they change,
//! and the commit driver turns them into outbox rows (`crate::outbox`) written by the engine
//! in the same transaction, so that the event stream (issue 20) publishes exactly what was
//! committed.
//!
//! An event carries what its CloudEvents `data` needs, taken from the rows the rule had in
//! hand (the decision, the hold, the card): the outbox renders it once, at commit, and never
//! reads the ledger again to enrich it.

use jiff::civil::Date;
use jiff::Timestamp;
use money::Currency;

use crate::{AdjustmentRecord, Billing, CardRecord, Decision, Hold, NetworkKey, ResponseCode};

/// The kinds the event contract names (DESIGN.md, "Events").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum EventKind {
    AuthorizationApproved,
    AuthorizationDeclined,
    HoldReleased,
    HoldExpired,
    HoldCaptured,
    ReversalRecorded,
    AdviceRecorded,
    BusinessDateChanged,
    /// A card changed (issue 23: its PIN try counter reset by an operator).
    CardUpdated,
    /// An operator's adjustment moved a wallet's balance (issue 21).
    AccountAdjusted,
    /// A clearing presentment posted (issue 24).
    ClearingPosted,
}

impl EventKind {
    /// The CloudEvents `type`.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            EventKind::AuthorizationApproved => "authorization.approved",
            EventKind::AuthorizationDeclined => "authorization.declined",
            EventKind::HoldReleased => "hold.released",
            EventKind::HoldExpired => "hold.expired",
            EventKind::HoldCaptured => "hold.captured",
            EventKind::ReversalRecorded => "reversal.recorded",
            EventKind::AdviceRecorded => "advice.recorded",
            EventKind::BusinessDateChanged => "business_date.changed",
            EventKind::CardUpdated => "card.updated",
            EventKind::AccountAdjusted => "account.adjusted",
            EventKind::ClearingPosted => "clearing.posted",
        }
    }
}

/// An amount as the event shows it: `{"minor": int, "currency": "USD"}`.
pub(crate) type Amount = (i64, Currency);

/// One ledger change, with what its `data` says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Event {
    pub(crate) kind: EventKind,
    /// The account it concerns (the event stream's message key), when there is one.
    pub(crate) account: Option<String>,
    /// The decision or hold it is about.
    pub(crate) key: Option<NetworkKey>,
    /// What makes the event's id unique when it has no key (a cutover's message key).
    pub(crate) name: Option<String>,
    pub(crate) at: Timestamp,
    pub(crate) card_id: Option<String>,
    /// First six and last four digits: never the PAN.
    pub(crate) pan_masked: Option<String>,
    pub(crate) business_date: Option<Date>,
    /// The transaction amount (DE 4 and DE 49).
    pub(crate) amount: Option<Amount>,
    /// The amount approved, in the transaction currency (decisions).
    pub(crate) approved: Option<Amount>,
    /// The amount in the wallet's currency held, posted or released (holds).
    pub(crate) wallet_amount: Option<Amount>,
    pub(crate) billing: Option<Billing>,
    /// The rate set a hold was converted at (holds; a decision's is in its billing).
    pub(crate) rate_set: Option<String>,
    pub(crate) response_code: Option<ResponseCode>,
    pub(crate) approval_code: Option<String>,
    /// The original a reversal, completion or incremental refers to.
    pub(crate) original: Option<NetworkKey>,
    /// The wallet's balance after the change (adjustments).
    pub(crate) balance: Option<Amount>,
    /// What a card program's hook (or its stand-in) decided (issue 22).
    pub(crate) hook: Option<crate::HookOutcome>,
}

impl Event {
    fn bare(kind: EventKind, at: Timestamp) -> Self {
        Event {
            kind,
            account: None,
            key: None,
            name: None,
            at,
            card_id: None,
            pan_masked: None,
            business_date: None,
            amount: None,
            approved: None,
            wallet_amount: None,
            billing: None,
            rate_set: None,
            response_code: None,
            approval_code: None,
            original: None,
            balance: None,
            hook: None,
        }
    }

    /// A decision recorded or changed; `card` when the rule knew it.
    pub(crate) fn decision(kind: EventKind, d: &Decision, card: Option<&CardRecord>) -> Self {
        let mut e = Event::bare(kind, d.updated_at);
        e.account.clone_from(&d.account_id);
        e.key = Some(d.key.clone());
        e.card_id = d.card_id.clone().or_else(|| card.map(|c| c.id.clone()));
        e.pan_masked = card.map(|c| c.masked.clone());
        e.business_date = Some(d.business_date);
        e.amount = d.currency.map(|c| (d.amount_minor, c));
        e.approved = d.currency.map(|c| (d.approved_minor, c));
        e.billing.clone_from(&d.billing);
        e.response_code = Some(d.response_code);
        e.approval_code.clone_from(&d.approval_code);
        e.original.clone_from(&d.original);
        e.hook.clone_from(&d.hook);
        e
    }

    /// A card changed by an operator (status, controls, PIN tries reset): `name` makes its id
    /// unique (one change, one event).
    pub(crate) fn card_updated(
        card_id: &str,
        account: Option<&str>,
        pan_masked: Option<&str>,
        name: String,
        at: Timestamp,
    ) -> Self {
        let mut e = Event::bare(EventKind::CardUpdated, at);
        e.account = account.map(str::to_owned);
        e.card_id = Some(card_id.to_owned());
        e.pan_masked = pan_masked.map(str::to_owned);
        e.name = Some(name);
        e
    }

    /// An adjustment made (not a replay of one): the signed amount it moved and the balance
    /// after it. Its id is the account and the caller's idempotency key; the reason, free
    /// text, stays in the ledger.
    pub(crate) fn adjusted(r: &AdjustmentRecord) -> Self {
        let a = &r.adjustment;
        let mut e = Event::bare(EventKind::AccountAdjusted, a.at);
        e.account = Some(a.account_id.clone());
        e.name = Some(a.db_key());
        e.wallet_amount = Some((a.amount_minor, a.currency));
        e.balance = Some((r.balance_after_minor, a.currency));
        e
    }

    /// A hold released, expired or captured; its card when the rule knew it.
    pub(crate) fn hold(
        kind: EventKind,
        h: &Hold,
        card: Option<&CardRecord>,
        wallet_minor: i64,
        at: Timestamp,
    ) -> Self {
        let mut e = Event::bare(kind, at);
        e.account = Some(h.account_id.clone());
        e.key = Some(h.key.clone());
        e.card_id = card
            .map(|c| c.id.clone())
            .or_else(|| h.counted.as_ref().map(|c| c.card_id.clone()));
        e.pan_masked = card.map(|c| c.masked.clone());
        e.business_date = Some(h.business_date);
        e.amount = Some((h.txn_amount_minor, h.txn_currency));
        e.wallet_amount = Some((wallet_minor, h.currency));
        e.rate_set.clone_from(&h.rate_version);
        e.original.clone_from(&h.original);
        e
    }

    /// The business date moved on, asked for by the message with `key`.
    pub(crate) fn business_date(key: &str, date: Date, at: Timestamp) -> Self {
        let mut e = Event::bare(EventKind::BusinessDateChanged, at);
        e.name = Some(key.to_owned());
        e.business_date = Some(date);
        e
    }
}
