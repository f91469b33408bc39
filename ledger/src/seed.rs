//! Seeding from `fixtures/cards.json` and the balance export for reconciliation.
//!
//! `{"accounts":[{"id":"A-1001","home_currency":"KRW","balances":{"KRW":"1500000",
//! "USD":"250.00"}}],"cards":[{"pan":"...","expiry":"YYMM","account":"A-1001",
//! "status":"active"}]}`, balances in major units as decimal strings. An account may also
//! carry `"overdrafts": {"KRW": "100000"}` (major units), the overdraft its wallets allow.

use std::collections::BTreeMap;
use std::str::FromStr;

use money::Currency;

use rust_decimal::Decimal;
use serde::Deserialize;

use crate::{CardRecord, CardStatus, Controls, LedgerError, Pan, PanHasher, SeedSecurity, Wallet};

/// Largest `cards.json` we read: the sandbox file is a few kB; a larger one is a mistake.
pub const MAX_SEED_BYTES: usize = 16 * 1024 * 1024;

#[derive(Deserialize)]
struct File {
    accounts: Vec<AccountJson>,
    cards: Vec<CardJson>,
}

#[derive(Deserialize)]
struct AccountJson {
    id: String,
    home_currency: String,
    balances: BTreeMap<String, String>,
    #[serde(default)]
    overdrafts: BTreeMap<String, String>,
    #[serde(default)]
    controls: Option<Controls>,
}

#[derive(Deserialize)]
struct CardJson {
    /// Optional: older files have none (an id is then made from the PAN's keyed hash).
    #[serde(default)]
    id: Option<String>,
    pan: String,
    expiry: String,
    account: String,
    status: String,
    #[serde(default)]
    controls: Option<Controls>,
    /// Sandbox only: the card's PIN, of which the seed stores the PVV (never the PIN).
    #[serde(default)]
    pin: Option<String>,
    /// PAN sequence number (DE 23) of a chip card, 2 or 3 digits.
    #[serde(default)]
    psn: Option<String>,
}

/// Computes a card's PVV and its PVK index from a clear PIN: the HSM's `pvk`, given by the
/// gateway (the ledger holds no key). Its error must not quote the PIN.
pub type PvvFn<'a> = dyn Fn(&Pan, &str) -> std::result::Result<(String, u8), String> + 'a;

/// An account to seed, with its wallets in minor units.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeedAccount {
    /// Account id.
    pub id: String,
    /// Home currency (alpha).
    pub home_currency: Currency,
    /// Wallets with opening balances.
    pub wallets: Vec<Wallet>,
    /// The default spend controls of the account's cards.
    pub controls: Option<Controls>,
}

/// Parsed seed data: no clear PAN survives parsing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeedData {
    /// Accounts and wallets.
    pub accounts: Vec<SeedAccount>,
    /// Cards, PANs already hashed.
    pub cards: Vec<CardRecord>,
    /// The cards' security rows (PVV, PSN): one per card that has a PIN or a PSN.
    pub security: Vec<SeedSecurity>,
}

impl SeedData {
    /// Parses `cards.json`. `exponent` gives each currency's ISO 4217 minor-unit exponent
    /// (the gateway passes `fx_rates::currency`'s); balances with more decimals than that,
    /// unknown currencies and cards of unknown accounts are errors.
    /// Cards' `"pin"`s are ignored (no PVV is stored): see [`SeedData::from_json_with_pvv`].
    pub fn from_json(
        text: &str,
        hasher: &PanHasher,
        exponent: &dyn Fn(&str) -> Option<u32>,
    ) -> crate::Result<Self> {
        Self::parse(text, hasher, exponent, None)
    }

    /// As [`SeedData::from_json`], storing for each card with a `"pin"` its PVV as `pvv`
    /// computes it (the PIN itself is dropped once parsed).
    pub fn from_json_with_pvv(
        text: &str,
        hasher: &PanHasher,
        exponent: &dyn Fn(&str) -> Option<u32>,
        pvv: &PvvFn<'_>,
    ) -> crate::Result<Self> {
        Self::parse(text, hasher, exponent, Some(pvv))
    }

