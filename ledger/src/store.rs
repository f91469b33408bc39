//! [`Store`]: the one handle the gateway holds, over either store.

use std::sync::Arc;
use std::time::Duration;

use jiff::civil::Date;
use jiff::Timestamp;

use crate::machine::Op;
use crate::{
    AdviceRequest, AuthRequest, BalanceAnswer, BalanceRequest, BatchSnapshot, CaptureRequest,
    CardSecurity, Decision, EmbeddedStore, LedgerHealth, NetworkKey, PgStore, Result,
    ReversalRequest, SeedData, Wallet,
};

/// Most holds one [`Store::expire`] call releases: expiry runs in bounded batches so that it
/// never holds the writer (or row locks) for long.
pub const MAX_EXPIRE_BATCH: usize = 1000;

/// Most authorizations a presentment's DE 38 is looked up among on its card (approval codes
/// are unique per store until they wrap: more than one is rare).
pub const MAX_CLEARING_CANDIDATES: usize = 16;

/// The ledger. `Clone + Send + Sync`: hold one and call it from any number of tokio tasks.
/// Every write is atomic, idempotent by its network key, and durable before it returns.
#[derive(Clone, Debug)]
pub enum Store {
    /// SQLite file, single machine (the default).
    Embedded(EmbeddedStore),
    /// PostgreSQL (or a compatible engine), shared by several gateway instances.
    Postgres(PgStore),
    /// Memory only: tests and benches (nothing is durable).
    Memory(crate::MemoryStore),
}

impl From<crate::MemoryStore> for Store {
    fn from(s: crate::MemoryStore) -> Self {
        Store::Memory(s)
    }
}

impl From<EmbeddedStore> for Store {
    fn from(s: EmbeddedStore) -> Self {
        Store::Embedded(s)
    }
}

impl From<PgStore> for Store {
    fn from(s: PgStore) -> Self {
        Store::Postgres(s)
    }
}

impl Store {
    async fn submit(&self, op: Op) -> Result<crate::machine::Output> {
        match self {
            Store::Embedded(s) => s.submit(op).await,
            Store::Postgres(s) => s.submit(op).await,
            Store::Memory(s) => s.submit(op).await,
        }
    }

    /// 0100/0200: checks the card and the funds and places the hold, or declines, in one
    /// transaction; records the decision under `r.key` either way. A key already decided
    /// gets its stored decision back (`replayed = true`) and nothing moves.
    ///
    /// Takes the request by value or shared (`Arc`): a caller that may have to void the
    /// request ([`Store::void_authorization`]) keeps a clone of the `Arc`.
    ///
    /// For a card in a program with a real-time decision hook, call
    /// [`Store::authorize_or_ask`] instead: here its authorization without the hook's
    /// verdict is an error.
    pub async fn authorize(&self, r: impl Into<Arc<AuthRequest>>) -> Result<Decision> {
        match self.authorize_or_ask(r).await? {
            crate::Authorized::Decided(d) => Ok(d),
            crate::Authorized::AskHook(q) => Err(crate::LedgerError::invalid(
                "hook",
                format!(
                    "card {} is in program {}: its hook's verdict is needed",
                    q.card_id, q.program
                ),
            )),
        }
    }

    /// [`Store::authorize`] where card programs have real-time decision hooks (issue 22): a
    /// card in a program whose authorization our checks would approve, without a verdict in
    /// `r.hook`, comes back as [`crate::Authorized::AskHook`] with nothing recorded; ask the
    /// hook (never from the ledger's writer) and call again with its verdict.
    pub async fn authorize_or_ask(
        &self,
        r: impl Into<Arc<AuthRequest>>,
    ) -> Result<crate::Authorized> {
        self.submit(Op::Authorize(r.into())).await?.authorized()
    }

    /// Replaces the card programs with real-time decision hooks (at start and on reload).
    pub fn set_programs(&self, programs: crate::Programs) {
        self.ctx().programs.store(Arc::new(programs));
    }

