//! Plain column forms of decisions and holds (text, integers, nulls only), shared by both
//! stores so that one mapping serves SQLite and PostgreSQL and the schema needs no type the
//! distributed PostgreSQL-compatible engines lack. Timestamps are microseconds since the
//! Unix epoch, dates ISO `YYYY-MM-DD` text, rates decimal text.

use std::str::FromStr;

use jiff::civil::Date;
use jiff::Timestamp;
use rust_decimal::Decimal;

use money::Currency;

use crate::{
    Billing, CardRecord, Controls, Counted, Decision, DecisionKind, DuplicateRecord, Hold,
    HoldStatus, LedgerError, NetworkKey, ResponseCode, Result, Spend,
};

/// Column list of `decisions`, in [`DecisionCols`] order, as a literal for `concat!`
/// (statements built at compile time: the writer's statement cache is then looked up
/// without formatting a string per call).
macro_rules! decision_columns {
    () => {
        "nkey, kind, response_code, approval_code, account_id, amount_minor, currency, \
         approved_minor, billing_amount_minor, billing_currency, rate, de10, rate_version, \
         wallet_currency, original_key, business_date, created_us, updated_us, expires_us, \
         fingerprint, card_id, hook"
    };
}

/// Column list of `holds`, in [`HoldCols`] order, as a literal for `concat!`.
macro_rules! hold_columns {
    () => {
        "nkey, original_key, account_id, currency, amount_minor, held_minor, captured_minor, \
         txn_amount_minor, txn_currency, status, business_date, rate_version, created_us, \
         expires_us, card_id, counted_minor, counted_periods"
    };
}

/// Column list of `wallets`, in [`Wallet`](crate::Wallet) field order, for `concat!`.
macro_rules! wallet_columns {
    () => {
        "account_id, currency, opening_minor, balance_minor, held_minor, overdraft_minor"
    };
}

/// `SELECT` of every hold column with a literal clause, built at compile time.
macro_rules! holds_sql {
    ($clause:literal) => {
        concat!("SELECT ", hold_columns!(), " FROM holds ", $clause)
    };
}

pub(crate) use {decision_columns, hold_columns, holds_sql, wallet_columns};

#[derive(Clone)]
pub(crate) struct DecisionCols {
    pub(crate) nkey: String,
    pub(crate) kind: String,
    pub(crate) response_code: String,
    pub(crate) approval_code: Option<String>,
    pub(crate) account_id: Option<String>,
    pub(crate) amount_minor: i64,
    pub(crate) currency: String,
    pub(crate) approved_minor: i64,
    pub(crate) billing_amount_minor: Option<i64>,
    pub(crate) billing_currency: Option<String>,
    pub(crate) rate: Option<String>,
    pub(crate) de10: Option<String>,
    pub(crate) rate_version: Option<String>,
    pub(crate) wallet_currency: Option<String>,
    pub(crate) original_key: Option<String>,
    pub(crate) business_date: String,
    pub(crate) created_us: i64,
    pub(crate) updated_us: i64,
    pub(crate) expires_us: Option<i64>,
    pub(crate) fingerprint: Option<String>,
    pub(crate) card_id: Option<String>,
    /// A hook's outcome as JSON text (issue 22).
    pub(crate) hook: Option<String>,
    /// The approval code's counter (`approval_number`), written, never read back.
    pub(crate) approval_n: Option<i64>,
}

#[derive(Clone)]
pub(crate) struct HoldCols {
    pub(crate) nkey: String,
    pub(crate) original_key: Option<String>,
    pub(crate) account_id: String,
    pub(crate) currency: String,
    pub(crate) amount_minor: i64,
    pub(crate) held_minor: i64,
    pub(crate) captured_minor: i64,
    pub(crate) txn_amount_minor: i64,
    pub(crate) txn_currency: String,
    pub(crate) status: String,
    pub(crate) business_date: String,
    pub(crate) rate_version: Option<String>,
    pub(crate) created_us: i64,
    pub(crate) expires_us: i64,
    pub(crate) card_id: Option<String>,
    pub(crate) counted_minor: Option<i64>,
    pub(crate) counted_periods: Option<String>,
}

fn ts(us: i64, table: &'static str) -> Result<Timestamp> {
    Timestamp::from_microsecond(us).map_err(|_| LedgerError::corrupt(table, "bad timestamp"))
}

