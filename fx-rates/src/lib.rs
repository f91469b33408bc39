//! Fee-free FX for the card switch: the ISO 4217 table, immutable versioned rate sets, exact
//! conversion with `rust_decimal`, the DE 10 rate format, publication of rate sets in Redis and
//! the in-process snapshot ([`RateCache`]) the gateway reads without ever waiting for Redis.
//!
//! DESIGN.md: "`converted_minor = round(amount_minor / 10^e_from * rate(from->to) * 10^e_to)`,
//! with one rounding only, at the end, half-even by default (configurable). `rate(from->to)` is
//! the published pair, else its inverse, else a cross through the pivot currency (default USD)."
#![warn(missing_docs, unreachable_pub)]

mod cache;
mod convert;
mod csv;
mod currency;
mod de10;
mod error;
mod exponents;
mod file_source;
mod fingerprint;
pub mod precision;
mod rate_set;
pub mod redis;
mod redis_source;
mod rounding;
mod status;
pub mod version;

pub use cache::{CacheOptions, RateCache};
pub use convert::{convert, Conversion, ConvertOptions, IDENTITY_VERSION, MAX_AMOUNT_MINOR};
pub use csv::{parse_rates_csv, MAX_CSV_BYTES};
pub use currency::{currencies, currency, currency_by_numeric, Currency};
pub use de10::{De10, DE10_MAX_DECIMALS};
pub use error::FxError;
pub use exponents::{ExponentOverrides, MAX_EXPONENT};
pub use file_source::MIN_WATCH_INTERVAL;
pub use rate_set::{Pair, RatePath, RateSet, DEFAULT_PIVOT, MAX_CURRENCIES, MAX_PAIRS};
pub use redis::{read_current, remove_namespace, Keys, Published, Publisher, RedisTarget};
pub use redis_source::RedisOptions;
pub use rounding::Rounding;
pub use status::{CacheStatus, SourceState};
