//! The outbox in SQLite (see `crate::outbox`): one row a transaction, written by the writer
//! with each batch, read by the reader, marked published and pruned on the relay's own
//! connection.

use std::sync::atomic::{AtomicI64, Ordering};

use jiff::Timestamp;
use rusqlite::{params, Connection, OptionalExtension};

use super::sql::Statements;
use crate::outbox::{self, EventCols, OutboxRow};
use crate::{LedgerError, OutboxEvent, Result};

/// The last event `seq` of `account` (0: none yet).
pub(super) fn last_seq(conn: &Connection, account: &str) -> Result<i64> {
    Ok(conn
        .prepare_cached("SELECT last_seq FROM outbox_seq WHERE account = ?1")?
        .query_row([account], |r| r.get(0))
        .optional()?
        .unwrap_or(0))
}

/// Writes a batch's events, as one `outbox_batch` row (see `crate::outbox::SQLITE_DDL`), and
/// its counters inside its transaction, on the writer's own prepared statements (rusqlite's
/// statement cache hashes the SQL text and moves the statement in and out of its LRU on every
/// use: about 2 k instructions a row on the one writer). The row starts where the newest row
/// ends, read in the transaction: another writer (a direct clearing import) may have added
/// rows since the last batch.
pub(super) fn write(s: &Statements<'_>, rows: &[OutboxRow], seqs: &[(String, i64)]) -> Result<()> {
    const END: &str = "SELECT pos + n FROM outbox_batch ORDER BY pos DESC LIMIT 1";
    const INSERT: &str = "INSERT INTO outbox_batch (pos, n, events) VALUES (?1, ?2, ?3)";
    const SEQ: &str = "INSERT INTO outbox_seq (account, last_seq) VALUES (?1, ?2) \
         ON CONFLICT (account) DO UPDATE SET last_seq = excluded.last_seq";
    if !rows.is_empty() {
        let pos: i64 = s
            .with(END, |st| Ok(st.query_row([], |r| r.get(0)).optional()?))?
            .unwrap_or(1);
        let n = i64::try_from(rows.len())
            .map_err(|_| LedgerError::corrupt("outbox", "too many events in one batch"))?;
        let json = outbox::batch_json(rows);
        s.with(INSERT, |st| {
            match pack(&json, n) {
                Some(packed) => st.execute(params![pos, n, packed])?,
                None => st.execute(params![pos, n, json])?,
            };
            Ok(())
        })?;
    }
    for (a, n) in seqs {
        s.with(SEQ, |st| {
            st.execute(params![a, n])?;
            Ok(())
        })?;
    }
    Ok(())
}

/// The most a row's events may take as JSON, per position it covers: what [`unpack`] will
/// allocate for a row, whatever its header says. An event is about 300 bytes; a batch
/// whose JSON is larger than this (none is known) is kept as text.
const MAX_JSON_PER_EVENT: usize = 64 * 1024;

/// The bound of [`MAX_JSON_PER_EVENT`] for a row of `n` positions.
fn json_limit(n: i64) -> usize {
    usize::try_from(n)
        .unwrap_or(0)
        .saturating_mul(MAX_JSON_PER_EVENT)
        .min(u32::MAX as usize)
}

/// A row's events as written since the events were compressed: the JSON of [`batch_json`]
/// in LZ4's block format, after its length as a little-endian `u32` (a BLOB; rows written
/// before are that JSON as TEXT, and read as they are). The JSON of one batch repeats its
/// field names, cards, rate sets and dates from event to event: it shrinks about 5.5 times,
/// and the ledger's bytes written to disk an authorization by about a seventh
/// (docs/PERFORMANCE.md, "Fifteenth pass"). `None`: larger than [`json_limit`], kept as
/// text.
///
/// [`batch_json`]: crate::outbox::batch_json
fn pack(json: &str, n: i64) -> Option<Vec<u8>> {
    (json.len() <= json_limit(n)).then(|| lz4_flex::block::compress_prepend_size(json.as_bytes()))
}