fn date(s: &str, table: &'static str) -> Result<Date> {
    Date::from_str(s).map_err(|_| LedgerError::corrupt(table, "bad date"))
}

/// A currency code as stored (alpha text).
pub(crate) fn currency(s: &str, table: &'static str) -> Result<Currency> {
    s.parse()
        .map_err(|_| LedgerError::corrupt(table, "bad currency code"))
}

/// A `cutovers.business_date` as stored (`YYYY-MM-DD`, which sorts as the dates do).
pub(crate) fn cutover_date(s: &str) -> Result<Date> {
    date(s, "cutovers")
}

impl DecisionCols {
    pub(crate) fn from_decision(d: &Decision) -> Self {
        let b = d.billing.as_ref();
        DecisionCols {
            nkey: d.key.as_db(),
            kind: d.kind.as_str().to_owned(),
            response_code: d.response_code.as_str().to_owned(),
            approval_code: d.approval_code.clone(),
            account_id: d.account_id.clone(),
            amount_minor: d.amount_minor,
            currency: d.currency.map(|c| c.to_string()).unwrap_or_default(),
            approved_minor: d.approved_minor,
            billing_amount_minor: b.map(|b| b.amount_minor),
            billing_currency: b.map(|b| b.currency.to_string()),
            rate: b.map(|b| b.rate.to_string()),
            de10: b.map(|b| b.de10.clone()),
            rate_version: b.map(|b| b.version.clone()),
            wallet_currency: d.wallet_currency.map(|c| c.to_string()),
            original_key: d.original.as_ref().map(NetworkKey::as_db),
            business_date: d.business_date.to_string(),
            created_us: d.created_at.as_microsecond(),
            updated_us: d.updated_at.as_microsecond(),
            expires_us: d.expires_at.map(|t| t.as_microsecond()),
            fingerprint: d.fingerprint.clone(),
            card_id: d.card_id.clone(),
            hook: d.hook.as_ref().map(crate::HookOutcome::to_text),
            approval_n: d
                .approval_code
                .as_deref()
                .and_then(crate::approval_code::approval_number),
        }
    }

    pub(crate) fn into_decision(self) -> Result<Decision> {
        const T: &str = "decisions";
        let billing = match (
            self.billing_amount_minor,
            self.billing_currency,
            self.rate,
            self.de10,
            self.rate_version,
        ) {
            (Some(amount_minor), Some(ccy), Some(rate), Some(de10), Some(version)) => {
                Some(Billing {
                    amount_minor,
                    currency: currency(&ccy, T)?,
                    rate: Decimal::from_str(&rate)
                        .map_err(|_| LedgerError::corrupt(T, "bad rate"))?,
                    de10,
                    version,
                })
            }
            _ => None,
        };
        Ok(Decision {
            key: NetworkKey::from_db(&self.nkey)?,
            kind: DecisionKind::parse(&self.kind)?,
            response_code: ResponseCode::parse(&self.response_code)
                .map_err(|_| LedgerError::corrupt(T, "bad response code"))?,
            approval_code: self.approval_code,
            account_id: self.account_id,
            amount_minor: self.amount_minor,
            // Placeholders that never saw a request keep it empty.
            currency: (!self.currency.is_empty())
                .then(|| currency(&self.currency, T))
                .transpose()?,
            approved_minor: self.approved_minor,
            billing,
            wallet_currency: self
                .wallet_currency
                .as_deref()
                .map(|c| currency(c, T))
                .transpose()?,
            original: self
                .original_key
                .as_deref()
                .map(NetworkKey::from_db)
                .transpose()?,
            business_date: date(&self.business_date, T)?,
            created_at: ts(self.created_us, T)?,
            updated_at: ts(self.updated_us, T)?,
            expires_at: self.expires_us.map(|u| ts(u, T)).transpose()?,
            fingerprint: self.fingerprint,
            card_id: self.card_id,
            hook: self
                .hook
                .as_deref()
                .map(crate::HookOutcome::from_text)
                .transpose()?,
            replayed: false,
        })
    }
}

