//! The PostgreSQL store, shared active-active by several gateway instances.
//!
//! Concurrency: each operation locks its account's wallet rows (`SELECT ... FOR UPDATE`),
//! and the primary keys on `decisions.nkey` and `holds.nkey` make a second decision or hold
//! for one key impossible even when two instances race (the loser gets a unique violation,
//! rolls back to its savepoint and re-runs, finding the winner's decision). Speed: a few
//! connections, each owned by a worker task that group-commits like the embedded writer
//! (up to `max_batch` queued requests per transaction, one COMMIT). A batch first runs
//! without savepoints, remembering what it read under its locks and sending its writes
//! pipelined ahead of its next read and its COMMIT (`tx.rs`): a few round trips per batch
//! rather than several per request. Any failure sends it round again with a savepoint per
//! request and every statement sent at once.
//! Serialization failures and deadlocks abort the whole batch, which is retried: nothing
//! was answered yet and every operation is idempotent by key.
//!
//! Portability (checked on paper against the CockroachDB and YugabyteDB SQL references):
//! plain tables, `ON CONFLICT DO NOTHING`, `SELECT ... FOR UPDATE`, savepoints, one
//! sequence, multi-array `unnest` for multi-row inserts; no advisory locks, LISTEN/NOTIFY,
//! triggers or PostgreSQL-only types.
//! CockroachDB runs SERIALIZABLE by default and reports conflicts as 40001, which is
//! retried; its sequences are slow when uncached and leave gaps when cached, which only
//! makes approval codes less dense.

mod connect;
mod engine;
mod worker;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use jiff::SignedDuration;
use tokio::sync::mpsc::{self, error::TrySendError};
use tokio::sync::Mutex;
use tokio_postgres::Client;

use crate::machine::needs::Needs;
use crate::machine::{rules, Ctx, Op, Output, Prepared, Snapshot, State};
use crate::{
    BalanceAnswer, BalanceRequest, CardSecurity, Decision, DuplicateRecord, LedgerError,
    NetworkKey, PanHasher, Quoter, Result, Wallet, DEFAULT_HOLD_TTL_SECS,
};
pub use connect::{pg_connect, pg_url_with_password, PgSslMode, PgTarget};
/// Statements prepared on one connection, by their text.
pub(crate) type StmtCache = std::collections::HashMap<String, tokio_postgres::Statement>;

/// Most connections one store opens: the database, not the pool, is the bottleneck.
pub const MAX_PG_CONNECTIONS: usize = 64;

/// How to reach and use PostgreSQL.
#[derive(Clone)]
pub struct PgOptions {
    /// `postgres://user@host:port/db` (may hold a password: never logged), with libpq's
    /// `sslmode` and `sslrootcert` for TLS (see [`PgTarget`]).
    pub url: String,
    /// Schema holding the ledger's tables (created if missing): `[a-z0-9_]`, at most 63.
    pub schema: String,
    /// Worker connections (each group-commits its own batches).
    pub connections: usize,
    /// Most requests per transaction.
    pub max_batch: usize,
    /// Requests that may wait per worker; beyond it, [`LedgerError::Backpressure`].
    pub queue_depth: usize,
    /// Life of a hold, seconds.
    pub hold_ttl_secs: i64,
}

impl PgOptions {
    /// Defaults for `url` and `schema`: 4 connections, batches of 64, 4096 waiting each.
    pub fn new(url: impl Into<String>, schema: impl Into<String>) -> Self {
        PgOptions {
            url: url.into(),
            schema: schema.into(),
            connections: 4,
            max_batch: 64,
            queue_depth: 4096,
            hold_ttl_secs: DEFAULT_HOLD_TTL_SECS,
        }
    }
}

impl std::fmt::Debug for PgOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may carry a password.
        f.debug_struct("PgOptions")
            .field("schema", &self.schema)
            .field("connections", &self.connections)
            .field("max_batch", &self.max_batch)
            .field("queue_depth", &self.queue_depth)
            .finish_non_exhaustive()
    }
}

struct Inner {
    workers: Vec<mpsc::Sender<worker::Job>>,
    next: AtomicUsize,
    capacity: usize,
    reader: Mutex<(Client, StmtCache)>,
    ctx: Ctx,
    schema: String,
    url: String,
}

/// Handle on a PostgreSQL ledger. Cheap to clone; clones share the connections.
#[derive(Clone)]
pub struct PgStore {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("schema", &self.inner.schema)
            .field("connections", &self.inner.workers.len())
            .finish()
    }
}

/// Longest any ledger statement may run on the server. A stuck statement (a lock held by a
/// hung peer, a failing disk) then fails its batch, which is answered with an error the
/// gateway turns into 91, instead of holding the worker forever.
pub(crate) const STATEMENT_TIMEOUT_MS: u64 = 10_000;

