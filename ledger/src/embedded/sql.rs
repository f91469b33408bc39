//! Reading what a batch needs from SQLite, and writing what it changed.
//!
//! Reads are one indexed lookup per key on prepared statements (SQLite runs in the process:
//! a lookup is a b-tree descent, no round trip). Writes are one statement per row, on the
//! writer's prepared statements, bound from the rows' fields.

use std::cell::RefCell;
use std::collections::hash_map::Entry;
use std::collections::HashMap;

use jiff::civil::Date;
use rusqlite::{params, Connection, OptionalExtension, Row, Statement};

use crate::atc::AtcWindow;
use crate::machine::needs::Needs;
use crate::machine::{Effects, Snapshot};
use crate::pin::PinState;
use crate::rows::{
    card_by_hash, controls_text, cutover_date, decision_columns, hold_columns, holds_sql,
    spend_row, wallet_columns, CardCols, DecisionCols, DuplicateCols, HoldCols, DUPLICATE_COLUMNS,
};
use crate::{CardRecord, CardSecurity, DuplicateRecord, Hold, LedgerError, Result, Spend, Wallet};

/// Prepared statements found by the address of their (static) SQL text. rusqlite's own cache
/// hashes the whole text and moves the statement through an LRU list at every use: about a
/// tenth of the writer's instructions at three to five statements per request (callgrind).
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
    pub(crate) fn with<R>(
        &self,
        sql: &'static str,
        f: impl FnOnce(&mut Statement<'c>) -> Result<R>,
    ) -> Result<R> {
        // Address and length: equal only for the same text.
        let key = (sql.as_ptr() as usize, sql.len());
        let mut map = self
            .by_text
            .try_borrow_mut()
            .map_err(|_| LedgerError::corrupt("statements", "statement used while in use"))?;
        let st = match map.entry(key) {
            Entry::Occupied(e) => e.into_mut(),
            Entry::Vacant(v) => v.insert(self.conn.prepare(sql)?),
        };
        f(st)
    }
}

/// Where statements come from: the writer's own, or rusqlite's cache (the read connection).
pub(crate) enum Stmts<'a, 'c> {
    Writer(&'a Statements<'c>),
    Cached(&'a Connection),
}

impl Stmts<'_, '_> {
    fn with<R>(
        &self,
        sql: &'static str,
        f: impl FnOnce(&mut Statement<'_>) -> Result<R>,
    ) -> Result<R> {
        match self {
            Stmts::Writer(s) => s.with(sql, |st| f(st)),
            Stmts::Cached(conn) => f(&mut *conn.prepare_cached(sql)?),
        }
    }
}

pub(crate) fn decision_row(r: &Row<'_>) -> rusqlite::Result<DecisionCols> {
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
        card_id: r.get(20)?,
        hook: r.get(21)?,
        approval_n: None,
    })
}

pub(crate) fn hold_row(r: &Row<'_>) -> rusqlite::Result<HoldCols> {
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
        card_id: r.get(14)?,
        counted_minor: r.get(15)?,
        counted_periods: r.get(16)?,
    })
}

pub(crate) fn wallet_row(r: &Row<'_>) -> rusqlite::Result<Wallet> {
    let ccy: String = r.get(1)?;
    Ok(Wallet {
        account_id: r.get(0)?,
        currency: ccy.parse().map_err(|_| {
            rusqlite::Error::FromSqlConversionFailure(
                1,
                rusqlite::types::Type::Text,
                "bad currency code".into(),
            )
        })?,
        opening_minor: r.get(2)?,
        balance_minor: r.get(3)?,
        held_minor: r.get(4)?,
        overdraft_minor: r.get(5)?,
    })
}