/// The JSON of a row of `n` positions that [`pack`] wrote, its length checked against
/// [`json_limit`] before anything is allocated for it.
fn unpack(packed: &[u8], n: i64) -> Result<String> {
    let bad = |what: &'static str| LedgerError::corrupt("outbox", what);
    let (len, body) = packed
        .split_first_chunk::<4>()
        .ok_or_else(|| bad("event batch shorter than its header"))?;
    let len = usize::try_from(u32::from_le_bytes(*len)).unwrap_or(usize::MAX);
    if len > json_limit(n) {
        return Err(bad("event batch longer than its positions allow"));
    }
    let json = lz4_flex::block::decompress(body, len).map_err(|_| bad("bad event batch"))?;
    if json.len() != len {
        return Err(bad("event batch shorter than its header says"));
    }
    String::from_utf8(json).map_err(|_| bad("event batch not UTF-8"))
}

/// An `outbox_batch` row's `events` as stored: compressed ([`pack`]) or, as written before
/// and for a batch too large to compress, the JSON itself.
enum RowEvents {
    Packed(Vec<u8>),
    Json(String),
}

/// An `outbox_batch` row as read: its first position, how many it covers, when it was
/// published, its events.
type Batch = (i64, i64, Option<i64>, RowEvents);

fn batch(r: &rusqlite::Row<'_>) -> rusqlite::Result<Batch> {
    use rusqlite::types::ValueRef;
    let events = match r.get_ref(3)? {
        ValueRef::Blob(b) => RowEvents::Packed(b.to_vec()),
        _ => RowEvents::Json(r.get(3)?),
    };
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, events))
}

/// The events of a row read by [`batch`].
fn events_of(row: Batch) -> Result<Vec<OutboxEvent>> {
    let (pos, n, published, stored) = row;
    let json = match stored {
        RowEvents::Packed(packed) => unpack(&packed, n)?,
        RowEvents::Json(json) => json,
    };
    outbox::batch_events(pos, n, published, &json)
}

/// The rows from the one that holds position `after + 1` (or the nearest before it) on, in
/// commit order: `AND`-ed with `filter`.
fn rows_from(conn: &Connection, filter: &str, after: i64, rows: usize) -> Result<Vec<Batch>> {
    let mut st = conn.prepare_cached(&format!(
        "SELECT pos, n, published_us, events FROM outbox_batch \
         WHERE pos >= coalesce((SELECT max(pos) FROM outbox_batch WHERE pos <= ?1), 0) \
         {filter} ORDER BY pos LIMIT ?2"
    ))?;
    let limit = i64::try_from(rows).unwrap_or(i64::MAX);
    let found = st
        .query_map(params![after.saturating_add(1), limit], batch)?
        .collect::<rusqlite::Result<_>>()?;
    Ok(found)
}

/// The highest position given (0: none).
fn highest(conn: &Connection, legacy: bool) -> Result<i64> {
    let batches: i64 = conn
        .prepare_cached("SELECT pos + n - 1 FROM outbox_batch ORDER BY pos DESC LIMIT 1")?
        .query_row([], |r| r.get(0))
        .optional()?
        .unwrap_or(0);
    if !legacy {
        return Ok(batches);
    }
    let old: i64 = conn
        .prepare_cached("SELECT coalesce(max(pos), 0) FROM outbox")?
        .query_row([], |r| r.get(0))?;
    Ok(batches.max(old))
}

fn cols(r: &rusqlite::Row<'_>) -> rusqlite::Result<EventCols> {
    r.try_into()
}

/// Events of the `outbox` table of earlier versions (one row an event, every position below
/// those of `outbox_batch`) after `after`, `AND`-ed with `filter`, in commit order.
fn legacy_after(
    conn: &Connection,
    filter: &str,
    after: i64,
    limit: usize,
) -> Result<Vec<OutboxEvent>> {
    let mut st = conn.prepare_cached(&format!(
        "SELECT pos, id, account, seq, kind, at_us, published_us, body FROM outbox \
         WHERE pos > ?1 {filter} ORDER BY pos LIMIT ?2"
    ))?;
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows = st.query_map(params![after, limit], cols)?;
    rows.map(|r| outbox::event(r?)).collect()
}

/// Up to `limit` events after position `after`, in commit order (`legacy`: the ledger still
/// has the `outbox` table of earlier versions, read first).
pub(super) fn after(
    conn: &Connection,
    legacy: bool,
    after: i64,
    limit: usize,
) -> Result<Vec<OutboxEvent>> {
    let mut out = if legacy {
        legacy_after(conn, "", after, limit)?
    } else {
        Vec::new()
    };
    let after = out.last().map_or(after, |e| e.pos.max(after));
    // Every row holds at least one event, except perhaps the first read (it may hold only
    // positions up to `after`, or the marker of `open_legacy`).
    let rows = rows_from(conn, "", after, (limit - out.len()).saturating_add(1))?;
    for row in rows {
        for e in events_of(row)? {
            if out.len() == limit {
                return Ok(out);
            }
            if e.pos > after {
                out.push(e);
            }
        }
    }
    Ok(out)
}