/// Connects with `search_path` and the statement timeout set. The application name carries
/// the schema so that an operator (or a test) can tell this store's sessions apart.
pub(crate) async fn open_client(url: &str, schema: &str) -> Result<Client> {
    let client = session(url, schema).await?;
    client
        .batch_execute(&format!(
            "SET search_path TO {schema}; SET statement_timeout = {STATEMENT_TIMEOUT_MS}"
        ))
        .await?;
    Ok(client)
}

/// A session named for `schema`, over TLS as `url` says.
async fn session(url: &str, schema: &str) -> Result<Client> {
    PgTarget::parse(url)?
        .application_name(&format!("ledger/{schema}"))
        .connect()
        .await
}

fn check_schema_name(s: &str) -> Result<()> {
    if s.is_empty()
        || s.len() > 63
        || !s
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        || s.as_bytes()[0].is_ascii_digit()
    {
        return Err(LedgerError::invalid(
            "schema",
            "expected [a-z_][a-z0-9_]{0,62}",
        ));
    }
    Ok(())
}

impl PgStore {
    /// Connects, creates the schema and tables if missing, and starts the workers. Must be
    /// called inside a tokio runtime.
    pub async fn connect(
        opts: PgOptions,
        hasher: PanHasher,
        quoter: Arc<dyn Quoter>,
    ) -> Result<Self> {
        check_schema_name(&opts.schema)?;
        if opts.connections == 0
            || opts.connections > MAX_PG_CONNECTIONS
            || opts.max_batch == 0
            || opts.queue_depth == 0
        {
            return Err(LedgerError::invalid(
                "options",
                format!("connections 1..={MAX_PG_CONNECTIONS}, max_batch and queue_depth > 0"),
            ));
        }
        let client = session(&opts.url, &opts.schema).await?;
        migrate(&client, &opts.schema).await?;
        let ctx = Ctx {
            security_cache: Default::default(),
            programs: Default::default(),
            hasher,
            quoter,
            hold_ttl: SignedDuration::from_secs(opts.hold_ttl_secs),
            stats: Arc::default(),
            health: Arc::default(),
        };
        let mut workers = Vec::with_capacity(opts.connections);
        for _ in 0..opts.connections {
            let c = open_client(&opts.url, &opts.schema).await?;
            let (tx, rx) = mpsc::channel(opts.queue_depth);
            let target = worker::Target {
                url: opts.url.clone(),
                schema: opts.schema.clone(),
            };
            tokio::spawn(worker::supervise(
                target,
                c,
                rx,
                ctx.clone(),
                opts.max_batch,
            ));
            workers.push(tx);
        }
        Ok(PgStore {
            inner: Arc::new(Inner {
                workers,
                next: AtomicUsize::new(0),
                capacity: opts.queue_depth,
                reader: Mutex::new((client, StmtCache::new())),
                ctx,
                schema: opts.schema,
                url: opts.url,
            }),
        })
    }

    pub(crate) fn ctx(&self) -> &Ctx {
        &self.inner.ctx
    }

    /// The schema this store uses; its sessions are named `ledger/<schema>`.
    pub fn schema(&self) -> &str {
        &self.inner.schema
    }

