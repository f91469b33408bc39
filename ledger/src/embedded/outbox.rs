//! The outbox's rows in SQLite (see `crate::outbox`): written by the writer with each batch,
//! read by the reader, marked published and pruned on the relay's own connection.

use std::sync::atomic::{AtomicI64, Ordering};

use jiff::Timestamp;
use rusqlite::{params, Connection, OptionalExtension};

use super::sql::Statements;
use crate::outbox::{self, EventCols, OutboxRow, COLUMNS};
use crate::{OutboxEvent, Result};

/// The last event `seq` of `account` (0: none yet).
pub(super) fn last_seq(conn: &Connection, account: &str) -> Result<i64> {
    Ok(conn
        .prepare_cached("SELECT last_seq FROM outbox_seq WHERE account = ?1")?
        .query_row([account], |r| r.get(0))
        .optional()?
        .unwrap_or(0))
}

/// Writes a batch's rows and counters inside its transaction, on the writer's own prepared
/// statements (rusqlite's statement cache hashes the SQL text and moves the statement in and
/// out of its LRU on every use: about 2 k instructions a row on the one writer).
pub(super) fn write(s: &Statements<'_>, rows: &[OutboxRow], seqs: &[(String, i64)]) -> Result<()> {
    const INSERT: &str = "INSERT INTO outbox (id, account, seq, kind, at_us, body) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
    const SEQ: &str = "INSERT INTO outbox_seq (account, last_seq) VALUES (?1, ?2) \
         ON CONFLICT (account) DO UPDATE SET last_seq = excluded.last_seq";
    for r in rows {
        s.with(INSERT, |st| {
            st.execute(params![r.id, r.account, r.seq, r.kind, r.at_us, r.body])?;
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

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<EventCols> {
    r.try_into()
}

/// The rows after `after`, in commit order.
pub(super) fn after(conn: &Connection, after: i64, limit: usize) -> Result<Vec<OutboxEvent>> {
    let mut st = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM outbox WHERE pos > ?1 ORDER BY pos LIMIT ?2"
    ))?;
    let rows = st.query_map(params![after, limit as i64], row)?;
    rows.map(|r| outbox::event(r?)).collect()
}

/// The unpublished rows after `after`, in commit order, read from `floor` on.
///
/// SQLite keeps no index of the unpublished rows: its insert cost the one writer a b-tree
/// insert an event (docs/PERFORMANCE.md). Here rows commit in `pos` order (one writer, and
/// a row's `pos` is given in the transaction that commits it), so every row at or below the
/// highest committed `pos` is visible once that is, and a row never becomes unpublished
/// again: the lowest unpublished row seen, less one, or the highest committed when none is
/// unpublished (read first, before the rows), is a floor below which every row is published.
/// The relay's reads then scan only what it has not published yet; the first after a start
/// scans what the retention keeps.
pub(super) fn unpublished(
    conn: &Connection,
    after: i64,
    floor: &AtomicI64,
    limit: usize,
) -> Result<Vec<OutboxEvent>> {
    let highest: i64 = conn
        .prepare_cached("SELECT coalesce(max(pos), 0) FROM outbox")?
        .query_row([], |r| r.get(0))?;
    let from = after.max(floor.load(Ordering::Relaxed));
    let mut st = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM outbox WHERE pos > ?1 AND published_us IS NULL \
         ORDER BY pos LIMIT ?2"
    ))?;
    let rows: Vec<EventCols> = st
        .query_map(params![from, limit as i64], row)?
        .collect::<rusqlite::Result<_>>()?;
    // Only a read from the floor itself says where the floor is.
    if from == floor.load(Ordering::Relaxed) {
        let below = rows.first().map_or(highest, |r| r.0 - 1);
        floor.fetch_max(below.min(highest), Ordering::Relaxed);
    }
    rows.into_iter().map(outbox::event).collect()
}

/// How many rows wait to be published (read from the floor `unpublished` keeps).
pub(super) fn pending(conn: &Connection, floor: &AtomicI64) -> Result<u64> {
    let n: i64 = conn
        .prepare_cached("SELECT count(*) FROM outbox WHERE pos > ?1 AND published_us IS NULL")?
        .query_row([floor.load(Ordering::Relaxed)], |r| r.get(0))?;
    Ok(u64::try_from(n).unwrap_or(0))
}