    /// 0400/0420: releases the original's hold in full, or down to DE 95's actual amount;
    /// an original's incremental authorizations go with it (DE 95 then keeps of their
    /// cumulative total, the original's part first);
    /// refunds a captured amount the same way. An unknown original is remembered (its late
    /// arrival is answered 12 and holds nothing). Answered 00.
    pub async fn reverse(&self, r: impl Into<Arc<ReversalRequest>>) -> Result<Decision> {
        self.submit(Op::Reverse(r.into())).await?.decision()
    }

    /// 0120/0220: posts a decision taken elsewhere; never declines (available may go
    /// negative). When DE 90 names an approved authorization with an active hold, this is
    /// its completion and captures it.
    pub async fn advise(&self, r: impl Into<Arc<AdviceRequest>>) -> Result<Decision> {
        self.submit(Op::Advise(r.into())).await?.decision()
    }

    /// Completes an approved authorization (and its incremental holds) for a final amount
    /// that may differ; [`crate::LedgerError::NoHold`] when there is no active hold.
    pub async fn capture(&self, r: impl Into<Arc<CaptureRequest>>) -> Result<Decision> {
        self.submit(Op::Capture(r.into())).await?.decision()
    }

    /// The gateway missed its deadline for `key`: with no decision yet, records a 91 so a
    /// late authorize places no hold; an approval is turned into a 91 and its hold released.
    pub async fn void_timed_out(
        &self,
        key: NetworkKey,
        business_date: Date,
        now: Timestamp,
    ) -> Result<Decision> {
        self.submit(Op::VoidTimedOut {
            key,
            business_date,
            now,
        })
        .await?
        .decision()
    }

    /// [`Store::void_timed_out`] for the authorization request `r` (its deadline passed, or
    /// its outcome is unknown): voids its decision, or records the 91 that a late decision
    /// will find; leaves alone a decision another request (one that reused the key) made.
    pub async fn void_authorization(
        &self,
        r: Arc<AuthRequest>,
        business_date: Date,
        now: Timestamp,
    ) -> Result<Decision> {
        self.submit(Op::VoidAuthorization {
            request: r,
            business_date,
            now,
        })
        .await?
        .decision()
    }

    /// Commits a heartbeat (one row rewritten): proves, when no request comes, that the
    /// ledger can still commit. The gateway calls it every second; [`Store::health`] then
    /// reports a ledger that stopped committing within about a second.
    pub async fn heartbeat(&self, now: Timestamp) -> Result<()> {
        self.submit(Op::Heartbeat { now })
            .await?
            .count()
            .map(|_| ())
    }

    /// Whether the ledger commits: the last batch's outcome, the last commit's time, restarts
    /// of the writer, and whether it stopped for good (see [`LedgerHealth::commit_ready`]).
    pub fn health(&self) -> LedgerHealth {
        match self {
            Store::Embedded(s) => s.ctx().health.snapshot(),
            Store::Postgres(s) => s.ctx().health.snapshot(),
            Store::Memory(s) => s.ctx().health.snapshot(),
        }
    }

    /// Releases up to `limit` (at most [`MAX_EXPIRE_BATCH`]) active holds whose expiry is at
    /// or before `now`; returns how many. Call again while it returns `limit`.
    pub async fn expire(&self, now: Timestamp, limit: usize) -> Result<usize> {
        let limit = limit.clamp(1, MAX_EXPIRE_BATCH);
        self.submit(Op::Expire { now, limit }).await?.count()
    }

    /// Balance inquiry (DE 3 `31xxxx`): card checks, then the wallets for DE 54.
    pub async fn balance(&self, r: BalanceRequest) -> Result<BalanceAnswer> {
        match self {
            Store::Embedded(s) => s.balance(r).await,
            Store::Postgres(s) => s.balance(r).await,
            Store::Memory(s) => s.balance(r).await,
        }
    }