const CARD_BY_HASH: &str = card_by_hash!("?1");
const DECISION_BY_KEY: &str = concat!(
    "SELECT ",
    decision_columns!(),
    " FROM decisions WHERE nkey = ?1"
);
const HOLD_BY_KEY: &str = holds_sql!("WHERE nkey = ?1");
const ACTIVE_LINKED: &str = holds_sql!("WHERE original_key = ?1 AND status = 'active'");
const EXPIRED: &str =
    holds_sql!("WHERE status = 'active' AND expires_us <= ?1 ORDER BY expires_us LIMIT ?2");
const WALLETS_OF: &str = concat!(
    "SELECT ",
    wallet_columns!(),
    " FROM wallets WHERE account_id = ?1 ORDER BY currency"
);

pub(crate) fn card(s: &Stmts<'_, '_>, pan_hash: &str) -> Result<Option<CardRecord>> {
    let row = s.with(CARD_BY_HASH, |st| {
        Ok(st
            .query_row([pan_hash], |r| {
                Ok(CardCols {
                    pan_hash: r.get(0)?,
                    last4: r.get(1)?,
                    expiry: r.get(2)?,
                    status: r.get(3)?,
                    account_id: r.get(4)?,
                    home_currency: r.get(5)?,
                    id: r.get(6)?,
                    masked: r.get(7)?,
                    controls: r.get(8)?,
                    account_controls: r.get(9)?,
                })
            })
            .optional()?)
    })?;
    row.map(CardCols::into_card).transpose()
}

/// The home currency of account `id`, if it exists.
pub(crate) fn home_currency(s: &Stmts<'_, '_>, id: &str) -> Result<Option<money::Currency>> {
    const SQL: &str = "SELECT home_currency FROM accounts WHERE id = ?1";
    let home: Option<String> =
        s.with(SQL, |st| Ok(st.query_row([id], |r| r.get(0)).optional()?))?;
    home.map(|h| crate::rows::currency(&h, "accounts"))
        .transpose()
}

/// The PAN hash of the card with id `id`, if any.
pub(crate) fn card_hash_by_id(s: &Stmts<'_, '_>, id: &str) -> Result<Option<String>> {
    const SQL: &str = "SELECT pan_hash FROM cards WHERE id = ?1";
    s.with(SQL, |st| Ok(st.query_row([id], |r| r.get(0)).optional()?))
}

/// A card's decisions, newest first, older than `before` (created_us, nkey).
pub(crate) fn card_decisions(
    s: &Stmts<'_, '_>,
    card_id: &str,
    limit: usize,
    before: Option<(i64, String)>,
) -> Result<Vec<crate::Decision>> {
    const SQL: &str = crate::rows::decisions_of_card!("?1", "?2", "?3", "?4");
    let (us, key) = crate::rows::page_start(before);
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    s.with(SQL, |st| {
        st.query_map(params![card_id, us, key, limit], decision_row)?
            .map(|r| {
                r.map_err(LedgerError::from)
                    .and_then(DecisionCols::into_decision)
            })
            .collect()
    })
}

/// A card's decisions under an approval code, newest first (clearing).
pub(crate) fn approval_candidates(
    s: &Stmts<'_, '_>,
    card_id: &str,
    code: &str,
    limit: usize,
) -> Result<Vec<crate::NetworkKey>> {
    const SQL: &str = crate::rows::decisions_by_approval!("?1", "?2", "?3", "?4");
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let n = crate::approval_code::approval_number(code);
    s.with(SQL, |st| {
        st.query_map(params![card_id, code, n, limit], |r| r.get::<_, String>(0))?
            .map(|r| {
                r.map_err(LedgerError::from)
                    .and_then(|k| crate::NetworkKey::from_db(&k))
            })
            .collect()
    })
}

/// A card's recorded changes, newest first.
pub(crate) fn card_changes(
    s: &Stmts<'_, '_>,
    card_id: &str,
    limit: usize,
) -> Result<Vec<crate::CardAudit>> {
    const SQL: &str = crate::rows::changes_of_card!("?1", "?2");
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    s.with(SQL, |st| {
        let rows = st.query_map(params![card_id, limit], |r| r.try_into())?;
        rows.map(|r| crate::rows::card_audit_row(r?)).collect()
    })
}

