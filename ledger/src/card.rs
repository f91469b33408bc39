//! Cards as the ledger keeps them: keyed PAN hash, last four, expiry, status, account.

use money::Currency;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use crate::Controls;

use jiff::civil::Date;

/// Card status, as in `fixtures/cards.json`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CardStatus {
    /// Usable.
    Active,
    /// Blocked by the issuer (answered 62).
    Blocked,
    /// Reported lost (answered 41).
    Lost,
    /// Reported stolen (answered 43).
    Stolen,
    /// Closed (answered 62).
    Closed,
}

impl CardStatus {
    /// The word used in `cards.json` and in the stores.
    pub fn as_str(self) -> &'static str {
        match self {
            CardStatus::Active => "active",
            CardStatus::Blocked => "blocked",
            CardStatus::Lost => "lost",
            CardStatus::Stolen => "stolen",
            CardStatus::Closed => "closed",
        }
    }
}

impl FromStr for CardStatus {
    type Err = crate::LedgerError;
    fn from_str(s: &str) -> crate::Result<Self> {
        Ok(match s {
            "active" => CardStatus::Active,
            "blocked" => CardStatus::Blocked,
            "lost" => CardStatus::Lost,
            "stolen" => CardStatus::Stolen,
            "closed" => CardStatus::Closed,
            other => {
                return Err(crate::LedgerError::invalid(
                    "card status",
                    format!("unknown status {other:?}"),
                ))
            }
        })
    }
}

impl fmt::Display for CardStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A card row. Holds no clear PAN: its keyed hash, its masked form and last four digits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CardRecord {
    /// The card's stable id (`C-0018`): how the API and the events name a card, never by
    /// PAN.
    pub id: String,
    /// Hex HMAC-SHA256 of the PAN (see [`crate::PanHasher`]).
    pub pan_hash: String,
    /// First six and last four digits, the rest masked (`400000******0018`): what a person
    /// or an event may see.
    pub masked: String,
    /// Last four digits of the PAN.
    pub last4: String,
    /// "DE 14, date, expiration, n 4, YYMM".
    pub expiry: String,
    /// Status.
    pub status: CardStatus,
    /// Owning account.
    pub account_id: String,
    /// The account's home currency (alpha code), joined in for the funds decision.
    pub home_currency: Currency,
    /// The card's own spend controls, as set (`None`: none).
    pub own_controls: Option<Controls>,
    /// The controls the rules apply: the card's own over its account's default (`None`:
    /// none). Shared: computed once when the card is read.
    pub controls: Option<Arc<Controls>>,
    /// Its account's default controls (`None`: none): what the effective controls are
    /// computed from again when the card's own change.
    pub account_controls: Option<Arc<Controls>>,
}

impl CardRecord {
    /// Sets the card's own controls and its account's default, and the effective controls
    /// from both.
    pub fn with_controls(mut self, own: Option<Controls>, account: Option<&Controls>) -> Self {
        self.controls = Controls::effective(own.as_ref(), account).map(Arc::new);
        self.own_controls = own;
        self.account_controls = account.cloned().map(Arc::new);
        self
    }
}

/// A change to a card asked for by an operator (the operations API): its status, its own
/// controls, or both. Applied by the ledger's writer like any operation, so the very next
/// authorization of the card, on any instance, sees it; recorded as [`CardAudit`] rows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CardChange {
    /// The card, by id.
    pub card_id: String,
    /// The new status, if it changes.
    pub status: Option<CardStatus>,
    /// The card's own controls, if they change (`Some(None)`: removed; the account's
    /// default applies again).
    pub controls: Option<Option<Controls>>,
    /// Who asked (the API's caller, as authenticated: never a secret).
    pub actor: String,
    /// When.
    pub at: jiff::Timestamp,
}

/// One recorded change of one field of a card: who, when, before, after (JSON text).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CardAudit {
    /// A unique id (`<card id>/<time µs>/<field>/<random>`).
    pub id: String,
    /// The card.
    pub card_id: String,
    /// When.
    pub at: jiff::Timestamp,
    /// Who.
    pub actor: String,
    /// `status` or `controls`.
    pub field: String,
    /// The value before, as JSON (`null`: none).
    pub before: String,
    /// The value after, as JSON.
    pub after: String,
}

/// The id of a card given none (older seed files, cards from before ids): `C-` and twelve
/// hex digits of its keyed PAN hash (no digit of the PAN itself).
pub(crate) fn id_from_hash(pan_hash: &str) -> String {
    format!("C-{}", &pan_hash[..pan_hash.len().min(12)])
}

/// Whether a card expiring in `expiry_yymm` is expired on `business_date`: "a card is expired
/// after the last day of its YYMM month, judged on the business date". Unreadable expiries
/// count as expired, which declines rather than approves.
pub fn is_expired(expiry_yymm: &str, business_date: Date) -> bool {
    let Some((yy, mm)) = parse_yymm(expiry_yymm) else {
        return true;
    };
    // Two-digit years are 20YY: card expiries are at most a few years ahead.
    let year = 2000 + i32::from(yy);
    (i32::from(business_date.year()), business_date.month() as u8) > (year, mm)
}

fn parse_yymm(s: &str) -> Option<(u8, u8)> {
    if s.len() != 4 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let yy: u8 = s[..2].parse().ok()?;
    let mm: u8 = s[2..].parse().ok()?;
    (1..=12).contains(&mm).then_some((yy, mm))
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    #[test]
    fn expired_only_after_the_last_day_of_the_month() {
        assert!(!is_expired("2611", date(2026, 11, 30)));
        assert!(is_expired("2611", date(2026, 12, 1)));
        assert!(!is_expired("2701", date(2026, 12, 31)));
        assert!(is_expired("2512", date(2026, 1, 1)));
        assert!(is_expired("2613", date(2026, 1, 1)));
        assert!(is_expired("26", date(2026, 1, 1)));
    }

    #[test]
    fn status_round_trips() {
        for s in ["active", "blocked", "lost", "stolen", "closed"] {
            assert_eq!(s.parse::<CardStatus>().unwrap().as_str(), s);
        }
        assert!("frozen".parse::<CardStatus>().is_err());
    }
}
