//! The transactional outbox (issue 20): every ledger change's event, written by the engine in
//! the transaction that makes the change, then published by the gateway's relay.
//!
//! Each row has
//! - `pos`, its place in commit order across the ledger (SQLite: the rowid, never reused
//!   after pruning because the newest row is never pruned; PostgreSQL: a sequence. Two PostgreSQL transactions may
//!   commit out of `pos` order, but never two of one account: they queue on its lock, so
//!   that every account's events have increasing `pos` in commit order);
//! - `id`, unique and stable: the event's type and the network key (or cutover message key)
//!   it is about, so that a message the network re-sends makes no second row (a repeat
//!   writes nothing) and a row published twice carries the same id;
//! - `account` and `seq`: the account's own count, +1 each event, no gap (`outbox_seq`
//!   keeps the last one per account, read and written under the account's lock; events
//!   that concern no account, a cutover or a decline of an unknown card, count in the
//!   stream [`NO_ACCOUNT`]);
//! - `body`: what the event's `data` says, in a compact form (integers for the date and the
//!   rate; nothing the row's own columns hold). The CloudEvents 1.0 structured-mode JSON is
//!   rendered from it and the row's columns when the row is read (the relay, `events tail`),
//!   not on the ledger's one writer: the rendering and a record three times the size cost the
//!   writer a large part of what the outbox added (callgrind, docs/PERFORMANCE.md). Rows
//!   written before hold the rendered JSON itself, and are read as they are.

use std::borrow::Cow;
use std::collections::HashMap;

use jiff::civil::Date;
use jiff::Timestamp;
use money::Currency;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

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

/// The start of a body written rendered, before the compact form.
const RENDERED: &str = "{\"specversion\"";

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
///
/// SQLite keeps a transaction's events in one row of `outbox_batch`: its `pos` is the first
/// event's place in commit order and the row covers `pos .. pos + n`, so that an event's
/// position is the same number as it would be one row each. One row a transaction instead
/// of one an event takes a b-tree insert, a statement and its record off the one writer for
/// every event but the first (docs/PERFORMANCE.md, "Thirteenth pass"); the relay marks a
/// row published once the broker acknowledged all its events. A row may cover positions it
/// holds no event for (`events` shorter than `n`): the marker that keeps positions past
/// those of a ledger made before, whose rows stay in its `outbox` table, one an event, read
/// in place before the new rows (`embedded::outbox::open_legacy`).
///
/// No unique index on `id` nor on `(account, seq)` here, unlike PostgreSQL's (where
/// instances race): the one writer numbers the events in its transaction and an id is its
/// type and its decision's key, which the decisions table keeps unique; each index cost
/// every authorization a b-tree insert on the writer (callgrind, docs/PERFORMANCE.md). The
/// memory engine checks ids, and every test of the ledger suite checks both on all three
/// engines.
pub(crate) const SQLITE_DDL: &[&str] = &[
    // No `AUTOINCREMENT` (its `sqlite_sequence` row cost every insert about 4 k
    // instructions): the writer gives a row the end of the newest row, and the newest row
    // is never pruned, so a position is never given twice.
    "CREATE TABLE IF NOT EXISTS outbox_batch (
        pos INTEGER PRIMARY KEY,
        n INTEGER NOT NULL,
        published_us INTEGER,
        events TEXT NOT NULL)",
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

/// An outbox row's columns (PostgreSQL; one event of an SQLite row): `pos, id, account, seq,
/// kind, at_us, published_us, body`.
pub(crate) type EventCols = (i64, String, String, i64, String, i64, Option<i64>, String);

/// A batch's numbered rows and each account's new last `seq`.
pub(crate) type Numbered = (Vec<OutboxRow>, Vec<(String, i64)>);

/// An [`OutboxEvent`] from its columns, its CloudEvent rendered.
pub(crate) fn event(c: EventCols) -> Result<OutboxEvent> {
    let (pos, id, account, seq, kind, at_us, published_us, body) = c;
    let ts = |us: i64| {
        Timestamp::from_microsecond(us).map_err(|_| LedgerError::corrupt("outbox", "bad time"))
    };
    let at = ts(at_us)?;
    let body = if body.starts_with(RENDERED) {
        body
    } else {
        let stored: Stored<'_> = serde_json::from_str(&body)
            .map_err(|_| LedgerError::corrupt("outbox", "bad event body"))?;
        render(&stored, &id, &kind, &account, seq, at)?
    };
    Ok(OutboxEvent {
        pos,
        id,
        account,
        seq,
        kind,
        at,
        published_at: published_us.map(ts).transpose()?,
        body,
    })
}