    fn parse(
        text: &str,
        hasher: &PanHasher,
        exponent: &dyn Fn(&str) -> Option<u32>,
        pvv_of: Option<&PvvFn<'_>>,
    ) -> crate::Result<Self> {
        if text.len() > MAX_SEED_BYTES {
            return Err(LedgerError::Seed(format!(
                "file is {} bytes, limit {MAX_SEED_BYTES}",
                text.len()
            )));
        }
        let file: File = serde_json::from_str(text).map_err(|e| {
            // serde_json errors quote no input, only positions.
            LedgerError::Seed(format!("cards.json: {e}"))
        })?;
        let mut accounts = Vec::with_capacity(file.accounts.len());
        let mut homes = BTreeMap::new();
        for a in file.accounts {
            let mut wallets = Vec::new();
            for (ccy, amount) in &a.balances {
                let minor = to_minor(amount, ccy, exponent)?;
                let overdraft = match a.overdrafts.get(ccy) {
                    Some(o) => to_minor(o, ccy, exponent)?,
                    None => 0,
                };
                wallets.push(Wallet {
                    account_id: a.id.clone(),
                    currency: ccy.parse().map_err(|_| {
                        LedgerError::Seed(format!("account {}: {ccy:?} is no currency code", a.id))
                    })?,
                    balance_minor: minor,
                    held_minor: 0,
                    overdraft_minor: overdraft,
                    opening_minor: minor,
                });
            }
            let home: Currency = match a.home_currency.parse() {
                Ok(c) if exponent(&a.home_currency).is_some() => c,
                _ => {
                    return Err(LedgerError::Seed(format!(
                        "account {}: unknown home currency {}",
                        a.id, a.home_currency
                    )))
                }
            };
            if !wallets.iter().any(|w| w.currency == home) {
                wallets.push(Wallet {
                    account_id: a.id.clone(),
                    currency: home,
                    balance_minor: 0,
                    held_minor: 0,
                    overdraft_minor: 0,
                    opening_minor: 0,
                });
            }
            if let Some(c) = &a.controls {
                c.validate()
                    .map_err(|e| LedgerError::Seed(format!("account {} controls: {e}", a.id)))?;
            }
            homes.insert(a.id.clone(), (home, a.controls.clone()));
            accounts.push(SeedAccount {
                id: a.id,
                home_currency: home,
                wallets,
                controls: a.controls,
            });
        }
        let mut cards = Vec::with_capacity(file.cards.len());
        let mut security = Vec::new();
        for (i, mut c) in file.cards.into_iter().enumerate() {
            let pan = Pan::new(&c.pan).map_err(|e| LedgerError::Seed(format!("card #{i}: {e}")))?;
            let Some((home, account_controls)) = homes.get(&c.account) else {
                return Err(LedgerError::Seed(format!(
                    "card {} names unknown account {}",
                    pan.masked(),
                    c.account
                )));
            };
            let pan_hash = hasher.hash(&pan);
            if let Some(ctl) = &c.controls {
                ctl.validate().map_err(|e| {
                    LedgerError::Seed(format!("card {} controls: {e}", pan.masked()))
                })?;
            }
            let pin = c.pin.take();
            let id = c.id.unwrap_or_else(|| crate::card::id_from_hash(&pan_hash));
            let (pvv, pvki) = match (pin, pvv_of) {
                (Some(pin), Some(f)) => {
                    let (v, k) = f(&pan, &pin).map_err(|e| {
                        LedgerError::Seed(format!("card {}: PIN: {e}", pan.masked()))
                    })?;
                    (Some(v), Some(k))
                }
                _ => (None, None),
            };
            if let Some(p) = &c.psn {
                if !(2..=3).contains(&p.len()) || !p.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(LedgerError::Seed(format!(
                        "card {}: psn must be 2 or 3 digits",
                        pan.masked()
                    )));
                }
            }
            if pvv.is_some() || c.psn.is_some() {
                security.push(SeedSecurity {
                    card_id: id.clone(),
                    pvv,
                    pvki,
                    psn: c.psn.clone(),
                });
            }
            let card = CardRecord {
                id,
                masked: pan.masked(),
                pan_hash,
                last4: pan.last4().to_owned(),
                expiry: c.expiry,
                status: CardStatus::from_str(&c.status)
                    .map_err(|e| LedgerError::Seed(format!("card {}: {e}", pan.masked())))?,
                account_id: c.account,
                home_currency: *home,
                own_controls: None,
                controls: None,
                account_controls: None,
            };
            cards.push(card.with_controls(c.controls, account_controls.as_ref()));
        }
        Ok(SeedData {
            accounts,
            cards,
            security,
        })
    }
}

