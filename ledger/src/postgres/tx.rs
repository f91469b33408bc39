//! [`Tx`] over a tokio-postgres client inside an open transaction. Statements are prepared
//! once per connection and cached: a prepare is a round trip of its own.

use std::collections::HashMap;

use jiff::Timestamp;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Row, Statement};

use crate::rows::{DecisionCols, HoldCols, DECISION_COLUMNS, HOLD_COLUMNS};
use crate::tx::Tx;
use crate::{CardRecord, Decision, Hold, LedgerError, NetworkKey, Result, Wallet};

pub(crate) type StmtCache = HashMap<String, Statement>;

pub(crate) struct PgTx<'c> {
    pub(crate) client: &'c Client,
    pub(crate) cache: &'c mut StmtCache,
}

const WALLET_COLUMNS: &str =
    "account_id, currency, opening_minor, balance_minor, held_minor, overdraft_minor";

fn decision_row(r: &Row) -> Result<DecisionCols> {
    Ok(DecisionCols {
        nkey: r.try_get(0)?,
        kind: r.try_get(1)?,
        response_code: r.try_get(2)?,
        approval_code: r.try_get(3)?,
        account_id: r.try_get(4)?,
        amount_minor: r.try_get(5)?,
        currency: r.try_get(6)?,
        approved_minor: r.try_get(7)?,
        billing_amount_minor: r.try_get(8)?,
        billing_currency: r.try_get(9)?,
        rate: r.try_get(10)?,
        de10: r.try_get(11)?,
        rate_version: r.try_get(12)?,
        wallet_currency: r.try_get(13)?,
        original_key: r.try_get(14)?,
        business_date: r.try_get(15)?,
        created_us: r.try_get(16)?,
        updated_us: r.try_get(17)?,
        expires_us: r.try_get(18)?,
    })
}

fn hold_row(r: &Row) -> Result<Hold> {
    HoldCols {
        nkey: r.try_get(0)?,
        original_key: r.try_get(1)?,
        account_id: r.try_get(2)?,
        currency: r.try_get(3)?,
        amount_minor: r.try_get(4)?,
        held_minor: r.try_get(5)?,
        captured_minor: r.try_get(6)?,
        txn_amount_minor: r.try_get(7)?,
        txn_currency: r.try_get(8)?,
        status: r.try_get(9)?,
        business_date: r.try_get(10)?,
        rate_version: r.try_get(11)?,
        created_us: r.try_get(12)?,
        expires_us: r.try_get(13)?,
    }
    .into_hold()
}

fn wallet_row(r: &Row) -> Result<Wallet> {
    Ok(Wallet {
        account_id: r.try_get(0)?,
        currency: r.try_get(1)?,
        opening_minor: r.try_get(2)?,
        balance_minor: r.try_get(3)?,
        held_minor: r.try_get(4)?,
        overdraft_minor: r.try_get(5)?,
    })
}

impl PgTx<'_> {
    async fn stmt(&mut self, sql: &str) -> Result<Statement> {
        if let Some(s) = self.cache.get(sql) {
            return Ok(s.clone());
        }
        let s = self.client.prepare(sql).await?;
        self.cache.insert(sql.to_owned(), s.clone());
        Ok(s)
    }

    async fn query(&mut self, sql: &str, p: &[&(dyn ToSql + Sync)]) -> Result<Vec<Row>> {
        let s = self.stmt(sql).await?;
        Ok(self.client.query(&s, p).await?)
    }

    async fn execute(&mut self, sql: &str, p: &[&(dyn ToSql + Sync)]) -> Result<u64> {
        let s = self.stmt(sql).await?;
        Ok(self.client.execute(&s, p).await?)
    }

    async fn holds_where(&mut self, clause: &str, p: &[&(dyn ToSql + Sync)]) -> Result<Vec<Hold>> {
        let rows = self
            .query(&format!("SELECT {HOLD_COLUMNS} FROM holds {clause}"), p)
            .await?;
        rows.iter().map(hold_row).collect()
    }
}

