//! The outbox's rows in SQLite (see `crate::outbox`): written by the writer with each batch,
//! read by the reader, marked published and pruned on the relay's own connection.

use std::sync::atomic::{AtomicI64, Ordering};

use jiff::Timestamp;
use rusqlite::{params, Connection, OptionalExtension};

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

/// Writes a batch's rows and counters inside its transaction.
pub(super) fn write(conn: &Connection, rows: &[OutboxRow], seqs: &[(String, i64)]) -> Result<()> {
    for r in rows {
        conn.prepare_cached(
            "INSERT INTO outbox (id, account, seq, kind, at_us, body) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?
        .execute(params![r.id, r.account, r.seq, r.kind, r.at_us, r.body])?;
    }
    for (a, n) in seqs {
        conn.prepare_cached(
            "INSERT INTO outbox_seq (account, last_seq) VALUES (?1, ?2) \
             ON CONFLICT (account) DO UPDATE SET last_seq = excluded.last_seq",
        )?
        .execute(params![a, n])?;
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

pub(super) fn published(conn: &Connection, positions: &[i64], now: Timestamp) -> Result<()> {
    conn.execute_batch("BEGIN IMMEDIATE")?;
    let go = || -> Result<()> {
        let mut st = conn.prepare_cached(
            "UPDATE outbox SET published_us = ?2 WHERE pos = ?1 AND published_us IS NULL",
        )?;
        for p in positions {
            st.execute(params![p, now.as_microsecond()])?;
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

pub(super) fn prune(conn: &Connection, before: Timestamp) -> Result<usize> {
    Ok(conn
        .prepare_cached("DELETE FROM outbox WHERE published_us IS NOT NULL AND published_us < ?1")?
        .execute([before.as_microsecond()])?)
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
