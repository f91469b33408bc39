//! The schema both stores create. Plain tables, text and 64-bit integers, primary keys and
//! secondary indexes only: no advisory locks, triggers, LISTEN/NOTIFY, stored procedures or
//! PostgreSQL-only types, so it runs unchanged on SQLite, PostgreSQL, CockroachDB and
//! YugabyteDB (checked against their documented SQL on paper, not on a running cluster).

/// Tables and indexes, idempotent (`IF NOT EXISTS`). The embedded store appends
/// [`SQLITE_TABLE_SUFFIX`] to the `CREATE TABLE` statements.
pub(crate) const TABLES: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS accounts (
        id TEXT PRIMARY KEY,
        home_currency TEXT NOT NULL,
        controls TEXT)",
    // opening_minor makes `balance = opening - sum(captured)` checkable.
    "CREATE TABLE IF NOT EXISTS wallets (
        account_id TEXT NOT NULL REFERENCES accounts (id),
        currency TEXT NOT NULL,
        opening_minor BIGINT NOT NULL,
        balance_minor BIGINT NOT NULL,
        held_minor BIGINT NOT NULL,
        overdraft_minor BIGINT NOT NULL,
        PRIMARY KEY (account_id, currency))",
    // The clear PAN is never stored: its keyed hash is the key.
    "CREATE TABLE IF NOT EXISTS cards (
        pan_hash TEXT PRIMARY KEY,
        last4 TEXT NOT NULL,
        expiry TEXT NOT NULL,
        status TEXT NOT NULL,
        account_id TEXT NOT NULL REFERENCES accounts (id),
        id TEXT,
        masked TEXT,
        controls TEXT)",
    // One decision per network key: the primary key is what makes every operation
    // idempotent across connections and gateway instances.
    "CREATE TABLE IF NOT EXISTS decisions (
        nkey TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        response_code TEXT NOT NULL,
        approval_code TEXT,
        account_id TEXT,
        amount_minor BIGINT NOT NULL,
        currency TEXT NOT NULL,
        approved_minor BIGINT NOT NULL,
        billing_amount_minor BIGINT,
        billing_currency TEXT,
        rate TEXT,
        de10 TEXT,
        rate_version TEXT,
        wallet_currency TEXT,
        original_key TEXT,
        business_date TEXT NOT NULL,
        created_us BIGINT NOT NULL,
        updated_us BIGINT NOT NULL,
        expires_us BIGINT,
        fingerprint TEXT,
        card_id TEXT,
        hook TEXT)",
    // Messages that reused a decided key for another request (not repeats: see
    // `terms.rs`), answered as duplicate transmissions; one row per key and fingerprint,
    // counted, so that a peer resending one such message does not grow the table.
    "CREATE TABLE IF NOT EXISTS duplicates (
        nkey TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        kind TEXT NOT NULL,
        account_id TEXT,
        amount_minor BIGINT NOT NULL,
        currency TEXT NOT NULL,
        first_us BIGINT NOT NULL,
        last_us BIGINT NOT NULL,
        times BIGINT NOT NULL,
        PRIMARY KEY (nkey, fingerprint))",
    // Keyed by the decision that placed it: no key can have two holds.
    "CREATE TABLE IF NOT EXISTS holds (
        nkey TEXT PRIMARY KEY,
        original_key TEXT,
        account_id TEXT NOT NULL,
        currency TEXT NOT NULL,
        amount_minor BIGINT NOT NULL,
        held_minor BIGINT NOT NULL,
        captured_minor BIGINT NOT NULL,
        txn_amount_minor BIGINT NOT NULL,
        txn_currency TEXT NOT NULL,
        status TEXT NOT NULL,
        business_date TEXT NOT NULL,
        rate_version TEXT,
        created_us BIGINT NOT NULL,
        expires_us BIGINT NOT NULL,
        card_id TEXT,
        counted_minor BIGINT,
        counted_periods TEXT)",
    // Business-date cutovers (0800 with DE 70 = 201), by the key of the message that asked
    // for one, with the date it moved to: every instance and every restart starts from the
    // latest, and a retransmission (to any instance) gets the same date back.
    "CREATE TABLE IF NOT EXISTS cutovers (
        nkey TEXT PRIMARY KEY,
        business_date TEXT NOT NULL,
        created_us BIGINT NOT NULL)",
    // One row per ledger, rewritten every second by every instance: a commit that proves the
    // ledger can still write when there is no traffic (readiness).
    "CREATE TABLE IF NOT EXISTS heartbeat (
        id TEXT PRIMARY KEY,
        at_us BIGINT NOT NULL)",
    // Spend-control counters (issue 21): one row per card and period (`D2026-12-05`,
    // `M2026-12`, `C2026-12-05`, or `V` with the latest approval times).
    "CREATE TABLE IF NOT EXISTS spend (
        card_id TEXT NOT NULL,
        period TEXT NOT NULL,
        total_minor BIGINT NOT NULL,
        count BIGINT NOT NULL,
        recent TEXT,
        PRIMARY KEY (card_id, period))",
    // Operators' changes to cards (issue 21): who changed which field, when, from what to
    // what (JSON text), written in the transaction that changed the card.
    "CREATE TABLE IF NOT EXISTS card_changes (
        id TEXT PRIMARY KEY,
        card_id TEXT NOT NULL,
        at_us BIGINT NOT NULL,
        actor TEXT NOT NULL,
        field TEXT NOT NULL,
        before_json TEXT NOT NULL,
        after_json TEXT NOT NULL)",
    // Operators' adjustments of a wallet's balance (issue 21), by account and the caller's
    // idempotency key: `balance = opening - sum(captured) + sum(adjustments)`.
    "CREATE TABLE IF NOT EXISTS adjustments (
        akey TEXT PRIMARY KEY,
        account_id TEXT NOT NULL,
        currency TEXT NOT NULL,
        amount_minor BIGINT NOT NULL,
        balance_after_minor BIGINT NOT NULL,
        reason TEXT NOT NULL,
        actor TEXT NOT NULL,
        at_us BIGINT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS card_changes_card ON card_changes (card_id, at_us)",
    // Clearing files imported whole (issue 24), by the file's id: a second import of one is
    // refused. (Ledgers from before marked them with a decision under a synthetic key,
    // `presentment::clearing_file_key`: still honoured.)
    "CREATE TABLE IF NOT EXISTS clearing_files (
        file_id TEXT PRIMARY KEY,
        presentments BIGINT NOT NULL,
        business_date TEXT NOT NULL,
        at_us BIGINT NOT NULL)",
    // Card security (issue 23), a table of its own: the Visa PVV (never the PIN) with its PVK
    // index, the PAN sequence number of a chip card, and the PIN try counter (wrong PINs in a
    // row), with who last reset it. A card without a row, or with no PVV, has no PIN on
    // record. The ATC window (`crate::atc`): the highest application transaction counter seen
    // with a verified cryptogram, the bitmap of the counts below it, and when it last moved
    // (NULL: none seen).
    "CREATE TABLE IF NOT EXISTS card_security (
        card_id TEXT PRIMARY KEY,
        pvv TEXT,
        pvki BIGINT,
        psn TEXT,
        pin_tries BIGINT NOT NULL,
        pin_tries_us BIGINT,
        reset_by TEXT,
        reset_us BIGINT,
        atc_high BIGINT,
        atc_seen TEXT,
        atc_us BIGINT)",
    "CREATE INDEX IF NOT EXISTS holds_status_expiry ON holds (status, expires_us)",
    // Partial: only incremental holds have an original (PostgreSQL, SQLite, CockroachDB
    // 20.2+ and YugabyteDB all support partial indexes).
    "CREATE INDEX IF NOT EXISTS holds_original ON holds (original_key) \
     WHERE original_key IS NOT NULL",
];

