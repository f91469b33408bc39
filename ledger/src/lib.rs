//! The ledger: accounts, currency wallets, cards, decisions and durable authorization holds.
//!
//! Two stores behind one [`Store`] handle: [`EmbeddedStore`] (SQLite, WAL,
//! `synchronous=FULL`, one group-committing writer thread; the default on a single machine)
//! and [`PgStore`] (PostgreSQL shared by several gateway instances, active-active). Every
//! operation is atomic and idempotent by the network key `(DE 32, DE 11, DE 7)`, and an
//! approval is returned only once its hold is durable. The funds decision itself is the
//! pure [`decide_funds`]; FX comes in through a [`Quoter`], so the ledger never waits on
//! Redis. The clear PAN is only ever hashed ([`PanHasher`]).
#![warn(missing_docs)]
#![warn(unreachable_pub)]

mod adjustment;
mod approval_code;
mod atc;
mod card;
mod controls;
mod decide;
mod decision;
mod duplicate;
mod embedded;
mod error;
#[cfg(feature = "fault-injection")]
pub mod faults;
#[cfg(not(feature = "fault-injection"))]
mod faults;
mod health;
mod hold;
mod hook;
mod key;
mod machine;
mod memory;
mod outbox;
mod pan;
mod pin;
mod postgres;
mod presentment;
mod quote;
mod request;
mod response_code;
mod rows;
mod schema;
mod seed;
mod stats;
mod store;
mod terms;
mod wallet;

pub use adjustment::{Adjustment, AdjustmentRecord};
pub use approval_code::{approval_code, CODE_SPACE};
pub use atc::ATC_WINDOW;
pub use card::{is_expired, CardAudit, CardChange, CardRecord, CardStatus};
pub use controls::{
    Controls, Merchant, Refusal, Spend, Velocity, MAX_LIST_LEN, MAX_VELOCITY_COUNT,
    MAX_VELOCITY_RULES, MAX_VELOCITY_WINDOW_S,
};
pub use decide::{
    check_amount, check_card, decide_funds, home_amount, pro_rata, quote_refusal, Funds,
};
pub use decision::{Billing, Decision, DecisionKind};
pub use duplicate::DuplicateRecord;
pub use embedded::{EmbeddedOptions, EmbeddedStore, DEFAULT_MAX_BATCH, DEFAULT_QUEUE_DEPTH};
pub use error::{LedgerError, Result};
pub use health::LedgerHealth;
pub use hold::{Counted, Hold, HoldStatus, DEFAULT_HOLD_TTL_SECS};
pub use hook::{
    Authorized, ControlsResult, HookAnswer, HookOutcome, HookQuery, HookResult, HookSource,
    HookVerdict, Programs, StandIn, StandInReason,
};
pub use key::{NetworkKey, DE11_LEN, DE7_LEN, MAX_DE32_LEN};
pub use memory::{MemoryOptions, MemoryStore};
pub use money::Currency;
pub use outbox::{OutboxEvent, EVENT_SOURCE, MAX_EVENTS_PAGE, NO_ACCOUNT};
pub use pan::{Pan, PanHasher, MAX_PAN_LEN, MIN_PAN_KEY_LEN, MIN_PAN_LEN, PAN_KEY_ENV};
pub use pin::{
    CardSecurity, PinPolicy, PinVerdict, Security, SeedSecurity, DEFAULT_PIN_TRIES_MAX,
    MAX_PIN_TRIES_LIMIT, MAX_SECURITY_CACHE, SECURITY_CACHE_TTL,
};
pub use postgres::{
    pg_connect, pg_url_with_password, PgOptions, PgSslMode, PgStore, PgTarget, MAX_PG_CONNECTIONS,
};
pub use presentment::{
    clearing_file_key, ClearingFileMark, ClearingOutcome, Presentment, PresentmentKind,
    PresentmentRecord,
};
pub use quote::{NoRates, Quote, QuoteError, Quoter};
pub use request::{
    AdviceRequest, AuthRequest, BalanceRequest, CaptureRequest, ReversalRequest, TransactionKind,
    MAX_AMOUNT_MINOR,
};
pub use response_code::ResponseCode;
pub use seed::{to_minor, PvvFn, SeedAccount, SeedData, MAX_SEED_BYTES};
pub use stats::{BatchSnapshot, BATCH_SIZE_BOUNDS, SLOW_BATCH};
pub use store::{Store, MAX_CLEARING_CANDIDATES, MAX_EXPIRE_BATCH};
pub use terms::{Terms, TermsBuilder};
pub use wallet::{order_for_de54, BalanceAnswer, Wallet};