/// The unpublished events after position `after`, in commit order, read from `floor` on:
/// whole `outbox_batch` rows, at least `limit` events when there are that many (a row is
/// marked published only with all its events, so the relay reads all of them; a row holds
/// at most one writer batch's events).
///
/// SQLite keeps no index of the unpublished rows: its insert cost the one writer a b-tree
/// insert an event (docs/PERFORMANCE.md). Here rows commit in `pos` order (one writer, and
/// a row's `pos` is given in the transaction that commits it), so every row at or below the
/// highest committed `pos` is visible once that is, and a row never becomes unpublished
/// again: the first position of the lowest unpublished row seen, less one, or the highest
/// committed when none is unpublished (read first, before the rows), is a floor below which
/// every row is published. The relay's reads then scan only what it has not published yet;
/// the first after a start scans what the retention keeps.
pub(super) fn unpublished(
    conn: &Connection,
    legacy: bool,
    after: i64,
    floor: &AtomicI64,
    limit: usize,
) -> Result<Vec<OutboxEvent>> {
    let highest = highest(conn, legacy)?;
    let from = after.max(floor.load(Ordering::Relaxed));
    let mut out = if legacy {
        legacy_after(conn, "AND published_us IS NULL", from, limit)?
    } else {
        Vec::new()
    };
    let mut lowest = out.first().map(|e| e.pos);
    if out.len() < limit {
        let rows = rows_from(
            conn,
            "AND published_us IS NULL",
            from,
            (limit - out.len()).saturating_add(1),
        )?;
        lowest = lowest.or(rows.first().map(|r| r.0));
        for row in rows {
            if out.len() >= limit {
                break;
            }
            out.extend(events_of(row)?.into_iter().filter(|e| e.pos > from));
        }
    }
    // Only a read from the floor itself says where the floor is.
    if from == floor.load(Ordering::Relaxed) {
        let below = lowest.map_or(highest, |p| p - 1);
        floor.fetch_max(below.min(highest), Ordering::Relaxed);
    }
    Ok(out)
}

/// How many events wait to be published (read from the floor `unpublished` keeps).
pub(super) fn pending(conn: &Connection, legacy: bool, floor: &AtomicI64) -> Result<u64> {
    let floor = floor.load(Ordering::Relaxed);
    let mut n: i64 = conn
        .prepare_cached(
            "SELECT coalesce(sum(n), 0) FROM outbox_batch WHERE pos > ?1 AND published_us IS NULL",
        )?
        .query_row([floor], |r| r.get(0))?;
    if legacy {
        let old: i64 = conn
            .prepare_cached("SELECT count(*) FROM outbox WHERE pos > ?1 AND published_us IS NULL")?
            .query_row([floor], |r| r.get(0))?;
        n = n.saturating_add(old);
    }
    Ok(u64::try_from(n).unwrap_or(0))
}

/// Runs `go` in one `BEGIN IMMEDIATE` transaction on the relay's connection.
fn immediate<R>(conn: &Connection, go: impl FnOnce() -> Result<R>) -> Result<R> {
    conn.execute_batch("BEGIN IMMEDIATE")?;
    match go() {
        Ok(r) => {
            conn.execute_batch("COMMIT")?;
            Ok(r)
        }
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            Err(e)
        }
    }
}

