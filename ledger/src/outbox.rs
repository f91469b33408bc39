//! The transactional outbox (issue 20): every ledger change's event, written by the engine in
//! the transaction that makes the change, then published by the gateway's relay.
//!
//! Each row has
//! - `pos`, its place in commit order across the ledger (SQLite: an `AUTOINCREMENT` rowid,
//!   never reused after pruning; PostgreSQL: a sequence. Two PostgreSQL transactions may
//!   commit out of `pos` order, but never two of one account: they queue on its lock, so
//!   that every account's events have increasing `pos` in commit order);
//! - `id`, unique and stable: the event's type and the network key (or cutover message key)
//!   it is about, so that a message the network re-sends makes no second row (a repeat
//!   writes nothing) and a row published twice carries the same id;
//! - `account` and `seq`: the account's own count, +1 each event, no gap (`outbox_seq`
//!   keeps the last one per account, read and written under the account's lock; events
//!   that concern no account, a cutover or a decline of an unknown card, count in the
//!   stream [`NO_ACCOUNT`]);
//! - `body`: the CloudEvents 1.0 structured-mode JSON, rendered once at commit.

use std::collections::HashMap;

use jiff::Timestamp;
use money::Currency;
use serde::Serialize;

use crate::machine::events::{Amount, Event};
use crate::{LedgerError, NetworkKey, Result};

/// The stream (and message key) of events that concern no account.
pub const NO_ACCOUNT: &str = "";

/// The CloudEvents `source` of every event.
pub const EVENT_SOURCE: &str = "/card-switch/ledger";

/// Longest page of events one call returns.
pub const MAX_EVENTS_PAGE: usize = 10_000;

/// One outbox row, as the relay and `gateway events tail` read it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutboxEvent {
    /// Place in commit order across the ledger.
    pub pos: i64,
    /// The CloudEvents `id`.
    pub id: String,
    /// The account (the message key); [`NO_ACCOUNT`] when none.
    pub account: String,
    /// The account's own sequence number (1, 2, ...).
    pub seq: i64,
    /// The CloudEvents `type`.
    pub kind: String,
    /// When the change was made.
    pub at: Timestamp,
    /// When the broker acknowledged it, once it did.
    pub published_at: Option<Timestamp>,
    /// The CloudEvents structured-mode JSON.
    pub body: String,
}

/// A row to insert, made by [`rows`].
#[derive(Clone, Debug)]
pub(crate) struct OutboxRow {
    pub(crate) id: String,
    pub(crate) account: String,
    pub(crate) seq: i64,
    pub(crate) kind: &'static str,
    pub(crate) at_us: i64,
    pub(crate) body: String,
}

/// SQLite's tables (the embedded store adds them at open). No unique index on `id` nor on
/// `(account, seq)` here, unlike PostgreSQL's (where instances race): the one writer numbers
/// the events in its transaction and an id is its type and its decision's key, which the
/// decisions table keeps unique; each index cost every authorization a b-tree insert on the
/// writer (callgrind, docs/PERFORMANCE.md). The memory engine checks ids, and every test of
/// the ledger suite checks both on all three engines.
pub(crate) const SQLITE_DDL: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS outbox (
        pos INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL,
        account TEXT NOT NULL,
        seq INTEGER NOT NULL,
        kind TEXT NOT NULL,
        at_us INTEGER NOT NULL,
        published_us INTEGER,
        body TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS outbox_unpublished ON outbox (pos) WHERE published_us IS NULL",
    "CREATE TABLE IF NOT EXISTS outbox_seq (
        account TEXT PRIMARY KEY,
        last_seq INTEGER NOT NULL) WITHOUT ROWID",
    // The relay's lease (one publisher at a time per ledger: see docs/ARCHITECTURE.md).
    "CREATE TABLE IF NOT EXISTS outbox_lease (
        name TEXT PRIMARY KEY,
        holder TEXT NOT NULL,
        until_us INTEGER NOT NULL) WITHOUT ROWID",
];

/// PostgreSQL's tables, in the store's schema.
pub(crate) const PG_DDL: &[&str] = &[
    "CREATE SEQUENCE IF NOT EXISTS outbox_pos",
    "CREATE TABLE IF NOT EXISTS outbox (
        pos BIGINT PRIMARY KEY DEFAULT nextval('outbox_pos'),
        id TEXT NOT NULL UNIQUE,
        account TEXT NOT NULL,
        seq BIGINT NOT NULL,
        kind TEXT NOT NULL,
        at_us BIGINT NOT NULL,
        published_us BIGINT,
        body TEXT NOT NULL,
        UNIQUE (account, seq))",
    "CREATE INDEX IF NOT EXISTS outbox_unpublished ON outbox (pos) WHERE published_us IS NULL",
    "CREATE TABLE IF NOT EXISTS outbox_seq (
        account TEXT PRIMARY KEY,
        last_seq BIGINT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS outbox_lease (
        name TEXT PRIMARY KEY,
        holder TEXT NOT NULL,
        until_us BIGINT NOT NULL)",
];

/// The columns [`OutboxEvent`] is read from, in its order.
pub(crate) const COLUMNS: &str = "pos, id, account, seq, kind, at_us, published_us, body";

/// An outbox row's columns, in [`COLUMNS`] order.
pub(crate) type EventCols = (i64, String, String, i64, String, i64, Option<i64>, String);

/// A batch's numbered rows and each account's new last `seq`.
pub(crate) type Numbered = (Vec<OutboxRow>, Vec<(String, i64)>);