    /// A card's security data (PVV, PVKI, PSN, PIN tries, expiry) for the HSM checks that run
    /// before the writer (issue 23); `None` for an unknown card. A read: the PIN try counter
    /// it shows is advisory, the writer decides on its own reading.
    pub async fn card_security(&self, pan: &crate::Pan) -> Result<Option<CardSecurity>> {
        let hash = self.ctx().hasher.hash(pan);
        self.card_security_by_hash(hash).await
    }

    /// [`Store::card_security`] for the checks before the writer: a card's data is read once
    /// per [`crate::SECURITY_CACHE_TTL`] and kept (unknown cards are not). Its `pin_tries` is
    /// as of that read: the writer decides on its own.
    pub async fn card_security_cached(&self, pan: &crate::Pan) -> Result<Option<CardSecurity>> {
        let ctx = self.ctx();
        let hash = ctx.hasher.hash(pan);
        if let Some(c) = ctx.security_cache.get(&hash) {
            return Ok(Some(c));
        }
        let found = self.card_security_by_hash(hash.clone()).await?;
        if let Some(c) = &found {
            self.ctx().security_cache.put(hash, c.clone());
        }
        Ok(found)
    }

    /// [`Store::card_security`] of a card already read (by its keyed PAN hash, e.g. a
    /// [`crate::CardRecord`]'s): what an operator sees of its PIN tries and chip counter.
    pub async fn card_security_of(&self, pan_hash: &str) -> Result<Option<CardSecurity>> {
        self.card_security_by_hash(pan_hash.to_owned()).await
    }

    fn ctx(&self) -> &crate::machine::Ctx {
        match self {
            Store::Embedded(s) => s.ctx(),
            Store::Postgres(s) => s.ctx(),
            Store::Memory(s) => s.ctx(),
        }
    }

    async fn card_security_by_hash(&self, hash: String) -> Result<Option<CardSecurity>> {
        match self {
            Store::Embedded(s) => s.card_security(hash).await,
            Store::Postgres(s) => s.card_security(hash).await,
            Store::Memory(s) => s.card_security(hash).await,
        }
    }

    /// An operator (`actor`, recorded with the reset) resets card `card_id`'s PIN try
    /// counter to zero, in one transaction under the card's account's lock: PIN use works
    /// again. Returns the count before, or `None` when the card is unknown or has no PIN on
    /// record (nothing changes).
    pub async fn reset_pin_tries(
        &self,
        card_id: &str,
        actor: &str,
        now: Timestamp,
    ) -> Result<Option<u32>> {
        let pan_hash = self.card_hash_by_id(card_id).await?;
        self.submit(Op::ResetPinTries {
            card_id: card_id.to_owned(),
            pan_hash,
            actor: actor.to_owned(),
            now,
        })
        .await?
        .pin_tries()
    }

    /// The verdicts of a PIN (and card checks) presented with a request the ledger does not
    /// decide, a balance inquiry: the same counter and codes as [`Store::authorize`]'s, in one
    /// transaction (a PIN guessed through balance inquiries counts as any other). `None`:
    /// nothing refuses it (an unknown card included: the inquiry answers that).
    pub async fn pin_try(
        &self,
        pan: crate::Pan,
        security: crate::Security,
        now: Timestamp,
    ) -> Result<Option<crate::ResponseCode>> {
        self.submit(Op::PinTry { pan, security, now })
            .await?
            .refusal()
    }

    /// The decision recorded under `key`, if any.
    pub async fn decision(&self, key: &NetworkKey) -> Result<Option<Decision>> {
        match self {
            Store::Embedded(s) => s.decision(key).await,
            Store::Postgres(s) => s.decision(key).await,
            Store::Memory(s) => s.decision(key).await,
        }
    }