/// Marks published the rows whose every position is in `positions`, one statement per run
/// of consecutive positions (a round's rows are mostly one run: one statement for hundreds
/// of events), in one short transaction on the relay's connection, which holds the
/// database's write lock for that long. A row some of whose events were not acknowledged
/// stays unpublished: the next round sends it again, whole (a re-sent event has its id).
pub(super) fn published(
    conn: &Connection,
    legacy: bool,
    positions: &[i64],
    now: Timestamp,
) -> Result<()> {
    let mut sorted = positions.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    immediate(conn, || {
        let mut st = conn.prepare_cached(
            "UPDATE outbox_batch SET published_us = ?3 \
             WHERE pos BETWEEN ?1 AND ?2 AND pos + n - 1 <= ?2 AND published_us IS NULL",
        )?;
        let mut old = legacy
            .then(|| {
                conn.prepare_cached(
                    "UPDATE outbox SET published_us = ?3 \
                     WHERE pos BETWEEN ?1 AND ?2 AND published_us IS NULL",
                )
            })
            .transpose()?;
        let us = now.as_microsecond();
        for run in sorted.chunk_by(|a, b| a.checked_add(1) == Some(*b)) {
            if let (Some(first), Some(last)) = (run.first(), run.last()) {
                let args = params![first, last, us];
                st.execute(args)?;
                if let Some(old) = old.as_mut() {
                    old.execute(args)?;
                }
            }
        }
        Ok(())
    })
}

/// Deletes the rows published before `before`, except the newest row of `outbox_batch`: the
/// next row starts where the newest ends, which must stay past every position ever given.
/// Returns how many events went.
pub(super) fn prune(conn: &Connection, legacy: bool, before: Timestamp) -> Result<usize> {
    let cut = "FROM outbox_batch WHERE published_us IS NOT NULL AND published_us < ?1 \
         AND pos < (SELECT max(pos) FROM outbox_batch)";
    immediate(conn, || {
        let us = before.as_microsecond();
        let events: i64 = conn
            // (A marker row covers a position and holds no event.)
            .prepare_cached(&format!(
                "SELECT coalesce(sum(CASE WHEN events = '[]' THEN 0 ELSE n END), 0) {cut}"
            ))?
            .query_row([us], |r| r.get(0))?;
        conn.prepare_cached(&format!("DELETE {cut}"))?
            .execute([us])?;
        let mut pruned = usize::try_from(events).unwrap_or(0);
        if legacy {
            // Every position of `outbox_batch` is past these (`open_legacy`).
            pruned += conn
                .prepare_cached(
                    "DELETE FROM outbox WHERE published_us IS NOT NULL AND published_us < ?1",
                )?
                .execute([us])?;
        }
        Ok(pruned)
    })
}

/// Whether the ledger has the `outbox` table of earlier versions (one row an event), made
/// ready to be read beside `outbox_batch`: its rows stay where they are (moving them would
/// hold the start for seconds a million events), read before the new ones, marked and pruned
/// in place. The first `outbox_batch` row must start past every position it ever gave: when
/// `outbox_batch` is still empty, a marker row (published, no event) covers the highest of
/// them, its newest row's or, for a table made with `AUTOINCREMENT` whose every row was
/// pruned, the one only `sqlite_sequence` remembers. An older version must not open the
/// ledger again: it would number its events from the old table alone.
pub(super) fn open_legacy(conn: &Connection) -> Result<bool> {
    let table = |name: &str| -> Result<bool> {
        Ok(conn.query_row(
            "SELECT count(*) > 0 FROM sqlite_schema WHERE type = 'table' AND name = ?1",
            [name],
            |r| r.get(0),
        )?)
    };
    if !table("outbox")? {
        return Ok(false);
    }
    immediate(conn, || {
        let empty: bool =
            conn.query_row("SELECT NOT EXISTS (SELECT 1 FROM outbox_batch)", [], |r| {
                r.get(0)
            })?;
        if !empty {
            return Ok(());
        }
        let given: i64 = if table("sqlite_sequence")? {
            conn.query_row(
                "SELECT coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'outbox'), 0)",
                [],
                |r| r.get(0),
            )?
        } else {
            0
        };
        let top = given.max(highest(conn, true)?);
        if top > 0 {
            conn.execute(
                "INSERT INTO outbox_batch (pos, n, published_us, events) VALUES (?1, 1, ?2, '[]')",
                params![top, Timestamp::now().as_microsecond()],
            )?;
        }
        Ok(())
    })?;
    Ok(true)
}