impl HoldCols {
    pub(crate) fn from_hold(h: &Hold) -> Self {
        HoldCols {
            nkey: h.key.as_db(),
            original_key: h.original.as_ref().map(NetworkKey::as_db),
            account_id: h.account_id.clone(),
            currency: h.currency.to_string(),
            amount_minor: h.amount_minor,
            held_minor: h.held_minor,
            captured_minor: h.captured_minor,
            txn_amount_minor: h.txn_amount_minor,
            txn_currency: h.txn_currency.to_string(),
            status: h.status.as_str().to_owned(),
            business_date: h.business_date.to_string(),
            rate_version: h.rate_version.clone(),
            created_us: h.created_at.as_microsecond(),
            expires_us: h.expires_at.as_microsecond(),
            card_id: h.counted.as_ref().map(|c| c.card_id.clone()),
            counted_minor: h.counted.as_ref().map(|c| c.minor),
            counted_periods: h.counted.as_ref().map(|c| c.periods.join(",")),
        }
    }

    pub(crate) fn into_hold(self) -> Result<Hold> {
        const T: &str = "holds";
        Ok(Hold {
            key: NetworkKey::from_db(&self.nkey)?,
            original: self
                .original_key
                .as_deref()
                .map(NetworkKey::from_db)
                .transpose()?,
            account_id: self.account_id,
            currency: currency(&self.currency, T)?,
            amount_minor: self.amount_minor,
            held_minor: self.held_minor,
            captured_minor: self.captured_minor,
            txn_amount_minor: self.txn_amount_minor,
            txn_currency: currency(&self.txn_currency, T)?,
            status: HoldStatus::parse(&self.status)?,
            business_date: date(&self.business_date, T)?,
            rate_version: self.rate_version,
            created_at: ts(self.created_us, T)?,
            expires_at: ts(self.expires_us, T)?,
            counted: match (self.card_id, self.counted_minor) {
                (Some(card_id), Some(minor)) => Some(Counted {
                    card_id,
                    minor,
                    periods: self
                        .counted_periods
                        .as_deref()
                        .unwrap_or("")
                        .split(',')
                        .filter(|p| !p.is_empty())
                        .map(str::to_owned)
                        .collect(),
                }),
                _ => None,
            },
        })
    }
}

/// `SELECT` of a card by PAN hash, with its account's home currency and default controls
/// (placeholder `{p}` for the engine's parameter), in [`CardCols`] order.
macro_rules! card_by_hash {
    ($p:literal) => {
        concat!(
            "SELECT c.pan_hash, c.last4, c.expiry, c.status, c.account_id, a.home_currency, \
             c.id, c.masked, c.controls, a.controls FROM cards c \
             JOIN accounts a ON a.id = c.account_id WHERE c.pan_hash = ",
            $p
        )
    };
}
pub(crate) use card_by_hash;

/// A card's decisions, newest first, older than a cursor (created_us, nkey), at most a
/// limit: placeholders card, created_us, nkey, limit (the `decisions_card` index).
macro_rules! decisions_of_card {
    ($card:literal, $us:literal, $key:literal, $limit:literal) => {
        concat!(
            "SELECT ",
            $crate::rows::decision_columns!(),
            " FROM decisions WHERE card_id = ",
            $card,
            " AND (created_us < ",
            $us,
            " OR (created_us = ",
            $us,
            " AND nkey < ",
            $key,
            ")) ORDER BY created_us DESC, nkey DESC LIMIT ",
            $limit
        )
    };
}
pub(crate) use decisions_of_card;

/// A card's decisions under an approval code, newest first: placeholders card, code, the
/// code's counter (`approval_number`), limit. Those written since `approval_n` was added by
/// the `decisions_approval_number` index; older ones (no `approval_n`) by
/// `decisions_card_approval_code`, only when the first finds none. Neither reads more of
/// the card's decisions than those with the code (`embedded::sql` tests the plan).
macro_rules! decisions_by_approval {
    ($card:literal, $code:literal, $n:literal, $limit:literal) => {
        concat!(
            "SELECT nkey FROM (SELECT nkey, created_us FROM decisions WHERE card_id = ",
            $card,
            " AND approval_n = ",
            $n,
            " AND approval_code = ",
            $code,
            " ORDER BY created_us DESC LIMIT ",
            $limit,
            ") AS by_number UNION ALL SELECT nkey FROM (SELECT nkey, created_us FROM decisions \
             WHERE card_id = ",
            $card,
            " AND approval_n IS NULL AND approval_code = ",
            $code,
            " AND NOT EXISTS (SELECT 1 FROM decisions WHERE card_id = ",
            $card,
            " AND approval_n = ",
            $n,
            ") ORDER BY created_us DESC LIMIT ",
            $limit,
            ") AS before_numbers"
        )
    };
}
pub(crate) use decisions_by_approval;

