//! The row-level primitives both stores provide inside one transaction. The operations in
//! [`crate::ops`] are written once against this trait: the embedded store implements it
//! with synchronous rusqlite calls (its futures are ready at once and are driven with
//! `block_on` on the writer thread), the PostgreSQL store with tokio-postgres.

use jiff::civil::Date;
use jiff::Timestamp;

use crate::{CardRecord, Decision, DuplicateRecord, Hold, NetworkKey, Result, Wallet};

pub(crate) trait Tx {
    /// The decision recorded under `key`.
    async fn decision(&mut self, key: &NetworkKey) -> Result<Option<Decision>>;
    /// Inserts a new decision; a duplicate key is an error (the caller retries and finds it).
    async fn insert_decision(&mut self, d: &Decision) -> Result<()>;
    /// Rewrites the mutable parts of a decision (code, approval code, amounts, timestamps).
    async fn update_decision(&mut self, d: &Decision) -> Result<()>;
    /// A card by PAN hash, with its account's home currency.
    async fn card(&mut self, pan_hash: &str) -> Result<Option<CardRecord>>;
    /// The account's wallets, locked against concurrent writers until the end of the
    /// transaction when `lock` (PostgreSQL `FOR UPDATE`; SQLite has one writer anyway).
    async fn wallets(&mut self, account_id: &str, lock: bool) -> Result<Vec<Wallet>>;
    /// Locks the wallets of `account_ids` (sorted, distinct) until the end of the
    /// transaction: a batch takes all its locks up front, in one global order.
    async fn lock_accounts(&mut self, account_ids: &[String]) -> Result<()>;
    /// Creates a wallet (advices may post in a currency the account had no wallet for).
    async fn insert_wallet(&mut self, w: &Wallet) -> Result<()>;
    /// Writes a wallet's balance and held amount.
    async fn update_wallet(&mut self, w: &Wallet) -> Result<()>;
    /// Inserts a hold; a second hold for one key is refused by the primary key.
    async fn insert_hold(&mut self, h: &Hold) -> Result<()>;
    /// The hold placed by `key`.
    async fn hold(&mut self, key: &NetworkKey) -> Result<Option<Hold>>;
    /// Active holds extending `original` (incremental authorizations).
    async fn active_linked_holds(&mut self, original: &NetworkKey) -> Result<Vec<Hold>>;
    /// Writes a hold's held/captured amounts and status.
    async fn update_hold(&mut self, h: &Hold) -> Result<()>;
    /// Up to `limit` active holds with `expires_at <= now`.
    async fn expired_holds(&mut self, now: Timestamp, limit: usize) -> Result<Vec<Hold>>;
    /// The next approval number, durable with the transaction.
    async fn next_approval_number(&mut self) -> Result<u64>;
    /// Inserts an account unless it exists; true when inserted.
    async fn insert_account(&mut self, id: &str, home_currency: &str) -> Result<bool>;
    /// Inserts a card unless its hash exists.
    async fn insert_card(&mut self, c: &CardRecord) -> Result<()>;
    /// All wallets, ordered by account and currency.
    async fn all_wallets(&mut self) -> Result<Vec<Wallet>>;
    /// All holds (for invariant checks in tests and reconciliation).
    async fn all_holds(&mut self) -> Result<Vec<Hold>>;
    /// The business date the cutover asked for by `key` moved to, if it was recorded.
    async fn cutover(&mut self, key: &str) -> Result<Option<Date>>;
    /// The latest business date any recorded cutover moved to.
    async fn latest_cutover(&mut self) -> Result<Option<Date>>;
    /// Records a cutover unless its key is there already (another instance got the same
    /// message first: its date stands).
    async fn insert_cutover(&mut self, key: &str, date: Date, now: Timestamp) -> Result<()>;
    /// Counts a duplicate transmission: inserted the first time its (key, fingerprint)
    /// comes, `times` and `last_at` moved on after.
    async fn record_duplicate(&mut self, d: &DuplicateRecord, fingerprint: &str) -> Result<()>;
    /// The duplicate transmissions counted under `key`, oldest first.
    async fn duplicates(&mut self, key: &NetworkKey) -> Result<Vec<DuplicateRecord>>;
    /// Records that the ledger committed at `now` (one row, rewritten): the heartbeat that
    /// proves commits work when no request comes.
    async fn heartbeat(&mut self, now: Timestamp) -> Result<()>;
}