pub(super) fn lease(
    conn: &Connection,
    holder: &str,
    now: Timestamp,
    until: Timestamp,
) -> Result<bool> {
    let n = conn
        .prepare_cached(
            "INSERT INTO outbox_lease (name, holder, until_us) VALUES ('relay', ?1, ?3) \
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, until_us = excluded.until_us \
             WHERE outbox_lease.holder = excluded.holder OR outbox_lease.until_us <= ?2",
        )?
        .execute(params![holder, now.as_microsecond(), until.as_microsecond()])?;
    Ok(n == 1)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use jiff::civil::Date;
    use jiff::SignedDuration;

    use super::*;
    use crate::machine::events::Event;

    fn ledger() -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        for ddl in outbox::SQLITE_DDL {
            conn.execute(ddl, []).unwrap();
        }
        conn
    }

    /// One transaction's events: `names.len()` cutovers, numbered from `seq`.
    fn commit(conn: &Connection, seq: i64, names: &[&str]) {
        let date = Date::constant(2026, 12, 6);
        let events: Vec<Event> = names
            .iter()
            .map(|n| Event::business_date(n, date, Timestamp::UNIX_EPOCH))
            .collect();
        let last = HashMap::from([(outbox::NO_ACCOUNT.to_owned(), seq - 1)]);
        let (rows, seqs) = outbox::rows(&last, &events).unwrap();
        write(&Statements::new(conn), &rows, &seqs).unwrap();
    }

    fn positions(events: &[OutboxEvent]) -> Vec<i64> {
        events.iter().map(|e| e.pos).collect()
    }

    #[test]
    fn a_transactions_events_share_a_row_and_are_published_together() {
        let conn = ledger();
        commit(&conn, 1, &["c-1", "c-\"2\"\\", "c-3"]);
        commit(&conn, 4, &["c-4"]);
        commit(&conn, 5, &["c-5", "c-6"]);
        let rows: i64 = conn
            .query_row("SELECT count(*) FROM outbox_batch", [], |r| r.get(0))
            .unwrap();
        assert_eq!(rows, 3, "one row a transaction");

        let all = after(&conn, false, 0, 100).unwrap();
        assert_eq!(positions(&all), [1, 2, 3, 4, 5, 6]);
        assert_eq!(
            all.iter().map(|e| e.seq).collect::<Vec<_>>(),
            [1, 2, 3, 4, 5, 6]
        );
        assert_eq!(all[1].id, "business_date.changed/c-\"2\"\\");
        let ce: serde_json::Value = serde_json::from_str(&all[1].body).unwrap();
        assert_eq!(ce["id"], "business_date.changed/c-\"2\"\\");
        assert_eq!(ce["data"]["seq"], 2);
        // Pages end and start inside a row.
        assert_eq!(positions(&after(&conn, false, 0, 2).unwrap()), [1, 2]);
        assert_eq!(positions(&after(&conn, false, 2, 2).unwrap()), [3, 4]);
        assert_eq!(positions(&after(&conn, false, 5, 9).unwrap()), [6]);
        assert!(after(&conn, false, 6, 9).unwrap().is_empty());

        // Unpublished events come in whole rows.
        let floor = AtomicI64::new(0);
        let first = unpublished(&conn, false, 0, &floor, 2).unwrap();
        assert_eq!(positions(&first), [1, 2, 3]);
        assert_eq!(pending(&conn, false, &floor).unwrap(), 6);
        let now = Timestamp::now();
        // Two of the first row's three acknowledged: none of it is marked.
        published(&conn, false, &[1, 2, 4], now).unwrap();
        let left = unpublished(&conn, false, 0, &floor, 100).unwrap();
        assert_eq!(positions(&left), [1, 2, 3, 5, 6]);
        assert_eq!(pending(&conn, false, &floor).unwrap(), 5);
        published(&conn, false, &[3, 1, 2, 5], now).unwrap();
        assert_eq!(
            positions(&unpublished(&conn, false, 0, &floor, 100).unwrap()),
            [5, 6]
        );
        assert_eq!(
            floor.load(Ordering::Relaxed),
            4,
            "below the first unpublished row"
        );
        assert_eq!(pending(&conn, false, &floor).unwrap(), 2);
        published(&conn, false, &[6, 5], now).unwrap();
        assert!(unpublished(&conn, false, 0, &floor, 100)
            .unwrap()
            .is_empty());
        assert_eq!(floor.load(Ordering::Relaxed), 6);
        let read = after(&conn, false, 0, 100).unwrap();
        assert!(read.iter().all(|e| e.published_at.is_some()), "{read:#?}");

        // Pruning counts events and keeps the newest row: the next one starts past it.
        let later = now.checked_add(SignedDuration::from_secs(1)).unwrap();
        assert_eq!(prune(&conn, false, later).unwrap(), 4);
        assert_eq!(positions(&after(&conn, false, 0, 100).unwrap()), [5, 6]);
        commit(&conn, 7, &["c-7"]);
        assert_eq!(positions(&after(&conn, false, 0, 100).unwrap()), [5, 6, 7]);
    }

    #[test]
    fn a_batch_with_more_events_than_positions_is_an_error_not_events() {
        let conn = ledger();
        commit(&conn, 1, &["c-1", "c-2"]);
        conn.execute("UPDATE outbox_batch SET n = 1", []).unwrap();
        assert!(after(&conn, false, 0, 10).is_err());
    }

    #[test]
    fn rows_are_written_compressed_and_rows_written_as_text_before_still_read() {
        let conn = ledger();
        let names: Vec<String> = (1..=50).map(|i| format!("cutover-{i}")).collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        commit(&conn, 1, &names);
        let (kind, stored): (String, i64) = conn
            .query_row(
                "SELECT typeof(events), length(events) FROM outbox_batch",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!(kind, "blob");
        let events = after(&conn, false, 0, 100).unwrap();
        assert_eq!(positions(&events), (1..=50).collect::<Vec<_>>());
        let plain = events.iter().map(|e| e.body.len()).sum::<usize>();
        assert!(
            usize::try_from(stored).unwrap() * 3 < plain,
            "{stored} bytes stored for events of {plain}"
        );

        // A row an earlier version wrote: the same JSON, as text, read as it is.
        let (rows, _) = outbox::rows(
            &HashMap::from([(outbox::NO_ACCOUNT.to_owned(), 50)]),
            &[Event::business_date(
                "cutover-51",
                Date::constant(2026, 12, 7),
                Timestamp::UNIX_EPOCH,
            )],
        )
        .unwrap();
        conn.execute(
            "INSERT INTO outbox_batch (pos, n, events) VALUES (51, 1, ?1)",
            [outbox::batch_json(&rows)],
        )
        .unwrap();
        let all = after(&conn, false, 0, 100).unwrap();
        assert_eq!(positions(&all), (1..=51).collect::<Vec<_>>());
        assert_eq!(all[50].id, "business_date.changed/cutover-51");
        assert_eq!(all[50].seq, 51);
        // The next batch starts past it, compressed again.
        commit(&conn, 52, &["cutover-52"]);
        assert_eq!(positions(&after(&conn, false, 50, 100).unwrap()), [51, 52]);
    }

    #[test]
    fn a_batch_too_large_to_unpack_safely_is_kept_as_text() {
        let big = format!("[{}]", "x".repeat(MAX_JSON_PER_EVENT));
        assert!(pack(&big, 1).is_none());
        assert!(pack(&big, 2).is_some());
    }

    #[test]
    fn a_damaged_compressed_row_is_an_error_and_allocates_no_more_than_its_bound() {
        let conn = ledger();
        commit(&conn, 1, &["c-1", "c-2"]);
        let packed: Vec<u8> = conn
            .query_row("SELECT events FROM outbox_batch", [], |r| r.get(0))
            .unwrap();
        let set = |bytes: &[u8]| {
            conn.execute("UPDATE outbox_batch SET events = ?1", [bytes])
                .unwrap();
        };
        // A header that claims 4 GiB for two events: refused before any allocation.
        let mut huge = packed.clone();
        huge[..4].copy_from_slice(&u32::MAX.to_le_bytes());
        set(&huge);
        let e = after(&conn, false, 0, 10).unwrap_err();
        assert!(
            e.to_string().contains("longer than its positions allow"),
            "{e}"
        );
        // A header that claims more than the data holds, a cut body, no header.
        let mut long = packed.clone();
        let len = u32::from_le_bytes(long[..4].try_into().unwrap());
        long[..4].copy_from_slice(&(len + 10).to_le_bytes());
        for bad in [
            &long[..],
            &packed[..packed.len() / 2],
            &packed[..3],
            &[][..],
        ] {
            set(bad);
            assert!(after(&conn, false, 0, 10).is_err(), "{bad:?}");
            let floor = AtomicI64::new(0);
            assert!(unpublished(&conn, false, 0, &floor, 10).is_err());
        }
        // Bytes that are no LZ4 block at all.
        set(&[0xff; 64]);
        assert!(after(&conn, false, 0, 10).is_err());
        set(&packed);
        assert_eq!(positions(&after(&conn, false, 0, 10).unwrap()), [1, 2]);
    }
}