/// The `events` of SQLite's `outbox_batch` row for `rows`: a JSON array of one object an
/// event, `{"i": id, "a": account, "s": seq, "k": type, "t": at_us, "b": body}`, each body
/// copied in as it is (the compact object). Made on the one writer, so by hand around the
/// bodies already serialized: serde_json escapes only a string that needs it.
pub(crate) fn batch_json(rows: &[OutboxRow]) -> String {
    use std::fmt::Write as _;
    fn string(out: &mut String, s: &str) {
        if s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
            out.push('"');
            out.push_str(s);
            out.push('"');
        } else {
            // Escaping a string cannot fail.
            out.push_str(&serde_json::to_string(s).unwrap_or_default());
        }
    }
    let size: usize = rows
        .iter()
        .map(|r| r.body.len() + r.id.len() + r.account.len() + r.kind.len() + 72)
        .sum();
    let mut out = String::with_capacity(size + 2);
    out.push('[');
    for (i, r) in rows.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str("{\"i\":");
        string(&mut out, &r.id);
        out.push_str(",\"a\":");
        string(&mut out, &r.account);
        // Writing to a String cannot fail; `kind` is one of the contract's type names.
        let _ = write!(
            out,
            ",\"s\":{},\"k\":\"{}\",\"t\":{},\"b\":",
            r.seq, r.kind, r.at_us
        );
        out.push_str(&r.body);
        out.push('}');
    }
    out.push(']');
    out
}

/// One event of an `outbox_batch` row, as [`batch_json`] writes it.
#[derive(Deserialize)]
struct BatchEvent<'a> {
    i: String,
    a: String,
    s: i64,
    k: String,
    t: i64,
    #[serde(borrow)]
    b: &'a serde_json::value::RawValue,
}

/// The events of an SQLite `outbox_batch` row that starts at `pos` and covers `n` positions,
/// each at `pos` + its index, published when the row was.
pub(crate) fn batch_events(
    pos: i64,
    n: i64,
    published_us: Option<i64>,
    events: &str,
) -> Result<Vec<OutboxEvent>> {
    let bad = |what: &'static str| LedgerError::corrupt("outbox", what);
    let list: Vec<BatchEvent<'_>> =
        serde_json::from_str(events).map_err(|_| bad("bad event batch"))?;
    if i64::try_from(list.len()).map(|len| len > n).unwrap_or(true) {
        return Err(bad("more events than positions in a batch"));
    }
    let mut pos = pos;
    let mut out = Vec::with_capacity(list.len());
    for e in list {
        let raw = e.b.get();
        // A string: a body as an earlier version wrote it (rendered, or compact text).
        let body = if raw.starts_with('"') {
            serde_json::from_str::<String>(raw).map_err(|_| bad("bad event body"))?
        } else {
            raw.to_owned()
        };
        out.push(event((pos, e.i, e.a, e.s, e.k, e.t, published_us, body))?);
        pos = pos.checked_add(1).ok_or_else(|| bad("position overflow"))?;
    }
    Ok(out)
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
        let body = stored(e);
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

/// A billing as a row keeps it: amount, currency, the rate's mantissa and scale, rate set,
/// DE 10.
type StoredBilling<'a> = (i64, Currency, i128, u32, Cow<'a, str>, Cow<'a, str>);

/// What a row's `body` keeps of its event: the `data` fields the row's columns do not hold,
/// with the date as `YYYYMMDD`, the rate as its mantissa and scale and the network keys in
/// their one-column form, so that writing it is a few copies (no time, date or decimal
/// formatting on the writer). Absent fields are left out.
#[derive(Serialize, Deserialize)]
struct Stored<'a> {
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    card: Option<Cow<'a, str>>,
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pan: Option<Cow<'a, str>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    date: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    amount: Option<Amount>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    approved: Option<Amount>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    wallet: Option<Amount>,
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    billing: Option<StoredBilling<'a>>,
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    rate_set: Option<Cow<'a, str>>,
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    code: Option<Cow<'a, str>>,
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    approval: Option<Cow<'a, str>>,
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    key: Option<Cow<'a, str>>,
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    original: Option<Cow<'a, str>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    balance: Option<Amount>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    hook: Option<Cow<'a, crate::HookOutcome>>,
}