    /// The read connection, reconnected first if it was lost.
    async fn reader(&self) -> Result<tokio::sync::MutexGuard<'_, (Client, StmtCache)>> {
        let mut g = self.inner.reader.lock().await;
        if g.0.is_closed() {
            *g = (
                open_client(&self.inner.url, &self.inner.schema).await?,
                StmtCache::new(),
            );
        }
        Ok(g)
    }

    /// Drops the schema and everything in it (test clean-up).
    pub async fn drop_schema(&self) -> Result<()> {
        let r = self.reader().await?;
        r.0.batch_execute(&format!(
            "DROP SCHEMA IF EXISTS {} CASCADE",
            self.inner.schema
        ))
        .await?;
        Ok(())
    }

    pub(crate) async fn submit(&self, op: Op) -> Result<Output> {
        let (reply, rx) = tokio::sync::oneshot::channel();
        let n = self.inner.workers.len();
        let start = self.route(&op);
        // Kept (a reference count: requests are shared) to read the outcome back should the
        // answer be lost or ambiguous.
        let prepared = Prepared::new(op, &self.inner.ctx);
        let kept = prepared.clone();
        let mut job = worker::Job { prepared, reply };
        // Round robin, skipping full workers; all full is backpressure.
        for i in 0..n {
            match self.inner.workers[(start + i) % n].try_send(job) {
                Ok(()) => {
                    return match rx.await {
                        Ok(Err(LedgerError::OutcomeUnknown(why))) => {
                            self.read_back(kept, why).await
                        }
                        Ok(r) => r,
                        Err(_) => {
                            self.read_back(kept, "the worker stopped before answering".into())
                                .await
                        }
                    }
                }
                Err(TrySendError::Full(j)) => job = j,
                Err(TrySendError::Closed(j)) => job = j,
            }
        }
        drop(job);
        if self.inner.workers.iter().all(|w| w.is_closed()) {
            return Err(LedgerError::Closed);
        }
        Err(LedgerError::Backpressure {
            capacity: self.inner.capacity,
        })
    }

    /// What `op` left in the ledger when its answer was lost or its COMMIT's outcome is
    /// unknown (`why`): its decision read back, or [`LedgerError::OutcomeUnknown`] (the caller
    /// voids the request; a late commit then finds the void).
    async fn read_back(&self, p: Prepared, why: String) -> Result<Output> {
        let found = async {
            let mut g = self.reader().await?;
            let (client, cache) = &mut *g;
            let needs = Needs::of(&[&p]);
            let mut snap = Snapshot::default();
            engine::load(client, cache, &needs, &mut snap, false).await?;
            engine::load_holds(client, cache, &needs, &mut snap).await?;
            rules::read_back(&State::new(&snap), &p)
        };
        match found.await {
            Ok(Some(out)) => Ok(out),
            Ok(None) => Err(LedgerError::OutcomeUnknown(format!(
                "{why}; nothing of the request is in the ledger"
            ))),
            Err(e) => Err(LedgerError::OutcomeUnknown(format!(
                "{why}; reading it back failed: {e}"
            ))),
        }
    }

    /// The worker for `op`: requests for one card (or one original) go to one connection, so
    /// the batches of different connections mostly touch different accounts and run in
    /// parallel instead of queueing on each other's row locks.
    fn route(&self, op: &Op) -> usize {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        // A card by its digits: the hash stays in this process, so the keyed hash the worker
        // computes again for the card lookup is not needed here.
        match op {
            Op::Authorize(r) => r.pan.digits().hash(&mut h),
            Op::Advise(r) => r.pan.digits().hash(&mut h),
            // By its card when it names one: the original's batches and its own then share
            // a connection instead of handing the account's lock back and forth.
            Op::Reverse(r) => match &r.pan {
                Some(pan) => pan.digits().hash(&mut h),
                None => r.original.hash(&mut h),
            },
            Op::Capture(r) => r.original.hash(&mut h),
            Op::VoidTimedOut { key, .. } => key.hash(&mut h),
            // Where its authorization went: the void queues behind it.
            Op::VoidAuthorization { request, .. } => request.pan.digits().hash(&mut h),
            Op::Cutover { key, .. } => key.hash(&mut h),
            Op::ChangeCard { pan_hash, .. } => pan_hash.hash(&mut h),
            Op::Adjust(a) => a.account_id.hash(&mut h),
            Op::Present { presentment, .. } => presentment.pan.digits().hash(&mut h),
            Op::MarkClearingFile { key, .. } => key.hash(&mut h),
            Op::ResetPinTries { card_id, .. } => card_id.hash(&mut h),
            Op::PinTry { pan, .. } => pan.digits().hash(&mut h),
            Op::Expire { .. } | Op::Seed(_) | Op::Heartbeat { .. } => {
                return self.inner.next.fetch_add(1, Ordering::Relaxed)
            }
        }
        h.finish() as usize
    }

    /// Rows of `sql` with `params`, on the read connection.
    async fn read_rows(
        &self,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<Vec<tokio_postgres::Row>> {
        let mut g = self.reader().await?;
        let (client, cache) = &mut *g;
        let st = engine::stmt(client, cache, sql).await?;
        Ok(client.query(&st, params).await?)
    }

    pub(crate) async fn balance(&self, r: BalanceRequest) -> Result<BalanceAnswer> {
        let hash = self.inner.ctx.hasher.hash(&r.pan);
        let card = self
            .read_rows(engine::CARD_BY_HASH, &[&hash])
            .await?
            .first()
            .map(engine::card_row)
            .transpose()?;
        let wallets = match &card {
            Some(c) => self
                .read_rows(engine::WALLETS_OF, &[&c.account_id])
                .await?
                .iter()
                .map(engine::wallet_row)
                .collect::<Result<_>>()?,
            None => Vec::new(),
        };
        Ok(rules::balance::answer(
            card.as_ref(),
            wallets,
            r.expiry.as_deref(),
            r.business_date,
        ))
    }

    pub(crate) async fn card_security(&self, pan_hash: String) -> Result<Option<CardSecurity>> {
        let rows = self
            .read_rows(engine::SECURITY_BY_HASH, &[&pan_hash])
            .await?;
        let Some(r) = rows.first() else {
            return Ok(None);
        };
        crate::rows::SecurityCols {
            card_id: r.try_get(0)?,
            expiry: r.try_get(1)?,
            pvv: r.try_get(2)?,
            pvki: r.try_get(3)?,
            psn: r.try_get(4)?,
            pin_tries: r.try_get(5)?,
            atc_high: r.try_get(6)?,
        }
        .into_security()
        .map(Some)
    }

    pub(crate) async fn events_after(
        &self,
        after: i64,
        unpublished: bool,
        limit: usize,
    ) -> Result<Vec<crate::OutboxEvent>> {
        const ALL: &str = concat!(
            "SELECT pos, id, account, seq, kind, at_us, published_us, body FROM outbox ",
            "WHERE pos > $1 ORDER BY pos LIMIT $2"
        );
        const UNPUBLISHED: &str = concat!(
            "SELECT pos, id, account, seq, kind, at_us, published_us, body FROM outbox ",
            "WHERE pos > $1 AND published_us IS NULL ORDER BY pos LIMIT $2"
        );
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let sql = if unpublished { UNPUBLISHED } else { ALL };
        self.read_rows(sql, &[&after, &limit])
            .await?
            .iter()
            .map(|r| crate::outbox::event(engine::columns!(r; 0, 1, 2, 3, 4, 5, 6, 7)))
            .collect()
    }

    pub(crate) async fn events_pending(&self) -> Result<u64> {
        let rows = self
            .read_rows(
                "SELECT count(*) FROM outbox WHERE published_us IS NULL",
                &[],
            )
            .await?;
        let n: i64 = rows.first().map(|r| r.try_get(0)).transpose()?.unwrap_or(0);
        Ok(u64::try_from(n).unwrap_or(0))
    }

    pub(crate) async fn events_published(
        &self,
        positions: &[i64],
        now: jiff::Timestamp,
    ) -> Result<()> {
        let positions = positions.to_vec();
        self.read_rows(
            "UPDATE outbox SET published_us = $2 WHERE pos = ANY($1) AND published_us IS NULL",
            &[&positions, &now.as_microsecond()],
        )
        .await?;
        Ok(())
    }

    pub(crate) async fn events_prune(&self, before: jiff::Timestamp) -> Result<usize> {
        let mut g = self.reader().await?;
        let (client, cache) = &mut *g;
        let st = engine::stmt(
            client,
            cache,
            "DELETE FROM outbox WHERE published_us IS NOT NULL AND published_us < $1",
        )
        .await?;
        let n = client.execute(&st, &[&before.as_microsecond()]).await?;
        Ok(usize::try_from(n).unwrap_or(usize::MAX))
    }

    /// One statement: whoever's `INSERT ... ON CONFLICT DO UPDATE ... WHERE` changes the row
    /// holds the lease (the row lock orders two instances asking at once).
    pub(crate) async fn events_lease(
        &self,
        holder: &str,
        now: jiff::Timestamp,
        until: jiff::Timestamp,
    ) -> Result<bool> {
        let rows = self
            .read_rows(
                "INSERT INTO outbox_lease (name, holder, until_us) VALUES ('relay', $1, $3) \
                 ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, \
                 until_us = excluded.until_us \
                 WHERE outbox_lease.holder = excluded.holder OR outbox_lease.until_us <= $2 \
                 RETURNING holder",
                &[&holder, &now.as_microsecond(), &until.as_microsecond()],
            )
            .await?;
        Ok(!rows.is_empty())
    }

    pub(crate) async fn decision(&self, key: &NetworkKey) -> Result<Option<Decision>> {
        self.read_rows(engine::DECISION_BY_KEY, &[&key.db_str()])
            .await?
            .first()
            .map(engine::decision_row)
            .transpose()
    }

    pub(crate) async fn card_by_hash(&self, hash: String) -> Result<Option<crate::CardRecord>> {
        self.read_rows(engine::CARD_BY_HASH, &[&hash])
            .await?
            .first()
            .map(engine::card_row)
            .transpose()
    }

    pub(crate) async fn account(
        &self,
        id: String,
    ) -> Result<Option<(money::Currency, Vec<crate::Wallet>)>> {
        let home: Option<String> = self
            .read_rows("SELECT home_currency FROM accounts WHERE id = $1", &[&id])
            .await?
            .first()
            .map(|r| r.try_get(0))
            .transpose()?;
        let Some(home) = home else {
            return Ok(None);
        };
        let wallets = self
            .read_rows(engine::WALLETS_OF, &[&id])
            .await?
            .iter()
            .map(engine::wallet_row)
            .collect::<Result<_>>()?;
        Ok(Some((crate::rows::currency(&home, "accounts")?, wallets)))
    }

    pub(crate) async fn hold(&self, key: String) -> Result<Option<crate::Hold>> {
        self.read_rows(engine::HOLD_BY_KEY, &[&key])
            .await?
            .first()
            .map(engine::hold_row)
            .transpose()
    }

    pub(crate) async fn card_hash_by_id(&self, id: String) -> Result<Option<String>> {
        Ok(self
            .read_rows("SELECT pan_hash FROM cards WHERE id = $1", &[&id])
            .await?
            .first()
            .map(|r| r.try_get(0))
            .transpose()?)
    }

    pub(crate) async fn card_decisions(
        &self,
        card_id: String,
        limit: usize,
        before: Option<(i64, String)>,
    ) -> Result<Vec<Decision>> {
        const SQL: &str = crate::rows::decisions_of_card!("$1", "$2", "$3", "$4");
        let (us, key) = crate::rows::page_start(before);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.read_rows(SQL, &[&card_id, &us, &key, &limit])
            .await?
            .iter()
            .map(engine::decision_row)
            .collect()
    }

    pub(crate) async fn clearing_file(
        &self,
        file_id: String,
    ) -> Result<Option<crate::ClearingFileMark>> {
        const SQL: &str = "SELECT file_id, presentments, business_date, at_us \
             FROM clearing_files WHERE file_id = $1";
        self.read_rows(SQL, &[&file_id])
            .await?
            .first()
            .map(|r| crate::rows::clearing_file_row(engine::columns!(r; 0, 1, 2, 3)))
            .transpose()
    }

    pub(crate) async fn approval_candidates(
        &self,
        card_id: String,
        code: String,
        limit: usize,
    ) -> Result<Vec<NetworkKey>> {
        const SQL: &str = crate::rows::decisions_by_approval!("$1", "$2", "$3", "$4");
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let n = crate::approval_code::approval_number(&code);
        self.read_rows(SQL, &[&card_id, &code, &n, &limit])
            .await?
            .iter()
            .map(|r| NetworkKey::from_db(&r.try_get::<_, String>(0)?))
            .collect()
    }

    pub(crate) async fn card_changes(
        &self,
        card_id: String,
        limit: usize,
    ) -> Result<Vec<crate::CardAudit>> {
        const SQL: &str = crate::rows::changes_of_card!("$1", "$2");
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.read_rows(SQL, &[&card_id, &limit])
            .await?
            .iter()
            .map(|r| crate::rows::card_audit_row(engine::columns!(r; 0, 1, 2, 3, 4, 5, 6)))
            .collect()
    }

    pub(crate) async fn duplicates(&self, key: &NetworkKey) -> Result<Vec<DuplicateRecord>> {
        let sql = format!(
            "SELECT {} FROM duplicates WHERE nkey = $1 ORDER BY first_us, fingerprint",
            crate::rows::DUPLICATE_COLUMNS
        );
        self.read_rows(&sql, &[&key.db_str()])
            .await?
            .iter()
            .map(|r| {
                crate::rows::DuplicateCols {
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

    pub(crate) async fn export_balances(&self) -> Result<Vec<Wallet>> {
        self.read_rows(
            concat!(
                "SELECT ",
                crate::rows::wallet_columns!(),
                " FROM wallets ORDER BY account_id, currency"
            ),
            &[],
        )
        .await?
        .iter()
        .map(engine::wallet_row)
        .collect()
    }

    pub(crate) async fn holds(&self) -> Result<Vec<crate::Hold>> {
        self.read_rows(
            concat!(
                "SELECT ",
                crate::rows::hold_columns!(),
                " FROM holds ORDER BY nkey"
            ),
            &[],
        )
        .await?
        .iter()
        .map(engine::hold_row)
        .collect()
    }

    pub(crate) async fn latest_cutover(&self) -> Result<Option<jiff::civil::Date>> {
        let rows = self.read_rows(engine::LATEST_CUTOVER, &[]).await?;
        let Some(row) = rows.first() else {
            return Ok(None);
        };
        row.try_get::<_, Option<String>>(0)?
            .map(|s| crate::rows::cutover_date(&s))
            .transpose()
    }

    /// On the reader's session (it may write: `drop_schema` does); one statement, so one
    /// transaction of its own. `business_date` is `YYYY-MM-DD` text, ordered as the dates.
    pub(crate) async fn reset_cutovers(&self, calendar: jiff::civil::Date) -> Result<usize> {
        let g = self.reader().await?;
        let n =
            g.0.execute(
                "DELETE FROM cutovers WHERE business_date > $1",
                &[&calendar.to_string()],
            )
            .await?;
        Ok(n as usize)
    }

    pub(crate) async fn invariant_violations(&self) -> Result<Vec<String>> {
        // One snapshot for wallets and holds, or a concurrent commit could look like a
        // violation.
        let mut g = self.reader().await?;
        let (client, cache) = &mut *g;
        client
            .batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
            .await?;
        let read = async {
            let w = engine::stmt(
                client,
                cache,
                concat!(
                    "SELECT ",
                    crate::rows::wallet_columns!(),
                    " FROM wallets ORDER BY account_id, currency"
                ),
            )
            .await?;
            let h = engine::stmt(
                client,
                cache,
                concat!(
                    "SELECT ",
                    crate::rows::hold_columns!(),
                    " FROM holds ORDER BY nkey"
                ),
            )
            .await?;
            let wallets = client
                .query(&w, &[])
                .await?
                .iter()
                .map(engine::wallet_row)
                .collect::<Result<Vec<_>>>()?;
            let holds = client
                .query(&h, &[])
                .await?
                .iter()
                .map(engine::hold_row)
                .collect::<Result<Vec<_>>>()?;
            // sum(bigint) is numeric in PostgreSQL: read as text.
            let sums = client
                .query(
                    "SELECT account_id, currency, sum(amount_minor)::text FROM adjustments \
                     GROUP BY account_id, currency",
                    &[],
                )
                .await?
                .iter()
                .map(|r| {
                    let total: String = r.try_get(2)?;
                    Ok((
                        r.try_get::<_, String>(0)?,
                        crate::rows::currency(&r.try_get::<_, String>(1)?, "adjustments")?,
                        total
                            .parse::<i128>()
                            .map_err(|_| LedgerError::corrupt("adjustments", "bad sum"))?,
                    ))
                })
                .collect::<Result<Vec<_>>>()?;
            Ok::<_, crate::LedgerError>(crate::machine::invariants::violations(
                &wallets, &holds, &sums,
            ))
        };
        let r = read.await;
        // Read only: end the transaction whatever happened, so the reader stays usable.
        client.batch_execute("ROLLBACK").await?;
        r
    }
}

async fn migrate(client: &Client, schema: &str) -> Result<()> {
    // Two instances starting at once may race on CREATE ... IF NOT EXISTS (PostgreSQL can
    // then report a unique violation on its catalog); the second attempt finds it all.
    let mut last = None;
    for _ in 0..3 {
        match migrate_once(client, schema).await {
            Ok(()) => return Ok(()),
            Err(e) => last = Some(e),
        }
    }
    Err(last.map(LedgerError::from).unwrap_or(LedgerError::Closed))
}

/// How a migration statement runs beside instances serving from the same schema (a rolling
/// deploy: no maintenance window).
#[derive(Debug, PartialEq, Eq)]
enum Step {
    /// Statements run together as one transaction: the schema, new tables and their indexes
    /// (nothing serves from them yet), backfills, sequences.
    Batch(String),
    /// `ALTER TABLE ... ADD COLUMN` on a table in use: a moment's ACCESS EXCLUSIVE lock,
    /// taken alone under a short `lock_timeout` and retried, so that while it waits for a
    /// serving batch to end, the batches queued behind it wait no longer than that.
    Brief(String),
    /// An index built on, or dropped from, a table in use: `CONCURRENTLY`, outside any
    /// transaction, so the serving instances' writes go on while it builds (a plain `CREATE
    /// INDEX` holds a SHARE lock, which stops every write to the table, for the whole build:
    /// seconds to minutes on a large `decisions`).
    Concurrent(String),
}

/// How long a [`Step::Brief`] statement waits for its lock before it tries again.
const BRIEF_LOCK_TIMEOUT: &str = "200ms";
/// How many times a [`Step::Brief`] statement tries (100 ms apart): about 30 s in all.
const BRIEF_TRIES: u32 = 100;

async fn migrate_once(
    client: &Client,
    schema: &str,
) -> std::result::Result<(), tokio_postgres::Error> {
    for step in migration(client, schema).await? {
        match step {
            Step::Batch(sql) | Step::Concurrent(sql) => client.batch_execute(&sql).await?,
            Step::Brief(sql) => {
                let mut tries = 0;
                loop {
                    tries += 1;
                    let r = client
                        .batch_execute(&format!(
                            "SET lock_timeout = '{BRIEF_LOCK_TIMEOUT}'; {sql}; RESET lock_timeout"
                        ))
                        .await;
                    match r {
                        Ok(()) => break,
                        Err(e)
                            if tries < BRIEF_TRIES
                                && e.code()
                                    == Some(
                                        &tokio_postgres::error::SqlState::LOCK_NOT_AVAILABLE,
                                    ) =>
                        {
                            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                        }
                        Err(e) => {
                            let _ = client.batch_execute("RESET lock_timeout").await;
                            return Err(e);
                        }
                    }
                }
            }
        }
    }
    Ok(())
}

/// The steps that bring `schema` up to date, in order, without those that would find nothing
/// to do: `ALTER TABLE ... ADD COLUMN IF NOT EXISTS` and `CREATE INDEX IF NOT EXISTS` take
/// their table's lock (ACCESS EXCLUSIVE, SHARE) before they see the column or index is there.
/// An instance restarting beside a serving one (active-active) then stopped the other's
/// writes, and its batches could deadlock with them: authorizations answered 91 at the
/// deadline during the restart (tests/continuity, active-active). A restart on a current
/// schema now takes no table lock, and one that has something to add to a table in use takes
/// it as [`Step`] says.
async fn migration(
    client: &Client,
    schema: &str,
) -> std::result::Result<Vec<Step>, tokio_postgres::Error> {
    let columns: std::collections::HashSet<(String, String)> = client
        .query(
            "SELECT table_name::text, column_name::text FROM information_schema.columns \
             WHERE table_schema = $1",
            &[&schema],
        )
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let tables: std::collections::HashSet<&str> = columns.iter().map(|(t, _)| t.as_str()).collect();
    // Valid or not: an invalid index (a concurrent build that failed, or another instance's
    // still under way) is left to the operator, and said.
    let indexes: Vec<(String, bool)> = client
        .query(
            "SELECT c.relname::text, i.indisvalid FROM pg_index i \
             JOIN pg_class c ON c.oid = i.indexrelid \
             JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1",
            &[&schema],
        )
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    for (name, _) in indexes.iter().filter(|(_, valid)| !valid) {
        tracing::warn!(
            index = %name,
            schema,
            "ledger: index not valid (a concurrent build that failed, or another instance's \
             under way): queries work without it, more slowly; once no instance is starting, \
             DROP INDEX CONCURRENTLY it and restart one instance to build it again"
        );
    }
    let exists = |name: &str| indexes.iter().any(|(n, _)| n == name);
    Ok(plan(schema, &tables, &columns, &exists))
}

/// [`migration`]'s steps, from what the schema holds: `tables` and `columns` present, and
/// whether an index of a name `exists`.
fn plan(
    schema: &str,
    tables: &std::collections::HashSet<&str>,
    columns: &std::collections::HashSet<(String, String)>,
    exists: &dyn Fn(&str) -> bool,
) -> Vec<Step> {
    let mut steps = Vec::new();
    let mut batch = format!("CREATE SCHEMA IF NOT EXISTS {schema}; SET search_path TO {schema};");
    let add = |steps: &mut Vec<Step>, batch: &mut String, ddl: &str| {
        if let Some(name) = index_created(ddl) {
            if exists(name) {
                return;
            }
            if index_table(ddl).is_some_and(|t| tables.contains(t)) {
                flush(steps, batch);
                steps.push(Step::Concurrent(ddl.replacen(
                    " INDEX ",
                    " INDEX CONCURRENTLY ",
                    1,
                )));
                return;
            }
        } else if let Some(name) = ddl.strip_prefix("DROP INDEX IF EXISTS ") {
            if exists(name.trim()) {
                flush(steps, batch);
                steps.push(Step::Concurrent(ddl.replacen(
                    " INDEX ",
                    " INDEX CONCURRENTLY ",
                    1,
                )));
            }
            return;
        }
        batch.push_str(ddl);
        batch.push(';');
    };
    for ddl in crate::schema::TABLES {
        add(&mut steps, &mut batch, ddl);
    }
    for (table, column, ty) in crate::schema::ADDED_COLUMNS {
        if columns.contains(&((*table).to_owned(), (*column).to_owned())) {
            continue;
        }
        let alter = format!("ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {column} {ty}");
        if tables.contains(table) {
            flush(&mut steps, &mut batch);
            steps.push(Step::Brief(alter));
        } else {
            // A table this batch makes: nothing else uses it yet.
            batch.push_str(&alter);
            batch.push(';');
        }
    }
    for ddl in crate::schema::AFTER_ADDED_COLUMNS {
        add(&mut steps, &mut batch, ddl);
    }
    batch.push_str("CREATE SEQUENCE IF NOT EXISTS approval_seq;");
    for ddl in crate::outbox::PG_DDL {
        add(&mut steps, &mut batch, ddl);
    }
    flush(&mut steps, &mut batch);
    steps
}

/// Ends the batch being gathered (if it holds anything) as a step.
fn flush(steps: &mut Vec<Step>, batch: &mut String) {
    if !batch.is_empty() {
        steps.push(Step::Batch(std::mem::take(batch)));
    }
}

/// The table a `CREATE [UNIQUE] INDEX ... ON table (...)` statement indexes.
fn index_table(ddl: &str) -> Option<&str> {
    let (_, rest) = ddl.split_once(" ON ")?;
    rest.split(|c: char| c.is_whitespace() || c == '(').next()
}

/// The index a `CREATE [UNIQUE] INDEX IF NOT EXISTS name ...` statement makes.
fn index_created(ddl: &str) -> Option<&str> {
    let rest = ddl
        .strip_prefix("CREATE INDEX IF NOT EXISTS ")
        .or_else(|| ddl.strip_prefix("CREATE UNIQUE INDEX IF NOT EXISTS "))?;
    rest.split_whitespace().next()
}

#[cfg(test)]
mod migration_tests {
    use super::Step;
    use std::collections::HashSet;

    /// Every table and column of the current schema, as `information_schema` lists them.
    fn current() -> (HashSet<String>, HashSet<(String, String)>) {
        let mut tables = HashSet::new();
        let mut columns = HashSet::new();
        for ddl in crate::schema::TABLES.iter().chain(crate::outbox::PG_DDL) {
            let Some(rest) = ddl.strip_prefix("CREATE TABLE IF NOT EXISTS ") else {
                continue;
            };
            let (table, body) = rest.split_once(" (").unwrap();
            tables.insert(table.to_owned());
            for line in body.split(",\n") {
                let name = line.split_whitespace().next().unwrap();
                columns.insert((table.to_owned(), name.to_owned()));
            }
        }
        for (t, c, _) in crate::schema::ADDED_COLUMNS {
            columns.insert(((*t).to_owned(), (*c).to_owned()));
        }
        (tables, columns)
    }

    /// A new schema is made in one transaction, as before; one from before an index and a
    /// column gets the column alone under a lock timeout and the index built concurrently,
    /// the old index dropped concurrently; a current one gets nothing that locks a table.
    #[test]
    fn a_table_in_use_is_altered_briefly_and_indexed_concurrently() {
        let none = HashSet::new();
        let steps = super::plan("s", &none, &HashSet::new(), &|_| false);
        assert_eq!(steps.len(), 1, "{steps:?}");
        assert!(
            matches!(&steps[0], Step::Batch(sql) if sql.contains("CREATE TABLE IF NOT EXISTS decisions")
            && sql.contains("CREATE INDEX IF NOT EXISTS decisions_approval_number"))
        );

        let (tables, mut columns) = current();
        let tables: HashSet<&str> = tables.iter().map(String::as_str).collect();
        columns.remove(&("decisions".to_owned(), "approval_n".to_owned()));
        // A schema from before `approval_n`: neither index on it exists.
        let old = |name: &str| {
            name != "decisions_approval_number" && name != "decisions_card_approval_number"
        };
        let steps = super::plan("s", &tables, &columns, &old);
        let brief: Vec<&str> = steps
            .iter()
            .filter_map(|s| match s {
                Step::Brief(sql) => Some(sql.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(
            brief,
            ["ALTER TABLE decisions ADD COLUMN IF NOT EXISTS approval_n BIGINT"]
        );
        let concurrent: Vec<&str> = steps
            .iter()
            .filter_map(|s| match s {
                Step::Concurrent(sql) => Some(sql.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(concurrent.len(), 3, "{concurrent:?}");
        assert!(
            concurrent[0].starts_with("DROP INDEX CONCURRENTLY IF EXISTS decisions_card_approval")
        );
        assert!(concurrent[2].starts_with(
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS decisions_approval_number ON decisions"
        ));
        for s in &steps {
            if let Step::Batch(sql) = s {
                assert!(
                    !sql.contains("INDEX IF NOT EXISTS") && !sql.contains("ALTER"),
                    "{sql}"
                );
            }
        }

        // The indexes the schema makes (and not those it drops).
        let made: HashSet<&str> = crate::schema::TABLES
            .iter()
            .chain(crate::schema::AFTER_ADDED_COLUMNS)
            .chain(crate::outbox::PG_DDL)
            .filter_map(|d| super::index_created(d))
            .collect();
        let columns_now = current().1;
        let steps = super::plan("s", &tables, &columns_now, &|n| made.contains(n));
        assert!(
            steps.iter().all(|s| matches!(s, Step::Batch(sql) if !sql.contains("INDEX") && !sql.contains("ALTER"))),
            "{steps:?}"
        );

        // A schema made by the version before `decisions_approval_number`: the new index is
        // built concurrently before the one it replaces is dropped, nothing else.
        let before = |name: &str| {
            (made.contains(name) && name != "decisions_approval_number")
                || name == "decisions_card_approval_number"
        };
        let steps = super::plan("s", &tables, &columns_now, &before);
        let concurrent: Vec<&str> = steps
            .iter()
            .filter_map(|s| match s {
                Step::Concurrent(sql) => Some(sql.as_str()),
                Step::Brief(sql) => panic!("{sql}"),
                Step::Batch(_) => None,
            })
            .collect();
        assert_eq!(concurrent.len(), 2, "{concurrent:?}");
        assert!(concurrent[0]
            .starts_with("CREATE INDEX CONCURRENTLY IF NOT EXISTS decisions_approval_number ON"));
        assert_eq!(
            concurrent[1],
            "DROP INDEX CONCURRENTLY IF EXISTS decisions_card_approval_number"
        );
    }

    /// Every index the schema creates is recognised by name, so a restart on a current
    /// schema skips them all (and takes no table lock for them).
    #[test]
    fn every_created_index_is_named() {
        let all = crate::schema::TABLES
            .iter()
            .chain(crate::schema::AFTER_ADDED_COLUMNS)
            .chain(crate::outbox::PG_DDL);
        let mut named = 0;
        for ddl in all {
            if ddl.contains("INDEX IF NOT EXISTS") {
                let name = super::index_created(ddl).unwrap_or_else(|| panic!("{ddl}"));
                assert!(ddl.contains(&format!(" {name} ON ")), "{ddl}");
                named += 1;
            }
        }
        assert!(named >= 8, "{named}");
        for ddl in crate::schema::TABLES
            .iter()
            .chain(crate::schema::AFTER_ADDED_COLUMNS)
            .chain(crate::outbox::PG_DDL)
            .filter(|d| d.contains("INDEX IF NOT EXISTS"))
        {
            let table = super::index_table(ddl).unwrap_or_else(|| panic!("{ddl}"));
            assert!(
                ddl.contains(&format!(" ON {table} (")) || ddl.contains(&format!(" ON {table}(")),
                "{ddl}"
            );
        }
        assert_eq!(
            super::index_created("CREATE TABLE IF NOT EXISTS x (a INT)"),
            None
        );
    }
}
