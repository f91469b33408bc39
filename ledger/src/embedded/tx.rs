//! [`Tx`] over a rusqlite connection. Every call is synchronous, so the futures are ready at
//! once; the writer thread drives them with `futures::executor::block_on`.

use jiff::civil::Date;
use jiff::Timestamp;
use std::cell::RefCell;
use std::collections::hash_map::Entry;
use std::collections::HashMap;

use rusqlite::{params, Connection, OptionalExtension, Row, Statement};

use super::cache::{write_wallet, WriterCache};
use crate::rows::{
    cutover_date, decision_columns, hold_columns, holds_sql, wallet_columns, DecisionCols,
    DuplicateCols, HoldCols, DUPLICATE_COLUMNS,
};
use crate::tx::Tx;
use crate::{CardRecord, Decision, DuplicateRecord, Hold, NetworkKey, Result, Wallet};

pub(crate) struct SqliteTx<'c, 's> {
    pub(crate) conn: &'c Connection,
    /// The writer's memory (approval counter, cards); `None` on the read connection.
    pub(crate) cache: Option<&'c WriterCache>,
    /// The writer's prepared statements for the per-request SQL; `None` on the read
    /// connection, which uses rusqlite's cache.
    pub(crate) stmts: Option<&'c Statements<'s>>,
}

/// Prepared statements of the writer's connection, found by the address of their (static)
/// SQL text. rusqlite's own cache finds a statement by hashing its whole text and moves it
/// out of and back into an LRU list at every use: about a tenth of the writer's instructions
/// at three to five statements per request (callgrind).
pub(crate) struct Statements<'c> {
    conn: &'c Connection,
    by_text: RefCell<HashMap<(usize, usize), Statement<'c>>>,
}

impl<'c> Statements<'c> {
    pub(crate) fn new(conn: &'c Connection) -> Self {
        Statements {
            conn,
            by_text: RefCell::default(),
        }
    }

    /// Runs `f` on the statement for `sql`, prepared at its first use.
    fn with<R>(
        &self,
        sql: &'static str,
        f: impl FnOnce(&mut Statement<'c>) -> Result<R>,
    ) -> Result<R> {
        // Address and length: equal only for the same text.
        let key = (sql.as_ptr() as usize, sql.len());
        let mut map = self.by_text.try_borrow_mut().map_err(|_| {
            crate::LedgerError::corrupt("statements", "statement used while in use")
        })?;
        let st = match map.entry(key) {
            Entry::Occupied(e) => e.into_mut(),
            Entry::Vacant(v) => v.insert(self.conn.prepare(sql)?),
        };
        f(st)
    }
}

fn decision_row(r: &Row<'_>) -> rusqlite::Result<DecisionCols> {
    Ok(DecisionCols {
        nkey: r.get(0)?,
        kind: r.get(1)?,
        response_code: r.get(2)?,
        approval_code: r.get(3)?,
        account_id: r.get(4)?,
        amount_minor: r.get(5)?,
        currency: r.get(6)?,
        approved_minor: r.get(7)?,
        billing_amount_minor: r.get(8)?,
        billing_currency: r.get(9)?,
        rate: r.get(10)?,
        de10: r.get(11)?,
        rate_version: r.get(12)?,
        wallet_currency: r.get(13)?,
        original_key: r.get(14)?,
        business_date: r.get(15)?,
        created_us: r.get(16)?,
        updated_us: r.get(17)?,
        expires_us: r.get(18)?,
        fingerprint: r.get(19)?,
    })
}

fn hold_row(r: &Row<'_>) -> rusqlite::Result<HoldCols> {
    Ok(HoldCols {
        nkey: r.get(0)?,
        original_key: r.get(1)?,
        account_id: r.get(2)?,
        currency: r.get(3)?,
        amount_minor: r.get(4)?,
        held_minor: r.get(5)?,
        captured_minor: r.get(6)?,
        txn_amount_minor: r.get(7)?,
        txn_currency: r.get(8)?,
        status: r.get(9)?,
        business_date: r.get(10)?,
        rate_version: r.get(11)?,
        created_us: r.get(12)?,
        expires_us: r.get(13)?,
    })
}

fn wallet_row(r: &Row<'_>) -> rusqlite::Result<Wallet> {
    Ok(Wallet {
        account_id: r.get(0)?,
        currency: r.get(1)?,
        opening_minor: r.get(2)?,
        balance_minor: r.get(3)?,
        held_minor: r.get(4)?,
        overdraft_minor: r.get(5)?,
    })
}

impl SqliteTx<'_, '_> {
    /// Runs `f` on the prepared statement for `sql`: the writer's own, or rusqlite's cached
    /// one on the read connection.
    fn with_stmt<R>(
        &self,
        sql: &'static str,
        f: impl FnOnce(&mut Statement<'_>) -> Result<R>,
    ) -> Result<R> {
        match self.stmts {
            Some(s) => s.with(sql, f),
            None => f(&mut *self.conn.prepare_cached(sql)?),
        }
    }

    fn holds_where(&self, sql: &'static str, p: impl rusqlite::Params) -> Result<Vec<Hold>> {
        self.with_stmt(sql, |st| {
            let rows = st.query_map(p, hold_row)?;
            rows.map(|r| r?.into_hold()).collect()
        })
    }
}

impl Tx for SqliteTx<'_, '_> {
    async fn decision(&mut self, key: &NetworkKey) -> Result<Option<Decision>> {
        const SQL: &str = concat!(
            "SELECT ",
            decision_columns!(),
            " FROM decisions WHERE nkey = ?1"
        );
        self.with_stmt(SQL, |st| {
            st.query_row([key.db_str()], decision_row)
                .optional()?
                .map(DecisionCols::into_decision)
                .transpose()
        })
    }

