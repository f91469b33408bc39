//! The embedded store: SQLite (bundled) in WAL mode with `synchronous=FULL`, one writer
//! thread doing group commit, and a separate read connection.
//!
//! Why SQLite: it is the embedded engine with the longest record of surviving power loss
//! (its test suite simulates crashes at every write), WAL with `synchronous=FULL` makes a
//! transaction durable when `COMMIT` returns (the WAL is fsynced at each commit), and it is
//! bundled, so the switch runs on a single machine with no server. Its single-writer limit
//! is what group commit turns into a strength: one thread takes up to `max_batch` queued
//! requests, runs them inside one transaction (with a savepoint each only when one of them
//! failed and the batch is run again), commits once (one fsync) and only then answers every
//! caller. The writer keeps the approval counter and the cards in memory (`cache`), checked
//! against `PRAGMA data_version` at every transaction.

mod cache;
mod checkpoint;
mod engine;
mod outbox;
mod sql;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicI64;
use std::sync::mpsc::{self, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use jiff::SignedDuration;
use rusqlite::Connection;

use crate::machine::needs::Needs;
use crate::machine::{rules, Ctx, Op, Output, Prepared, Snapshot, State};
use crate::{
    BalanceAnswer, BalanceRequest, CardSecurity, Decision, DuplicateRecord, LedgerError,
    NetworkKey, PanHasher, Quoter, Result, Wallet, DEFAULT_HOLD_TTL_SECS,
};

/// Default most requests committed in one transaction.
pub const DEFAULT_MAX_BATCH: usize = 512;
/// Default depth of the writer queue before callers get [`LedgerError::Backpressure`].
pub const DEFAULT_QUEUE_DEPTH: usize = 8192;

const STATEMENT_CACHE: usize = 64;

/// Tuning of the embedded store.
#[derive(Clone, Debug)]
pub struct EmbeddedOptions {
    /// Most requests per transaction (and per fsync).
    pub max_batch: usize,
    /// Requests that may wait for the writer; beyond it, [`LedgerError::Backpressure`].
    pub queue_depth: usize,
    /// Life of a hold, seconds.
    pub hold_ttl_secs: i64,
}

impl Default for EmbeddedOptions {
    fn default() -> Self {
        EmbeddedOptions {
            max_batch: DEFAULT_MAX_BATCH,
            queue_depth: DEFAULT_QUEUE_DEPTH,
            hold_ttl_secs: DEFAULT_HOLD_TTL_SECS,
        }
    }
}

pub(crate) struct Job {
    pub(crate) prepared: Prepared,
    pub(crate) reply: tokio::sync::oneshot::Sender<Result<Output>>,
}

struct Inner {
    queue: Option<SyncSender<Job>>,
    capacity: usize,
    writer: Option<JoinHandle<()>>,
    reader: Arc<Mutex<Connection>>,
    /// The relay's connection (marks events published, prunes, takes the lease), opened at
    /// first use: these writes stay off the writer's queue, which carries the
    /// authorization flow only; SQLite serializes them with the writer.
    side: Arc<Mutex<Option<Connection>>>,
    /// A position at or below which every outbox row is published (SQLite has no index of
    /// the unpublished rows: see `outbox::unpublished`).
    published_floor: Arc<AtomicI64>,
    /// Whether the ledger still has the one-row-an-event `outbox` table of earlier versions
    /// (`outbox::open_legacy`).
    legacy_outbox: bool,
    ctx: Ctx,
    path: PathBuf,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Closing the queue ends the writer loop once it has answered what it holds.
        self.queue.take();
        if let Some(w) = self.writer.take() {
            let _ = w.join();
        }
    }
}

/// Handle on an embedded ledger file. Cheap to clone; all clones share one writer thread.
#[derive(Clone)]
pub struct EmbeddedStore {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for EmbeddedStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedStore")
            .field("path", &self.inner.path)
            .finish()
    }
}

/// Tries of [`busy_wait`]: 200 of 250 us, then 1 ms each, about 5 s in all.
const BUSY_SHORT_TRIES: i32 = 200;
const BUSY_TRIES: i32 = BUSY_SHORT_TRIES + 4_950;

