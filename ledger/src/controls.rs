//! Spend controls (issue 21): the limits an issuer's operations team sets on a card, or on an
//! account as the default of its cards, decided by the authorization rule beside the funds
//! check (`machine/rules/authorize.rs`).
//!
//! Amounts are minor units of the account's home currency, after conversion at the fee-free
//! rate (the same quote the funds decision uses). The day and the month are the business
//! date's: a cutover starts a new day, with no job at midnight. Codes: 57 (not permitted to
//! the cardholder: MCC, country, channel), 61 (an amount limit), 65 (a frequency limit).
//!
//! Counters ([`Spend`]) are kept per card and period, in the ledger, in the same transaction
//! as the decision, and only for cards whose controls need them: a limit set during a day
//! counts the approvals from then on. A reversal (or a void of an answer the network never
//! got) gives its amount back to the period it was counted in; an expired hold does not (the
//! purchase may still clear). Velocity counts approvals, which a reversal does not undo.

use std::fmt::Write as _;

use jiff::civil::Date;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::ResponseCode;

/// At most this many velocity rules per card.
pub const MAX_VELOCITY_RULES: usize = 8;
/// The largest `max_count` of a velocity rule: the approvals a card's counter remembers.
pub const MAX_VELOCITY_COUNT: u32 = 1_000;
/// The longest velocity window: 31 days.
pub const MAX_VELOCITY_WINDOW_S: u32 = 31 * 86_400;
/// At most this many entries in an MCC or country list.
pub const MAX_LIST_LEN: usize = 1_000;

/// A card's (or an account's default) spend controls. Every field is optional; a card's field
/// overrides its account's ([`Controls::over`]). An empty `mcc_allowed` allows every MCC.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Controls {
    /// The largest amount of one authorization.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_transaction_max_minor: Option<i64>,
    /// The most approved in one business day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub daily_max_minor: Option<i64>,
    /// The most approved in one business month.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub monthly_max_minor: Option<i64>,
    /// The most cash (DE 3 `01xxxx`) approved in one business day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cash_daily_max_minor: Option<i64>,
    /// At most `max_count` approvals in any `window_s` seconds, for each rule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub velocity: Option<Vec<Velocity>>,
    /// Merchant category codes (DE 18) declined.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mcc_blocked: Option<Vec<String>>,
    /// When not empty, the only merchant category codes approved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mcc_allowed: Option<Vec<String>>,
    /// ISO 3166 numeric country codes declined (DE 19, else the country in DE 43).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub countries_blocked: Option<Vec<String>>,
    /// Whether e-commerce (DE 22 `81`, DE 25 `59`) is allowed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ecommerce: Option<bool>,
    /// Whether ATMs (MCC 6011) are allowed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub atm: Option<bool>,
    /// Whether contactless (DE 22 `07`, `91`) is allowed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contactless: Option<bool>,
}

/// At most `max_count` approvals in any `window_s` seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Velocity {
    /// Approvals allowed in the window (1..=[`MAX_VELOCITY_COUNT`]).
    pub max_count: u32,
    /// The sliding window, in seconds (1..=[`MAX_VELOCITY_WINDOW_S`]).
    pub window_s: u32,
}

/// What the acquirer says about where and how the card is used: what the controls look at.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Merchant {
    /// DE 18, four digits.
    pub mcc: Option<String>,
    /// ISO 3166 numeric country code: DE 19, else DE 43's country.
    pub country: Option<String>,
    /// An e-commerce transaction (DE 22 `81`, or DE 25 `59`).
    pub ecommerce: bool,
    /// At an ATM (MCC 6011).
    pub atm: bool,
    /// Contactless (DE 22 `07` chip or `91` magnetic stripe).
    pub contactless: bool,
}

/// Why the controls refuse an authorization: the code and a short reason for the log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// 57, 61 or 65.
    pub code: ResponseCode,
    /// Which control (`"mcc_blocked"`, `"daily_max_minor"`, ...).
    pub control: &'static str,
}