/// An [`OutboxEvent`] from its columns.
pub(crate) fn event(c: EventCols) -> Result<OutboxEvent> {
    let (pos, id, account, seq, kind, at_us, published_us, body) = c;
    let ts = |us: i64| {
        Timestamp::from_microsecond(us).map_err(|_| LedgerError::corrupt("outbox", "bad time"))
    };
    Ok(OutboxEvent {
        pos,
        id,
        account,
        seq,
        kind,
        at: ts(at_us)?,
        published_at: published_us.map(ts).transpose()?,
        body,
    })
}

/// The outbox rows of `events`, numbered from each account's last `seq` in `last` (loaded
/// under the account's lock); also each account's new last `seq`.
pub(crate) fn rows(last: &HashMap<String, i64>, events: &[Event]) -> Result<Numbered> {
    let mut next: HashMap<&str, i64> = HashMap::new();
    let mut out = Vec::with_capacity(events.len());
    for e in events {
        let account = e.account.as_deref().unwrap_or(NO_ACCOUNT);
        let seq = match next.get_mut(account) {
            Some(s) => s,
            None => {
                let loaded = *last.get(account).ok_or_else(|| {
                    LedgerError::corrupt("outbox_seq", "an event of an account not locked")
                })?;
                next.entry(account).or_insert(loaded)
            }
        };
        *seq = seq
            .checked_add(1)
            .ok_or_else(|| LedgerError::corrupt("outbox_seq", "overflow"))?;
        let id = id_of(e);
        let body = render(e, &id, *seq);
        out.push(OutboxRow {
            id,
            account: account.to_owned(),
            seq: *seq,
            kind: e.kind.as_str(),
            at_us: e.at.as_microsecond(),
            body,
        });
    }
    let mut counters: Vec<(String, i64)> =
        next.into_iter().map(|(a, s)| (a.to_owned(), s)).collect();
    counters.sort();
    Ok((out, counters))
}

/// The event's id: its type and what it is about, the same however often it is computed.
fn id_of(e: &Event) -> String {
    let about = match (&e.key, &e.name) {
        (Some(k), _) => k.db_str(),
        (None, Some(n)) => n.as_str(),
        (None, None) => "",
    };
    format!("{}/{about}", e.kind.as_str())
}

/// `{"minor": int, "currency": "USD"}`.
#[derive(Serialize)]
struct AmountJson {
    minor: i64,
    currency: Currency,
}

impl From<&Amount> for AmountJson {
    fn from(a: &Amount) -> Self {
        AmountJson {
            minor: a.0,
            currency: a.1,
        }
    }
}

#[derive(Serialize)]
struct KeyJson<'a> {
    acquirer: &'a str,
    stan: &'a str,
    transmitted: &'a str,
}

impl<'a> From<&'a NetworkKey> for KeyJson<'a> {
    fn from(k: &'a NetworkKey) -> Self {
        KeyJson {
            acquirer: k.acquirer(),
            stan: k.stan(),
            transmitted: k.transmission(),
        }
    }
}

#[derive(Serialize)]
struct BillingJson<'a> {
    amount: AmountJson,
    rate: String,
    rate_set: &'a str,
    de10: &'a str,
}

/// The CloudEvents `data`. A struct, not a `serde_json::Value`: building maps of owned keys
/// for every event cost the one writer about a tenth of its instructions (callgrind,
/// docs/PERFORMANCE.md).
#[derive(Serialize)]
struct DataJson<'a> {
    account: Option<&'a str>,
    seq: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    card_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pan_masked: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    business_date: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    amount: Option<AmountJson>,
    #[serde(skip_serializing_if = "Option::is_none")]
    approved: Option<AmountJson>,
    #[serde(skip_serializing_if = "Option::is_none")]
    wallet_amount: Option<AmountJson>,
    #[serde(skip_serializing_if = "Option::is_none")]
    billing: Option<BillingJson<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    rate_set: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    response_code: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    approval_code: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    network_key: Option<KeyJson<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    original: Option<KeyJson<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    hook: Option<&'a crate::HookOutcome>,
}

/// A CloudEvent in structured mode.
#[derive(Serialize)]
struct CloudEventJson<'a> {
    specversion: &'static str,
    id: &'a str,
    source: &'static str,
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    subject: Option<&'a str>,
    time: String,
    datacontenttype: &'static str,
    data: DataJson<'a>,
}

/// The CloudEvents 1.0 structured-mode JSON of `e` (no PAN: only its masked form).
fn render(e: &Event, id: &str, seq: i64) -> String {
    let data = DataJson {
        account: e.account.as_deref(),
        seq,
        card_id: e.card_id.as_deref(),
        pan_masked: e.pan_masked.as_deref(),
        business_date: e.business_date.map(|d| d.to_string()),
        amount: e.amount.as_ref().map(AmountJson::from),
        approved: e.approved.as_ref().map(AmountJson::from),
        wallet_amount: e.wallet_amount.as_ref().map(AmountJson::from),
        billing: e.billing.as_ref().map(|b| BillingJson {
            amount: AmountJson {
                minor: b.amount_minor,
                currency: b.currency,
            },
            rate: b.rate.to_string(),
            rate_set: &b.version,
            de10: &b.de10,
        }),
        rate_set: e.rate_set.as_deref(),
        response_code: e.response_code.as_ref().map(|c| c.as_str()),
        approval_code: e.approval_code.as_deref(),
        network_key: e.key.as_ref().map(KeyJson::from),
        original: e.original.as_ref().map(KeyJson::from),
        hook: e.hook.as_ref(),
    };
    let ce = CloudEventJson {
        specversion: "1.0",
        id,
        source: EVENT_SOURCE,
        kind: e.kind.as_str(),
        subject: e.account.as_deref(),
        time: e.at.to_string(),
        datacontenttype: "application/json",
        data,
    };
    // Serializing plain structs of strings and integers to a String cannot fail.
    serde_json::to_string(&ce).unwrap_or_default()
}
