//! [`Tx`] over a tokio-postgres client inside an open transaction. Statements are prepared
//! once per connection and cached: a prepare is a round trip of its own.
//!
//! On a worker's fast path (a batch without savepoints) the transaction also carries a
//! [`Memo`], so that a batch costs a handful of round trips instead of several per request:
//!
//! - **Writes are deferred** and sent pipelined (all at once, answers awaited together)
//!   just before the next read that is not answered from memory, and at `COMMIT`; a wallet
//!   written several times meanwhile is written once, with its last value, and the new
//!   decisions and new holds each go as one multi-row insert. The
//!   server runs them in order, before that read, so every read still sees every earlier
//!   write of the transaction. A failing write surfaces at that flush: the fast path then
//!   rolls the whole batch back and runs it again with a savepoint per request and no memo,
//!   where each write is sent at once, as before.
//! - **Reads are remembered for the rest of the transaction** where nothing else can change
//!   them before our `COMMIT`: wallets of locked accounts (the lock query returns them),
//!   decisions and holds read after the batch's accounts are locked (changing either takes
//!   its account's lock; a key another instance inserts meanwhile makes our insert fail at
//!   the flush, and the re-run with savepoints finds it), and the memory follows our own
//!   writes. The lock, the decisions of every key of the batch and the holds its reversals,
//!   captures and completions will read go out together, one round trip; so do, before it,
//!   the decisions that say which accounts to lock. Cards are remembered as first read in the transaction (READ COMMITTED would
//!   let a second read differ; the first is as good as the request having come earlier).
//! - **Approval numbers** are taken from the sequence a batch's worth at a time; unused
//!   numbers are gaps, which the sequence allows anyway.

use std::collections::{HashMap, VecDeque};

use futures::future::try_join_all;
use jiff::civil::Date;
use jiff::Timestamp;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Row, Statement};

use crate::rows::{
    cutover_date, decision_columns, hold_columns, holds_sql, wallet_columns, DecisionCols,
    DuplicateCols, HoldCols, DUPLICATE_COLUMNS,
};
use crate::tx::Tx;
use crate::{
    CardRecord, Decision, DuplicateRecord, Hold, HoldStatus, LedgerError, NetworkKey, Result,
    Wallet,
};

pub(crate) type StmtCache = HashMap<String, Statement>;

pub(crate) struct PgTx<'c> {
    pub(crate) client: &'c Client,
    pub(crate) cache: &'c mut StmtCache,
    /// The fast path's memory (see the module's documentation); `None` on the reader and
    /// on re-runs with savepoints, where every statement goes out at once.
    pub(crate) memo: Option<&'c mut Memo>,
}

/// What a fast-path transaction remembers and what it has yet to send.
#[derive(Default)]
pub(crate) struct Memo {
    cards: HashMap<String, Option<CardRecord>>,
    /// By `NetworkKey::as_db`; only filled once `locked`.
    decisions: HashMap<String, Option<Decision>>,
    /// Wallets of accounts locked in this transaction, by account.
    wallets: HashMap<String, Vec<Wallet>>,
    /// Holds by `NetworkKey::as_db`, and the active holds extending an original (by the
    /// original's key); only filled once `locked`: a hold changes only under its account's
    /// lock.
    holds: HashMap<String, Option<Hold>>,
    linked: HashMap<String, Vec<Hold>>,
    locked: bool,
    approvals: VecDeque<u64>,
    /// Approval numbers taken from the sequence at once.
    reserve: usize,
    pending: Pending,
}

impl Memo {
    /// A memory for a batch of `batch_len` requests.
    pub(crate) fn for_batch(batch_len: usize) -> Self {
        Memo {
            reserve: batch_len.clamp(1, 1024),
            ..Memo::default()
        }
    }
}

/// A write with its values owned, so that it can wait for the next flush.
enum Write {
    InsertDecision(DecisionCols),
    InsertHold(HoldCols),
    Update(Update),
}

/// A change to an existing row: one statement each.
enum Update {
    /// The columns a decision's UPDATE writes.
    Decision {
        nkey: String,
        kind: String,
        response_code: String,
        approval_code: Option<String>,
        approved_minor: i64,
        updated_us: i64,
    },
    Hold {
        nkey: String,
        held_minor: i64,
        captured_minor: i64,
        status: &'static str,
    },
    Wallet(Wallet),
}