impl Refusal {
    fn not_permitted(control: &'static str) -> Self {
        Refusal {
            code: ResponseCode::NOT_PERMITTED,
            control,
        }
    }

    fn amount(control: &'static str) -> Self {
        Refusal {
            code: ResponseCode::AMOUNT_LIMIT,
            control,
        }
    }
}

fn digits(s: &str, n: usize) -> bool {
    s.len() == n && s.bytes().all(|b| b.is_ascii_digit())
}

impl Controls {
    /// Whether no control is set.
    pub fn is_empty(&self) -> bool {
        *self == Controls::default()
    }

    /// This card's controls over its account's `default`: each field set here wins.
    pub fn over(&self, default: &Controls) -> Controls {
        fn pick<T: Clone>(mine: &Option<T>, theirs: &Option<T>) -> Option<T> {
            mine.clone().or_else(|| theirs.clone())
        }
        Controls {
            per_transaction_max_minor: pick(
                &self.per_transaction_max_minor,
                &default.per_transaction_max_minor,
            ),
            daily_max_minor: pick(&self.daily_max_minor, &default.daily_max_minor),
            monthly_max_minor: pick(&self.monthly_max_minor, &default.monthly_max_minor),
            cash_daily_max_minor: pick(&self.cash_daily_max_minor, &default.cash_daily_max_minor),
            velocity: pick(&self.velocity, &default.velocity),
            mcc_blocked: pick(&self.mcc_blocked, &default.mcc_blocked),
            mcc_allowed: pick(&self.mcc_allowed, &default.mcc_allowed),
            countries_blocked: pick(&self.countries_blocked, &default.countries_blocked),
            ecommerce: pick(&self.ecommerce, &default.ecommerce),
            atm: pick(&self.atm, &default.atm),
            contactless: pick(&self.contactless, &default.contactless),
        }
    }

    /// The effective controls of a card: its own over its account's; `None` when neither
    /// sets anything.
    pub fn effective(card: Option<&Controls>, account: Option<&Controls>) -> Option<Controls> {
        let c = match (card, account) {
            (Some(c), Some(a)) => c.over(a),
            (Some(c), None) => c.clone(),
            (None, Some(a)) => a.clone(),
            (None, None) => return None,
        };
        (!c.is_empty()).then_some(c)
    }

    /// Checks the values: amounts within `0..=MAX_AMOUNT_MINOR`, MCCs of four digits,
    /// countries of three, velocity rules within their bounds. The message names the field,
    /// never echoes more than it.
    pub fn validate(&self) -> Result<(), String> {
        let amounts = [
            ("per_transaction_max_minor", self.per_transaction_max_minor),
            ("daily_max_minor", self.daily_max_minor),
            ("monthly_max_minor", self.monthly_max_minor),
            ("cash_daily_max_minor", self.cash_daily_max_minor),
        ];
        for (name, v) in amounts {
            if let Some(v) = v {
                if !(0..=money::MAX_AMOUNT_MINOR).contains(&v) {
                    return Err(format!(
                        "{name}: must be 0 to {} minor units",
                        money::MAX_AMOUNT_MINOR
                    ));
                }
            }
        }
        if let Some(rules) = &self.velocity {
            if rules.len() > MAX_VELOCITY_RULES {
                return Err(format!("velocity: at most {MAX_VELOCITY_RULES} rules"));
            }
            for r in rules {
                if !(1..=MAX_VELOCITY_COUNT).contains(&r.max_count) {
                    return Err(format!(
                        "velocity.max_count: must be 1 to {MAX_VELOCITY_COUNT}"
                    ));
                }
                if !(1..=MAX_VELOCITY_WINDOW_S).contains(&r.window_s) {
                    return Err(format!(
                        "velocity.window_s: must be 1 to {MAX_VELOCITY_WINDOW_S}"
                    ));
                }
            }
        }
        let lists = [
            ("mcc_blocked", &self.mcc_blocked, 4),
            ("mcc_allowed", &self.mcc_allowed, 4),
            ("countries_blocked", &self.countries_blocked, 3),
        ];
        for (name, list, n) in lists {
            let Some(list) = list else { continue };
            if list.len() > MAX_LIST_LEN {
                return Err(format!("{name}: at most {MAX_LIST_LEN} entries"));
            }
            if list.iter().any(|v| !digits(v, n)) {
                return Err(format!("{name}: every entry must be {n} digits"));
            }
        }
        Ok(())
    }