/// Columns added since a table was first created: `(table, column, type)`. A store opened
/// on a file or schema made before adds each one that is missing, at start (`TABLES` creates
/// new tables with them already). Old rows have NULL there.
pub(crate) const ADDED_COLUMNS: &[(&str, &str, &str)] = &[
    // Decisions recorded before fingerprints have none: a later message under their key is
    // compared on what they stored (kind, amount, currency) instead.
    ("decisions", "fingerprint", "TEXT"),
    // Cards from before ids and masked PANs get them in `AFTER_ADDED_COLUMNS`.
    ("cards", "id", "TEXT"),
    ("cards", "masked", "TEXT"),
    // Spend controls (issue 21): a card's own, an account's default for its cards (JSON of
    // `ledger::Controls`; NULL: none).
    ("cards", "controls", "TEXT"),
    ("accounts", "controls", "TEXT"),
    // Which card a decision was on (the API lists a card's authorizations), and what the
    // controls counted for a hold (given back when it is released).
    ("decisions", "card_id", "TEXT"),
    ("holds", "card_id", "TEXT"),
    ("holds", "counted_minor", "BIGINT"),
    ("holds", "counted_periods", "TEXT"),
    // What a card program's real-time decision hook (or its stand-in) decided (issue 22),
    // JSON of `ledger::HookOutcome`; NULL for cards in no program.
    ("decisions", "hook", "TEXT"),
    // The ATC replay window (issue 23): a card's row from before has seen no counter.
    ("card_security", "atc_high", "BIGINT"),
    ("card_security", "atc_seen", "TEXT"),
    ("card_security", "atc_us", "BIGINT"),
    // Clearing (issue 24): the approval code's counter (`approval_number`), which the index
    // `decisions_approval_number` is on; NULL for decisions from before it.
    ("decisions", "approval_n", "BIGINT"),
];