/// A card's recorded changes, newest first: placeholders card, limit.
macro_rules! changes_of_card {
    ($card:literal, $limit:literal) => {
        concat!(
            "SELECT id, card_id, at_us, actor, field, before_json, after_json FROM card_changes \
             WHERE card_id = ",
            $card,
            " ORDER BY at_us DESC, id DESC LIMIT ",
            $limit
        )
    };
}
pub(crate) use changes_of_card;

/// A `card_changes` row as stored: (id, card, at µs, actor, field, before, after).
pub(crate) type CardAuditCols = (String, String, i64, String, String, String, String);

pub(crate) fn card_audit_row(c: CardAuditCols) -> Result<crate::CardAudit> {
    let (id, card_id, at_us, actor, field, before, after) = c;
    Ok(crate::CardAudit {
        id,
        card_id,
        at: jiff::Timestamp::from_microsecond(at_us)
            .map_err(|_| LedgerError::corrupt("card_changes", "bad time"))?,
        actor,
        field,
        before,
        after,
    })
}

/// An `adjustments` row as stored: (akey, account, currency, amount, balance after, reason,
/// actor, at µs).
pub(crate) type AdjustmentCols = (String, String, String, i64, i64, String, String, i64);

pub(crate) fn adjustment_row(c: AdjustmentCols) -> Result<crate::AdjustmentRecord> {
    let (akey, account_id, ccy, amount_minor, balance_after_minor, reason, actor, at_us) = c;
    let idempotency_key = akey
        .strip_prefix(account_id.as_str())
        .and_then(|k| k.strip_prefix('/'))
        .ok_or_else(|| LedgerError::corrupt("adjustments", "key does not name its account"))?
        .to_owned();
    Ok(crate::AdjustmentRecord {
        adjustment: crate::Adjustment {
            currency: currency(&ccy, "adjustments")?,
            account_id,
            amount_minor,
            idempotency_key,
            reason,
            actor,
            at: jiff::Timestamp::from_microsecond(at_us)
                .map_err(|_| LedgerError::corrupt("adjustments", "bad time"))?,
        },
        balance_after_minor,
        replayed: false,
    })
}

/// A `clearing_files` row as stored: (file id, presentments, business date, at µs).
pub(crate) type ClearingFileCols = (String, i64, String, i64);

pub(crate) fn clearing_file_row(c: ClearingFileCols) -> Result<crate::ClearingFileMark> {
    let (file_id, presentments, business_date, at_us) = c;
    Ok(crate::ClearingFileMark {
        file_id,
        presentments,
        business_date: date(&business_date, "clearing_files")?,
        at: jiff::Timestamp::from_microsecond(at_us)
            .map_err(|_| LedgerError::corrupt("clearing_files", "bad time"))?,
    })
}

/// Adjusted totals per wallet, for the ledger-wide invariants.
pub(crate) const ADJUSTED_SUMS: &str =
    "SELECT account_id, currency, sum(amount_minor) FROM adjustments GROUP BY account_id, currency";

/// The cursor's bounds for the first page: every decision is older.
pub(crate) fn page_start(before: Option<(i64, String)>) -> (i64, String) {
    before.unwrap_or((i64::MAX, String::new()))
}

/// A card row joined with its account, in `card_by_hash!` order.
pub(crate) struct CardCols {
    pub(crate) pan_hash: String,
    pub(crate) last4: String,
    pub(crate) expiry: String,
    pub(crate) status: String,
    pub(crate) account_id: String,
    pub(crate) home_currency: String,
    pub(crate) id: String,
    pub(crate) masked: String,
    pub(crate) controls: Option<String>,
    pub(crate) account_controls: Option<String>,
}

/// A `spend` row as stored.
pub(crate) fn spend_row(
    card_id: &str,
    period: &str,
    total_minor: i64,
    count: i64,
    recent: Option<String>,
) -> Result<Spend> {
    Ok(Spend {
        card_id: card_id.to_owned(),
        period: period.to_owned(),
        total_minor,
        count,
        recent_us: Spend::parse_recent(recent.as_deref().unwrap_or(""))
            .ok_or_else(|| LedgerError::corrupt("spend", "unreadable approval times"))?,
    })
}

/// Spend controls as stored (JSON text; NULL: none).
pub(crate) fn controls(text: Option<&str>, table: &'static str) -> Result<Option<Controls>> {
    text.map(|t| {
        serde_json::from_str(t).map_err(|_| LedgerError::corrupt(table, "unreadable controls"))
    })
    .transpose()
}