    /// A refusal for where and how the card is used (57), before any amount is looked at.
    pub fn forbids(&self, m: &Merchant) -> Option<Refusal> {
        if m.ecommerce && self.ecommerce == Some(false) {
            return Some(Refusal::not_permitted("ecommerce"));
        }
        if m.atm && self.atm == Some(false) {
            return Some(Refusal::not_permitted("atm"));
        }
        if m.contactless && self.contactless == Some(false) {
            return Some(Refusal::not_permitted("contactless"));
        }
        if let Some(mcc) = &m.mcc {
            if self.mcc_blocked.as_ref().is_some_and(|l| l.contains(mcc)) {
                return Some(Refusal::not_permitted("mcc_blocked"));
            }
        }
        if let Some(allowed) = self.mcc_allowed.as_ref().filter(|l| !l.is_empty()) {
            // An allow list refuses what it cannot place: no MCC is not an allowed MCC.
            if !m.mcc.as_ref().is_some_and(|mcc| allowed.contains(mcc)) {
                return Some(Refusal::not_permitted("mcc_allowed"));
            }
        }
        if let (Some(c), Some(blocked)) = (&m.country, &self.countries_blocked) {
            if blocked.contains(c) {
                return Some(Refusal::not_permitted("countries_blocked"));
            }
        }
        None
    }

    /// Whether deciding needs the amount in the home currency.
    pub fn limits_amount(&self, cash: bool) -> bool {
        self.per_transaction_max_minor.is_some() || self.counts_amount(cash)
    }

    /// Whether approvals are added up for a period (daily, monthly, cash).
    pub fn counts_amount(&self, cash: bool) -> bool {
        self.daily_max_minor.is_some()
            || self.monthly_max_minor.is_some()
            || (cash && self.cash_daily_max_minor.is_some())
    }

    /// The velocity rules, if any.
    pub fn velocity_rules(&self) -> &[Velocity] {
        self.velocity.as_deref().unwrap_or(&[])
    }

    /// The approvals a card's velocity counter must remember for these rules.
    pub fn velocity_memory(&self) -> usize {
        self.velocity_rules()
            .iter()
            .map(|r| r.max_count as usize)
            .max()
            .unwrap_or(0)
    }

    /// The counters an authorization on `business_date` reads and, when approved, adds to.
    pub fn periods(&self, business_date: Date, cash: bool) -> Vec<String> {
        let mut out = Vec::new();
        if self.daily_max_minor.is_some() || self.monthly_max_minor.is_some() {
            out.push(day(business_date));
            out.push(month(business_date));
        }
        if cash && self.cash_daily_max_minor.is_some() {
            out.push(cash_day(business_date));
        }
        if !self.velocity_rules().is_empty() {
            out.push(VELOCITY.to_owned());
        }
        out
    }

    /// The amount limits for `home_minor` more in a period whose total so far is given by
    /// `total` (of a period key).
    pub fn amount_refusal(
        &self,
        home_minor: i64,
        business_date: Date,
        cash: bool,
        total: &dyn Fn(&str) -> i64,
    ) -> Option<Refusal> {
        let over = |limit: Option<i64>, period: Option<String>| -> bool {
            let Some(limit) = limit else { return false };
            let so_far = period.map_or(0, |p| total(&p));
            money::add(so_far, home_minor).map_or(true, |t| t > limit)
        };
        if over(self.per_transaction_max_minor, None) {
            return Some(Refusal::amount("per_transaction_max_minor"));
        }
        if over(self.daily_max_minor, Some(day(business_date))) {
            return Some(Refusal::amount("daily_max_minor"));
        }
        if over(self.monthly_max_minor, Some(month(business_date))) {
            return Some(Refusal::amount("monthly_max_minor"));
        }
        if cash && over(self.cash_daily_max_minor, Some(cash_day(business_date))) {
            return Some(Refusal::amount("cash_daily_max_minor"));
        }
        None
    }