    /// The card with id `id` (as the API names it), with its effective controls.
    pub async fn card(&self, id: &str) -> Result<Option<crate::CardRecord>> {
        let Some(hash) = self.card_hash_by_id(id).await? else {
            return Ok(None);
        };
        self.card_by_hash(hash).await
    }

    /// The card whose PAN is `pan` (looked up by its keyed hash: the PAN is not stored).
    pub async fn card_by_pan(&self, pan: &crate::Pan) -> Result<Option<crate::CardRecord>> {
        let hash = self.ctx().hasher.hash(pan);
        self.card_by_hash(hash).await
    }

    async fn card_by_hash(&self, hash: String) -> Result<Option<crate::CardRecord>> {
        match self {
            Store::Embedded(s) => s.card_by_hash(hash).await,
            Store::Postgres(s) => s.card_by_hash(hash).await,
            Store::Memory(s) => s.card_by_hash(hash).await,
        }
    }

    async fn card_hash_by_id(&self, id: &str) -> Result<Option<String>> {
        let id = id.to_owned();
        match self {
            Store::Embedded(s) => s.card_hash_by_id(id).await,
            Store::Postgres(s) => s.card_hash_by_id(id).await,
            Store::Memory(s) => s.card_hash_by_id(id).await,
        }
    }

    /// Applies an operator's change to a card (status, own controls) through the writer,
    /// with its audit rows, in one transaction: the next authorization of the card on any
    /// instance sees it. Returns the card as it is now, or `None` when there is no such card.
    /// Invalid controls are [`crate::LedgerError::Invalid`]. A change to the same values
    /// writes nothing and records nothing.
    pub async fn change_card(
        &self,
        change: crate::CardChange,
    ) -> Result<Option<crate::CardRecord>> {
        let Some(pan_hash) = self.card_hash_by_id(&change.card_id).await? else {
            return Ok(None);
        };
        self.submit(Op::ChangeCard {
            change: Arc::new(change),
            pan_hash,
        })
        .await?
        .card()
    }

    /// A card's decisions (authorizations and the rest recorded on it), newest first, at most
    /// `limit`, older than `before` (a decision's creation time and key: the cursor of the
    /// previous page's last item).
    pub async fn card_decisions(
        &self,
        card_id: &str,
        limit: usize,
        before: Option<(Timestamp, String)>,
    ) -> Result<Vec<Decision>> {
        let card_id = card_id.to_owned();
        let before = before.map(|(t, k)| (t.as_microsecond(), k));
        match self {
            Store::Embedded(s) => s.card_decisions(card_id, limit, before).await,
            Store::Postgres(s) => s.card_decisions(card_id, limit, before).await,
            Store::Memory(s) => s.card_decisions(card_id, limit, before).await,
        }
    }

    /// A card's recorded changes (who, when, before, after), newest first, at most `limit`.
    pub async fn card_changes(&self, card_id: &str, limit: usize) -> Result<Vec<crate::CardAudit>> {
        let card_id = card_id.to_owned();
        match self {
            Store::Embedded(s) => s.card_changes(card_id, limit).await,
            Store::Postgres(s) => s.card_changes(card_id, limit).await,
            Store::Memory(s) => s.card_changes(card_id, limit).await,
        }
    }

    /// Records an operator's adjustment of a wallet's balance through the writer, under the
    /// account's lock, once per (account, idempotency key): a retry with the same terms gets
    /// the first record back with `replayed`, the key reused for other terms is
    /// [`crate::LedgerError::Invalid`] on `idempotency_key`; a currency the account has no
    /// wallet in, or a zero or out-of-range amount, is `Invalid` too.
    pub async fn adjust(&self, a: crate::Adjustment) -> Result<crate::AdjustmentRecord> {
        self.submit(Op::Adjust(Arc::new(a))).await?.adjustment()
    }