pub(crate) fn decision(s: &Stmts<'_, '_>, key: &str) -> Result<Option<crate::Decision>> {
    s.with(DECISION_BY_KEY, |st| {
        st.query_row([key], decision_row)
            .optional()?
            .map(DecisionCols::into_decision)
            .transpose()
    })
}

/// The hold placed under `key`, if any.
pub(crate) fn hold(s: &Stmts<'_, '_>, key: &str) -> Result<Option<Hold>> {
    Ok(holds_where(s, HOLD_BY_KEY, [key])?.into_iter().next())
}

fn holds_where(
    s: &Stmts<'_, '_>,
    sql: &'static str,
    p: impl rusqlite::Params,
) -> Result<Vec<Hold>> {
    s.with(sql, |st| {
        let rows = st.query_map(p, hold_row)?;
        rows.map(|r| r?.into_hold()).collect()
    })
}

pub(crate) fn wallets_of(s: &Stmts<'_, '_>, account: &str) -> Result<Vec<Wallet>> {
    s.with(WALLETS_OF, |st| {
        let rows = st.query_map([account], wallet_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    })
}

fn cutover(s: &Stmts<'_, '_>, key: &str) -> Result<Option<Date>> {
    const SQL: &str = "SELECT business_date FROM cutovers WHERE nkey = ?1";
    s.with(SQL, |st| {
        st.query_row([key], |r| r.get::<_, String>(0))
            .optional()?
            .map(|s| cutover_date(&s))
            .transpose()
    })
}

pub(crate) fn latest_cutover(s: &Stmts<'_, '_>) -> Result<Option<Date>> {
    const SQL: &str = "SELECT max(business_date) FROM cutovers";
    s.with(SQL, |st| {
        st.query_row([], |r| r.get::<_, Option<String>>(0))?
            .map(|s| cutover_date(&s))
            .transpose()
    })
}

/// Looks a card up: given its hash and how to read it from the table (the writer answers
/// from its cache first).
pub(crate) type CardLookup<'a> =
    dyn FnMut(&str, &dyn Fn() -> Result<Option<CardRecord>>) -> Result<Option<CardRecord>> + 'a;

/// Everything of `needs` except wallets, into `snap`; cards through `cards`.
pub(crate) fn load(
    s: &Stmts<'_, '_>,
    needs: &Needs,
    snap: &mut Snapshot,
    cards: &mut CardLookup<'_>,
) -> Result<()> {
    for h in &needs.cards {
        let c = cards(h, &|| card(s, h))?;
        snap.cards.insert(h.clone(), c);
    }
    for k in &needs.keys {
        snap.decisions.insert(k.clone(), decision(s, k)?);
    }
    for k in &needs.holds {
        let h = holds_where(s, HOLD_BY_KEY, [k])?.into_iter().next();
        snap.holds.insert(k.clone(), h);
    }
    for o in &needs.linked {
        snap.linked
            .insert(o.clone(), holds_where(s, ACTIVE_LINKED, [o])?);
    }
    if let Some((now, limit)) = needs.expire {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        snap.expired = holds_where(s, EXPIRED, params![now.as_microsecond(), limit])?;
    }
    if !needs.cutovers.is_empty() {
        for k in &needs.cutovers {
            snap.cutovers.insert(k.clone(), cutover(s, k)?);
        }
        snap.latest_cutover = latest_cutover(s)?;
    }
    for k in &needs.adjustments {
        let row = adjustment(s, k)?;
        snap.adjustments.insert(k.clone(), row);
    }
    for k in &needs.clearing_files {
        let row = clearing_file(s, k)?;
        snap.clearing_files.insert(k.clone(), row);
    }
    for a in &needs.accounts {
        const SQL: &str = "SELECT 1 FROM accounts WHERE id = ?1";
        let exists = s.with(SQL, |st| {
            Ok(st.query_row([a], |_| Ok(())).optional()?.is_some())
        })?;
        snap.accounts.insert(a.clone(), exists);
    }
    Ok(())
}

const INSERT_DECISION: &str = concat!(
    "INSERT INTO decisions (",
    decision_columns!(),
    ", approval_n) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, \
     ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23)"
);
const INSERT_HOLD: &str = concat!(
    "INSERT INTO holds (",
    hold_columns!(),
    ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)"
);