/// Run after [`ADDED_COLUMNS`], idempotent: fills the added columns of older rows and indexes
/// them. A card from before ids gets `C-` and twelve hex digits of its PAN hash; its masked
/// PAN shows only the last four (the first six were never kept).
pub(crate) const AFTER_ADDED_COLUMNS: &[&str] = &[
    "UPDATE cards SET id = 'C-' || substr(pan_hash, 1, 12) WHERE id IS NULL",
    "UPDATE cards SET masked = '******' || last4 WHERE masked IS NULL",
    "CREATE UNIQUE INDEX IF NOT EXISTS cards_id ON cards (id)",
    // A card's decisions, newest first, for the API's paging (partial: decisions without a
    // card, placeholders and reversals, are not in it).
    "CREATE INDEX IF NOT EXISTS decisions_card ON decisions (card_id, created_us) \
     WHERE card_id IS NOT NULL",
    // Clearing (issue 24): a presentment's DE 38 on its card finds the authorizations it may
    // clear (partial: only approvals have a code). Built at start on a ledger from before.
    // On the code's counter, not the code: the codes of consecutive approvals are scattered
    // over the index, so each insert dirtied a page of its own, and the first version
    // (`decisions_card_approval`, on the code) halved the embedded switch's answers a second.
    // Ending in `created_us`, the order the lookup wants its rows in: without it SQLite
    // (no statistics) took `decisions_card` for that order and read every decision of the
    // card for each presentment (2 s a lookup on a card with 1.5 million decisions; the
    // version without it, `decisions_card_approval_n`, is dropped).
    "DROP INDEX IF EXISTS decisions_card_approval",
    "DROP INDEX IF EXISTS decisions_card_approval_n",
    // The counter first, then the card: consecutive approvals have consecutive counters, so
    // the index grows at its one end whatever card each approval is on. On (card, counter)
    // (`decisions_card_approval_number`, dropped below once this one exists) every approval
    // on another card than the last wrote a leaf page of its own: with the authorizations
    // of a batch on different cards, that index was a sixth to a quarter of SQLite's work
    // for an authorization (`ledger/benches/floor.rs`, docs/PERFORMANCE.md "Sixteenth pass").
    // A lookup gives both the counter and the card, so it still reads only the card's
    // decisions with that code, newest first.
    "CREATE INDEX IF NOT EXISTS decisions_approval_number ON decisions \
     (approval_n, card_id, created_us) WHERE approval_n IS NOT NULL",
    "DROP INDEX IF EXISTS decisions_card_approval_number",
    // Decisions with a code but no counter: those from before `approval_n`, and any code
    // that no counter gives. No decision the switch writes now has one of those codes, so
    // the index costs its writes nothing; it keeps a presentment of such a code (or one
    // that matches nothing, which looks here too) from reading all of the card's decisions.
    "CREATE INDEX IF NOT EXISTS decisions_card_approval_code ON decisions \
     (card_id, approval_code, created_us) WHERE approval_n IS NULL AND approval_code IS NOT NULL",
];

/// SQLite only: every table has a text primary key, so without the hidden rowid each insert
/// writes one b-tree instead of two (the rowid table and the primary-key index).
pub(crate) const SQLITE_TABLE_SUFFIX: &str = " WITHOUT ROWID";