/// The body written for `e` (its compact form: see [`Stored`]).
fn stored(e: &Event) -> String {
    let s = Stored {
        card: e.card_id.as_deref().map(Cow::Borrowed),
        pan: e.pan_masked.as_deref().map(Cow::Borrowed),
        date: e.business_date.map(|d| {
            i32::from(d.year()) * 10_000 + i32::from(d.month()) * 100 + i32::from(d.day())
        }),
        amount: e.amount,
        approved: e.approved,
        wallet: e.wallet_amount,
        billing: e.billing.as_ref().map(|b| {
            (
                b.amount_minor,
                b.currency,
                b.rate.mantissa(),
                b.rate.scale(),
                Cow::Borrowed(b.version.as_str()),
                Cow::Borrowed(b.de10.as_str()),
            )
        }),
        rate_set: e.rate_set.as_deref().map(Cow::Borrowed),
        code: e.response_code.as_ref().map(|c| Cow::Borrowed(c.as_str())),
        approval: e.approval_code.as_deref().map(Cow::Borrowed),
        key: e.key.as_ref().map(|k| Cow::Borrowed(k.db_str())),
        original: e.original.as_ref().map(|k| Cow::Borrowed(k.db_str())),
        balance: e.balance,
        hook: e.hook.as_ref().map(Cow::Borrowed),
    };
    // Plain strings, integers and currencies: serializing to a String cannot fail.
    serde_json::to_string(&s).unwrap_or_default()
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

/// The CloudEvents `data`.
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
    /// The wallet's balance after an adjustment.
    #[serde(skip_serializing_if = "Option::is_none")]
    balance: Option<AmountJson>,
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
    kind: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    subject: Option<&'a str>,
    time: String,
    datacontenttype: &'static str,
    data: DataJson<'a>,
}