/// One new decision, bound from its fields (no row copy in between).
///
/// One row per statement, on the writer's prepared statement: SQLite is in the process, so
/// a multi-row `INSERT` saves no round trip, and it costs more (a statement journal for
/// the multi-row undo, its SQL built or hashed per batch; measured under callgrind: the
/// writer at 96 k instructions per authorization with chunked multi-row inserts).
fn insert_decision(s: &Statements<'_>, d: &crate::Decision) -> Result<()> {
    let b = d.billing.as_ref();
    s.with(INSERT_DECISION, |st| {
        st.execute(params![
            d.key.db_str(),
            d.kind.as_str(),
            d.response_code.as_str(),
            d.approval_code.as_deref(),
            d.account_id.as_deref(),
            d.amount_minor,
            d.currency.as_ref().map_or("", |c| c.as_str()),
            d.approved_minor,
            b.map(|b| b.amount_minor),
            b.map(|b| b.currency.as_str()),
            b.map(|b| b.rate.to_string()),
            b.map(|b| b.de10.as_str()),
            b.map(|b| b.version.as_str()),
            d.wallet_currency.as_ref().map(|c| c.as_str()),
            d.original.as_ref().map(|k| k.db_str()),
            d.business_date.to_string(),
            d.created_at.as_microsecond(),
            d.updated_at.as_microsecond(),
            d.expires_at.map(|t| t.as_microsecond()),
            d.fingerprint.as_deref(),
            d.card_id.as_deref(),
            d.hook.as_ref().map(crate::HookOutcome::to_text),
            d.approval_code
                .as_deref()
                .and_then(crate::approval_code::approval_number),
        ])?;
        Ok(())
    })
}

/// One new hold, bound from its fields.
fn insert_hold(s: &Statements<'_>, h: &Hold) -> Result<()> {
    s.with(INSERT_HOLD, |st| {
        st.execute(params![
            h.key.db_str(),
            h.original.as_ref().map(|k| k.db_str()),
            h.account_id,
            h.currency.as_str(),
            h.amount_minor,
            h.held_minor,
            h.captured_minor,
            h.txn_amount_minor,
            h.txn_currency.as_str(),
            h.status.as_str(),
            h.business_date.to_string(),
            h.rate_version.as_deref(),
            h.created_at.as_microsecond(),
            h.expires_at.as_microsecond(),
            h.counted.as_ref().map(|c| c.card_id.as_str()),
            h.counted.as_ref().map(|c| c.minor),
            h.counted.as_ref().map(|c| c.periods.join(",")),
        ])?;
        Ok(())
    })
}