impl Tx for PgTx<'_> {
    async fn decision(&mut self, key: &NetworkKey) -> Result<Option<Decision>> {
        let rows = self
            .query(
                &format!("SELECT {DECISION_COLUMNS} FROM decisions WHERE nkey = $1"),
                &[&key.as_db()],
            )
            .await?;
        rows.first()
            .map(|r| decision_row(r)?.into_decision())
            .transpose()
    }

    async fn insert_decision(&mut self, d: &Decision) -> Result<()> {
        let c = DecisionCols::from_decision(d);
        self.execute(
            &format!(
                "INSERT INTO decisions ({DECISION_COLUMNS}) VALUES \
                 ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)"
            ),
            &[
                &c.nkey,
                &c.kind,
                &c.response_code,
                &c.approval_code,
                &c.account_id,
                &c.amount_minor,
                &c.currency,
                &c.approved_minor,
                &c.billing_amount_minor,
                &c.billing_currency,
                &c.rate,
                &c.de10,
                &c.rate_version,
                &c.wallet_currency,
                &c.original_key,
                &c.business_date,
                &c.created_us,
                &c.updated_us,
                &c.expires_us,
            ],
        )
        .await?;
        Ok(())
    }

    async fn update_decision(&mut self, d: &Decision) -> Result<()> {
        let c = DecisionCols::from_decision(d);
        self.execute(
            "UPDATE decisions SET kind = $2, response_code = $3, approval_code = $4, \
             approved_minor = $5, updated_us = $6 WHERE nkey = $1",
            &[
                &c.nkey,
                &c.kind,
                &c.response_code,
                &c.approval_code,
                &c.approved_minor,
                &c.updated_us,
            ],
        )
        .await?;
        Ok(())
    }

    async fn card(&mut self, pan_hash: &str) -> Result<Option<CardRecord>> {
        let rows = self
            .query(
                "SELECT c.pan_hash, c.last4, c.expiry, c.status, c.account_id, a.home_currency \
                 FROM cards c JOIN accounts a ON a.id = c.account_id WHERE c.pan_hash = $1",
                &[&pan_hash],
            )
            .await?;
        rows.first()
            .map(|r| {
                let status: String = r.try_get(3)?;
                Ok(CardRecord {
                    pan_hash: r.try_get(0)?,
                    last4: r.try_get(1)?,
                    expiry: r.try_get(2)?,
                    status: status
                        .parse()
                        .map_err(|_| LedgerError::corrupt("cards", "bad status"))?,
                    account_id: r.try_get(4)?,
                    home_currency: r.try_get(5)?,
                })
            })
            .transpose()
    }

    async fn wallets(&mut self, account_id: &str, lock: bool) -> Result<Vec<Wallet>> {
        // FOR UPDATE serializes every writer of this account, across connections and
        // gateway instances, until our COMMIT; ORDER BY makes the lock order fixed.
        let sql = format!(
            "SELECT {WALLET_COLUMNS} FROM wallets WHERE account_id = $1 ORDER BY currency{}",
            if lock { " FOR UPDATE" } else { "" }
        );
        let rows = self.query(&sql, &[&account_id]).await?;
        rows.iter().map(wallet_row).collect()
    }

    async fn lock_accounts(&mut self, account_ids: &[String]) -> Result<()> {
        if account_ids.is_empty() {
            return Ok(());
        }
        let ids: Vec<&str> = account_ids.iter().map(String::as_str).collect();
        self.query(
            "SELECT 1 FROM wallets WHERE account_id = ANY($1) \
             ORDER BY account_id, currency FOR UPDATE",
            &[&ids],
        )
        .await?;
        Ok(())
    }

    async fn insert_wallet(&mut self, w: &Wallet) -> Result<()> {
        self.execute(
            &format!(
                "INSERT INTO wallets ({WALLET_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6) \
                 ON CONFLICT DO NOTHING"
            ),
            &[
                &w.account_id,
                &w.currency,
                &w.opening_minor,
                &w.balance_minor,
                &w.held_minor,
                &w.overdraft_minor,
            ],
        )
        .await?;
        Ok(())
    }

    async fn update_wallet(&mut self, w: &Wallet) -> Result<()> {
        self.execute(
            "UPDATE wallets SET balance_minor = $3, held_minor = $4 \
             WHERE account_id = $1 AND currency = $2",
            &[&w.account_id, &w.currency, &w.balance_minor, &w.held_minor],
        )
        .await?;
        Ok(())
    }

    async fn insert_hold(&mut self, h: &Hold) -> Result<()> {
        let c = HoldCols::from_hold(h);
        self.execute(
            &format!(
                "INSERT INTO holds ({HOLD_COLUMNS}) VALUES \
                 ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
            ),
            &[
                &c.nkey,
                &c.original_key,
                &c.account_id,
                &c.currency,
                &c.amount_minor,
                &c.held_minor,
                &c.captured_minor,
                &c.txn_amount_minor,
                &c.txn_currency,
                &c.status,
                &c.business_date,
                &c.rate_version,
                &c.created_us,
                &c.expires_us,
            ],
        )
        .await?;
        Ok(())
    }

    async fn hold(&mut self, key: &NetworkKey) -> Result<Option<Hold>> {
        Ok(self
            .holds_where("WHERE nkey = $1", &[&key.as_db()])
            .await?
            .into_iter()
            .next())
    }

    async fn active_linked_holds(&mut self, original: &NetworkKey) -> Result<Vec<Hold>> {
        self.holds_where(
            "WHERE original_key = $1 AND status = 'active'",
            &[&original.as_db()],
        )
        .await
    }

    async fn update_hold(&mut self, h: &Hold) -> Result<()> {
        self.execute(
            "UPDATE holds SET held_minor = $2, captured_minor = $3, status = $4 WHERE nkey = $1",
            &[
                &h.key.as_db(),
                &h.held_minor,
                &h.captured_minor,
                &h.status.as_str(),
            ],
        )
        .await?;
        Ok(())
    }

    async fn expired_holds(&mut self, now: Timestamp, limit: usize) -> Result<Vec<Hold>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        // FOR UPDATE: two instances expiring at once must not release one hold twice.
        self.holds_where(
            "WHERE status = 'active' AND expires_us <= $1 ORDER BY expires_us LIMIT $2 FOR UPDATE",
            &[&now.as_microsecond(), &limit],
        )
        .await
    }

    async fn next_approval_number(&mut self) -> Result<u64> {
        // A sequence shared by every instance: codes stay unique active-active. Gaps (from
        // rolled-back batches, or CockroachDB's cached sequences) do not matter.
        let rows = self.query("SELECT nextval('approval_seq')", &[]).await?;
        let v: i64 = rows
            .first()
            .ok_or_else(|| LedgerError::corrupt("approval_seq", "no value"))?
            .try_get(0)?;
        Ok(v as u64)
    }

    async fn insert_account(&mut self, id: &str, home_currency: &str) -> Result<bool> {
        let n = self
            .execute(
                "INSERT INTO accounts (id, home_currency) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                &[&id, &home_currency],
            )
            .await?;
        Ok(n == 1)
    }

    async fn insert_card(&mut self, c: &CardRecord) -> Result<()> {
        self.execute(
            "INSERT INTO cards (pan_hash, last4, expiry, status, account_id) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
            &[
                &c.pan_hash,
                &c.last4,
                &c.expiry,
                &c.status.as_str(),
                &c.account_id,
            ],
        )
        .await?;
        Ok(())
    }

    async fn all_wallets(&mut self) -> Result<Vec<Wallet>> {
        let rows = self
            .query(
                &format!("SELECT {WALLET_COLUMNS} FROM wallets ORDER BY account_id, currency"),
                &[],
            )
            .await?;
        rows.iter().map(wallet_row).collect()
    }

    async fn all_holds(&mut self) -> Result<Vec<Hold>> {
        self.holds_where("ORDER BY nkey", &[]).await
    }
}
