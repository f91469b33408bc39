//! What happened, one event per ledger change: the rules emit them with the rows they change,
//! so that the event stream (issue 20) publishes exactly what was committed. The engines do
//! not write them yet: the outbox table and the relay come with the event stream; until then
//! they are the batch's record of what each operation did, and tests read them.

use jiff::Timestamp;

use crate::NetworkKey;

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
}

impl EventKind {
    /// The CloudEvents `type`.
    #[cfg_attr(not(test), allow(dead_code))] // read by the event stream (issue 20)
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
        }
    }
}

/// One ledger change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Event {
    pub(crate) kind: EventKind,
    /// The account it concerns (the event stream's message key), when there is one.
    pub(crate) account: Option<String>,
    /// The decision or hold it is about.
    pub(crate) key: Option<NetworkKey>,
    pub(crate) at: Timestamp,
}

impl Event {
    pub(crate) fn new(
        kind: EventKind,
        account: Option<&str>,
        key: Option<&NetworkKey>,
        at: Timestamp,
    ) -> Self {
        Event {
            kind,
            account: account.map(str::to_owned),
            key: key.cloned(),
            at,
        }
    }
}
