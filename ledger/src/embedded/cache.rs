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
//! - **Wallets, within one transaction of the fast path** (no savepoints). The first read of
//!   an account's wallets in the transaction goes to the table; later reads and updates use
//!   and change the copy, and the wallets changed are written once, just before `COMMIT`.
//!   Nothing else can write them meanwhile (`BEGIN IMMEDIATE` holds the database's write
//!   lock, and other connections' readers see only commits). A batch of requests on one
//!   card then costs one wallet read and one wallet write instead of one each per request.
//!   Any rollback forgets the copy with the writes. Re-runs with savepoints do not use it:
//!   `ROLLBACK TO` one request must not take the earlier requests' unwritten wallets along.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;

use rusqlite::Connection;

use crate::{CardRecord, Result, Wallet};

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
    /// Whether this transaction keeps wallets in memory (the fast path).
    keep_wallets: Cell<bool>,
    /// By account: its wallets as this transaction sees them, and whether each changed.
    wallets: RefCell<HashMap<String, Vec<(Wallet, bool)>>>,
}

impl WriterCache {
    /// Called right after `BEGIN IMMEDIATE`.
    pub(crate) fn begin(&self, conn: &Connection, keep_wallets: bool) -> rusqlite::Result<()> {
        self.approval.set(None);
        self.wallets.borrow_mut().clear();
        self.keep_wallets.set(keep_wallets);
        let v: i64 = conn
            .prepare_cached("PRAGMA data_version")?
            .query_row([], |r| r.get(0))?;
        if self.data_version.replace(Some(v)) != Some(v) {
            self.cards.borrow_mut().clear();
        }
        Ok(())
    }

    /// Called right before `COMMIT`: writes the approval counter if it moved and the
    /// wallets that changed.
    pub(crate) fn flush(&self, conn: &Connection) -> rusqlite::Result<()> {
        if let Some(v) = self.approval.take() {
            conn.prepare_cached("UPDATE meta SET v = ?1 WHERE k = 'approval'")?
                .execute([v as i64])?;
        }
        let accounts: Vec<String> = self.wallets.borrow().keys().cloned().collect();
        for a in accounts {
            self.write_wallets(conn, &a)?;
        }
        Ok(())
    }

    /// Writes the changed wallets of `account` and marks them written.
    pub(crate) fn write_wallets(&self, conn: &Connection, account: &str) -> rusqlite::Result<()> {
        let mut all = self.wallets.borrow_mut();
        let Some(ws) = all.get_mut(account) else {
            return Ok(());
        };
        for (w, changed) in ws.iter_mut().filter(|(_, c)| *c) {
            write_wallet(conn, w)?;
            *changed = false;
        }
        Ok(())
    }

    /// The wallets of `account` if this transaction already read them.
    pub(crate) fn wallets(&self, account: &str) -> Option<Vec<Wallet>> {
        self.wallets
            .borrow()
            .get(account)
            .map(|ws| ws.iter().map(|(w, _)| w.clone()).collect())
    }

    /// Keeps what was just read of `account` (on the fast path only).
    pub(crate) fn remember_wallets(&self, account: &str, ws: &[Wallet]) {
        if self.keep_wallets.get() {
            self.wallets.borrow_mut().insert(
                account.to_owned(),
                ws.iter().map(|w| (w.clone(), false)).collect(),
            );
        }
    }

    /// Changes a kept wallet; false when it is not kept (the caller writes it at once).
    pub(crate) fn change_wallet(&self, w: &Wallet) -> bool {
        let mut all = self.wallets.borrow_mut();
        let kept = all
            .get_mut(&w.account_id)
            .and_then(|ws| ws.iter_mut().find(|(x, _)| x.currency == w.currency));
        match kept {
            Some((x, changed)) => {
                x.balance_minor = w.balance_minor;
                x.held_minor = w.held_minor;
                *changed = true;
                true
            }
            None => false,
        }
    }

    /// Before a new wallet of `account` is inserted: its changed wallets are written and the
    /// copy dropped, so that the next read sees the table with the new row.
    pub(crate) fn forget_wallets(&self, conn: &Connection, account: &str) -> rusqlite::Result<()> {
        self.write_wallets(conn, account)?;
        self.wallets.borrow_mut().remove(account);
        Ok(())
    }

    /// Called after any `ROLLBACK` or `ROLLBACK TO`: a card read inside the undone work
    /// may have been inserted by it.
    pub(crate) fn rolled_back(&self) {
        self.cards.borrow_mut().clear();
        self.wallets.borrow_mut().clear();
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

/// The one statement that writes a wallet's moving parts.
pub(crate) fn write_wallet(conn: &Connection, w: &Wallet) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "UPDATE wallets SET balance_minor = ?3, held_minor = ?4 \
         WHERE account_id = ?1 AND currency = ?2",
    )?
    .execute(rusqlite::params![
        w.account_id,
        w.currency,
        w.balance_minor,
        w.held_minor
    ])?;
    Ok(())
}
