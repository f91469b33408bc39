//! The writer's memory of cards between batches, so that the hot path of an authorization
//! does not look its card up in the table every time.
//!
//! Card rows change only through seeding (by this writer, which then forgets them all) or
//! from outside the process. Every transaction begins by reading `PRAGMA data_version`,
//! which changes when any *other* connection (a second instance during a rolling restart, an
//! operator's `sqlite3`) committed; the cache is then emptied. It holds what the `cards`
//! table holds (the PAN's keyed hash, last four digits, expiry, status), never a PAN.
//!
//! It keeps, the same way, each account's last event `seq` (the `outbox_seq` row), learned
//! when read and set after each commit, so that numbering a batch's events reads nothing.

use std::collections::HashMap;

use rusqlite::Connection;

use crate::{CardRecord, Result};

/// Cards kept at most; beyond it the cache starts again empty (a bound, not an LRU: the hot
/// set refills in one pass).
const MAX_CARDS: usize = 65_536;

#[derive(Default)]
pub(crate) struct CardCache {
    cards: HashMap<String, Option<CardRecord>>,
    /// Last event `seq` by account, as committed.
    seqs: HashMap<String, i64>,
    data_version: Option<i64>,
}

impl CardCache {
    /// Called right after `BEGIN IMMEDIATE`: forgets everything if another connection wrote.
    pub(crate) fn begin(&mut self, conn: &Connection) -> rusqlite::Result<()> {
        let v: i64 = conn
            .prepare_cached("PRAGMA data_version")?
            .query_row([], |r| r.get(0))?;
        if self.data_version.replace(v) != Some(v) {
            self.cards.clear();
            self.seqs.clear();
        }
        Ok(())
    }

    /// The card with `pan_hash`, from memory or from `load`.
    pub(crate) fn get_or_load(
        &mut self,
        pan_hash: &str,
        load: &dyn Fn() -> Result<Option<CardRecord>>,
    ) -> Result<Option<CardRecord>> {
        if let Some(c) = self.cards.get(pan_hash) {
            return Ok(c.clone());
        }
        let c = load()?;
        if self.cards.len() >= MAX_CARDS {
            self.cards.clear();
        }
        // An unknown card is remembered too: a flood of unknown cards costs one lookup each.
        self.cards.insert(pan_hash.to_owned(), c.clone());
        Ok(c)
    }

    /// The last event `seq` of `account`, from memory or from `load`.
    pub(crate) fn seq_or_load(
        &mut self,
        account: &str,
        load: impl FnOnce() -> Result<i64>,
    ) -> Result<i64> {
        if let Some(&n) = self.seqs.get(account) {
            return Ok(n);
        }
        let n = load()?;
        if self.seqs.len() >= MAX_CARDS {
            self.seqs.clear();
        }
        self.seqs.insert(account.to_owned(), n);
        Ok(n)
    }

    /// Each account's last `seq` as a batch just committed them.
    pub(crate) fn committed_seqs(&mut self, seqs: &[(String, i64)]) {
        for (a, n) in seqs {
            if let Some(v) = self.seqs.get_mut(a) {
                *v = *n;
            } else {
                self.seqs.insert(a.clone(), *n);
            }
        }
    }

    /// Forgets every card (this writer inserted or changed some).
    pub(crate) fn forget(&mut self) {
        self.cards.clear();
    }
}
