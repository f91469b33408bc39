//! [`Engine`] over a tokio-postgres client: a batch in three round trips.
//!
//! 1. `BEGIN` with the reads that say which accounts the batch touches (cards, decisions,
//!    expired holds, cutovers), pipelined.
//! 2. The accounts' wallets locked (`FOR UPDATE`, one statement per account in sorted order:
//!    the server runs pipelined statements one after another, so every batch takes its locks
//!    in one global order and batches of different connections queue instead of
//!    deadlocking), and, under the locks, the decisions again, the holds, the linked holds
//!    and the approval numbers, pipelined.
//! 3. The effects (new decisions and holds as one multi-row `INSERT ... SELECT FROM unnest`
//!    each, changed rows one `UPDATE` each) and `COMMIT`, pipelined.
//!
//! Every lookup is an equality on a key, one statement each: the planner makes an index
//! probe of it at every table size, whereas a cached plan for an array form
//! (`nkey = ANY($1)`), made while the table was small (and never re-made where no ANALYZE
//! runs), stays a sequential scan as the table grows (seen: 1,770 scans of `decisions`
//! reading 31 M rows in a 15 s run).
//!
//! A key another instance inserted first, a serialization failure or a deadlock makes the
//! whole batch run again (`EngineError::Retry`); a connection lost with `COMMIT` on the wire
//! leaves the outcome unknown (`EngineError::Unknown`).

use futures::future::try_join_all;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Row, Statement};

use super::StmtCache;
use crate::atc::AtcWindow;
use crate::machine::engine::{Engine, EngineError, Step};
use crate::machine::needs::Needs;
use crate::machine::{Approvals, Effects, Snapshot};
use crate::rows::{
    card_by_hash, controls_text, currency, cutover_date, decision_columns, hold_columns, holds_sql,
    spend_row, wallet_columns, CardCols, DecisionCols, HoldCols,
};
use crate::{CardRecord, Decision, Hold, HoldStatus, LedgerError, Result, Wallet};

pub(crate) const DECISION_BY_KEY: &str = concat!(
    "SELECT ",
    decision_columns!(),
    " FROM decisions WHERE nkey = $1"
);
pub(crate) const HOLD_BY_KEY: &str = holds_sql!("WHERE nkey = $1");
pub(crate) const CARD_BY_HASH: &str = card_by_hash!("$1");
const APPROVAL_NUMBERS: &str = "SELECT nextval('approval_seq') FROM generate_series(1, $1::int4)";
/// The isolation every batch runs at.
const BEGIN: &str = "BEGIN ISOLATION LEVEL READ COMMITTED";
pub(crate) const ACTIVE_LINKED_HOLDS: &str =
    holds_sql!("WHERE original_key = $1 AND status = 'active'");
const EXPIRED: &str =
    holds_sql!("WHERE status = 'active' AND expires_us <= $1 ORDER BY expires_us LIMIT $2");
// One statement per account, not `account_id = ANY($1)`: see the module's documentation.
const LOCK_WALLETS: &str = concat!(
    "SELECT ",
    wallet_columns!(),
    " FROM wallets WHERE account_id = $1 ORDER BY currency FOR UPDATE"
);
pub(crate) const WALLETS_OF: &str = concat!(
    "SELECT ",
    wallet_columns!(),
    " FROM wallets WHERE account_id = $1 ORDER BY currency"
);
const CUTOVER_BY_KEY: &str = "SELECT business_date FROM cutovers WHERE nkey = $1";
pub(crate) const LATEST_CUTOVER: &str = "SELECT max(business_date) FROM cutovers";
const ACCOUNT_EXISTS: &str = "SELECT 1 FROM accounts WHERE id = $1";

pub(crate) fn decision_row(r: &Row) -> Result<Decision> {
    DecisionCols {
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
        card_id: r.try_get(20)?,
        hook: r.try_get(21)?,
        approval_n: None,
    }
    .into_decision()
}

pub(crate) fn hold_row(r: &Row) -> Result<Hold> {
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
        card_id: r.try_get(14)?,
        counted_minor: r.try_get(15)?,
        counted_periods: r.try_get(16)?,
    }
    .into_hold()
}

pub(crate) fn card_row(r: &Row) -> Result<CardRecord> {
    CardCols {
        pan_hash: r.try_get(0)?,
        last4: r.try_get(1)?,
        expiry: r.try_get(2)?,
        status: r.try_get(3)?,
        account_id: r.try_get(4)?,
        home_currency: r.try_get(5)?,
        id: r.try_get(6)?,
        masked: r.try_get(7)?,
        controls: r.try_get(8)?,
        account_controls: r.try_get(9)?,
    }
    .into_card()
}