/// Marks `positions` published, one statement per run of consecutive positions (a round's
/// rows are mostly one run: one statement for hundreds of rows), in one short transaction on
/// the relay's connection, which holds the database's write lock for that long.
pub(super) fn published(conn: &Connection, positions: &[i64], now: Timestamp) -> Result<()> {
    let mut sorted = positions.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    conn.execute_batch("BEGIN IMMEDIATE")?;
    let go = || -> Result<()> {
        let mut st = conn.prepare_cached(
            "UPDATE outbox SET published_us = ?3 \
             WHERE pos BETWEEN ?1 AND ?2 AND published_us IS NULL",
        )?;
        for run in sorted.chunk_by(|a, b| a.checked_add(1) == Some(*b)) {
            if let (Some(first), Some(last)) = (run.first(), run.last()) {
                st.execute(params![first, last, now.as_microsecond()])?;
            }
        }
        Ok(())
    };
    match go() {
        Ok(()) => Ok(conn.execute_batch("COMMIT")?),
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            Err(e)
        }
    }
}

/// Deletes the rows published before `before`, except the newest row of all: the next row's
/// `pos` is the highest kept + 1, and must stay above every `pos` ever given.
pub(super) fn prune(conn: &Connection, before: Timestamp) -> Result<usize> {
    Ok(conn
        .prepare_cached(
            "DELETE FROM outbox WHERE published_us IS NOT NULL AND published_us < ?1 \
             AND pos < (SELECT max(pos) FROM outbox)",
        )?
        .execute([before.as_microsecond()])?)
}

/// Drops `AUTOINCREMENT` from an outbox table made by an earlier version, in place: the
/// table's b-tree is the same with or without it, only its definition in `sqlite_schema`
/// and its `sqlite_sequence` row differ (SQLite's documented procedure for definition
/// changes that leave the stored rows as they are: <https://www.sqlite.org/lang_altertable.html>,
/// "Making Other Kinds Of Table Schema Changes"). Done only when the newest `pos` ever given
/// is still a row of the table, so that the next one is still above it; otherwise (every
/// row pruned) the table keeps it until a later open. Returns whether it changed.
pub(super) fn drop_autoincrement(conn: &Connection) -> Result<bool> {
    let sql: Option<String> = conn
        .query_row(
            "SELECT sql FROM sqlite_schema WHERE type = 'table' AND name = 'outbox'",
            [],
            |r| r.get(0),
        )
        .optional()?;
    let Some(sql) = sql.filter(|s| s.contains("AUTOINCREMENT")) else {
        return Ok(false);
    };
    conn.execute_batch("BEGIN IMMEDIATE")?;
    let go = || -> Result<bool> {
        let given: i64 = conn.query_row(
            "SELECT coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'outbox'), 0)",
            [],
            |r| r.get(0),
        )?;
        let newest: i64 =
            conn.query_row("SELECT coalesce(max(pos), 0) FROM outbox", [], |r| r.get(0))?;
        if newest < given {
            return Ok(false);
        }
        let version: i64 = conn.query_row("PRAGMA schema_version", [], |r| r.get(0))?;
        conn.execute_batch("PRAGMA writable_schema = ON")?;
        conn.execute(
            "UPDATE sqlite_schema SET sql = ?1 WHERE type = 'table' AND name = 'outbox'",
            [sql.replacen(" AUTOINCREMENT", "", 1)],
        )?;
        conn.execute("DELETE FROM sqlite_sequence WHERE name = 'outbox'", [])?;
        conn.execute_batch(&format!("PRAGMA schema_version = {}", version + 1))?;
        conn.execute_batch("PRAGMA writable_schema = OFF")?;
        Ok(true)
    };
    match go() {
        Ok(changed) => {
            conn.execute_batch("COMMIT")?;
            Ok(changed)
        }
        Err(e) => {
            let _ = conn.execute_batch("PRAGMA writable_schema = OFF");
            let _ = conn.execute_batch("ROLLBACK");
            Err(e)
        }
    }
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
