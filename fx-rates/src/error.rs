//! The crate's one error type.
//!
//! Nothing here ever carries card data: the inputs of this crate are currency codes, amounts,
//! rates and file lines of a rate table, none of which are secret.

use std::path::PathBuf;
use std::time::Duration;

use rust_decimal::Decimal;

/// Everything that can go wrong in `fx-rates`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FxError {
    /// The code is neither a current ISO 4217 alpha code nor a numeric one.
    #[error("unknown currency {code:?}")]
    UnknownCurrency {
        /// The code as given (truncated to a few characters).
        code: String,
    },
    /// No published pair, inverse or cross through the pivot links the two currencies.
    #[error("no rate for {from}->{to} in rate set {version} (pivot {pivot})")]
    NoRate {
        /// Source currency, alpha code.
        from: &'static str,
        /// Target currency, alpha code.
        to: &'static str,
        /// The pivot currency tried for a cross rate.
        pivot: &'static str,
        /// The rate-set version looked in.
        version: String,
    },
    /// An amount does not fit the 12-digit ISO 8583 amount field (n 12).
    #[error(
        "amount {amount_minor} minor units of {currency} does not fit the 12-digit amount field"
    )]
    AmountOverflow {
        /// The amount that would have to be sent, in minor units (may be rounded for display).
        amount_minor: Decimal,
        /// The currency the amount is in.
        currency: &'static str,
    },
    /// The cache's snapshot is older than the configured maximum age (Redis unreachable too long).
    #[error("rate snapshot {version} is stale: last confirmed {age:?} ago, maximum {max_age:?}")]
    Stale {
        /// Version of the snapshot that would have been used.
        version: String,
        /// Time since the snapshot was last confirmed current.
        age: Duration,
        /// The configured maximum.
        max_age: Duration,
    },
    /// The cache has not loaded any rate set yet.
    #[error("no rate set loaded yet")]
    NoRates,
    /// A line of a rate CSV was refused.
    #[error("rates line {line}: {reason}")]
    Csv {
        /// 1-based line number in the file.
        line: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// A rate set is invalid as a whole (too large, bad pivot, corrupt in Redis).
    #[error("invalid rate set {version}: {reason}")]
    InvalidSet {
        /// Version (or file) concerned.
        version: String,
        /// What is wrong.
        reason: String,
    },
    /// A rate cannot be written as DE 10 `ABBBBBBB` (too large or too small).
    #[error("rate {rate} cannot be written as DE 10 ABBBBBBB")]
    De10OutOfRange {
        /// The rate.
        rate: Decimal,
    },
    /// A configuration value is invalid (exponent override, namespace, rounding name, ...).
    #[error("invalid configuration: {0}")]
    Config(String),
    /// Another publisher moved the `current` pointer on every attempt.
    #[error(
        "publish of {version} gave up after {attempts} attempts: other publishers kept winning"
    )]
    PublishContention {
        /// The version last tried.
        version: String,
        /// Attempts made.
        attempts: u32,
    },
    /// Reading a rate file failed.
    #[error("reading {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// Redis refused or the connection failed.
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    /// A Redis operation did not answer in time.
    #[error("redis: no answer within {0:?}")]
    Timeout(Duration),
}