    /// Posts a clearing presentment (issue 24) through the writer, under its account's lock:
    /// the authorization it clears is looked for beforehand by its DE 38 on its card (read
    /// side), then checked again, cleared and posted by the rule in one transaction with its
    /// `clearing.posted` event. Posting the same presentment again (same DE 31 and kind)
    /// moves nothing: [`crate::ClearingOutcome::Duplicate`].
    pub async fn present(&self, p: crate::Presentment) -> Result<crate::PresentmentRecord> {
        let mut candidates = Vec::new();
        if let Some(code) = p.approval_code.as_deref() {
            if let Some(card) = self.card_by_pan(&p.pan).await? {
                candidates = self.approval_candidates(card.id, code.to_owned()).await?;
            }
        }
        self.submit(Op::Present {
            presentment: Arc::new(p),
            candidates,
        })
        .await?
        .presentment()
    }

    /// The decisions on card `card_id` with approval code `code` (newest first, at most
    /// [`MAX_CLEARING_CANDIDATES`]): what a presentment may clear.
    async fn approval_candidates(&self, card_id: String, code: String) -> Result<Vec<NetworkKey>> {
        let limit = MAX_CLEARING_CANDIDATES;
        match self {
            Store::Embedded(s) => s.approval_candidates(card_id, code, limit).await,
            Store::Postgres(s) => s.approval_candidates(card_id, code, limit).await,
            Store::Memory(s) => s.approval_candidates(card_id, code, limit).await,
        }
    }

    /// Whether the clearing file `file_id` was imported whole before (marked in
    /// `clearing_files`, or as a decision by a ledger from before that table).
    pub async fn clearing_file_imported(&self, file_id: &str) -> Result<bool> {
        let id = file_id.to_owned();
        let marked = match self {
            Store::Embedded(s) => s.clearing_file(id).await?,
            Store::Postgres(s) => s.clearing_file(id).await?,
            Store::Memory(s) => s.clearing_file(id).await?,
        };
        if marked.is_some() {
            return Ok(true);
        }
        let key = crate::clearing_file_key(file_id)?;
        Ok(self.decision(&key).await?.is_some())
    }

    /// Marks the clearing file `file_id` imported (after its last presentment was posted):
    /// `true` when this call marked it, `false` when it was marked before.
    pub async fn mark_clearing_file(
        &self,
        file_id: &str,
        count: i64,
        business_date: Date,
        now: Timestamp,
    ) -> Result<bool> {
        let key = crate::clearing_file_key(file_id)?;
        let n = self
            .submit(Op::MarkClearingFile {
                file_id: file_id.to_owned(),
                key,
                count,
                business_date,
                now,
            })
            .await?
            .count()?;
        Ok(n > 0)
    }

    /// An account: its home currency and its wallets (by currency), or `None`.
    pub async fn account(&self, id: &str) -> Result<Option<(money::Currency, Vec<Wallet>)>> {
        let id = id.to_owned();
        match self {
            Store::Embedded(s) => s.account(id).await,
            Store::Postgres(s) => s.account(id).await,
            Store::Memory(s) => s.account(id).await,
        }
    }

    /// The hold the decision under `key` placed, if any (whatever its status).
    pub async fn hold(&self, key: &NetworkKey) -> Result<Option<crate::Hold>> {
        let key = key.as_db();
        match self {
            Store::Embedded(s) => s.hold(key).await,
            Store::Postgres(s) => s.hold(key).await,
            Store::Memory(s) => s.hold(key).await,
        }
    }

    /// The duplicate transmissions counted under `key` (messages that reused it for another
    /// request and were answered [`crate::ResponseCode::DUPLICATE_TRANSMISSION`]), oldest
    /// first.
    pub async fn duplicates(&self, key: &NetworkKey) -> Result<Vec<crate::DuplicateRecord>> {
        match self {
            Store::Embedded(s) => s.duplicates(key).await,
            Store::Postgres(s) => s.duplicates(key).await,
            Store::Memory(s) => s.duplicates(key).await,
        }
    }

