//! The FX seam: the ledger asks a [`Quoter`] for a conversion and never talks to Redis.

use money::Currency;
use rust_decimal::Decimal;
use thiserror::Error;

/// A fee-free conversion of a transaction amount into the account's home currency.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Quote {
    /// Converted amount in minor units of `currency` ("DE 6, amount, cardholder billing").
    pub amount_minor: u64,
    /// Alpha code of the currency converted into.
    pub currency: Currency,
    /// Full-precision rate, from the transaction currency to `currency`.
    pub rate: Decimal,
    /// "DE 10, conversion rate, cardholder billing, n 8", `ABBBBBBB`.
    pub de10: String,
    /// Version of the rate set the rate came from.
    pub version: String,
}

/// Why no quote could be given. Recorded as a decline: 13 (invalid amount) when the converted
/// amount does not fit DE 6, 30 (format error) for a currency the rates cannot price, 91
/// ("issuer unavailable") when the rates themselves are missing or stale.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum QuoteError {
    /// The converted amount would not fit "n 12" (more than 999,999,999,999 minor units):
    /// the request's amount is what is wrong, not the issuer.
    #[error("converted amount does not fit 12 digits")]
    AmountOverflow,
    /// The rate set in force has no rate (direct, inverse or cross) for this currency: DE 49
    /// names a currency the bank does not price, which waiting will not change.
    #[error("no rate for {from} -> {to} in the rate set")]
    UnpricedCurrency {
        /// From currency.
        from: String,
        /// To currency.
        to: String,
    },
    /// The rate set is older than allowed.
    #[error("rates are stale")]
    Stale,
    /// No rate (direct, inverse or cross) for the pair, or no rate set at all.
    #[error("no rate for {from} -> {to}")]
    Missing {
        /// From currency.
        from: String,
        /// To currency.
        to: String,
    },
    /// Anything else the quoter wants to report (never card data).
    #[error("{0}")]
    Other(String),
}

/// Converts amounts at the current fee-free rate. Called synchronously inside the ledger's
/// decision (on the writer thread or a PostgreSQL worker), so it must not block on I/O: the
/// gateway implements it over `fx_rates::RateCache`'s in-process snapshot.
pub trait Quoter: Send + Sync {
    /// Converts `amount_minor` of `from` into `to` (alpha codes).
    fn quote(&self, amount_minor: u64, from: Currency, to: Currency) -> Result<Quote, QuoteError>;
}

/// A quoter with no rates: every foreign-currency conversion is declined 91. Useful for
/// single-currency deployments and tests.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoRates;

impl Quoter for NoRates {
    fn quote(&self, _amount_minor: u64, from: Currency, to: Currency) -> Result<Quote, QuoteError> {
        Err(QuoteError::Missing {
            from: from.to_string(),
            to: to.to_string(),
        })
    }
}