    /// A refusal (65) when another approval at `now` would exceed a velocity rule, given the
    /// card's latest approval times (`recent_us`, microseconds, ascending).
    pub fn velocity_refusal(&self, recent_us: &[i64], now: Timestamp) -> Option<Refusal> {
        let now_us = now.as_microsecond();
        for r in self.velocity_rules() {
            let since = now_us.saturating_sub(i64::from(r.window_s).saturating_mul(1_000_000));
            let in_window = recent_us.iter().filter(|&&t| t > since).count();
            if in_window >= r.max_count as usize {
                return Some(Refusal {
                    code: ResponseCode::FREQUENCY_LIMIT,
                    control: "velocity",
                });
            }
        }
        None
    }
}

/// The counter key of a business day's total: `D2026-12-05`.
pub(crate) fn day(d: Date) -> String {
    stamp(b'D', d, true)
}

/// The counter key of a business month's total: `M2026-12`.
pub(crate) fn month(d: Date) -> String {
    stamp(b'M', d, false)
}

/// The counter key of a business day's cash total: `C2026-12-05`.
pub(crate) fn cash_day(d: Date) -> String {
    stamp(b'C', d, true)
}

/// `prefix` and the date as `YYYY-MM(-DD)`, written digit by digit: these keys are made
/// several times per authorization on the ledger's one writer, where `format!` through the
/// date's `Display` cost more than the rest of the controls' check (measured with
/// bench/switch/controls-cost). Years outside 0..=9999 (jiff allows -9999) take `format!`.
fn stamp(prefix: u8, d: Date, with_day: bool) -> String {
    let (y, m, dd) = (d.year(), d.month(), d.day());
    let Ok(y) = u16::try_from(y) else {
        return if with_day {
            format!("{}{d}", prefix as char)
        } else {
            format!("{}{:04}-{:02}", prefix as char, y, m)
        };
    };
    let two = |n: i8| [b'0' + (n / 10) as u8, b'0' + (n % 10) as u8];
    let mut b = [0u8; 11];
    b[0] = prefix;
    b[1] = b'0' + (y / 1000 % 10) as u8;
    b[2] = b'0' + (y / 100 % 10) as u8;
    b[3] = b'0' + (y / 10 % 10) as u8;
    b[4] = b'0' + (y % 10) as u8;
    b[5] = b'-';
    b[6..8].copy_from_slice(&two(m));
    let len = if with_day {
        b[8] = b'-';
        b[9..11].copy_from_slice(&two(dd));
        11
    } else {
        8
    };
    // Only ASCII digits, '-' and an ASCII prefix were written.
    String::from_utf8_lossy(&b[..len]).into_owned()
}

/// The counter key of a card's latest approval times.
pub(crate) const VELOCITY: &str = "V";

/// One counter of one card: a period's total and count, or (period [`VELOCITY`]) the latest
/// approval times.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Spend {
    /// The card's id.
    pub card_id: String,
    /// `D2026-12-05`, `M2026-12`, `C2026-12-05` or `V`.
    pub period: String,
    /// Minor units of the home currency approved in the period, less what was given back.
    pub total_minor: i64,
    /// Approvals counted in the period.
    pub count: i64,
    /// For `V`: the latest approval times, microseconds, ascending.
    pub recent_us: Vec<i64>,
}