pub(crate) fn wallet_row(r: &Row) -> Result<Wallet> {
    Ok(Wallet {
        account_id: r.try_get(0)?,
        currency: currency(r.try_get(1)?, "wallets")?,
        opening_minor: r.try_get(2)?,
        balance_minor: r.try_get(3)?,
        held_minor: r.try_get(4)?,
        overdraft_minor: r.try_get(5)?,
    })
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

/// What a failed step means for the batch; `committing` when `COMMIT` was on the wire.
fn classify(e: impl Into<LedgerError>, committing: bool) -> EngineError {
    let e = e.into();
    let code = match &e {
        LedgerError::Postgres(pe) => Some(pe.code().cloned()),
        _ => None,
    };
    match code {
        Some(Some(c))
            if c == SqlState::T_R_SERIALIZATION_FAILURE
                || c == SqlState::T_R_DEADLOCK_DETECTED
                || c == SqlState::UNIQUE_VIOLATION =>
        {
            EngineError::Retry(e)
        }
        // No SQLSTATE: the connection, not the server, failed.
        Some(None) if committing => EngineError::Unknown(e),
        _ => EngineError::Failed(e),
    }
}

/// A statement, prepared once per connection.
pub(crate) async fn stmt(client: &Client, cache: &mut StmtCache, sql: &str) -> Result<Statement> {
    if let Some(s) = cache.get(sql) {
        return Ok(s.clone());
    }
    let s = client.prepare(sql).await?;
    cache.insert(sql.to_owned(), s.clone());
    Ok(s)
}

/// Reads `needs` except wallets into `snap` (no transaction of its own: inside the batch's,
/// or on the reader for a read-back). `begin` is sent first in the same pipeline when given.
pub(crate) async fn load(
    client: &Client,
    cache: &mut StmtCache,
    needs: &Needs,
    snap: &mut Snapshot,
    begin: bool,
) -> Result<()> {
    let (by_hash, by_key, cut, acct) = (
        stmt(client, cache, CARD_BY_HASH).await?,
        stmt(client, cache, DECISION_BY_KEY).await?,
        stmt(client, cache, CUTOVER_BY_KEY).await?,
        stmt(client, cache, ACCOUNT_EXISTS).await?,
    );
    let (latest, expired) = (
        stmt(client, cache, LATEST_CUTOVER).await?,
        stmt(client, cache, EXPIRED).await?,
    );
    let (cards_p, keys_p, cut_p, acct_p) = (
        one(&needs.cards),
        one(&needs.keys),
        one(&needs.cutovers),
        one(&needs.accounts),
    );
    let expire = needs.expire.map(|(now, limit)| {
        (
            now.as_microsecond(),
            i64::try_from(limit).unwrap_or(i64::MAX),
        )
    });
    let begin_f = async {
        if begin {
            client.batch_execute(BEGIN).await
        } else {
            Ok(())
        }
    };
    let expired_f = async {
        match &expire {
            Some((now, limit)) => client.query(&expired, &[now, limit]).await,
            None => Ok(Vec::new()),
        }
    };
    let latest_f = async {
        if needs.cutovers.is_empty() {
            Ok(Vec::new())
        } else {
            client.query(&latest, &[]).await
        }
    };
    let ((), cards, decisions, cutovers, latest_rows, accounts, expired_rows) = futures::try_join!(
        begin_f,
        probe(client, &by_hash, &cards_p),
        probe(client, &by_key, &keys_p),
        probe(client, &cut, &cut_p),
        latest_f,
        probe(client, &acct, &acct_p),
        expired_f,
    )?;
    for (h, rows) in needs.cards.iter().zip(&cards) {
        snap.cards
            .insert(h.clone(), rows.first().map(card_row).transpose()?);
    }
    for (k, rows) in needs.keys.iter().zip(&decisions) {
        snap.decisions
            .insert(k.clone(), rows.first().map(decision_row).transpose()?);
    }
    for (k, rows) in needs.cutovers.iter().zip(&cutovers) {
        let d = rows
            .first()
            .map(|r| cutover_date(&r.try_get::<_, String>(0)?))
            .transpose()?;
        snap.cutovers.insert(k.clone(), d);
    }
    if let Some(r) = latest_rows.first() {
        snap.latest_cutover = r
            .try_get::<_, Option<String>>(0)?
            .map(|s| cutover_date(&s))
            .transpose()?;
    }
    for (a, rows) in needs.accounts.iter().zip(&accounts) {
        snap.accounts.insert(a.clone(), !rows.is_empty());
    }
    snap.expired = expired_rows.iter().map(hold_row).collect::<Result<_>>()?;
    Ok(())
}

/// Holds by key and the active holds extending each original (no locks).
pub(crate) async fn load_holds(
    client: &Client,
    cache: &mut StmtCache,
    needs: &Needs,
    snap: &mut Snapshot,
) -> Result<()> {
    let (hold_by_key, linked) = (
        stmt(client, cache, HOLD_BY_KEY).await?,
        stmt(client, cache, ACTIVE_LINKED_HOLDS).await?,
    );
    let (holds_p, linked_p) = (one(&needs.holds), one(&needs.linked));
    let (holds, links) = futures::try_join!(
        probe(client, &hold_by_key, &holds_p),
        probe(client, &linked, &linked_p)
    )?;
    for (k, rows) in needs.holds.iter().zip(&holds) {
        snap.holds
            .insert(k.clone(), rows.first().map(hold_row).transpose()?);
    }
    for (k, rows) in needs.linked.iter().zip(&links) {
        snap.linked
            .insert(k.clone(), rows.iter().map(hold_row).collect::<Result<_>>()?);
    }
    Ok(())
}

/// A struct of one array per column, filled row by row from `$cols`; `params` gives the
/// arrays in the order declared here, which is the order of the `unnest` arguments of its
/// `SQL`.
/// The columns of row `$r` at these indexes as a tuple, each converted with `Row::try_get`
/// (`?` on each): what rusqlite's `TryFrom<&Row>` for tuples gives the embedded engine.
macro_rules! columns {
    ($r:expr; $($i:literal),+ $(,)?) => {
        ($($r.try_get($i)?,)+)
    };
}
pub(crate) use columns;

macro_rules! column_arrays {
    ($(#[$m:meta])* $name:ident from $cols:ty { $($f:ident: $t:ty),* $(,)? }) => {
        $(#[$m])*
        #[derive(Default)]
        struct $name {
            $($f: Vec<$t>,)*
        }

        impl $name {
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
        card_id: Option<String>,
        hook: Option<String>,
        approval_n: Option<i64>,
    }
}

impl DecisionRows {
    const SQL: &'static str = concat!(
        "INSERT INTO decisions (",
        decision_columns!(),
        ", approval_n) SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], \
         $5::text[], $6::int8[], $7::text[], $8::int8[], $9::int8[], $10::text[], $11::text[], \
         $12::text[], $13::text[], $14::text[], $15::text[], $16::text[], $17::int8[], \
         $18::int8[], $19::int8[], $20::text[], $21::text[], $22::text[], $23::int8[])"
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
        card_id: Option<String>,
        counted_minor: Option<i64>,
        counted_periods: Option<String>,
    }
}

impl HoldRows {
    const SQL: &'static str = concat!(
        "INSERT INTO holds (",
        hold_columns!(),
        ") SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int8[], \
         $6::int8[], $7::int8[], $8::int8[], $9::text[], $10::text[], $11::text[], $12::text[], \
         $13::int8[], $14::int8[], $15::text[], $16::int8[], $17::text[])"
    );
}

const UPDATE_DECISION: &str = "UPDATE decisions SET kind = $2, response_code = $3, \
     approval_code = $4, approved_minor = $5, updated_us = $6, approval_n = $7 WHERE nkey = $1";
const UPDATE_HOLD: &str = "UPDATE holds SET held_minor = $2, captured_minor = $3, status = $4, \
     counted_minor = $5 WHERE nkey = $1";
const UPDATE_WALLET: &str = "UPDATE wallets SET balance_minor = $3, held_minor = $4 \
     WHERE account_id = $1 AND currency = $2";
const INSERT_ACCOUNT: &str =
    "INSERT INTO accounts (id, home_currency) VALUES ($1, $2) ON CONFLICT DO NOTHING";
const INSERT_WALLET: &str = concat!(
    "INSERT INTO wallets (",
    wallet_columns!(),
    ") VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING"
);
const INSERT_CARD: &str = "INSERT INTO cards (pan_hash, last4, expiry, status, account_id, \
     id, masked, controls) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING";
const SPEND_BY_KEY: &str =
    "SELECT total_minor, count, recent FROM spend WHERE card_id = $1 AND period = $2";
const UPSERT_SPEND: &str = "INSERT INTO spend (card_id, period, total_minor, count, recent) \
     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (card_id, period) DO UPDATE SET \
     total_minor = excluded.total_minor, count = excluded.count, recent = excluded.recent";
/// A card's PIN try counter with its account, when the card has a PVV on record.
const PIN_BY_CARD: &str = "SELECT c.account_id, s.pin_tries FROM card_security s \
     JOIN cards c ON c.id = s.card_id WHERE s.card_id = $1 AND s.pvv IS NOT NULL";
const UPDATE_PIN_TRIES: &str = "UPDATE card_security SET pin_tries = $2, pin_tries_us = $3, \
     reset_by = coalesce($4, reset_by), \
     reset_us = CASE WHEN $4::text IS NULL THEN reset_us ELSE $3 END WHERE card_id = $1";
const INSERT_SECURITY: &str = "INSERT INTO card_security (card_id, pvv, pvki, psn, pin_tries) \
     VALUES ($1, $2, $3, $4, 0) ON CONFLICT DO NOTHING";
/// A card with its security row, read before the writer (issue 23).
pub(crate) const SECURITY_BY_HASH: &str = "SELECT c.id, c.expiry, s.pvv, s.pvki, s.psn, \
     s.pin_tries, s.atc_high FROM cards c LEFT JOIN card_security s ON s.card_id = c.id WHERE c.pan_hash = $1";

/// A card's ATC window (a row-less card, or one from before the window: none seen).
const ATC_BY_CARD: &str = "SELECT atc_high, atc_seen FROM card_security WHERE card_id = $1";
/// The card's row is created when it has none (a chip card seeded without PIN or PSN).
const UPSERT_ATC: &str = "INSERT INTO card_security (card_id, pin_tries, atc_high, atc_seen, \
     atc_us) VALUES ($1, 0, $2, $3, $4) ON CONFLICT (card_id) DO UPDATE SET \
     atc_high = excluded.atc_high, atc_seen = excluded.atc_seen, atc_us = excluded.atc_us";

/// The ATC windows of `cards` into `snap`, under the accounts' locks (every writer of a
/// card's window holds its account's lock: the window is decided by the authorization that
/// locked the card's account).
async fn load_atcs(
    client: &Client,
    cache: &mut StmtCache,
    cards: &[String],
    snap: &mut Snapshot,
) -> Result<()> {
    if cards.is_empty() {
        return Ok(());
    }
    let by_card = stmt(client, cache, ATC_BY_CARD).await?;
    let p = one(cards);
    let rows = probe(client, &by_card, &p).await?;
    for (card, rows) in cards.iter().zip(&rows) {
        let window = match rows.first() {
            Some(r) => AtcWindow::from_columns(r.try_get(0)?, r.try_get(1)?)?,
            None => AtcWindow::default(),
        };
        snap.atcs.insert(card.clone(), window);
    }
    Ok(())
}

/// The PIN try counters of `cards` into `snap` (under the accounts' locks when called from
/// `lock`: every writer of a card's counter holds its account's lock).
async fn load_pins(
    client: &Client,
    cache: &mut StmtCache,
    cards: &[String],
    snap: &mut Snapshot,
) -> Result<()> {
    if cards.is_empty() {
        return Ok(());
    }
    let by_card = stmt(client, cache, PIN_BY_CARD).await?;
    let p = one(cards);
    let rows = probe(client, &by_card, &p).await?;
    for (card, rows) in cards.iter().zip(&rows) {
        let state = match rows.first() {
            Some(r) => Some(crate::rows::pin_state(card, r.try_get(0)?, r.try_get(1)?)?),
            None => None,
        };
        snap.pins.insert(card.clone(), state);
    }
    Ok(())
}

/// The card of the decision under a key, with its masked PAN.
const CARD_OF_DECISION: &str = "SELECT d.card_id, c.masked FROM decisions d \
     LEFT JOIN cards c ON c.id = d.card_id WHERE d.nkey = $1 AND d.card_id IS NOT NULL";
/// A card's masked PAN by its id.
const MASKED_BY_ID: &str = "SELECT masked FROM cards WHERE id = $1";

/// What the batch's events name of cards it did not load by PAN: the card of each hold that
/// knows none ([`Needs::card_of_keys`]), the masked PAN of each card id
/// ([`Needs::masked_ids`]). Nothing to read for authorizations.
async fn load_event_cards(
    client: &Client,
    cache: &mut StmtCache,
    needs: &Needs,
    snap: &mut Snapshot,
) -> Result<()> {
    let keys = needs.card_of_keys(snap);
    if !keys.is_empty() {
        let by_key = stmt(client, cache, CARD_OF_DECISION).await?;
        let p = one(&keys);
        let rows = probe(client, &by_key, &p).await?;
        for (k, rows) in keys.iter().zip(&rows) {
            let card: Option<String> = match rows.first() {
                Some(r) => {
                    let id: String = r.try_get(0)?;
                    snap.masked.insert(id.clone(), r.try_get(1)?);
                    Some(id)
                }
                None => None,
            };
            snap.card_of_key.insert(k.clone(), card);
        }
    }
    let ids = needs.masked_ids(snap);
    if !ids.is_empty() {
        let by_id = stmt(client, cache, MASKED_BY_ID).await?;
        let p = one(&ids);
        let rows = probe(client, &by_id, &p).await?;
        for (id, rows) in ids.iter().zip(&rows) {
            let masked = rows.first().map(|r| r.try_get(0)).transpose()?.flatten();
            snap.masked.insert(id.clone(), masked);
        }
    }
    Ok(())
}

const SET_ACCOUNT_CONTROLS: &str = "UPDATE accounts SET controls = $2 WHERE id = $1";
const CLEARING_FILE_BY_ID: &str = "SELECT file_id, presentments, business_date, at_us \
     FROM clearing_files WHERE file_id = $1";
const INSERT_CLEARING_FILE: &str = "INSERT INTO clearing_files (file_id, presentments, \
     business_date, at_us) VALUES ($1, $2, $3, $4) ON CONFLICT (file_id) DO NOTHING";
const ADJUSTMENT_BY_KEY: &str = "SELECT akey, account_id, currency, amount_minor, \
     balance_after_minor, reason, actor, at_us FROM adjustments WHERE akey = $1";
const INSERT_ADJUSTMENT: &str = "INSERT INTO adjustments (akey, account_id, currency, \
     amount_minor, balance_after_minor, reason, actor, at_us) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";
const UPDATE_CARD: &str = "UPDATE cards SET status = $2, controls = $3 WHERE pan_hash = $1";
const INSERT_CARD_CHANGE: &str = "INSERT INTO card_changes (id, card_id, at_us, actor, field, \
     before_json, after_json) VALUES ($1, $2, $3, $4, $5, $6, $7)";
const INSERT_DUPLICATE: &str = "INSERT INTO duplicates (nkey, fingerprint, kind, account_id, \
     amount_minor, currency, first_us, last_us, times) VALUES ($1, $2, $3, $4, $5, $6, $7, $7, 1) \
     ON CONFLICT (nkey, fingerprint) \
     DO UPDATE SET last_us = excluded.last_us, times = duplicates.times + 1";
const INSERT_CUTOVER: &str = "INSERT INTO cutovers (nkey, business_date, created_us) \
     VALUES ($1, $2, $3) ON CONFLICT DO NOTHING";
const HEARTBEAT: &str = "INSERT INTO heartbeat (id, at_us) VALUES ('ledger', $1) \
     ON CONFLICT (id) DO UPDATE SET at_us = excluded.at_us";

const LAST_EVENT_SEQ: &str = "SELECT last_seq FROM outbox_seq WHERE account = $1";
const INSERT_EVENT: &str = "INSERT INTO outbox (id, account, seq, kind, at_us, body) \
     VALUES ($1, $2, $3, $4, $5, $6)";
const UPSERT_EVENT_SEQ: &str = "INSERT INTO outbox_seq (account, last_seq) VALUES ($1, $2) \
     ON CONFLICT (account) DO UPDATE SET last_seq = excluded.last_seq";

pub(crate) struct PgEngine<'c> {
    pub(crate) client: &'c Client,
    pub(crate) cache: &'c mut StmtCache,
}

impl PgEngine<'_> {
    async fn stmt(&mut self, sql: &str) -> Result<Statement> {
        stmt(self.client, self.cache, sql).await
    }
}