/// Writes `e` inside the open transaction (the caller commits).
pub(crate) fn write(conn: &Connection, s: &Statements<'_>, e: &Effects) -> Result<()> {
    for (id, home) in &e.accounts_new {
        conn.prepare_cached(
            "INSERT INTO accounts (id, home_currency) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
        )?
        .execute([id.as_str(), home.as_str()])?;
    }
    for w in &e.wallets_new {
        conn.prepare_cached(concat!(
            "INSERT INTO wallets (",
            wallet_columns!(),
            ") VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT DO NOTHING"
        ))?
        .execute(params![
            w.account_id,
            w.currency.as_str(),
            w.opening_minor,
            w.balance_minor,
            w.held_minor,
            w.overdraft_minor
        ])?;
    }
    for c in &e.cards_new {
        conn.prepare_cached(
            "INSERT INTO cards (pan_hash, last4, expiry, status, account_id, id, masked, \
             controls) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT DO NOTHING",
        )?
        .execute(params![
            c.pan_hash,
            c.last4,
            c.expiry,
            c.status.as_str(),
            c.account_id,
            c.id,
            c.masked,
            controls_text(c.own_controls.as_ref())
        ])?;
    }
    for c in &e.cards_changed {
        const SQL: &str = "UPDATE cards SET status = ?2, controls = ?3 WHERE pan_hash = ?1";
        s.with(SQL, |st| {
            st.execute(params![
                c.pan_hash,
                c.status.as_str(),
                controls_text(c.own_controls.as_ref())
            ])?;
            Ok(())
        })?;
    }
    for a in &e.card_audit {
        const SQL: &str = "INSERT INTO card_changes (id, card_id, at_us, actor, field, \
             before_json, after_json) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";
        s.with(SQL, |st| {
            st.execute(params![
                a.id,
                a.card_id,
                a.at.as_microsecond(),
                a.actor,
                a.field,
                a.before,
                a.after
            ])?;
            Ok(())
        })?;
    }
    for m in &e.clearing_files {
        const SQL: &str = "INSERT INTO clearing_files (file_id, presentments, business_date, \
             at_us) VALUES (?1, ?2, ?3, ?4) ON CONFLICT (file_id) DO NOTHING";
        s.with(SQL, |st| {
            st.execute(params![
                m.file_id,
                m.presentments,
                m.business_date.to_string(),
                m.at.as_microsecond()
            ])?;
            Ok(())
        })?;
    }
    for a in &e.adjustments {
        const SQL: &str = "INSERT INTO adjustments (akey, account_id, currency, amount_minor, \
             balance_after_minor, reason, actor, at_us) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";
        let adj = &a.adjustment;
        s.with(SQL, |st| {
            st.execute(params![
                adj.db_key(),
                adj.account_id,
                adj.currency.as_str(),
                adj.amount_minor,
                a.balance_after_minor,
                adj.reason,
                adj.actor,
                adj.at.as_microsecond()
            ])?;
            Ok(())
        })?;
    }
    write_security(s, e)?;
    for (id, c) in &e.account_controls {
        const SQL: &str = "UPDATE accounts SET controls = ?2 WHERE id = ?1";
        s.with(SQL, |st| {
            st.execute(params![id, controls_text(c.as_ref())])?;
            Ok(())
        })?;
    }
    for sp in &e.spend {
        s.with(UPSERT_SPEND, |st| {
            st.execute(params![
                sp.card_id,
                sp.period,
                sp.total_minor,
                sp.count,
                (sp.period == crate::controls::VELOCITY).then(|| sp.recent_text())
            ])?;
            Ok(())
        })?;
    }
    for d in &e.decisions_new {
        insert_decision(s, d)?;
    }
    for h in &e.holds_new {
        insert_hold(s, h)?;
    }
    for w in &e.wallets_changed {
        const SQL: &str = "UPDATE wallets SET balance_minor = ?3, held_minor = ?4 \
             WHERE account_id = ?1 AND currency = ?2";
        s.with(SQL, |st| {
            st.execute(params![
                w.account_id,
                w.currency.as_str(),
                w.balance_minor,
                w.held_minor
            ])?;
            Ok(())
        })?;
    }
    for h in &e.holds_changed {
        const SQL: &str = "UPDATE holds SET held_minor = ?2, captured_minor = ?3, status = ?4, \
             counted_minor = ?5 WHERE nkey = ?1";
        s.with(SQL, |st| {
            st.execute(params![
                h.key.db_str(),
                h.held_minor,
                h.captured_minor,
                h.status.as_str(),
                h.counted.as_ref().map(|c| c.minor)
            ])?;
            Ok(())
        })?;
    }
    for d in &e.decisions_changed {
        let c = DecisionCols::from_decision(d);
        const SQL: &str = "UPDATE decisions SET kind = ?2, response_code = ?3, \
             approval_code = ?4, approved_minor = ?5, updated_us = ?6, approval_n = ?7 \
             WHERE nkey = ?1";
        s.with(SQL, |st| {
            st.execute(params![
                c.nkey,
                c.kind,
                c.response_code,
                c.approval_code,
                c.approved_minor,
                c.updated_us,
                c.approval_n
            ])?;
            Ok(())
        })?;
    }
    for (d, fp) in &e.duplicates {
        write_duplicate(s, d, fp)?;
    }
    for (k, date, now) in &e.cutovers {
        const SQL: &str = "INSERT INTO cutovers (nkey, business_date, created_us) \
             VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING";
        s.with(SQL, |st| {
            st.execute(params![k, date.to_string(), now.as_microsecond()])?;
            Ok(())
        })?;
    }
    if let Some(t) = e.heartbeat {
        const SQL: &str = "INSERT INTO heartbeat (id, at_us) VALUES ('ledger', ?1) \
             ON CONFLICT (id) DO UPDATE SET at_us = excluded.at_us";
        s.with(SQL, |st| {
            st.execute([t.as_microsecond()])?;
            Ok(())
        })?;
    }
    if let Some(n) = e.approval_counter {
        const SQL: &str = "UPDATE meta SET v = ?1 WHERE k = 'approval'";
        s.with(SQL, |st| {
            st.execute([i64::try_from(n).unwrap_or(i64::MAX)])?;
            Ok(())
        })?;
    }
    Ok(())
}