/// How a connection waits for the database's write lock held by another connection (a
/// clearing import beside the switch, the twin of a rolling restart): SQLite's own
/// `busy_timeout` sleeps up to 100 ms between tries, so a writer that lost the lock by a
/// millisecond answered its whole batch 100 ms late (authorization p99 806 ms during an
/// import, docs/PERFORMANCE.md). Polled finely at first, then every millisecond; `false`
/// (SQLITE_BUSY) after about 5 s, as before.
fn busy_wait(tries: i32) -> bool {
    let pause = match tries {
        t if t < BUSY_SHORT_TRIES => std::time::Duration::from_micros(250),
        t if t < BUSY_TRIES => std::time::Duration::from_millis(1),
        _ => return false,
    };
    std::thread::sleep(pause);
    true
}

fn open_connection(path: &Path) -> Result<Connection> {
    let conn = Connection::open(path)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    // FULL: the WAL is fsynced at every commit, so a returned COMMIT survives power loss
    // (NORMAL would only guarantee consistency, not durability, in WAL mode).
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.busy_handler(Some(busy_wait))?;
    // Room for every statement the ledger uses (about 25): the default 16 would evict and
    // re-prepare on every request.
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(conn)
}

/// The ledger's tables and indexes, made or brought up to date (idempotent).
fn create_tables(conn: &Connection) -> Result<()> {
    for ddl in crate::schema::TABLES {
        if ddl.starts_with("CREATE TABLE") {
            conn.execute(&format!("{ddl}{}", crate::schema::SQLITE_TABLE_SUFFIX), [])?;
        } else {
            conn.execute(ddl, [])?;
        }
    }
    add_missing_columns(conn)
}

/// Adds the columns of [`crate::schema::ADDED_COLUMNS`] that a file made by an earlier
/// version lacks (SQLite has no `ADD COLUMN IF NOT EXISTS`).
fn add_missing_columns(conn: &Connection) -> Result<()> {
    for (table, column, ty) in crate::schema::ADDED_COLUMNS {
        let present: bool = conn.query_row(
            "SELECT count(*) > 0 FROM pragma_table_info(?1) WHERE name = ?2",
            [table, column],
            |r| r.get(0),
        )?;
        if !present {
            conn.execute(&format!("ALTER TABLE {table} ADD COLUMN {column} {ty}"), [])?;
        }
    }
    for sql in crate::schema::AFTER_ADDED_COLUMNS {
        conn.execute(sql, [])?;
    }
    Ok(())
}