/// One statement's parameters, owned (for the pipelined commit).
type Params = Vec<Box<dyn ToSql + Sync + Send>>;

impl Engine for PgEngine<'_> {
    async fn begin(&mut self, needs: &Needs) -> Step<Snapshot> {
        let mut snap = Snapshot::default();
        load(self.client, self.cache, needs, &mut snap, true)
            .await
            .map_err(|e| classify(e, false))?;
        // A reset names its card: its account is locked with the others.
        load_pins(self.client, self.cache, &needs.pin_cards, &mut snap)
            .await
            .map_err(|e| classify(e, false))?;
        Ok(snap)
    }

    async fn lock(&mut self, needs: &Needs, accounts: &[String], snap: &mut Snapshot) -> Step {
        let go = async {
            let lock = self.stmt(LOCK_WALLETS).await?;
            let by_key = self.stmt(DECISION_BY_KEY).await?;
            let numbers = self.stmt(APPROVAL_NUMBERS).await?;
            let hold_by_key = self.stmt(HOLD_BY_KEY).await?;
            let by_account = self.stmt(LAST_EVENT_SEQ).await?;
            let client = self.client;
            let n = i32::try_from(needs.approvals.min(4096)).unwrap_or(0);
            // The expired holds again, under their accounts' locks: another instance may have
            // released one meanwhile.
            let expired_keys: Vec<String> = snap.expired.iter().map(|h| h.key.as_db()).collect();
            let (accounts_p, keys_p, expired_p) =
                (one(accounts), one(&needs.keys), one(&expired_keys));
            // The accounts' event counters, read after their locks in the same pipeline (and
            // the no-account stream's, which no lock orders: two instances writing it at once
            // collide on the outbox's unique (account, seq) and the later batch runs again).
            let seq_accounts: Vec<String> = accounts
                .iter()
                .cloned()
                .chain([crate::NO_ACCOUNT.to_owned()])
                .collect();
            let seq_p = one(&seq_accounts);
            let reserve = async {
                if n == 0 {
                    return Ok(Vec::new());
                }
                client.query(&numbers, &[&n]).await
            };
            let (wallets, seqs, decisions, expired, approvals) = futures::try_join!(
                probe(client, &lock, &accounts_p),
                probe(client, &by_account, &seq_p),
                probe(client, &by_key, &keys_p),
                probe(client, &hold_by_key, &expired_p),
                reserve,
            )?;
            for (a, rows) in accounts.iter().zip(&wallets) {
                let ws = rows.iter().map(wallet_row).collect::<Result<Vec<_>>>()?;
                snap.wallets.insert(a.clone(), ws);
            }
            // What was read before the locks may have changed since.
            for (k, rows) in needs.keys.iter().zip(&decisions) {
                snap.decisions
                    .insert(k.clone(), rows.first().map(decision_row).transpose()?);
            }
            let mut still = Vec::new();
            for rows in &expired {
                if let Some(h) = rows.first().map(hold_row).transpose()? {
                    if h.status == HoldStatus::Active {
                        still.push(h);
                    }
                }
            }
            snap.expired = still;
            load_holds(client, self.cache, needs, snap).await?;
            // Spend counters, under the accounts' locks (every writer of a card's counters
            // holds its account's): read after the holds, which say what a release gives back.
            let spend_keys = needs.spend_keys(snap);
            if !spend_keys.is_empty() {
                let by_key = self.stmt(SPEND_BY_KEY).await?;
                let params: Vec<[&(dyn ToSql + Sync); 2]> =
                    spend_keys.iter().map(|(c, p)| [c as _, p as _]).collect();
                let rows = try_join_all(params.iter().map(|p| client.query(&by_key, p))).await?;
                for ((card, period), rows) in spend_keys.into_iter().zip(rows) {
                    let row = match rows.first() {
                        Some(r) => Some(spend_row(
                            &card,
                            &period,
                            r.try_get(0)?,
                            r.try_get(1)?,
                            r.try_get(2)?,
                        )?),
                        None => None,
                    };
                    snap.spend.insert((card, period), row);
                }
            }
            // Adjustments by key, under their accounts' locks: two instances given one key at
            // once record it once (the second sees the first's row, or waits for its lock).
            if !needs.adjustments.is_empty() {
                let by_key = self.stmt(ADJUSTMENT_BY_KEY).await?;
                for k in &needs.adjustments {
                    let row = client
                        .query_opt(&by_key, &[k])
                        .await?
                        .map(|r| Ok::<_, LedgerError>(columns!(r; 0, 1, 2, 3, 4, 5, 6, 7)))
                        .transpose()?
                        .map(crate::rows::adjustment_row)
                        .transpose()?;
                    snap.adjustments.insert(k.clone(), row);
                }
            }
            if !needs.clearing_files.is_empty() {
                let by_id = self.stmt(CLEARING_FILE_BY_ID).await?;
                for k in &needs.clearing_files {
                    let row = client
                        .query_opt(&by_id, &[k])
                        .await?
                        .map(|r| Ok::<_, LedgerError>(columns!(r; 0, 1, 2, 3)))
                        .transpose()?
                        .map(crate::rows::clearing_file_row)
                        .transpose()?;
                    snap.clearing_files.insert(k.clone(), row);
                }
            }
            let pins = needs.pin_keys(snap);
            load_pins(client, self.cache, &pins, snap).await?;
            let atcs = needs.atc_keys(snap);
            load_atcs(client, self.cache, &atcs, snap).await?;
            load_event_cards(client, self.cache, needs, snap).await?;
            for (a, rows) in seq_accounts.iter().zip(&seqs) {
                let last: i64 = rows.first().map(|r| r.try_get(0)).transpose()?.unwrap_or(0);
                snap.event_seq.insert(a.clone(), last);
            }
            if n > 0 {
                let v = approvals
                    .iter()
                    .map(|r| Ok(u64::try_from(r.try_get::<_, i64>(0)?).unwrap_or(0)))
                    .collect::<Result<Vec<u64>>>()?;
                snap.approvals = Approvals::Reserved(v);
            }
            Ok::<_, LedgerError>(())
        };
        go.await.map_err(|e| classify(e, false))
    }

    async fn commit(&mut self, e: &Effects) -> Step {
        let prepared = async {
            let mut stmts: Vec<(Statement, Params)> = Vec::new();
            for (id, home) in &e.accounts_new {
                stmts.push((
                    self.stmt(INSERT_ACCOUNT).await?,
                    vec![Box::new(id.clone()), Box::new(home.to_string())],
                ));
            }
            for w in &e.wallets_new {
                stmts.push((
                    self.stmt(INSERT_WALLET).await?,
                    vec![
                        Box::new(w.account_id.clone()),
                        Box::new(w.currency.to_string()),
                        Box::new(w.opening_minor),
                        Box::new(w.balance_minor),
                        Box::new(w.held_minor),
                        Box::new(w.overdraft_minor),
                    ],
                ));
            }
            for c in &e.cards_new {
                stmts.push((
                    self.stmt(INSERT_CARD).await?,
                    vec![
                        Box::new(c.pan_hash.clone()),
                        Box::new(c.last4.clone()),
                        Box::new(c.expiry.clone()),
                        Box::new(c.status.as_str().to_owned()),
                        Box::new(c.account_id.clone()),
                        Box::new(c.id.clone()),
                        Box::new(c.masked.clone()),
                        Box::new(controls_text(c.own_controls.as_ref())),
                    ],
                ));
            }
            for c in &e.cards_changed {
                stmts.push((
                    self.stmt(UPDATE_CARD).await?,
                    vec![
                        Box::new(c.pan_hash.clone()),
                        Box::new(c.status.as_str().to_owned()),
                        Box::new(controls_text(c.own_controls.as_ref())),
                    ],
                ));
            }
            for m in &e.clearing_files {
                stmts.push((
                    self.stmt(INSERT_CLEARING_FILE).await?,
                    vec![
                        Box::new(m.file_id.clone()),
                        Box::new(m.presentments),
                        Box::new(m.business_date.to_string()),
                        Box::new(m.at.as_microsecond()),
                    ],
                ));
            }
            for a in &e.adjustments {
                let adj = &a.adjustment;
                stmts.push((
                    self.stmt(INSERT_ADJUSTMENT).await?,
                    vec![
                        Box::new(adj.db_key()),
                        Box::new(adj.account_id.clone()),
                        Box::new(adj.currency.to_string()),
                        Box::new(adj.amount_minor),
                        Box::new(a.balance_after_minor),
                        Box::new(adj.reason.clone()),
                        Box::new(adj.actor.clone()),
                        Box::new(adj.at.as_microsecond()),
                    ],
                ));
            }
            for a in &e.card_audit {
                stmts.push((
                    self.stmt(INSERT_CARD_CHANGE).await?,
                    vec![
                        Box::new(a.id.clone()),
                        Box::new(a.card_id.clone()),
                        Box::new(a.at.as_microsecond()),
                        Box::new(a.actor.clone()),
                        Box::new(a.field.clone()),
                        Box::new(a.before.clone()),
                        Box::new(a.after.clone()),
                    ],
                ));
            }
            for (id, c) in &e.account_controls {
                stmts.push((
                    self.stmt(SET_ACCOUNT_CONTROLS).await?,
                    vec![Box::new(id.clone()), Box::new(controls_text(c.as_ref()))],
                ));
            }
            for sp in &e.spend {
                stmts.push((
                    self.stmt(UPSERT_SPEND).await?,
                    vec![
                        Box::new(sp.card_id.clone()),
                        Box::new(sp.period.clone()),
                        Box::new(sp.total_minor),
                        Box::new(sp.count),
                        Box::new(
                            (sp.period == crate::controls::VELOCITY).then(|| sp.recent_text()),
                        ),
                    ],
                ));
            }
            for sec in &e.security_new {
                stmts.push((
                    self.stmt(INSERT_SECURITY).await?,
                    vec![
                        Box::new(sec.card_id.clone()),
                        Box::new(sec.pvv.clone()),
                        Box::new(sec.pvki.map(i64::from)),
                        Box::new(sec.psn.clone()),
                    ],
                ));
            }
            for c in &e.pin_tries {
                stmts.push((
                    self.stmt(UPDATE_PIN_TRIES).await?,
                    vec![
                        Box::new(c.card_id.clone()),
                        Box::new(i64::from(c.tries)),
                        Box::new(c.at_us),
                        Box::new(c.reset_by.clone()),
                    ],
                ));
            }
            for c in &e.atc {
                let (high, seen) = c.window.to_columns();
                stmts.push((
                    self.stmt(UPSERT_ATC).await?,
                    vec![
                        Box::new(c.card_id.clone()),
                        Box::new(high),
                        Box::new(seen),
                        Box::new(c.at_us),
                    ],
                ));
            }
            for w in &e.wallets_changed {
                stmts.push((
                    self.stmt(UPDATE_WALLET).await?,
                    vec![
                        Box::new(w.account_id.clone()),
                        Box::new(w.currency.to_string()),
                        Box::new(w.balance_minor),
                        Box::new(w.held_minor),
                    ],
                ));
            }
            for h in &e.holds_changed {
                stmts.push((
                    self.stmt(UPDATE_HOLD).await?,
                    vec![
                        Box::new(h.key.as_db()),
                        Box::new(h.held_minor),
                        Box::new(h.captured_minor),
                        Box::new(h.status.as_str().to_owned()),
                        Box::new(h.counted.as_ref().map(|c| c.minor)),
                    ],
                ));
            }
            for d in &e.decisions_changed {
                let c = DecisionCols::from_decision(d);
                stmts.push((
                    self.stmt(UPDATE_DECISION).await?,
                    vec![
                        Box::new(c.nkey),
                        Box::new(c.kind),
                        Box::new(c.response_code),
                        Box::new(c.approval_code),
                        Box::new(c.approved_minor),
                        Box::new(c.updated_us),
                        Box::new(c.approval_n),
                    ],
                ));
            }
            for (d, fp) in &e.duplicates {
                stmts.push((
                    self.stmt(INSERT_DUPLICATE).await?,
                    vec![
                        Box::new(d.key.as_db()),
                        Box::new(fp.clone()),
                        Box::new(d.kind.as_str().to_owned()),
                        Box::new(d.account_id.clone()),
                        Box::new(d.amount_minor),
                        Box::new(d.currency.map(|c| c.to_string()).unwrap_or_default()),
                        Box::new(d.last_at.as_microsecond()),
                    ],
                ));
            }
            for r in &e.outbox {
                stmts.push((
                    self.stmt(INSERT_EVENT).await?,
                    vec![
                        Box::new(r.id.clone()),
                        Box::new(r.account.clone()),
                        Box::new(r.seq),
                        Box::new(r.kind.to_owned()),
                        Box::new(r.at_us),
                        Box::new(r.body.clone()),
                    ],
                ));
            }
            for (a, n) in &e.outbox_seq {
                stmts.push((
                    self.stmt(UPSERT_EVENT_SEQ).await?,
                    vec![Box::new(a.clone()), Box::new(*n)],
                ));
            }
            if let Some(t) = e.heartbeat {
                stmts.push((
                    self.stmt(HEARTBEAT).await?,
                    vec![Box::new(t.as_microsecond())],
                ));
            }
            let mut cutovers: Vec<(Statement, Params)> = Vec::new();
            for (k, d, now) in &e.cutovers {
                cutovers.push((
                    self.stmt(INSERT_CUTOVER).await?,
                    vec![
                        Box::new(k.clone()),
                        Box::new(d.to_string()),
                        Box::new(now.as_microsecond()),
                    ],
                ));
            }
            let mut decisions = DecisionRows::default();
            for d in &e.decisions_new {
                decisions.push(DecisionCols::from_decision(d));
            }
            let mut holds = HoldRows::default();
            for h in &e.holds_new {
                holds.push(HoldCols::from_hold(h));
            }
            let inserts = (
                (!e.decisions_new.is_empty()).then_some(self.stmt(DecisionRows::SQL).await?),
                (!e.holds_new.is_empty()).then_some(self.stmt(HoldRows::SQL).await?),
            );
            Ok::<_, LedgerError>((stmts, cutovers, decisions, holds, inserts))
        };
        let (stmts, cutovers, decisions, holds, (ins_d, ins_h)) =
            prepared.await.map_err(|e| classify(e, false))?;
        let client = self.client;
        fn param_refs(p: &Params) -> Vec<&(dyn ToSql + Sync)> {
            p.iter()
                .map(|b| b.as_ref() as &(dyn ToSql + Sync))
                .collect()
        }
        let (dp, hp) = (decisions.params(), holds.params());
        let sent = async {
            // Inserts first: an update of a row follows its insert (a row is updated only
            // once it exists), and no row is inserted twice.
            let mut futs = Vec::new();
            if let Some(s) = &ins_d {
                futs.push(client.execute(s, &dp));
            }
            if let Some(s) = &ins_h {
                futs.push(client.execute(s, &hp));
            }
            let plain: Vec<_> = stmts.iter().map(|(s, p)| (s, param_refs(p))).collect();
            let cuts: Vec<_> = cutovers.iter().map(|(s, p)| (s, param_refs(p))).collect();
            let rest = try_join_all(plain.iter().map(|(s, p)| client.execute(*s, p)));
            let cut = try_join_all(cuts.iter().map(|(s, p)| client.execute(*s, p)));
            let (_, _, cut) = futures::try_join!(try_join_all(futs), rest, cut)?;
            Ok::<_, tokio_postgres::Error>(cut)
        };
        let commit = client.batch_execute("COMMIT");
        let (sent, committed) = futures::join!(sent, commit);
        let cut_counts = match (sent, committed) {
            (Ok(c), Ok(())) => c,
            // The server refused a write (a SQLSTATE): it rolled the transaction back, and
            // COMMIT only ended it.
            (Err(e), _) if e.code().is_some() => return Err(classify(e, false)),
            // COMMIT was on the wire: refused (a SQLSTATE) or its answer lost.
            (_, Err(e)) => return Err(classify(e, true)),
            (Err(e), Ok(())) => return Err(classify(e, true)),
        };
        // A cutover key another instance recorded first: its date stands. The batch runs
        // again (everything in it is idempotent by key) and answers that date.
        if cut_counts.contains(&0) {
            return Err(EngineError::Retry(LedgerError::corrupt(
                "cutovers",
                "recorded by another instance meanwhile",
            )));
        }
        Ok(())
    }

    async fn rollback(&mut self) {
        let _ = self.client.batch_execute("ROLLBACK").await;
    }
}