fn write_duplicate(s: &Statements<'_>, d: &DuplicateRecord, fp: &str) -> Result<()> {
    const SQL: &str = "INSERT INTO duplicates (nkey, fingerprint, kind, account_id, \
         amount_minor, currency, first_us, last_us, times) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7, 1) ON CONFLICT (nkey, fingerprint) \
         DO UPDATE SET last_us = excluded.last_us, times = duplicates.times + 1";
    s.with(SQL, |st| {
        st.execute(params![
            d.key.db_str(),
            fp,
            d.kind.as_str(),
            d.account_id,
            d.amount_minor,
            d.currency.map(|c| c.to_string()).unwrap_or_default(),
            d.last_at.as_microsecond()
        ])?;
        Ok(())
    })
}

/// A spend counter written whole (the batch computed it under the write lock).
const UPSERT_SPEND: &str = "INSERT INTO spend (card_id, period, total_minor, count, recent) \
     VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (card_id, period) DO UPDATE SET \
     total_minor = excluded.total_minor, count = excluded.count, recent = excluded.recent";

/// One spend counter, if it has a row.
pub(crate) fn spend(s: &Stmts<'_, '_>, card_id: &str, period: &str) -> Result<Option<Spend>> {
    const SQL: &str = "SELECT total_minor, count, recent FROM spend \
         WHERE card_id = ?1 AND period = ?2";
    let row = s.with(SQL, |st| {
        Ok(st
            .query_row([card_id, period], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, Option<String>>(2)?,
                ))
            })
            .optional()?)
    })?;
    row.map(|(total_minor, count, recent)| spend_row(card_id, period, total_minor, count, recent))
        .transpose()
}

/// The approval counter.
pub(crate) fn approval_counter(s: &Statements<'_>) -> Result<u64> {
    const SQL: &str = "SELECT v FROM meta WHERE k = 'approval'";
    s.with(SQL, |st| {
        let v: i64 = st.query_row([], |r| r.get(0))?;
        Ok(u64::try_from(v).unwrap_or(0))
    })
}