/// The CloudEvents 1.0 structured-mode JSON of a row (no PAN: only its masked form).
fn render(
    s: &Stored<'_>,
    id: &str,
    kind: &str,
    account: &str,
    seq: i64,
    at: Timestamp,
) -> Result<String> {
    let bad = |what: &'static str| LedgerError::corrupt("outbox", what);
    let date = s
        .date
        .map(|n| {
            let part = |v: i32| i8::try_from(v).map_err(|_| bad("bad business date"));
            let year = i16::try_from(n / 10_000).map_err(|_| bad("bad business date"))?;
            Date::new(year, part(n / 100 % 100)?, part(n % 100)?)
                .map_err(|_| bad("bad business date"))
        })
        .transpose()?;
    let key = |k: &Option<Cow<'_, str>>| k.as_deref().map(NetworkKey::from_db).transpose();
    let (network_key, original) = (key(&s.key)?, key(&s.original)?);
    let billing = s
        .billing
        .as_ref()
        .map(|(minor, currency, mantissa, scale, set, de10)| {
            let rate = Decimal::try_from_i128_with_scale(*mantissa, *scale)
                .map_err(|_| bad("bad rate"))?;
            Ok::<_, LedgerError>(BillingJson {
                amount: AmountJson {
                    minor: *minor,
                    currency: *currency,
                },
                rate: rate.to_string(),
                rate_set: set,
                de10,
            })
        })
        .transpose()?;
    // Events of no account have no subject and a null `account`.
    let account = (account != NO_ACCOUNT).then_some(account);
    let data = DataJson {
        account,
        seq,
        card_id: s.card.as_deref(),
        pan_masked: s.pan.as_deref(),
        business_date: date.map(|d| d.to_string()),
        amount: s.amount.as_ref().map(AmountJson::from),
        approved: s.approved.as_ref().map(AmountJson::from),
        wallet_amount: s.wallet.as_ref().map(AmountJson::from),
        billing,
        rate_set: s.rate_set.as_deref(),
        response_code: s.code.as_deref(),
        approval_code: s.approval.as_deref(),
        network_key: network_key.as_ref().map(KeyJson::from),
        original: original.as_ref().map(KeyJson::from),
        balance: s.balance.as_ref().map(AmountJson::from),
        hook: s.hook.as_deref(),
    };
    let ce = CloudEventJson {
        specversion: "1.0",
        id,
        source: EVENT_SOURCE,
        kind,
        subject: account,
        time: at.to_string(),
        datacontenttype: "application/json",
        data,
    };
    serde_json::to_string(&ce).map_err(|_| bad("event not rendered"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::machine::events::EventKind;
    use crate::{Billing, ResponseCode};

    fn approval() -> Event {
        let key = NetworkKey::new("123456", "000042", "1205093000").unwrap();
        let mut e =
            Event::business_date("unused", Date::constant(2026, 12, 5), Timestamp::UNIX_EPOCH);
        e.kind = EventKind::AuthorizationApproved;
        e.name = None;
        e.account = Some("A-1001".into());
        e.key = Some(key);
        e.at = Timestamp::from_microsecond(1_796_461_800_123_456).unwrap();
        e.card_id = Some("C-0018".into());
        e.pan_masked = Some("400000******0018".into());
        e.amount = Some((12_345, "USD".parse().unwrap()));
        e.approved = Some((12_345, "USD".parse().unwrap()));
        e.billing = Some(Billing {
            amount_minor: 16_530_000,
            currency: "KRW".parse().unwrap(),
            rate: Decimal::new(133_901_234_567, 8),
            de10: "61339012".into(),
            version: "2026-12-05T09:00".into(),
        });
        e.response_code = Some(ResponseCode::parse("00").unwrap());
        e.approval_code = Some("A1B2C3".into());
        e
    }

    fn read(r: &OutboxRow) -> OutboxEvent {
        let cols = (
            7,
            r.id.clone(),
            r.account.clone(),
            r.seq,
            r.kind.to_owned(),
            r.at_us,
            None,
            r.body.clone(),
        );
        event(cols).unwrap()
    }

    #[test]
    fn a_written_event_reads_back_as_its_cloudevent() {
        let last = HashMap::from([("A-1001".to_owned(), 41)]);
        let (rows, seqs) = rows(&last, &[approval()]).unwrap();
        assert_eq!(seqs, vec![("A-1001".to_owned(), 42)]);
        // What the writer stores is the compact form, not the CloudEvent.
        assert!(!rows[0].body.contains("specversion"), "{}", rows[0].body);
        assert!(rows[0].body.len() < 300, "{}", rows[0].body.len());
        let ev = read(&rows[0]);
        let v: serde_json::Value = serde_json::from_str(&ev.body).unwrap();
        assert_eq!(v["specversion"], "1.0");
        assert_eq!(v["id"], "authorization.approved/123456:000042:1205093000");
        assert_eq!(v["type"], "authorization.approved");
        assert_eq!(v["subject"], "A-1001");
        assert_eq!(v["time"], "2026-12-05T09:10:00.123456Z");
        let d = &v["data"];
        assert_eq!(d["account"], "A-1001");
        assert_eq!(d["seq"], 42);
        assert_eq!(d["pan_masked"], "400000******0018");
        assert_eq!(d["business_date"], "2026-12-05");
        assert_eq!(
            d["amount"],
            serde_json::json!({"minor": 12345, "currency": "USD"})
        );
        assert_eq!(d["billing"]["rate"], "1339.01234567");
        assert_eq!(
            d["billing"]["amount"],
            serde_json::json!({"minor": 16530000, "currency": "KRW"})
        );
        assert_eq!(d["billing"]["rate_set"], "2026-12-05T09:00");
        assert_eq!(d["billing"]["de10"], "61339012");
        assert_eq!(d["response_code"], "00");
        assert_eq!(d["approval_code"], "A1B2C3");
        assert_eq!(
            d["network_key"],
            serde_json::json!({"acquirer": "123456", "stan": "000042", "transmitted": "1205093000"})
        );
        assert!(d.get("original").is_none());
        // Read twice, the same bytes: a re-send carries the same event.
        assert_eq!(read(&rows[0]).body, ev.body);
    }

    #[test]
    fn events_of_no_account_have_no_subject() {
        let e = Event::business_date(
            "cutover-1",
            Date::constant(2026, 12, 6),
            Timestamp::UNIX_EPOCH,
        );
        let last = HashMap::from([(NO_ACCOUNT.to_owned(), 0)]);
        let (rows, _) = rows(&last, &[e]).unwrap();
        let v: serde_json::Value = serde_json::from_str(&read(&rows[0]).body).unwrap();
        assert!(v.get("subject").is_none());
        assert_eq!(v["data"]["account"], serde_json::Value::Null);
        assert_eq!(v["data"]["business_date"], "2026-12-06");
    }

    #[test]
    fn bodies_written_rendered_by_earlier_versions_read_as_they_are() {
        let old = r#"{"specversion":"1.0","id":"x","source":"/card-switch/ledger","type":"hold.expired","data":{"seq":3}}"#;
        let ev = event((
            1,
            "x".into(),
            "A-1".into(),
            3,
            "hold.expired".into(),
            0,
            None,
            old.into(),
        ));
        assert_eq!(ev.unwrap().body, old);
    }

    #[test]
    fn a_body_that_is_neither_form_is_an_error_not_an_event() {
        let bad = event((
            1,
            "x".into(),
            "A-1".into(),
            3,
            "hold.expired".into(),
            0,
            None,
            "[1,".into(),
        ));
        assert!(bad.is_err());
    }
}