    /// Business-date cutover (0800 with DE 70 = 201) asked for by the message whose key is
    /// `key` (the network's name, DE 11 and DE 7, say), at an instance whose business date
    /// is `current`. Returns the date the cutover moved to, durably recorded: the day after
    /// the later of `current` and the latest recorded cutover, or, when `key` was recorded
    /// before (a retransmission, to this instance or another), that cutover's date again.
    pub async fn cutover(&self, key: String, current: Date, now: Timestamp) -> Result<Date> {
        self.submit(Op::Cutover { key, current, now }).await?.date()
    }

    /// The latest business date a recorded cutover moved to (`None` before the first):
    /// where an instance starting, or one that another instance's cutover left behind,
    /// takes its business date from until its own calendar passes it.
    pub async fn latest_cutover(&self) -> Result<Option<Date>> {
        match self {
            Store::Embedded(s) => s.latest_cutover().await,
            Store::Postgres(s) => s.latest_cutover().await,
            Store::Memory(s) => s.latest_cutover().await,
        }
    }

    /// Removes the recorded cutovers that moved the business date past `calendar` (the
    /// calendar's date in the business time zone), so that an instance starting afterwards
    /// takes the calendar's date again; returns how many were removed. Those at or before
    /// `calendar` stay (they move nothing and still answer their retransmissions). A running
    /// instance keeps the date it holds (it only moves forward) until it restarts. For the
    /// sandbox and tests, whose cutover scenarios move the date a day per run.
    pub async fn reset_cutovers(&self, calendar: Date) -> Result<usize> {
        match self {
            Store::Embedded(s) => s.reset_cutovers(calendar).await,
            Store::Postgres(s) => s.reset_cutovers(calendar).await,
            Store::Memory(s) => s.reset_cutovers(calendar).await,
        }
    }

    /// Inserts the accounts, wallets and cards of `data` that are not there yet (existing
    /// accounts keep their balances); returns how many accounts were added.
    pub async fn seed(&self, data: SeedData) -> Result<usize> {
        let n = self.submit(Op::Seed(Arc::new(data))).await?.count();
        self.ctx().security_cache.clear();
        n
    }

    /// Every wallet, ordered by account and currency: the reconciliation export.
    pub async fn export_balances(&self) -> Result<Vec<Wallet>> {
        match self {
            Store::Embedded(s) => s.export_balances().await,
            Store::Postgres(s) => s.export_balances().await,
            Store::Memory(s) => s.export_balances().await,
        }
    }

    /// Every hold, whatever its status: for audits (the continuity suite checks each against
    /// its decision). Reads every hold.
    pub async fn holds(&self) -> Result<Vec<crate::Hold>> {
        match self {
            Store::Embedded(s) => s.holds().await,
            Store::Postgres(s) => s.holds().await,
            Store::Memory(s) => s.holds().await,
        }
    }

    /// True when no account exists yet (the sandbox seeds then).
    pub async fn is_empty(&self) -> Result<bool> {
        Ok(self.export_balances().await?.is_empty())
    }

    /// Sizes of the batches this store has group-committed so far (all handles cloned from
    /// the same open store share the figures): for `/metrics`.
    pub fn batch_stats(&self) -> BatchSnapshot {
        self.stats().snapshot()
    }

    fn stats(&self) -> &crate::stats::BatchStats {
        match self {
            Store::Embedded(s) => &s.ctx().stats,
            Store::Postgres(s) => &s.ctx().stats,
            Store::Memory(s) => &s.ctx().stats,
        }
    }