impl Update {
    fn sql(&self) -> &'static str {
        match self {
            Update::Decision { .. } => {
                "UPDATE decisions SET kind = $2, response_code = $3, approval_code = $4, \
                 approved_minor = $5, updated_us = $6 WHERE nkey = $1"
            }
            Update::Hold { .. } => {
                "UPDATE holds SET held_minor = $2, captured_minor = $3, status = $4 WHERE nkey = $1"
            }
            Update::Wallet(_) => {
                "UPDATE wallets SET balance_minor = $3, held_minor = $4 \
                 WHERE account_id = $1 AND currency = $2"
            }
        }
    }

    fn params(&self) -> Vec<&(dyn ToSql + Sync)> {
        match self {
            Update::Decision {
                nkey,
                kind,
                response_code,
                approval_code,
                approved_minor,
                updated_us,
            } => vec![
                nkey,
                kind,
                response_code,
                approval_code,
                approved_minor,
                updated_us,
            ],
            Update::Hold {
                nkey,
                held_minor,
                captured_minor,
                status,
            } => vec![nkey, held_minor, captured_minor, status],
            Update::Wallet(w) => {
                vec![&w.account_id, &w.currency, &w.balance_minor, &w.held_minor]
            }
        }
    }
}

/// Writes not sent yet, in the form they will be sent in: the new decisions and the new
/// holds each as one multi-row insert, then the updates in their order. Inserts may go
/// first: an update of a row follows its insert (a row is updated only once it exists), and
/// no row is inserted twice.
#[derive(Default)]
struct Pending {
    decisions: DecisionRows,
    holds: HoldRows,
    updates: Vec<Update>,
}

impl Pending {
    fn add(&mut self, w: Write) {
        match w {
            Write::InsertDecision(c) => self.decisions.push(c),
            Write::InsertHold(c) => self.holds.push(c),
            Write::Update(Update::Wallet(new)) => {
                // A wallet written again before the flush needs only its last value:
                // nothing read it from the table in between (a read flushes first). One hot
                // account then costs one UPDATE per flush, not one per request, each of
                // which would leave PostgreSQL another row version to step over.
                let earlier = self.updates.iter_mut().find(|u| {
                    matches!(u, Update::Wallet(old)
                        if old.account_id == new.account_id && old.currency == new.currency)
                });
                match earlier {
                    Some(slot) => *slot = Update::Wallet(new),
                    None => self.updates.push(Update::Wallet(new)),
                }
            }
            Write::Update(u) => self.updates.push(u),
        }
    }

    fn is_empty(&self) -> bool {
        self.decisions.is_empty() && self.holds.is_empty() && self.updates.is_empty()
    }
}

const DECISION_BY_KEY: &str = concat!(
    "SELECT ",
    decision_columns!(),
    " FROM decisions WHERE nkey = $1"
);
const HOLD_BY_KEY: &str = holds_sql!("WHERE nkey = $1");
const CARD_BY_HASH: &str = "SELECT c.pan_hash, c.last4, c.expiry, c.status, c.account_id, \
     a.home_currency FROM cards c JOIN accounts a ON a.id = c.account_id WHERE c.pan_hash = $1";
const APPROVAL_NUMBERS: &str = "SELECT nextval('approval_seq') FROM generate_series(1, $1::int4)";
/// The isolation every worker transaction runs at.
pub(crate) const BEGIN: &str = "BEGIN ISOLATION LEVEL READ COMMITTED";
const ACTIVE_LINKED_HOLDS: &str = holds_sql!("WHERE original_key = $1 AND status = 'active'");
// One statement per account, not `account_id = ANY($1)`: see `lock_and_prefetch`.
const LOCK_WALLETS: &str = concat!(
    "SELECT ",
    wallet_columns!(),
    " FROM wallets WHERE account_id = $1 ORDER BY currency FOR UPDATE"
);

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
        fingerprint: r.try_get(19)?,
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

/// One parameter list per value, for a statement run once per value.
fn one(values: &[String]) -> Vec<[&(dyn ToSql + Sync); 1]> {
    values.iter().map(|v| [v as _]).collect()
}

