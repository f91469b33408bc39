//! [`Engine`] over the writer's SQLite connection. One writer thread per process and
//! `BEGIN IMMEDIATE` (the database's write lock for the whole batch) make what the batch
//! reads after `BEGIN` stay true until its `COMMIT`: there is nothing to lock per account,
//! and a failed step leaves nothing to retry against (every failure is final for the batch).

use rusqlite::Connection;

use super::cache::CardCache;
use super::outbox;
use super::sql::{self, Statements, Stmts};
use crate::faults::{self, Fault};
use crate::machine::engine::{Engine, EngineError, Step};
use crate::machine::needs::Needs;
use crate::machine::{Approvals, Effects, Snapshot};
use crate::{LedgerError, NO_ACCOUNT};

pub(crate) struct SqliteEngine<'a, 'c> {
    pub(crate) conn: &'c Connection,
    pub(crate) stmts: &'a Statements<'c>,
    pub(crate) cards: &'a mut CardCache,
}

fn failed(e: impl Into<LedgerError>) -> EngineError {
    EngineError::Failed(e.into())
}

impl SqliteEngine<'_, '_> {
    fn exec(&self, sql: &'static str) -> rusqlite::Result<()> {
        self.conn.prepare_cached(sql)?.execute([])?;
        Ok(())
    }
}

impl Engine for SqliteEngine<'_, '_> {
    async fn begin(&mut self, needs: &Needs) -> Step<Snapshot> {
        self.exec("BEGIN IMMEDIATE").map_err(failed)?;
        self.cards.begin(self.conn).map_err(failed)?;
        let mut snap = Snapshot::default();
        let s = Stmts::Writer(self.stmts);
        let cards = &mut *self.cards;
        sql::load(&s, needs, &mut snap, &mut |h, load| {
            cards.get_or_load(h, load)
        })
        .map_err(failed)?;
        Ok(snap)
    }

    async fn lock(&mut self, needs: &Needs, accounts: &[String], snap: &mut Snapshot) -> Step {
        let s = Stmts::Writer(self.stmts);
        for a in accounts {
            snap.wallets
                .insert(a.clone(), sql::wallets_of(&s, a).map_err(failed)?);
        }
        if needs.approvals > 0 {
            snap.approvals = Approvals::Counter(sql::approval_counter(self.stmts).map_err(failed)?);
        }
        for (card, period) in needs.spend_keys(snap) {
            let row = sql::spend(&s, &card, &period).map_err(failed)?;
            snap.spend.insert((card, period), row);
        }
        // One writer: the counters read here stay true until the commit.
        for card in needs.pin_keys(snap) {
            let row = sql::pin_state(&s, &card).map_err(failed)?;
            snap.pins.insert(card, row);
        }
        for card in needs.atc_keys(snap) {
            let row = sql::atc_window(&s, &card).map_err(failed)?;
            snap.atcs.insert(card, row);
        }
        for k in needs.card_of_keys(snap) {
            let card = sql::card_of_decision(&s, &k).map_err(failed)?;
            if let Some((id, masked)) = &card {
                snap.masked.insert(id.clone(), masked.clone());
            }
            snap.card_of_key.insert(k, card.map(|(id, _)| id));
        }
        for id in needs.masked_ids(snap) {
            let masked = sql::masked_by_id(&s, &id).map_err(failed)?;
            snap.masked.insert(id, masked);
        }
        for a in accounts.iter().map(String::as_str).chain([NO_ACCOUNT]) {
            let conn = self.conn;
            let last = self
                .cards
                .seq_or_load(a, || outbox::last_seq(conn, a))
                .map_err(failed)?;
            snap.event_seq.insert(a.to_owned(), last);
        }
        Ok(())
    }

    async fn commit(&mut self, effects: &Effects) -> Step {
        sql::write(self.conn, self.stmts, effects).map_err(failed)?;
        outbox::write(self.stmts, &effects.outbox, &effects.outbox_seq).map_err(failed)?;
        if faults::hit(Fault::FailCommit) {
            return Err(failed(rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_FULL),
                Some("injected fault: database or disk is full".into()),
            )));
        }
        if faults::hit(Fault::SlowCommit) {
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        self.exec("COMMIT").map_err(failed)?;
        self.cards.committed_seqs(&effects.outbox_seq);
        // Cards are cached with their controls and their account's: any change to either
        // is seen by the next batch.
        if !effects.cards_new.is_empty()
            || !effects.cards_changed.is_empty()
            || !effects.account_controls.is_empty()
        {
            self.cards.forget();
        }
        Ok(())
    }

    async fn rollback(&mut self) {
        let _ = self.exec("ROLLBACK");
    }
}