impl EmbeddedStore {
    /// Opens (creating if needed) the ledger at `path`, e.g. `var/ledger.sqlite`.
    pub fn open(
        path: impl AsRef<Path>,
        hasher: PanHasher,
        quoter: Arc<dyn Quoter>,
        opts: EmbeddedOptions,
    ) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        if opts.max_batch == 0 || opts.queue_depth == 0 {
            return Err(LedgerError::invalid(
                "options",
                "max_batch and queue_depth must be positive",
            ));
        }
        let conn = open_connection(&path)?;
        create_tables(&conn)?;
        for ddl in crate::outbox::SQLITE_DDL {
            conn.execute(ddl, [])?;
        }
        let legacy_outbox = outbox::open_legacy(&conn)?;
        if legacy_outbox {
            tracing::info!(
                "ledger: events before this version stay in the outbox table, read before \
                 outbox_batch's (one row a transaction from now on)"
            );
        }
        conn.execute(
            "CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v BIGINT NOT NULL) WITHOUT ROWID",
            [],
        )?;
        conn.execute(
            "INSERT INTO meta (k, v) VALUES ('approval', 0) ON CONFLICT DO NOTHING",
            [],
        )?;
        let reader = open_connection(&path)?;
        reader.pragma_update(None, "query_only", "ON")?;
        let ctx = Ctx {
            security_cache: Default::default(),
            programs: Default::default(),
            hasher,
            quoter,
            hold_ttl: SignedDuration::from_secs(opts.hold_ttl_secs),
            stats: Arc::default(),
            health: Arc::default(),
        };
        let (queue, rx) = mpsc::sync_channel(opts.queue_depth);
        let checkpoints = checkpoint::start(path.clone())?;
        let writer = {
            let ctx = ctx.clone();
            let max_batch = opts.max_batch;
            std::thread::Builder::new()
                .name("ledger-writer".into())
                .spawn(move || writer::supervise(conn, rx, ctx, max_batch, checkpoints))?
        };
        Ok(EmbeddedStore {
            inner: Arc::new(Inner {
                queue: Some(queue),
                capacity: opts.queue_depth,
                writer: Some(writer),
                reader: Arc::new(Mutex::new(reader)),
                side: Arc::default(),
                published_floor: Arc::default(),
                legacy_outbox,
                ctx,
                path,
            }),
        })
    }

    pub(crate) fn ctx(&self) -> &Ctx {
        &self.inner.ctx
    }

    pub(crate) async fn submit(&self, op: Op) -> Result<Output> {
        let (reply, rx) = tokio::sync::oneshot::channel();
        let queue = self.inner.queue.as_ref().ok_or(LedgerError::Closed)?;
        // The PAN's keyed hash and the fingerprint are computed here, on the caller's thread,
        // not on the one writer. Kept (the request is a reference count) to read the outcome
        // back should the answer be lost.
        let prepared = Prepared::new(op, &self.inner.ctx);
        let kept = prepared.clone();
        match queue.try_send(Job { prepared, reply }) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                return Err(LedgerError::Backpressure {
                    capacity: self.inner.capacity,
                })
            }
            Err(TrySendError::Disconnected(_)) => return Err(LedgerError::Closed),
        }
        match rx.await {
            Ok(r) => r,
            Err(_) => self.read_back(kept).await,
        }
    }

    /// The writer took `op` and stopped (panicked) before answering: what it committed of
    /// `op`, read back, or [`LedgerError::OutcomeUnknown`] (a rolled-back batch leaves
    /// nothing, and the caller voids the request so that nothing can land later either).
    async fn read_back(&self, p: Prepared) -> Result<Output> {
        let lost = "the ledger writer stopped before answering";
        let found = self
            .read(move |conn, _| {
                let needs = Needs::of(&[&p]);
                let mut snap = Snapshot::default();
                sql::load(
                    &sql::Stmts::Cached(conn),
                    &needs,
                    &mut snap,
                    &mut |_, load| load(),
                )?;
                rules::read_back(&State::new(&snap), &p)
            })
            .await;
        match found {
            Ok(Some(out)) => Ok(out),
            Ok(None) => Err(LedgerError::OutcomeUnknown(format!(
                "{lost}, and nothing of the request is in the ledger"
            ))),
            Err(e) => Err(LedgerError::OutcomeUnknown(format!(
                "{lost}, and reading it back failed: {e}"
            ))),
        }
    }

    /// Runs `f` on the read connection, off the async workers.
    async fn read<R, F>(&self, f: F) -> Result<R>
    where
        R: Send + 'static,
        F: FnOnce(&Connection, &Ctx) -> Result<R> + Send + 'static,
    {
        let reader = Arc::clone(&self.inner.reader);
        let ctx = self.inner.ctx.clone();
        tokio::task::spawn_blocking(move || {
            let conn = reader.lock().map_err(|_| LedgerError::Closed)?;
            f(&conn, &ctx)
        })
        .await
        .map_err(|_| LedgerError::Closed)?
    }

    pub(crate) async fn balance(&self, r: BalanceRequest) -> Result<BalanceAnswer> {
        self.read(move |conn, ctx| {
            let s = sql::Stmts::Cached(conn);
            let card = sql::card(&s, &ctx.hasher.hash(&r.pan))?;
            let wallets = match &card {
                Some(c) => sql::wallets_of(&s, &c.account_id)?,
                None => Vec::new(),
            };
            Ok(rules::balance::answer(
                card.as_ref(),
                wallets,
                r.expiry.as_deref(),
                r.business_date,
            ))
        })
        .await
    }

    pub(crate) async fn decision(&self, key: &NetworkKey) -> Result<Option<Decision>> {
        let key = key.as_db();
        self.read(move |conn, _| sql::decision(&sql::Stmts::Cached(conn), &key))
            .await
    }

    pub(crate) async fn card_by_hash(&self, hash: String) -> Result<Option<crate::CardRecord>> {
        self.read(move |conn, _| sql::card(&sql::Stmts::Cached(conn), &hash))
            .await
    }

    pub(crate) async fn account(
        &self,
        id: String,
    ) -> Result<Option<(money::Currency, Vec<Wallet>)>> {
        self.read(move |conn, _| {
            let s = sql::Stmts::Cached(conn);
            let Some(home) = sql::home_currency(&s, &id)? else {
                return Ok(None);
            };
            Ok(Some((home, sql::wallets_of(&s, &id)?)))
        })
        .await
    }

    pub(crate) async fn hold(&self, key: String) -> Result<Option<crate::Hold>> {
        self.read(move |conn, _| sql::hold(&sql::Stmts::Cached(conn), &key))
            .await
    }

    pub(crate) async fn card_hash_by_id(&self, id: String) -> Result<Option<String>> {
        self.read(move |conn, _| sql::card_hash_by_id(&sql::Stmts::Cached(conn), &id))
            .await
    }

    pub(crate) async fn card_decisions(
        &self,
        card_id: String,
        limit: usize,
        before: Option<(i64, String)>,
    ) -> Result<Vec<Decision>> {
        self.read(move |conn, _| {
            sql::card_decisions(&sql::Stmts::Cached(conn), &card_id, limit, before)
        })
        .await
    }

    pub(crate) async fn clearing_file(
        &self,
        file_id: String,
    ) -> Result<Option<crate::ClearingFileMark>> {
        self.read(move |conn, _| sql::clearing_file(&sql::Stmts::Cached(conn), &file_id))
            .await
    }

    pub(crate) async fn approval_candidates(
        &self,
        card_id: String,
        code: String,
        limit: usize,
    ) -> Result<Vec<NetworkKey>> {
        self.read(move |conn, _| {
            sql::approval_candidates(&sql::Stmts::Cached(conn), &card_id, &code, limit)
        })
        .await
    }

    pub(crate) async fn card_changes(
        &self,
        card_id: String,
        limit: usize,
    ) -> Result<Vec<crate::CardAudit>> {
        self.read(move |conn, _| sql::card_changes(&sql::Stmts::Cached(conn), &card_id, limit))
            .await
    }

    pub(crate) async fn card_security(&self, pan_hash: String) -> Result<Option<CardSecurity>> {
        self.read(move |conn, _| sql::card_security(conn, &pan_hash))
            .await
    }

    pub(crate) async fn duplicates(&self, key: &NetworkKey) -> Result<Vec<DuplicateRecord>> {
        let key = key.as_db();
        self.read(move |conn, _| sql::duplicates(conn, &key)).await
    }

    pub(crate) async fn export_balances(&self) -> Result<Vec<Wallet>> {
        self.read(|conn, _| sql::all_wallets(conn)).await
    }

    pub(crate) async fn holds(&self) -> Result<Vec<crate::Hold>> {
        self.read(|conn, _| sql::all_holds(conn)).await
    }

    pub(crate) async fn latest_cutover(&self) -> Result<Option<jiff::civil::Date>> {
        self.read(|conn, _| sql::latest_cutover(&sql::Stmts::Cached(conn)))
            .await
    }

    pub(crate) async fn invariant_violations(&self) -> Result<Vec<String>> {
        self.read(|conn, _| {
            // One snapshot for wallets and holds, or a commit in between could look like a
            // violation.
            conn.execute_batch("BEGIN")?;
            let read = sql::all_wallets(conn)
                .and_then(|w| Ok((w, sql::all_holds(conn)?, sql::adjusted_sums(conn)?)));
            conn.execute_batch("ROLLBACK")?;
            let (wallets, holds, adjusted) = read?;
            Ok(crate::machine::invariants::violations(
                &wallets, &holds, &adjusted,
            ))
        })
        .await
    }

    /// A connection of its own (the reader is query-only and the writer's queue carries
    /// operations of the authorization flow only); SQLite serializes it with the writer.
    /// `cutovers.business_date` is `YYYY-MM-DD`, which compares as the dates do.
    pub(crate) async fn reset_cutovers(&self, calendar: jiff::civil::Date) -> Result<usize> {
        let path = self.inner.path.clone();
        tokio::task::spawn_blocking(move || {
            let conn = open_connection(&path)?;
            Ok(conn.execute(
                "DELETE FROM cutovers WHERE business_date > ?1",
                [calendar.to_string()],
            )?)
        })
        .await
        .map_err(|_| LedgerError::Closed)?
    }

    pub(crate) async fn events_after(
        &self,
        after: i64,
        unpublished: bool,
        limit: usize,
    ) -> Result<Vec<crate::OutboxEvent>> {
        let legacy = self.inner.legacy_outbox;
        if !unpublished {
            return self
                .read(move |conn, _| outbox::after(conn, legacy, after, limit))
                .await;
        }
        let floor = Arc::clone(&self.inner.published_floor);
        self.read(move |conn, _| outbox::unpublished(conn, legacy, after, &floor, limit))
            .await
    }

    pub(crate) async fn events_pending(&self) -> Result<u64> {
        let floor = Arc::clone(&self.inner.published_floor);
        let legacy = self.inner.legacy_outbox;
        self.read(move |conn, _| outbox::pending(conn, legacy, &floor))
            .await
    }

    /// Runs `f` on the relay's connection, off the async workers.
    async fn side<R, F>(&self, f: F) -> Result<R>
    where
        R: Send + 'static,
        F: FnOnce(&Connection) -> Result<R> + Send + 'static,
    {
        let side = Arc::clone(&self.inner.side);
        let path = self.inner.path.clone();
        tokio::task::spawn_blocking(move || {
            let mut g = side.lock().map_err(|_| LedgerError::Closed)?;
            if g.is_none() {
                *g = Some(open_connection(&path)?);
            }
            let conn = g.as_ref().ok_or(LedgerError::Closed)?;
            f(conn)
        })
        .await
        .map_err(|_| LedgerError::Closed)?
    }

    pub(crate) async fn events_published(
        &self,
        positions: &[i64],
        now: jiff::Timestamp,
    ) -> Result<()> {
        let positions = positions.to_vec();
        let legacy = self.inner.legacy_outbox;
        self.side(move |conn| outbox::published(conn, legacy, &positions, now))
            .await
    }

    pub(crate) async fn events_prune(&self, before: jiff::Timestamp) -> Result<usize> {
        let legacy = self.inner.legacy_outbox;
        self.side(move |conn| outbox::prune(conn, legacy, before))
            .await
    }

    pub(crate) async fn events_lease(
        &self,
        holder: &str,
        now: jiff::Timestamp,
        until: jiff::Timestamp,
    ) -> Result<bool> {
        let holder = holder.to_owned();
        self.side(move |conn| outbox::lease(conn, &holder, now, until))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The plan of `sql` (EXPLAIN QUERY PLAN's details) on the ledger's schema.
    fn plan(sql: &str, params: impl rusqlite::Params) -> Vec<String> {
        let conn = Connection::open_in_memory().unwrap();
        create_tables(&conn).unwrap();
        let mut st = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        st.query_map(params, |r| r.get::<_, String>(3))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap()
    }

    /// A presentment's lookup by DE 38 reads only the decisions with its code, both for those
    /// with the code's counter and for those without: never the card's decisions one by one
    /// (`decisions_card`), which took 2 s a presentment on a card with 1.5 million decisions
    /// and timed out an import through the switch.
    #[test]
    fn the_approval_code_lookup_reads_no_more_than_the_codes_decisions() {
        const SQL: &str = crate::rows::decisions_by_approval!("?1", "?2", "?3", "?4");
        let plan = plan(
            SQL,
            rusqlite::params!["C-0046", "1A2B3C", 123_456_i64, 16_i64],
        );
        let searches: Vec<&String> = plan.iter().filter(|d| d.contains("decisions")).collect();
        assert!(
            searches
                .iter()
                .any(|d| d
                    .contains("INDEX decisions_approval_number (approval_n=? AND card_id=?)")),
            "{plan:#?}"
        );
        assert!(
            searches.iter().any(|d| d
                .contains("INDEX decisions_card_approval_code (card_id=? AND approval_code=?)")),
            "{plan:#?}"
        );
        assert!(
            searches
                .iter()
                .all(|d| d.contains("decisions_approval_number")
                    || d.contains("decisions_card_approval_code")),
            "{plan:#?}"
        );
        assert!(!plan.iter().any(|d| d.contains("TEMP B-TREE")), "{plan:#?}");
    }
}