/// Duplicate transmissions under `key` (read connection).
pub(crate) fn duplicates(conn: &Connection, key: &str) -> Result<Vec<DuplicateRecord>> {
    let sql = format!(
        "SELECT {DUPLICATE_COLUMNS} FROM duplicates WHERE nkey = ?1 ORDER BY first_us, fingerprint"
    );
    let mut st = conn.prepare_cached(&sql)?;
    let rows = st.query_map([key], |r| {
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

/// Every wallet, by account and currency (read connection).
/// The mark of clearing file `file_id`, if it was imported whole.
pub(crate) fn clearing_file(
    s: &Stmts<'_, '_>,
    file_id: &str,
) -> Result<Option<crate::ClearingFileMark>> {
    const SQL: &str =
        "SELECT file_id, presentments, business_date, at_us FROM clearing_files WHERE file_id = ?1";
    let row: Option<crate::rows::ClearingFileCols> = s.with(SQL, |st| {
        Ok(st.query_row([file_id], |r| r.try_into()).optional()?)
    })?;
    row.map(crate::rows::clearing_file_row).transpose()
}

/// The adjustment recorded under `key`, if any.
pub(crate) fn adjustment(s: &Stmts<'_, '_>, key: &str) -> Result<Option<crate::AdjustmentRecord>> {
    const SQL: &str = "SELECT akey, account_id, currency, amount_minor, balance_after_minor, \
         reason, actor, at_us FROM adjustments WHERE akey = ?1";
    let row: Option<crate::rows::AdjustmentCols> = s.with(SQL, |st| {
        Ok(st.query_row([key], |r| r.try_into()).optional()?)
    })?;
    row.map(crate::rows::adjustment_row).transpose()
}

/// The adjustments' totals per wallet (read connection).
pub(crate) fn adjusted_sums(conn: &Connection) -> Result<Vec<(String, money::Currency, i128)>> {
    let mut st = conn.prepare_cached(crate::rows::ADJUSTED_SUMS)?;
    let rows = st.query_map([], |r| <(String, String, i64)>::try_from(r))?;
    rows.map(|r| {
        let (a, c, n) = r?;
        Ok((a, crate::rows::currency(&c, "adjustments")?, i128::from(n)))
    })
    .collect()
}

pub(crate) fn all_wallets(conn: &Connection) -> Result<Vec<Wallet>> {
    let mut st = conn.prepare_cached(concat!(
        "SELECT ",
        wallet_columns!(),
        " FROM wallets ORDER BY account_id, currency"
    ))?;
    let rows = st.query_map([], wallet_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Every hold (read connection).
pub(crate) fn all_holds(conn: &Connection) -> Result<Vec<Hold>> {
    holds_where(&Stmts::Cached(conn), holds_sql!("ORDER BY nkey"), [])
}

/// A card's PIN try counter with its account, when the card has a PVV on record.
const PIN_BY_CARD: &str = "SELECT c.account_id, s.pin_tries FROM card_security s \
     JOIN cards c ON c.id = s.card_id WHERE s.card_id = ?1 AND s.pvv IS NOT NULL";
const UPDATE_PIN_TRIES: &str = "UPDATE card_security SET pin_tries = ?2, pin_tries_us = ?3, \
     reset_by = coalesce(?4, reset_by), reset_us = CASE WHEN ?4 IS NULL THEN reset_us ELSE ?3 END \
     WHERE card_id = ?1";
const INSERT_SECURITY: &str = "INSERT INTO card_security (card_id, pvv, pvki, psn, pin_tries) \
     VALUES (?1, ?2, ?3, ?4, 0) ON CONFLICT DO NOTHING";
const SECURITY_BY_HASH: &str = "SELECT c.id, c.expiry, s.pvv, s.pvki, s.psn, s.pin_tries, \
     s.atc_high FROM cards c LEFT JOIN card_security s ON s.card_id = c.id WHERE c.pan_hash = ?1";

/// A card's ATC window (a row-less card, or one from before the window: none seen).
const ATC_BY_CARD: &str = "SELECT atc_high, atc_seen FROM card_security WHERE card_id = ?1";
/// The card's row is created when it has none (a chip card seeded without PIN or PSN).
const UPSERT_ATC: &str = "INSERT INTO card_security (card_id, pin_tries, atc_high, atc_seen, \
     atc_us) VALUES (?1, 0, ?2, ?3, ?4) ON CONFLICT (card_id) DO UPDATE SET \
     atc_high = excluded.atc_high, atc_seen = excluded.atc_seen, atc_us = excluded.atc_us";

/// A card's ATC window.
pub(crate) fn atc_window(s: &Stmts<'_, '_>, card_id: &str) -> Result<AtcWindow> {
    let row = s.with(ATC_BY_CARD, |st| {
        Ok(st
            .query_row([card_id], |r| {
                Ok((r.get::<_, Option<i64>>(0)?, r.get::<_, Option<String>>(1)?))
            })
            .optional()?)
    })?;
    match row {
        Some((high, seen)) => AtcWindow::from_columns(high, seen),
        None => Ok(AtcWindow::default()),
    }
}

/// The card of the decision under a key, with its masked PAN.
const CARD_OF_DECISION: &str = "SELECT d.card_id, c.masked FROM decisions d \
     LEFT JOIN cards c ON c.id = d.card_id WHERE d.nkey = ?1 AND d.card_id IS NOT NULL";
/// A card's masked PAN by its id.
const MASKED_BY_ID: &str = "SELECT masked FROM cards WHERE id = ?1";

/// The card (id, masked PAN) of the decision under `key`, for a hold's event.
pub(crate) fn card_of_decision(
    s: &Stmts<'_, '_>,
    key: &str,
) -> Result<Option<(String, Option<String>)>> {
    s.with(CARD_OF_DECISION, |st| {
        Ok(st
            .query_row([key], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?)
    })
}

/// The masked PAN of the card with id `id`.
pub(crate) fn masked_by_id(s: &Stmts<'_, '_>, id: &str) -> Result<Option<String>> {
    let row: Option<Option<String>> = s.with(MASKED_BY_ID, |st| {
        Ok(st.query_row([id], |r| r.get(0)).optional()?)
    })?;
    Ok(row.flatten())
}

/// A card's PIN state (`None`: no PIN on record).
pub(crate) fn pin_state(s: &Stmts<'_, '_>, card_id: &str) -> Result<Option<PinState>> {
    let row = s.with(PIN_BY_CARD, |st| {
        Ok(st
            .query_row([card_id], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
            })
            .optional()?)
    })?;
    row.map(|(account_id, tries)| crate::rows::pin_state(card_id, account_id, tries))
        .transpose()
}

/// A card's security data by PAN hash, read before the writer.
pub(crate) fn card_security(conn: &Connection, pan_hash: &str) -> Result<Option<CardSecurity>> {
    let mut st = conn.prepare_cached(SECURITY_BY_HASH)?;
    let row = st
        .query_row([pan_hash], |r| {
            Ok(crate::rows::SecurityCols {
                card_id: r.get(0)?,
                expiry: r.get(1)?,
                pvv: r.get(2)?,
                pvki: r.get(3)?,
                psn: r.get(4)?,
                pin_tries: r.get(5)?,
                atc_high: r.get(6)?,
            })
        })
        .optional()?;
    row.map(crate::rows::SecurityCols::into_security)
        .transpose()
}

/// Writes the PIN counters, the ATC windows and the seeded security rows of `e`.
pub(crate) fn write_security(s: &Statements<'_>, e: &Effects) -> Result<()> {
    for sec in &e.security_new {
        s.with(INSERT_SECURITY, |st| {
            st.execute(params![
                sec.card_id,
                sec.pvv,
                sec.pvki.map(i64::from),
                sec.psn
            ])?;
            Ok(())
        })?;
    }
    for c in &e.pin_tries {
        s.with(UPDATE_PIN_TRIES, |st| {
            st.execute(params![c.card_id, i64::from(c.tries), c.at_us, c.reset_by])?;
            Ok(())
        })?;
    }
    for c in &e.atc {
        let (high, seen) = c.window.to_columns();
        s.with(UPSERT_ATC, |st| {
            st.execute(params![c.card_id, high, seen, c.at_us])?;
            Ok(())
        })?;
    }
    Ok(())
}