    async fn insert_decision(&mut self, d: &Decision) -> Result<()> {
        let c = DecisionCols::from_decision(d);
        const SQL: &str = concat!(
            "INSERT INTO decisions (",
            decision_columns!(),
            ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, \
             ?17, ?18, ?19, ?20)"
        );
        self.with_stmt(SQL, |st| {
            st.execute(params![
                c.nkey,
                c.kind,
                c.response_code,
                c.approval_code,
                c.account_id,
                c.amount_minor,
                c.currency,
                c.approved_minor,
                c.billing_amount_minor,
                c.billing_currency,
                c.rate,
                c.de10,
                c.rate_version,
                c.wallet_currency,
                c.original_key,
                c.business_date,
                c.created_us,
                c.updated_us,
                c.expires_us,
                c.fingerprint
            ])?;
            Ok(())
        })
    }

    async fn update_decision(&mut self, d: &Decision) -> Result<()> {
        let c = DecisionCols::from_decision(d);
        const SQL: &str = "UPDATE decisions SET kind = ?2, response_code = ?3, \
             approval_code = ?4, approved_minor = ?5, updated_us = ?6 WHERE nkey = ?1";
        self.with_stmt(SQL, |st| {
            st.execute(params![
                c.nkey,
                c.kind,
                c.response_code,
                c.approval_code,
                c.approved_minor,
                c.updated_us
            ])?;
            Ok(())
        })
    }

