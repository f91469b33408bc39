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
use serde_json::{json, Map, Value};

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

/// SQLite's tables (the embedded store adds them at open).
pub(crate) const SQLITE_DDL: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS outbox (
        pos INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        account TEXT NOT NULL,
        seq INTEGER NOT NULL,
        kind TEXT NOT NULL,
        at_us INTEGER NOT NULL,
        published_us INTEGER,
        body TEXT NOT NULL,
        UNIQUE (account, seq))",
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

fn amount(a: &Amount) -> Value {
    json!({"minor": a.0, "currency": a.1.as_str()})
}

fn network_key(k: &NetworkKey) -> Value {
    json!({"acquirer": k.acquirer(), "stan": k.stan(), "transmitted": k.transmission()})
}

/// The CloudEvents 1.0 structured-mode JSON of `e` (no PAN: only its masked form).
fn render(e: &Event, id: &str, seq: i64) -> String {
    let mut data = Map::new();
    data.insert("account".into(), json!(e.account));
    data.insert("seq".into(), json!(seq));
    let mut opt = |k: &str, v: Option<Value>| {
        if let Some(v) = v {
            data.insert(k.into(), v);
        }
    };
    opt("card_id", e.card_id.as_ref().map(|c| json!(c)));
    opt("pan_masked", e.pan_masked.as_ref().map(|c| json!(c)));
    opt(
        "business_date",
        e.business_date.map(|d| json!(d.to_string())),
    );
    opt("amount", e.amount.as_ref().map(amount));
    opt("approved", e.approved.as_ref().map(amount));
    opt("wallet_amount", e.wallet_amount.as_ref().map(amount));
    opt(
        "billing",
        e.billing.as_ref().map(|b| {
            json!({
                "amount": {"minor": b.amount_minor, "currency": b.currency.as_str()},
                "rate": b.rate.to_string(),
                "rate_set": b.version,
                "de10": b.de10,
            })
        }),
    );
    opt("rate_set", e.rate_set.as_ref().map(|r| json!(r)));
    opt("response_code", e.response_code.map(|c| json!(c.as_str())));
    opt("approval_code", e.approval_code.as_ref().map(|c| json!(c)));
    opt("network_key", e.key.as_ref().map(network_key));
    opt("original", e.original.as_ref().map(network_key));
    let mut ce = Map::new();
    ce.insert("specversion".into(), json!("1.0"));
    ce.insert("id".into(), json!(id));
    ce.insert("source".into(), json!(EVENT_SOURCE));
    ce.insert("type".into(), json!(e.kind.as_str()));
    if let Some(a) = &e.account {
        ce.insert("subject".into(), json!(a));
    }
    ce.insert("time".into(), json!(e.at.to_string()));
    ce.insert("datacontenttype".into(), json!("application/json"));
    ce.insert("data".into(), Value::Object(data));
    Value::Object(ce).to_string()
}
