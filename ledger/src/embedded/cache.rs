//! What the single writer keeps in memory between statements, so that the hot path of an
//! authorization runs fewer SQL statements without weakening what a commit promises.
//!
//! - **Approval counter.** Read once per transaction (lazily, inside `BEGIN IMMEDIATE`, so no
//!   other process can move it meanwhile), counted in memory, written back once just before
//!   `COMMIT`. A rolled-back transaction throws the in-memory value away with its writes.
//!   Operations undone by a savepoint may leave gaps in the numbers; numbers never repeat.
//! - **Cards.** Card rows change only through seeding (`insert_card`) or from outside the
//!   process. Every transaction begins by reading `PRAGMA data_version`, which changes when
//!   any *other* connection (a second instance during a rolling restart, an operator's
//!   `sqlite3`) committed; then, and whenever this connection inserts a card or rolls back,
//!   the cache is emptied. It holds what the `cards` table holds (the PAN's keyed hash, last
//!   four digits, expiry, status), never a PAN.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;

use rusqlite::Connection;

use crate::{CardRecord, Result};

/// Cards kept at most; beyond it the cache starts again empty (a bound, not an LRU: the hot
/// set refills in one pass).
const MAX_CARDS: usize = 65_536;

#[derive(Default)]
pub(crate) struct WriterCache {
    /// The last approval number handed out in this transaction; `None` until first used
    /// (and then nothing needs writing back).
    approval: Cell<Option<u64>>,
    cards: RefCell<HashMap<String, CardRecord>>,
    data_version: Cell<Option<i64>>,
}

impl WriterCache {
    /// Called right after `BEGIN IMMEDIATE`.
    pub(crate) fn begin(&self, conn: &Connection) -> rusqlite::Result<()> {
        self.approval.set(None);
        let v: i64 = conn
            .prepare_cached("PRAGMA data_version")?
            .query_row([], |r| r.get(0))?;
        if self.data_version.replace(Some(v)) != Some(v) {
            self.cards.borrow_mut().clear();
        }
        Ok(())
    }

    /// Called right before `COMMIT`: writes the approval counter if it moved.
    pub(crate) fn flush(&self, conn: &Connection) -> rusqlite::Result<()> {
        if let Some(v) = self.approval.take() {
            conn.prepare_cached("UPDATE meta SET v = ?1 WHERE k = 'approval'")?
                .execute([v as i64])?;
        }
        Ok(())
    }

    /// Called after any `ROLLBACK` or `ROLLBACK TO`: a card read inside the undone work
    /// may have been inserted by it.
    pub(crate) fn rolled_back(&self) {
        self.cards.borrow_mut().clear();
    }

    pub(crate) fn next_approval_number(&self, conn: &Connection) -> Result<u64> {
        let last = match self.approval.get() {
            Some(v) => v,
            None => {
                let v: i64 = conn
                    .prepare_cached("SELECT v FROM meta WHERE k = 'approval'")?
                    .query_row([], |r| r.get(0))?;
                v as u64
            }
        };
        let next = last + 1;
        self.approval.set(Some(next));
        Ok(next)
    }

    pub(crate) fn card(&self, pan_hash: &str) -> Option<CardRecord> {
        self.cards.borrow().get(pan_hash).cloned()
    }

    pub(crate) fn remember_card(&self, card: &CardRecord) {
        let mut cards = self.cards.borrow_mut();
        if cards.len() >= MAX_CARDS {
            cards.clear();
        }
        cards.insert(card.pan_hash.clone(), card.clone());
    }

    pub(crate) fn forget_cards(&self) {
        self.cards.borrow_mut().clear();
    }
}