    async fn card(&mut self, pan_hash: &str) -> Result<Option<CardRecord>> {
        if let Some(hit) = self.cache.and_then(|c| c.card(pan_hash)) {
            return Ok(Some(hit));
        }
        let mut st = self.conn.prepare_cached(
            "SELECT c.pan_hash, c.last4, c.expiry, c.status, c.account_id, a.home_currency \
             FROM cards c JOIN accounts a ON a.id = c.account_id WHERE c.pan_hash = ?1",
        )?;
        let row = st
            .query_row([pan_hash], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, String>(5)?,
                ))
            })
            .optional()?;
        let card: Option<CardRecord> = row
            .map(
                |(pan_hash, last4, expiry, status, account_id, home_currency)| {
                    Ok::<_, crate::LedgerError>(CardRecord {
                        pan_hash,
                        last4,
                        expiry,
                        status: status
                            .parse()
                            .map_err(|_| crate::LedgerError::corrupt("cards", "bad status"))?,
                        account_id,
                        home_currency,
                    })
                },
            )
            .transpose()?;
        if let (Some(cache), Some(card)) = (self.cache, &card) {
            cache.remember_card(card);
        }
        Ok(card)
    }

    async fn wallets(&mut self, account_id: &str, _lock: bool) -> Result<Vec<Wallet>> {
        if let Some(hit) = self.cache.and_then(|c| c.wallets(account_id)) {
            return Ok(hit);
        }
        // One writer thread: nothing else can change these rows before our commit.
        let mut st = self.conn.prepare_cached(concat!(
            "SELECT ",
            wallet_columns!(),
            " FROM wallets WHERE account_id = ?1 ORDER BY currency"
        ))?;
        let rows = st.query_map([account_id], wallet_row)?;
        let ws: Vec<Wallet> = rows.collect::<rusqlite::Result<_>>()?;
        if let Some(c) = self.cache {
            c.remember_wallets(account_id, &ws);
        }
        Ok(ws)
    }

    async fn lock_accounts(&mut self, _account_ids: &[String]) -> Result<()> {
        // The single writer thread already excludes every other writer.
        Ok(())
    }

    async fn insert_wallet(&mut self, w: &Wallet) -> Result<()> {
        if let Some(c) = self.cache {
            c.forget_wallets(self.conn, &w.account_id)?;
        }
        let mut st = self.conn.prepare_cached(concat!(
            "INSERT INTO wallets (",
            wallet_columns!(),
            ") VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT DO NOTHING"
        ))?;
        st.execute(params![
            w.account_id,
            w.currency,
            w.opening_minor,
            w.balance_minor,
            w.held_minor,
            w.overdraft_minor
        ])?;
        Ok(())
    }

    async fn update_wallet(&mut self, w: &Wallet) -> Result<()> {
        if self.cache.is_some_and(|c| c.change_wallet(w)) {
            return Ok(());
        }
        Ok(write_wallet(self.conn, w)?)
    }

    async fn insert_hold(&mut self, h: &Hold) -> Result<()> {
        let c = HoldCols::from_hold(h);
        const SQL: &str = concat!(
            "INSERT INTO holds (",
            hold_columns!(),
            ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)"
        );
        self.with_stmt(SQL, |st| {
            st.execute(params![
                c.nkey,
                c.original_key,
                c.account_id,
                c.currency,
                c.amount_minor,
                c.held_minor,
                c.captured_minor,
                c.txn_amount_minor,
                c.txn_currency,
                c.status,
                c.business_date,
                c.rate_version,
                c.created_us,
                c.expires_us
            ])?;
            Ok(())
        })
    }

    async fn hold(&mut self, key: &NetworkKey) -> Result<Option<Hold>> {
        Ok(self
            .holds_where(holds_sql!("WHERE nkey = ?1"), [key.db_str()])?
            .into_iter()
            .next())
    }

    async fn active_linked_holds(&mut self, original: &NetworkKey) -> Result<Vec<Hold>> {
        self.holds_where(
            holds_sql!("WHERE original_key = ?1 AND status = 'active'"),
            [original.db_str()],
        )
    }

    async fn update_hold(&mut self, h: &Hold) -> Result<()> {
        const SQL: &str =
            "UPDATE holds SET held_minor = ?2, captured_minor = ?3, status = ?4 WHERE nkey = ?1";
        self.with_stmt(SQL, |st| {
            st.execute(params![
                h.key.db_str(),
                h.held_minor,
                h.captured_minor,
                h.status.as_str()
            ])?;
            Ok(())
        })
    }

    async fn expired_holds(&mut self, now: Timestamp, limit: usize) -> Result<Vec<Hold>> {
        self.holds_where(
            holds_sql!("WHERE status = 'active' AND expires_us <= ?1 ORDER BY expires_us LIMIT ?2"),
            params![now.as_microsecond(), limit as i64],
        )
    }

    async fn next_approval_number(&mut self) -> Result<u64> {
        if let Some(cache) = self.cache {
            return cache.next_approval_number(self.conn);
        }
        let mut st = self
            .conn
            .prepare_cached("UPDATE meta SET v = v + 1 WHERE k = 'approval' RETURNING v")?;
        let v: i64 = st.query_row([], |r| r.get(0))?;
        Ok(v as u64)
    }

    async fn insert_account(&mut self, id: &str, home_currency: &str) -> Result<bool> {
        let n = self.conn.execute(
            "INSERT INTO accounts (id, home_currency) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
            [id, home_currency],
        )?;
        Ok(n == 1)
    }

    async fn insert_card(&mut self, c: &CardRecord) -> Result<()> {
        self.conn.execute(
            "INSERT INTO cards (pan_hash, last4, expiry, status, account_id) \
             VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT DO NOTHING",
            params![
                c.pan_hash,
                c.last4,
                c.expiry,
                c.status.as_str(),
                c.account_id
            ],
        )?;
        if let Some(cache) = self.cache {
            cache.forget_cards();
        }
        Ok(())
    }

    async fn all_wallets(&mut self) -> Result<Vec<Wallet>> {
        let mut st = self.conn.prepare_cached(concat!(
            "SELECT ",
            wallet_columns!(),
            " FROM wallets ORDER BY account_id, currency"
        ))?;
        let rows = st.query_map([], wallet_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    async fn all_holds(&mut self) -> Result<Vec<Hold>> {
        self.holds_where(holds_sql!("ORDER BY nkey"), [])
    }

    async fn cutover(&mut self, key: &str) -> Result<Option<Date>> {
        const SQL: &str = "SELECT business_date FROM cutovers WHERE nkey = ?1";
        self.with_stmt(SQL, |st| {
            st.query_row([key], |r| r.get::<_, String>(0))
                .optional()?
                .map(|s| cutover_date(&s))
                .transpose()
        })
    }

    async fn latest_cutover(&mut self) -> Result<Option<Date>> {
        const SQL: &str = "SELECT max(business_date) FROM cutovers";
        self.with_stmt(SQL, |st| {
            st.query_row([], |r| r.get::<_, Option<String>>(0))?
                .map(|s| cutover_date(&s))
                .transpose()
        })
    }

    async fn insert_cutover(&mut self, key: &str, date: Date, now: Timestamp) -> Result<()> {
        const SQL: &str = "INSERT INTO cutovers (nkey, business_date, created_us) \
             VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING";
        self.with_stmt(SQL, |st| {
            st.execute(params![key, date.to_string(), now.as_microsecond()])?;
            Ok(())
        })
    }

    async fn record_duplicate(&mut self, d: &DuplicateRecord, fingerprint: &str) -> Result<()> {
        const SQL: &str = "INSERT INTO duplicates (nkey, fingerprint, kind, account_id, \
             amount_minor, currency, first_us, last_us, times) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7, 1) ON CONFLICT (nkey, fingerprint) \
             DO UPDATE SET last_us = excluded.last_us, times = duplicates.times + 1";
        self.with_stmt(SQL, |st| {
            st.execute(params![
                d.key.db_str(),
                fingerprint,
                d.kind.as_str(),
                d.account_id,
                d.amount_minor,
                d.currency,
                d.last_at.as_microsecond()
            ])?;
            Ok(())
        })
    }

    async fn duplicates(&mut self, key: &NetworkKey) -> Result<Vec<DuplicateRecord>> {
        let sql = format!(
            "SELECT {DUPLICATE_COLUMNS} FROM duplicates WHERE nkey = ?1 ORDER BY first_us, fingerprint"
        );
        let mut st = self.conn.prepare(&sql)?;
        let rows = st.query_map([key.db_str()], |r| {
            Ok(DuplicateCols {
                nkey: r.get(0)?,
                kind: r.get(1)?,
                account_id: r.get(2)?,
                amount_minor: r.get(3)?,
                currency: r.get(4)?,
                first_us: r.get(5)?,
                last_us: r.get(6)?,
                times: r.get(7)?,
            })
        })?;
        rows.map(|r| r?.into_record()).collect()
    }

    async fn heartbeat(&mut self, now: Timestamp) -> Result<()> {
        const SQL: &str = "INSERT INTO heartbeat (id, at_us) VALUES ('ledger', ?1) \
             ON CONFLICT (id) DO UPDATE SET at_us = excluded.at_us";
        self.with_stmt(SQL, |st| {
            st.execute([now.as_microsecond()])?;
            Ok(())
        })
    }
}