    /// Waits until no batch of this store's writer has been slow (taken
    /// [`SLOW_BATCH`](crate::SLOW_BATCH) or longer) for `quiet`, or until `budget` is spent;
    /// returns how long it waited. A paced clearing import calls it before each presentment,
    /// so that it stops feeding the writer while the writer's commits wait for the disk and
    /// lets the authorizations have it (counted in [`BatchSnapshot::yielded_us`]).
    pub async fn yield_to_writer(&self, quiet: Duration, budget: Duration) -> Duration {
        let stats = self.stats();
        let started = std::time::Instant::now();
        let mut slept = false;
        loop {
            let waited = started.elapsed();
            match stats.since_slow() {
                Some(since) if since < quiet && waited < budget => {
                    tokio::time::sleep((quiet - since).min(budget - waited)).await;
                    slept = true;
                }
                _ => break,
            }
        }
        if !slept {
            return Duration::ZERO;
        }
        let waited = started.elapsed();
        stats.yielded(waited);
        waited
    }

    /// Checks the ledger's invariants: for every wallet, held = sum of its active holds and
    /// balance = opening - sum of captured amounts; inactive holds hold nothing. Returns
    /// one line per violation (empty when sound). Reads every hold: for tests and audits.
    pub async fn invariant_violations(&self) -> Result<Vec<String>> {
        match self {
            Store::Embedded(s) => s.invariant_violations().await,
            Store::Postgres(s) => s.invariant_violations().await,
            Store::Memory(s) => s.invariant_violations().await,
        }
    }

    /// Outbox events after `pos` in commit order (all of them, or with `unpublished` only
    /// those the broker has not acknowledged), at most `limit` (capped at
    /// [`crate::MAX_EVENTS_PAGE`]). For the relay and `gateway events tail`. The embedded
    /// store keeps a transaction's events together and returns unpublished ones whole: a
    /// few past `limit` when the last transaction read holds more.
    pub async fn events_after(
        &self,
        after: i64,
        unpublished: bool,
        limit: usize,
    ) -> Result<Vec<crate::OutboxEvent>> {
        let limit = limit.min(crate::MAX_EVENTS_PAGE);
        match self {
            Store::Embedded(s) => s.events_after(after, unpublished, limit).await,
            Store::Postgres(s) => s.events_after(after, unpublished, limit).await,
            Store::Memory(s) => s.events_after(after, unpublished, limit).await,
        }
    }

    /// Marks the events at `positions` published (the broker acknowledged them) at `now`.
    /// The embedded store marks a transaction's events together, once all are acknowledged:
    /// until then they stay unpublished, and the relay sends them again (same ids).
    pub async fn events_published(&self, positions: &[i64], now: Timestamp) -> Result<()> {
        match self {
            Store::Embedded(s) => s.events_published(positions, now).await,
            Store::Postgres(s) => s.events_published(positions, now).await,
            Store::Memory(s) => s.events_published(positions, now).await,
        }
    }

    /// Deletes the events published before `before`; returns how many. Unpublished events
    /// are never pruned.
    pub async fn events_prune(&self, before: Timestamp) -> Result<usize> {
        match self {
            Store::Embedded(s) => s.events_prune(before).await,
            Store::Postgres(s) => s.events_prune(before).await,
            Store::Memory(s) => s.events_prune(before).await,
        }
    }

    /// How many events wait for the broker.
    pub async fn events_pending(&self) -> Result<u64> {
        match self {
            Store::Embedded(s) => s.events_pending().await,
            Store::Postgres(s) => s.events_pending().await,
            Store::Memory(s) => s.events_pending().await,
        }
    }

    /// Takes or renews the relay's lease for `holder` until `until`: true when `holder`
    /// holds it (it was free, expired at `now`, or already `holder`'s). One relay publishes
    /// at a time per ledger, so that each account's events go out in order.
    pub async fn events_lease(
        &self,
        holder: &str,
        now: Timestamp,
        until: Timestamp,
    ) -> Result<bool> {
        match self {
            Store::Embedded(s) => s.events_lease(holder, now, until).await,
            Store::Postgres(s) => s.events_lease(holder, now, until).await,
            Store::Memory(s) => s.events_lease(holder, now, until).await,
        }
    }
}