/// Spend controls as they are stored: JSON, or NULL for none.
pub(crate) fn controls_text(c: Option<&Controls>) -> Option<String> {
    c.filter(|c| !c.is_empty())
        .and_then(|c| serde_json::to_string(c).ok())
}

impl CardCols {
    pub(crate) fn into_card(self) -> Result<CardRecord> {
        let own = controls(self.controls.as_deref(), "cards")?;
        let account = controls(self.account_controls.as_deref(), "accounts")?;
        Ok(CardRecord {
            id: self.id,
            masked: self.masked,
            pan_hash: self.pan_hash,
            last4: self.last4,
            expiry: self.expiry,
            status: self
                .status
                .parse()
                .map_err(|_| LedgerError::corrupt("cards", "bad status"))?,
            account_id: self.account_id,
            home_currency: currency(&self.home_currency, "accounts")?,
            own_controls: None,
            controls: None,
            account_controls: None,
        }
        .with_controls(own, account.as_ref()))
    }
}

/// Columns of `duplicates` as both stores read them (`SELECT` order of
/// [`DUPLICATE_COLUMNS`]).
pub(crate) const DUPLICATE_COLUMNS: &str =
    "nkey, kind, account_id, amount_minor, currency, first_us, last_us, times";

/// A `duplicates` row, in [`DUPLICATE_COLUMNS`] order.
pub(crate) struct DuplicateCols {
    pub(crate) nkey: String,
    pub(crate) kind: String,
    pub(crate) account_id: Option<String>,
    pub(crate) amount_minor: i64,
    pub(crate) currency: String,
    pub(crate) first_us: i64,
    pub(crate) last_us: i64,
    pub(crate) times: i64,
}

impl DuplicateCols {
    pub(crate) fn into_record(self) -> Result<DuplicateRecord> {
        const T: &str = "duplicates";
        Ok(DuplicateRecord {
            key: NetworkKey::from_db(&self.nkey)?,
            kind: DecisionKind::parse(&self.kind)?,
            account_id: self.account_id,
            amount_minor: self.amount_minor,
            currency: (!self.currency.is_empty())
                .then(|| currency(&self.currency, T))
                .transpose()?,
            first_at: ts(self.first_us, T)?,
            last_at: ts(self.last_us, T)?,
            times: self.times,
        })
    }
}

/// A PIN try counter as stored.
pub(crate) fn pin_state(
    card_id: &str,
    account_id: String,
    tries: i64,
) -> Result<crate::pin::PinState> {
    Ok(crate::pin::PinState {
        card_id: card_id.to_owned(),
        account_id,
        tries: u32::try_from(tries)
            .map_err(|_| LedgerError::corrupt("card_security", "PIN tries out of range"))?,
    })
}

/// A card joined with its `card_security` row (absent: NULLs), as both engines read it.
pub(crate) struct SecurityCols {
    pub(crate) card_id: String,
    pub(crate) expiry: String,
    pub(crate) pvv: Option<String>,
    pub(crate) pvki: Option<i64>,
    pub(crate) psn: Option<String>,
    pub(crate) pin_tries: Option<i64>,
    pub(crate) atc_high: Option<i64>,
}

impl SecurityCols {
    pub(crate) fn into_security(self) -> Result<crate::CardSecurity> {
        let bad =
            |what: &str| LedgerError::corrupt("card_security", format!("{what} out of range"));
        // The window's highest sequence: PSN x 65536 + ATC (`crate::atc`).
        let atc = self
            .atc_high
            .map(|a| u32::try_from(a).map_err(|_| bad("ATC")))
            .transpose()?;
        Ok(crate::CardSecurity {
            card_id: self.card_id,
            expiry: self.expiry,
            pvv: self.pvv,
            pvki: self
                .pvki
                .map(|k| u8::try_from(k).map_err(|_| bad("PVKI")))
                .transpose()?,
            psn: self.psn,
            pin_tries: u32::try_from(self.pin_tries.unwrap_or(0)).map_err(|_| bad("PIN tries"))?,
            atc_highest: atc.map(|s| (s & 0xFFFF) as u16),
            atc_psn: atc
                .map(|s| u8::try_from(s >> 16).map_err(|_| bad("PSN")))
                .transpose()?,
        })
    }
}