/// "1500000" KRW -> 1500000; "250.00" USD -> 25000; "250.001" USD -> error.
pub fn to_minor(
    major: &str,
    currency: &str,
    exponent: &dyn Fn(&str) -> Option<u32>,
) -> crate::Result<i64> {
    let e = exponent(currency)
        .ok_or_else(|| LedgerError::Seed(format!("unknown currency {currency}")))?;
    let d = Decimal::from_str(major)
        .map_err(|_| LedgerError::Seed(format!("{currency} amount {major:?} is not a decimal")))?;
    let scaled = d
        .checked_mul(Decimal::from(10i64.pow(e)))
        .ok_or_else(|| LedgerError::Seed(format!("{currency} amount {major:?} too large")))?;
    if !scaled.fract().is_zero() {
        return Err(LedgerError::Seed(format!(
            "{currency} amount {major:?} has more than {e} decimals"
        )));
    }
    i64::try_from(scaled)
        .map_err(|_| LedgerError::Seed(format!("{currency} amount {major:?} too large")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exp(c: &str) -> Option<u32> {
        match c {
            "KRW" | "JPY" => Some(0),
            "USD" | "EUR" => Some(2),
            _ => None,
        }
    }

    #[test]
    fn parses_balances_in_minor_units_and_hashes_pans() {
        let text = r#"{"accounts":[{"id":"A-1","home_currency":"KRW","balances":{"KRW":"1500000","USD":"250.00"}}],
            "cards":[{"pan":"4761739001010010","expiry":"2812","account":"A-1","status":"active"}]}"#;
        let h = PanHasher::new(&[7u8; 32]).unwrap();
        let s = SeedData::from_json(text, &h, &exp).unwrap();
        let usd = s.accounts[0]
            .wallets
            .iter()
            .find(|w| w.currency == "USD")
            .unwrap();
        assert_eq!(usd.balance_minor, 25_000);
        assert_eq!(s.cards[0].last4, "0010");
        assert!(!format!("{s:?}").contains("4761739001010010"));
    }

    #[test]
    fn export_rows_are_json_in_minor_units() {
        let w = Wallet {
            account_id: "A-1".into(),
            currency: money::currency!("USD"),
            balance_minor: 25_000,
            held_minor: 1_000,
            overdraft_minor: 0,
            opening_minor: 25_000,
        };
        let v = serde_json::to_value(&w).unwrap();
        assert_eq!(v["balance_minor"], 25_000);
        assert_eq!(v["currency"], "USD");
    }

    #[test]
    fn refuses_too_many_decimals_and_unknown_accounts() {
        assert!(to_minor("250.001", "USD", &exp).is_err());
        assert!(to_minor("1.5", "KRW", &exp).is_err());
        assert!(to_minor("1", "XXX", &exp).is_err());
        let text = r#"{"accounts":[],"cards":[{"pan":"4761739001010010","expiry":"2812","account":"A-9","status":"active"}]}"#;
        let err = SeedData::from_json(text, &PanHasher::new(&[7u8; 32]).unwrap(), &exp)
            .unwrap_err()
            .to_string();
        assert!(err.contains("476173******0010"), "{err}");
    }
}