impl Spend {
    /// `recent_us` as stored: decimal microseconds separated by commas.
    pub(crate) fn recent_text(&self) -> String {
        let mut s = String::with_capacity(self.recent_us.len() * 17);
        for (i, t) in self.recent_us.iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            let _ = write!(s, "{t}");
        }
        s
    }

    /// `recent_us` from its stored text; `None` for text that is not such a list.
    pub(crate) fn parse_recent(s: &str) -> Option<Vec<i64>> {
        if s.is_empty() {
            return Some(Vec::new());
        }
        s.split(',').map(|t| t.parse().ok()).collect()
    }
}

#[cfg(test)]
mod stamp_tests {
    use super::*;
    use jiff::civil::date;

    #[test]
    fn period_keys_read_as_the_dates_do() {
        assert_eq!(day(date(2026, 12, 5)), "D2026-12-05");
        assert_eq!(month(date(2026, 1, 31)), "M2026-01");
        assert_eq!(cash_day(date(987, 10, 1)), "C0987-10-01");
        assert_eq!(day(date(-5, 3, 4)), format!("D{}", date(-5, 3, 4)));
        for d in [date(2024, 2, 29), date(9999, 12, 31), date(2000, 1, 1)] {
            assert_eq!(day(d), format!("D{d}"));
            assert_eq!(month(d), format!("M{:04}-{:02}", d.year(), d.month()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    fn merchant(mcc: &str) -> Merchant {
        Merchant {
            mcc: Some(mcc.into()),
            ..Merchant::default()
        }
    }

    #[test]
    fn a_cards_field_wins_over_its_accounts_and_unset_fields_are_inherited() {
        let account = Controls {
            daily_max_minor: Some(100),
            atm: Some(false),
            ..Controls::default()
        };
        let card = Controls {
            daily_max_minor: Some(50),
            ..Controls::default()
        };
        let e = Controls::effective(Some(&card), Some(&account)).unwrap();
        assert_eq!(e.daily_max_minor, Some(50));
        assert_eq!(e.atm, Some(false));
        assert_eq!(Controls::effective(None, None), None);
        assert_eq!(
            Controls::effective(Some(&Controls::default()), None),
            None,
            "nothing set is no controls"
        );
    }

    #[test]
    fn channels_mccs_and_countries_are_not_permitted_57() {
        let c = Controls {
            mcc_blocked: Some(vec!["7995".into()]),
            countries_blocked: Some(vec!["408".into()]),
            ecommerce: Some(false),
            ..Controls::default()
        };
        assert_eq!(
            c.forbids(&merchant("7995")).map(|r| r.control),
            Some("mcc_blocked")
        );
        assert_eq!(c.forbids(&merchant("5411")), None);
        let online = Merchant {
            ecommerce: true,
            ..merchant("5411")
        };
        assert_eq!(
            c.forbids(&online).map(|r| r.code),
            Some(ResponseCode::NOT_PERMITTED)
        );
        let north_korea = Merchant {
            country: Some("408".into()),
            ..merchant("5411")
        };
        assert_eq!(
            c.forbids(&north_korea).map(|r| r.control),
            Some("countries_blocked")
        );
        let allow = Controls {
            mcc_allowed: Some(vec!["5411".into()]),
            ..Controls::default()
        };
        assert_eq!(allow.forbids(&merchant("5411")), None);
        assert!(allow.forbids(&merchant("5812")).is_some());
        assert!(allow.forbids(&Merchant::default()).is_some());
        let empty_allow = Controls {
            mcc_allowed: Some(vec![]),
            ..Controls::default()
        };
        assert_eq!(empty_allow.forbids(&merchant("5812")), None);
    }

    #[test]
    fn amounts_are_refused_61_at_the_first_limit_passed() {
        let c = Controls {
            per_transaction_max_minor: Some(1_000),
            daily_max_minor: Some(1_500),
            monthly_max_minor: Some(10_000),
            cash_daily_max_minor: Some(300),
            ..Controls::default()
        };
        let d = date(2026, 12, 5);
        let totals = |p: &str| match p {
            "D2026-12-05" => 1_000,
            "M2026-12" => 9_500,
            "C2026-12-05" => 200,
            _ => 0,
        };
        let refused = |amount, cash| {
            c.amount_refusal(amount, d, cash, &totals)
                .map(|r| r.control)
        };
        assert_eq!(refused(1_001, false), Some("per_transaction_max_minor"));
        assert_eq!(
            refused(500, false),
            None,
            "exactly the daily limit is allowed"
        );
        assert_eq!(refused(501, false), Some("daily_max_minor"));
        assert_eq!(refused(100, true), None);
        assert_eq!(refused(101, true), Some("cash_daily_max_minor"));
        let monthly = Controls {
            monthly_max_minor: Some(10_000),
            ..Controls::default()
        };
        assert_eq!(
            monthly
                .amount_refusal(501, d, false, &totals)
                .map(|r| r.code),
            Some(ResponseCode::AMOUNT_LIMIT)
        );
        // A total near the top of i64 does not wrap into an approval.
        let huge = |_: &str| i64::MAX - 1;
        assert!(c.amount_refusal(10, d, false, &huge).is_some());
    }

    #[test]
    fn velocity_counts_approvals_inside_the_sliding_window_65() {
        let c = Controls {
            velocity: Some(vec![Velocity {
                max_count: 2,
                window_s: 60,
            }]),
            ..Controls::default()
        };
        let now = Timestamp::from_second(1_000_000).unwrap();
        let s = |secs: i64| (1_000_000 - secs) * 1_000_000;
        assert_eq!(c.velocity_refusal(&[s(30)], now), None);
        assert_eq!(
            c.velocity_refusal(&[s(50), s(30)], now).map(|r| r.code),
            Some(ResponseCode::FREQUENCY_LIMIT)
        );
        assert_eq!(
            c.velocity_refusal(&[s(61), s(30)], now),
            None,
            "one is outside the window"
        );
        assert_eq!(c.velocity_memory(), 2);
    }

    #[test]
    fn values_out_of_bounds_are_refused_naming_the_field() {
        let bad = [
            Controls {
                daily_max_minor: Some(-1),
                ..Controls::default()
            },
            Controls {
                mcc_blocked: Some(vec!["79".into()]),
                ..Controls::default()
            },
            Controls {
                countries_blocked: Some(vec!["KP".into()]),
                ..Controls::default()
            },
            Controls {
                velocity: Some(vec![Velocity {
                    max_count: 0,
                    window_s: 60,
                }]),
                ..Controls::default()
            },
        ];
        for c in bad {
            assert!(c.validate().is_err(), "{c:?}");
        }
        let json = r#"{"per_transaction_max_minor": 5, "velocity": [{"max_count": 3, "window_s": 60}],
            "mcc_blocked": ["7995"], "mcc_allowed": [], "countries_blocked": ["408"],
            "ecommerce": true, "atm": true, "contactless": true}"#;
        let c: Controls = serde_json::from_str(json).unwrap();
        assert_eq!(c.validate(), Ok(()));
        assert!(serde_json::from_str::<Controls>(r#"{"daily_max": 5}"#).is_err());
    }

    #[test]
    fn periods_are_the_business_dates() {
        let c = Controls {
            daily_max_minor: Some(1),
            cash_daily_max_minor: Some(1),
            velocity: Some(vec![Velocity {
                max_count: 1,
                window_s: 1,
            }]),
            ..Controls::default()
        };
        assert_eq!(
            c.periods(date(2026, 1, 31), true),
            ["D2026-01-31", "M2026-01", "C2026-01-31", "V"]
        );
        assert_eq!(c.periods(date(2026, 1, 31), false).len(), 3);
        let s = Spend {
            recent_us: vec![1, 22, 333],
            ..Spend::default()
        };
        assert_eq!(
            Spend::parse_recent(&s.recent_text()),
            Some(vec![1, 22, 333])
        );
        assert_eq!(Spend::parse_recent("1,x"), None);
    }
}