/// Runs `stmt` once per parameter list, pipelined: the rows of each run, in order.
fn probe<'a>(
    client: &'a Client,
    stmt: &'a Statement,
    params: &'a [[&'a (dyn ToSql + Sync); 1]],
) -> impl std::future::Future<Output = std::result::Result<Vec<Vec<Row>>, tokio_postgres::Error>> + 'a
{
    try_join_all(params.iter().map(|p| client.query(stmt, p)))
}

/// Remembers the decision found (or not) under each of `keys`, `rows` being their lookups.
fn remember_decisions(
    memo: &mut HashMap<String, Option<Decision>>,
    keys: &[String],
    rows: &[Vec<Row>],
) -> Result<()> {
    for (k, rows) in keys.iter().zip(rows) {
        let d = rows
            .first()
            .map(|r| decision_row(r)?.into_decision())
            .transpose()?;
        memo.insert(k.clone(), d);
    }
    Ok(())
}

fn card_row(r: &Row) -> Result<CardRecord> {
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

/// A struct of one array per column, filled row by row from `$cols`; `params` gives the
/// arrays in the order declared here, which is the order of the `unnest` arguments of its
/// `SQL`. `is_empty` looks at `nkey`, which every such table has.
macro_rules! column_arrays {
    ($(#[$m:meta])* $name:ident from $cols:ty { $($f:ident: $t:ty),* $(,)? }) => {
        $(#[$m])*
        #[derive(Default)]
        struct $name {
            $($f: Vec<$t>,)*
        }

        impl $name {
            fn is_empty(&self) -> bool {
                self.nkey.is_empty()
            }

            fn push(&mut self, c: $cols) {
                $(self.$f.push(c.$f);)*
            }

            fn params(&self) -> Vec<&(dyn ToSql + Sync)> {
                vec![$(&self.$f),*]
            }
        }
    };
}

column_arrays! {
    /// New decisions as columns of arrays: one `INSERT ... SELECT FROM unnest(...)` writes
    /// them all, where one statement each cost PostgreSQL a bind, an executor start and a
    /// plan lookup per row (a third of its CPU per request under load, `perf record` of the
    /// backend).
    DecisionRows from DecisionCols {
        nkey: String,
        kind: String,
        response_code: String,
        approval_code: Option<String>,
        account_id: Option<String>,
        amount_minor: i64,
        currency: String,
        approved_minor: i64,
        billing_amount_minor: Option<i64>,
        billing_currency: Option<String>,
        rate: Option<String>,
        de10: Option<String>,
        rate_version: Option<String>,
        wallet_currency: Option<String>,
        original_key: Option<String>,
        business_date: String,
        created_us: i64,
        updated_us: i64,
        expires_us: Option<i64>,
        fingerprint: Option<String>,
    }
}

impl DecisionRows {
    const SQL: &'static str = concat!(
        "INSERT INTO decisions (",
        decision_columns!(),
        ") SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], \
         $6::int8[], $7::text[], $8::int8[], $9::int8[], $10::text[], $11::text[], $12::text[], \
         $13::text[], $14::text[], $15::text[], $16::text[], $17::int8[], $18::int8[], \
         $19::int8[], $20::text[])"
    );
}

column_arrays! {
    /// New holds as columns of arrays, for one multi-row insert (as [`DecisionRows`]).
    HoldRows from HoldCols {
        nkey: String,
        original_key: Option<String>,
        account_id: String,
        currency: String,
        amount_minor: i64,
        held_minor: i64,
        captured_minor: i64,
        txn_amount_minor: i64,
        txn_currency: String,
        status: String,
        business_date: String,
        rate_version: Option<String>,
        created_us: i64,
        expires_us: i64,
    }
}

impl HoldRows {
    const SQL: &'static str = concat!(
        "INSERT INTO holds (",
        hold_columns!(),
        ") SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int8[], \
         $6::int8[], $7::int8[], $8::int8[], $9::text[], $10::text[], $11::text[], $12::text[], \
         $13::int8[], $14::int8[])"
    );
}

impl<'c> PgTx<'c> {
    /// Statements go out at once (the reader, savepoint re-runs).
    pub(crate) fn direct(client: &'c Client, cache: &'c mut StmtCache) -> Self {
        PgTx {
            client,
            cache,
            memo: None,
        }
    }

    /// Writes wait for the next read or the commit (a worker's fast path).
    pub(crate) fn memo(client: &'c Client, cache: &'c mut StmtCache, memo: &'c mut Memo) -> Self {
        PgTx {
            client,
            cache,
            memo: Some(memo),
        }
    }
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

    /// Sends `writes` and then `after`, all pipelined: one round trip in all.
    async fn send<T>(
        &mut self,
        writes: Pending,
        after: impl std::future::Future<Output = std::result::Result<T, tokio_postgres::Error>>,
    ) -> Result<T> {
        if writes.is_empty() {
            return Ok(after.await?);
        }
        let mut stmts = Vec::new();
        let mut params: Vec<Vec<&(dyn ToSql + Sync)>> = Vec::new();
        if !writes.decisions.is_empty() {
            stmts.push(self.stmt(DecisionRows::SQL).await?);
            params.push(writes.decisions.params());
        }
        if !writes.holds.is_empty() {
            stmts.push(self.stmt(HoldRows::SQL).await?);
            params.push(writes.holds.params());
        }
        for u in &writes.updates {
            stmts.push(self.stmt(u.sql()).await?);
            params.push(u.params());
        }
        let client = self.client;
        let sent = try_join_all(stmts.iter().zip(&params).map(|(s, p)| client.execute(s, p)));
        let (sent, after) = futures::join!(sent, after);
        sent?;
        Ok(after?)
    }

    /// Runs `after` once every deferred write has been sent ahead of it.
    async fn after_pending<T>(
        &mut self,
        after: impl std::future::Future<Output = std::result::Result<T, tokio_postgres::Error>>,
    ) -> Result<T> {
        let writes = match self.memo.as_deref_mut() {
            Some(m) => std::mem::take(&mut m.pending),
            None => Pending::default(),
        };
        self.send(writes, after).await
    }

    /// A read: sent behind the deferred writes, so that it sees them.
    async fn query(&mut self, sql: &str, p: &[&(dyn ToSql + Sync)]) -> Result<Vec<Row>> {
        let s = self.stmt(sql).await?;
        let client = self.client;
        self.after_pending(client.query(&s, p)).await
    }

    /// A write that does not wait (rare ones: seeding, new wallets), after the deferred ones.
    async fn execute(&mut self, sql: &str, p: &[&(dyn ToSql + Sync)]) -> Result<u64> {
        let s = self.stmt(sql).await?;
        let client = self.client;
        self.after_pending(client.execute(&s, p)).await
    }

    /// A write that waits for the next flush when there is a memo, and goes out at once
    /// (by the same statements) when there is none.
    async fn write(&mut self, w: Write) -> Result<()> {
        if let Some(m) = self.memo.as_deref_mut() {
            m.pending.add(w);
            return Ok(());
        }
        let mut now = Pending::default();
        now.add(w);
        self.send(now, std::future::ready(Ok(()))).await
    }

    /// Sends the deferred writes and `COMMIT` together. A failed write aborts the
    /// transaction, which `COMMIT` then ends as a rollback: the error is the write's.
    pub(crate) async fn commit(&mut self) -> Result<()> {
        let client = self.client;
        self.after_pending(client.batch_execute("COMMIT")).await
    }

    /// Opens the transaction and, with a memo, reads in the same round trip the cards under
    /// `pan_hashes` and the decisions of `keys` (before any lock: what `ops::accounts_of`
    /// needs to find the batch's accounts). The decisions are not trusted past
    /// [`Self::lock_and_prefetch`], which reads every key again under the locks; the cards
    /// are remembered for the transaction, as when read one by one.
    pub(crate) async fn begin_and_prefetch(
        &mut self,
        pan_hashes: &[String],
        keys: &[String],
    ) -> Result<()> {
        let client = self.client;
        if self.memo.is_none() {
            return Ok(client.batch_execute(BEGIN).await?);
        }
        let (by_hash, by_key) = (
            self.stmt(CARD_BY_HASH).await?,
            self.stmt(DECISION_BY_KEY).await?,
        );
        let (cards_p, keys_p) = (one(pan_hashes), one(keys));
        let ((), cards, decisions) = futures::try_join!(
            client.batch_execute(BEGIN),
            probe(client, &by_hash, &cards_p),
            probe(client, &by_key, &keys_p),
        )?;
        let Some(m) = self.memo.as_deref_mut() else {
            return Ok(());
        };
        for (h, rows) in pan_hashes.iter().zip(&cards) {
            m.cards
                .insert(h.clone(), rows.first().map(card_row).transpose()?);
        }
        remember_decisions(&mut m.decisions, keys, &decisions)
    }

    /// Locks the wallets of `account_ids` (sorted, distinct) and, with a memo, remembers
    /// them, the decisions under `keys`, the holds under `hold_keys` and the active holds
    /// extending each of `linked_of`, and takes `approvals` approval numbers from the
    /// sequence, all in one round trip.
    ///
    /// Every lookup is an equality on a key, one statement each, pipelined: the planner
    /// makes an index probe of it at every table size, whereas a cached plan for an array
    /// form (`nkey = ANY($1)`), made while the table was small (and never re-made where no
    /// ANALYZE runs), stays a sequential scan as the table grows (seen: 1,770 scans of
    /// `decisions` reading 31 M rows in a 15 s run). The locks are taken in the order of
    /// `account_ids`: the server runs pipelined statements one after another.
    pub(crate) async fn lock_and_prefetch(
        &mut self,
        account_ids: &[String],
        keys: &[String],
        hold_keys: &[String],
        linked_of: &[String],
        approvals: usize,
    ) -> Result<()> {
        if self.memo.is_none() {
            return self.lock_accounts(account_ids).await;
        }
        let numbers = self.stmt(APPROVAL_NUMBERS).await?;
        let n = i32::try_from(approvals.min(1024)).unwrap_or(0);
        let client = self.client;
        let (accounts, keys_p, holds_p, linked_p) =
            (one(account_ids), one(keys), one(hold_keys), one(linked_of));
        let (lock, by_key, hold_by_key, linked) = (
            self.stmt(LOCK_WALLETS).await?,
            self.stmt(DECISION_BY_KEY).await?,
            self.stmt(HOLD_BY_KEY).await?,
            self.stmt(ACTIVE_LINKED_HOLDS).await?,
        );
        let reserve = async {
            if n == 0 {
                return Ok(Vec::new());
            }
            client.query(&numbers, &[&n]).await
        };
        let (wallets, decisions, holds, linked_holds, approval_rows) = self
            .after_pending(async {
                futures::try_join!(
                    probe(client, &lock, &accounts),
                    probe(client, &by_key, &keys_p),
                    probe(client, &hold_by_key, &holds_p),
                    probe(client, &linked, &linked_p),
                    reserve,
                )
            })
            .await?;
        let Some(m) = self.memo.as_deref_mut() else {
            return Ok(());
        };
        m.locked = true;
        for (id, rows) in account_ids.iter().zip(&wallets) {
            let ws = rows.iter().map(wallet_row).collect::<Result<Vec<_>>>()?;
            m.wallets.insert(id.clone(), ws);
        }
        // What was read before the locks may have changed since.
        m.decisions.clear();
        remember_decisions(&mut m.decisions, keys, &decisions)?;
        for (k, rows) in hold_keys.iter().zip(&holds) {
            m.holds
                .insert(k.clone(), rows.first().map(hold_row).transpose()?);
        }
        for (k, rows) in linked_of.iter().zip(&linked_holds) {
            let hs = rows.iter().map(hold_row).collect::<Result<Vec<_>>>()?;
            m.linked.insert(k.clone(), hs);
        }
        for r in &approval_rows {
            let v: i64 = r.try_get(0)?;
            m.approvals.push_back(v as u64);
        }
        Ok(())
    }

    async fn holds_where(
        &mut self,
        sql: &'static str,
        p: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Hold>> {
        let rows = self.query(sql, p).await?;
        rows.iter().map(hold_row).collect()
    }
}

impl Tx for PgTx<'_> {
    async fn decision(&mut self, key: &NetworkKey) -> Result<Option<Decision>> {
        let k = key.as_db();
        if let Some(m) = self.memo.as_deref() {
            if let Some(hit) = m.decisions.get(&k) {
                return Ok(hit.clone());
            }
        }
        let rows = self.query(DECISION_BY_KEY, &[&k]).await?;
        let d = rows
            .first()
            .map(|r| decision_row(r)?.into_decision())
            .transpose()?;
        if let Some(m) = self.memo.as_deref_mut() {
            if m.locked {
                m.decisions.insert(k, d.clone());
            }
        }
        Ok(d)
    }

    async fn insert_decision(&mut self, d: &Decision) -> Result<()> {
        let c = DecisionCols::from_decision(d);
        if let Some(m) = self.memo.as_deref_mut() {
            if m.locked {
                // What a read would return: the stored columns, not the value in hand.
                let stored = c.clone().into_decision()?;
                m.decisions.insert(c.nkey.clone(), Some(stored));
            } else {
                m.decisions.remove(&c.nkey);
            }
        }
        self.write(Write::InsertDecision(c)).await
    }

    async fn update_decision(&mut self, d: &Decision) -> Result<()> {
        let c = DecisionCols::from_decision(d);
        if let Some(m) = self.memo.as_deref_mut() {
            // Only the columns the UPDATE writes change in what is remembered.
            let patched = match m.decisions.get(&c.nkey) {
                Some(Some(old)) => {
                    let mut o = DecisionCols::from_decision(old);
                    o.kind.clone_from(&c.kind);
                    o.response_code.clone_from(&c.response_code);
                    o.approval_code.clone_from(&c.approval_code);
                    o.approved_minor = c.approved_minor;
                    o.updated_us = c.updated_us;
                    Some(o.into_decision()?)
                }
                _ => None,
            };
            match patched {
                Some(p) => {
                    m.decisions.insert(c.nkey.clone(), Some(p));
                }
                None => {
                    m.decisions.remove(&c.nkey);
                }
            }
        }
        self.write(Write::Update(Update::Decision {
            nkey: c.nkey,
            kind: c.kind,
            response_code: c.response_code,
            approval_code: c.approval_code,
            approved_minor: c.approved_minor,
            updated_us: c.updated_us,
        }))
        .await
    }

    async fn card(&mut self, pan_hash: &str) -> Result<Option<CardRecord>> {
        if let Some(m) = self.memo.as_deref() {
            if let Some(hit) = m.cards.get(pan_hash) {
                return Ok(hit.clone());
            }
        }
        let rows = self.query(CARD_BY_HASH, &[&pan_hash]).await?;
        let card = rows.first().map(card_row).transpose()?;
        if let Some(m) = self.memo.as_deref_mut() {
            m.cards.insert(pan_hash.to_owned(), card.clone());
        }
        Ok(card)
    }

    async fn wallets(&mut self, account_id: &str, lock: bool) -> Result<Vec<Wallet>> {
        if let Some(m) = self.memo.as_deref() {
            if let Some(hit) = m.wallets.get(account_id) {
                return Ok(hit.clone());
            }
        }
        // FOR UPDATE serializes every writer of this account, across connections and
        // gateway instances, until our COMMIT; ORDER BY makes the lock order fixed.
        let sql = if lock {
            concat!(
                "SELECT ",
                wallet_columns!(),
                " FROM wallets WHERE account_id = $1 ORDER BY currency FOR UPDATE"
            )
        } else {
            concat!(
                "SELECT ",
                wallet_columns!(),
                " FROM wallets WHERE account_id = $1 ORDER BY currency"
            )
        };
        let rows = self.query(sql, &[&account_id]).await?;
        let wallets = rows.iter().map(wallet_row).collect::<Result<Vec<_>>>()?;
        if let (true, Some(m)) = (lock, self.memo.as_deref_mut()) {
            m.wallets.insert(account_id.to_owned(), wallets.clone());
        }
        Ok(wallets)
    }

    async fn lock_accounts(&mut self, account_ids: &[String]) -> Result<()> {
        let lock = self.stmt(LOCK_WALLETS).await?;
        let client = self.client;
        let params = one(account_ids);
        self.after_pending(probe(client, &lock, &params)).await?;
        Ok(())
    }

    async fn insert_wallet(&mut self, w: &Wallet) -> Result<()> {
        self.execute(
            concat!(
                "INSERT INTO wallets (",
                wallet_columns!(),
                ") VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING"
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
        // Another instance may have inserted it first (DO NOTHING): read it again.
        if let Some(m) = self.memo.as_deref_mut() {
            m.wallets.remove(&w.account_id);
        }
        Ok(())
    }

    async fn update_wallet(&mut self, w: &Wallet) -> Result<()> {
        if let Some(m) = self.memo.as_deref_mut() {
            let known = m
                .wallets
                .get_mut(&w.account_id)
                .and_then(|ws| ws.iter_mut().find(|x| x.currency == w.currency));
            match known {
                Some(x) => {
                    x.balance_minor = w.balance_minor;
                    x.held_minor = w.held_minor;
                }
                None => {
                    m.wallets.remove(&w.account_id);
                }
            }
        }
        self.write(Write::Update(Update::Wallet(w.clone()))).await
    }

    async fn insert_hold(&mut self, h: &Hold) -> Result<()> {
        let c = HoldCols::from_hold(h);
        if let Some(m) = self.memo.as_deref_mut() {
            // What a read would return: the stored columns, not the value in hand.
            let stored = c.clone().into_hold()?;
            let linked = stored.original.as_ref().map(NetworkKey::as_db);
            if let Some(list) = linked.and_then(|o| m.linked.get_mut(&o)) {
                if stored.status == HoldStatus::Active {
                    list.push(stored.clone());
                }
            }
            if m.locked {
                m.holds.insert(c.nkey.clone(), Some(stored));
            } else {
                m.holds.remove(&c.nkey);
            }
        }
        self.write(Write::InsertHold(c)).await
    }

    async fn hold(&mut self, key: &NetworkKey) -> Result<Option<Hold>> {
        let k = key.as_db();
        if let Some(hit) = self.memo.as_deref().and_then(|m| m.holds.get(&k)) {
            return Ok(hit.clone());
        }
        let h = self
            .holds_where(HOLD_BY_KEY, &[&k])
            .await?
            .into_iter()
            .next();
        if let Some(m) = self.memo.as_deref_mut().filter(|m| m.locked) {
            m.holds.insert(k, h.clone());
        }
        Ok(h)
    }

    async fn active_linked_holds(&mut self, original: &NetworkKey) -> Result<Vec<Hold>> {
        let k = original.as_db();
        if let Some(hit) = self.memo.as_deref().and_then(|m| m.linked.get(&k)) {
            return Ok(hit.clone());
        }
        let hs = self.holds_where(ACTIVE_LINKED_HOLDS, &[&k]).await?;
        if let Some(m) = self.memo.as_deref_mut().filter(|m| m.locked) {
            m.linked.insert(k, hs.clone());
        }
        Ok(hs)
    }

    async fn update_hold(&mut self, h: &Hold) -> Result<()> {
        if let Some(m) = self.memo.as_deref_mut() {
            // Only the columns the UPDATE writes change in what is remembered.
            let k = h.key.as_db();
            let patch = |o: &mut Hold| {
                o.held_minor = h.held_minor;
                o.captured_minor = h.captured_minor;
                o.status = h.status;
            };
            match m.holds.get_mut(&k) {
                Some(Some(o)) => patch(o),
                _ => {
                    m.holds.remove(&k);
                }
            }
            for list in m.linked.values_mut() {
                for o in list.iter_mut().filter(|o| o.key == h.key) {
                    patch(o);
                }
                list.retain(|o| o.status == HoldStatus::Active);
            }
        }
        self.write(Write::Update(Update::Hold {
            nkey: h.key.as_db(),
            held_minor: h.held_minor,
            captured_minor: h.captured_minor,
            status: h.status.as_str(),
        }))
        .await
    }

    async fn expired_holds(&mut self, now: Timestamp, limit: usize) -> Result<Vec<Hold>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        // FOR UPDATE: two instances expiring at once must not release one hold twice.
        self.holds_where(
            holds_sql!(
                "WHERE status = 'active' AND expires_us <= $1 ORDER BY expires_us LIMIT $2 \
                 FOR UPDATE"
            ),
            &[&now.as_microsecond(), &limit],
        )
        .await
    }

    async fn next_approval_number(&mut self) -> Result<u64> {
        // A sequence shared by every instance: codes stay unique active-active. Gaps (from
        // rolled-back batches, numbers reserved and not used, or CockroachDB's cached
        // sequences) do not matter.
        if let Some(m) = self.memo.as_deref_mut() {
            if let Some(v) = m.approvals.pop_front() {
                return Ok(v);
            }
            let n = i32::try_from(m.reserve).unwrap_or(1);
            let s = self.stmt(APPROVAL_NUMBERS).await?;
            // Not a read of anything written here: no need to wait for the deferred writes.
            let rows = self.client.query(&s, &[&n]).await?;
            let m = self.memo.as_deref_mut().ok_or(LedgerError::Closed)?;
            for r in &rows {
                let v: i64 = r.try_get(0)?;
                m.approvals.push_back(v as u64);
            }
            return m
                .approvals
                .pop_front()
                .ok_or_else(|| LedgerError::corrupt("approval_seq", "no value"));
        }
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
        if let Some(m) = self.memo.as_deref_mut() {
            m.cards.remove(&c.pan_hash);
        }
        Ok(())
    }

    async fn all_wallets(&mut self) -> Result<Vec<Wallet>> {
        let rows = self
            .query(
                concat!(
                    "SELECT ",
                    wallet_columns!(),
                    " FROM wallets ORDER BY account_id, currency"
                ),
                &[],
            )
            .await?;
        rows.iter().map(wallet_row).collect()
    }

    async fn all_holds(&mut self) -> Result<Vec<Hold>> {
        self.holds_where(holds_sql!("ORDER BY nkey"), &[]).await
    }

    async fn cutover(&mut self, key: &str) -> Result<Option<Date>> {
        let rows = self
            .query(
                "SELECT business_date FROM cutovers WHERE nkey = $1",
                &[&key],
            )
            .await?;
        rows.first()
            .map(|r| cutover_date(&r.try_get::<_, String>(0)?))
            .transpose()
    }

    async fn latest_cutover(&mut self) -> Result<Option<Date>> {
        let rows = self
            .query("SELECT max(business_date) FROM cutovers", &[])
            .await?;
        let Some(row) = rows.first() else {
            return Ok(None);
        };
        row.try_get::<_, Option<String>>(0)?
            .map(|s| cutover_date(&s))
            .transpose()
    }

    async fn insert_cutover(&mut self, key: &str, date: Date, now: Timestamp) -> Result<()> {
        self.execute(
            "INSERT INTO cutovers (nkey, business_date, created_us) VALUES ($1, $2, $3) \
             ON CONFLICT DO NOTHING",
            &[&key, &date.to_string(), &now.as_microsecond()],
        )
        .await?;
        Ok(())
    }

    async fn record_duplicate(&mut self, d: &DuplicateRecord, fingerprint: &str) -> Result<()> {
        self.execute(
            "INSERT INTO duplicates (nkey, fingerprint, kind, account_id, amount_minor, \
             currency, first_us, last_us, times) VALUES ($1, $2, $3, $4, $5, $6, $7, $7, 1) \
             ON CONFLICT (nkey, fingerprint) \
             DO UPDATE SET last_us = excluded.last_us, times = duplicates.times + 1",
            &[
                &d.key.db_str(),
                &fingerprint,
                &d.kind.as_str(),
                &d.account_id,
                &d.amount_minor,
                &d.currency,
                &d.last_at.as_microsecond(),
            ],
        )
        .await?;
        Ok(())
    }

    async fn duplicates(&mut self, key: &NetworkKey) -> Result<Vec<DuplicateRecord>> {
        let sql = format!(
            "SELECT {DUPLICATE_COLUMNS} FROM duplicates WHERE nkey = $1 \
             ORDER BY first_us, fingerprint"
        );
        let rows = self.query(&sql, &[&key.db_str()]).await?;
        rows.iter()
            .map(|r| {
                DuplicateCols {
                    nkey: r.try_get(0)?,
                    kind: r.try_get(1)?,
                    account_id: r.try_get(2)?,
                    amount_minor: r.try_get(3)?,
                    currency: r.try_get(4)?,
                    first_us: r.try_get(5)?,
                    last_us: r.try_get(6)?,
                    times: r.try_get(7)?,
                }
                .into_record()
            })
            .collect()
    }

    async fn heartbeat(&mut self, now: Timestamp) -> Result<()> {
        self.execute(
            "INSERT INTO heartbeat (id, at_us) VALUES ('ledger', $1) \
             ON CONFLICT (id) DO UPDATE SET at_us = excluded.at_us",
            &[&now.as_microsecond()],
        )
        .await?;
        Ok(())
    }
}
