//! The in-memory store: the ledger's rules over plain maps, for tests and benches (the
//! behavioural suite runs over it in milliseconds, and the property test compares the
//! durable engines with it). Nothing survives the process: never the switch's ledger.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use jiff::civil::Date;
use jiff::{SignedDuration, Timestamp};
use money::Currency;
use tokio::sync::Mutex;

use crate::machine::engine::{Engine, Step};
use crate::machine::needs::Needs;
use crate::machine::state::SpendKey;
use crate::machine::{
    driver, rules, Approvals, Ctx, Effects, Op, Output, Prepared, Snapshot, State,
};
use crate::pin::PinState;
use crate::{
    BalanceAnswer, BalanceRequest, CardAudit, CardRecord, CardSecurity, Controls, Decision,
    DuplicateRecord, Hold, HoldStatus, LedgerError, NetworkKey, OutboxEvent, PanHasher, Quoter,
    Result, Spend, Wallet, DEFAULT_HOLD_TTL_SECS, NO_ACCOUNT,
};

/// Tuning of the memory store.
#[derive(Clone, Debug)]
pub struct MemoryOptions {
    /// Life of a hold, seconds.
    pub hold_ttl_secs: i64,
}

impl Default for MemoryOptions {
    fn default() -> Self {
        MemoryOptions {
            hold_ttl_secs: DEFAULT_HOLD_TTL_SECS,
        }
    }
}

/// The rows, as the durable engines keep them.
#[derive(Default)]
struct Data {
    /// Account id -> home currency.
    accounts: BTreeMap<String, Currency>,
    /// PAN hash -> card (its `home_currency` kept current with the account's).
    cards: HashMap<String, CardRecord>,
    /// By (account, currency).
    wallets: BTreeMap<(String, Currency), Wallet>,
    decisions: BTreeMap<String, Decision>,
    holds: BTreeMap<String, Hold>,
    cutovers: BTreeMap<String, Date>,
    duplicates: BTreeMap<(String, String), DuplicateRecord>,
    approval: u64,
    heartbeat: Option<Timestamp>,
    /// Accounts' default controls.
    account_controls: HashMap<String, Controls>,
    /// Spend counters by (card id, period).
    spend: BTreeMap<SpendKey, Spend>,
    /// Operators' changes to cards, in the order written.
    card_audit: Vec<CardAudit>,
    /// Adjustments by key.
    adjustments: BTreeMap<String, crate::AdjustmentRecord>,
    /// Clearing files marked imported, by id.
    clearing_files: BTreeMap<String, crate::ClearingFileMark>,
    /// Card security rows by card id: (PVV, PVKI, PSN, PIN tries, ATC window).
    security: HashMap<String, SecurityRow>,
    /// The outbox, in commit order, and its ids (unique, as the durable engines keep them).
    outbox: Vec<OutboxEvent>,
    outbox_ids: std::collections::HashSet<String>,
    /// The last `pos` handed out (never reused after pruning).
    outbox_pos: i64,
    /// Each account's last event `seq`.
    outbox_seq: HashMap<String, i64>,
    /// The relay's lease: holder and until when.
    lease: Option<(String, Timestamp)>,
}

/// A `card_security` row.
#[derive(Clone, Default)]
struct SecurityRow {
    pvv: Option<String>,
    pvki: Option<u8>,
    psn: Option<String>,
    tries: u32,
    atc: crate::atc::AtcWindow,
}

impl Data {
    fn load(&self, needs: &Needs, snap: &mut Snapshot) {
        for h in &needs.cards {
            // As the durable engines join it: the card's own controls over its account's.
            let card = self.cards.get(h).map(|c| {
                c.clone().with_controls(
                    c.own_controls.clone(),
                    self.account_controls.get(&c.account_id),
                )
            });
            snap.cards.insert(h.clone(), card);
        }
        for k in &needs.keys {
            snap.decisions
                .insert(k.clone(), self.decisions.get(k).cloned());
        }
        for k in &needs.holds {
            snap.holds.insert(k.clone(), self.holds.get(k).cloned());
        }
        for o in &needs.linked {
            let linked = self
                .holds
                .values()
                .filter(|h| {
                    h.status == HoldStatus::Active
                        && h.original.as_ref().is_some_and(|x| x.db_str() == o)
                })
                .cloned()
                .collect();
            snap.linked.insert(o.clone(), linked);
        }
        if let Some((now, limit)) = needs.expire {
            let mut due: Vec<Hold> = self
                .holds
                .values()
                .filter(|h| h.status == HoldStatus::Active && h.expires_at <= now)
                .cloned()
                .collect();
            due.sort_by_key(|h| h.expires_at);
            due.truncate(limit);
            snap.expired = due;
        }
        if !needs.cutovers.is_empty() {
            for k in &needs.cutovers {
                snap.cutovers
                    .insert(k.clone(), self.cutovers.get(k).copied());
            }
            snap.latest_cutover = self.cutovers.values().max().copied();
        }
        for a in &needs.accounts {
            snap.accounts
                .insert(a.clone(), self.accounts.contains_key(a));
        }
    }

    fn wallets_of(&self, account: &str) -> Vec<Wallet> {
        self.wallets
            .range((account.to_owned(), money::currency!("AAA"))..)
            .take_while(|((a, _), _)| a == account)
            .map(|(_, w)| w.clone())
            .collect()
    }

    fn apply(&mut self, e: &Effects, events: Vec<OutboxEvent>) {
        for (id, home) in &e.accounts_new {
            self.accounts.insert(id.clone(), *home);
        }
        for c in &e.cards_new {
            let mut c = c.clone();
            if let Some(home) = self.accounts.get(&c.account_id) {
                c.home_currency = *home;
            }
            self.cards.entry(c.pan_hash.clone()).or_insert(c);
        }
        for c in &e.cards_changed {
            if let Some(x) = self.cards.get_mut(&c.pan_hash) {
                x.status = c.status;
                x.own_controls.clone_from(&c.own_controls);
            }
        }
        self.card_audit.extend(e.card_audit.iter().cloned());
        for a in &e.adjustments {
            self.adjustments.insert(a.adjustment.db_key(), a.clone());
        }
        for m in &e.clearing_files {
            self.clearing_files
                .entry(m.file_id.clone())
                .or_insert_with(|| m.clone());
        }
        for w in e.wallets_new.iter().chain(&e.wallets_changed) {
            self.wallets
                .insert((w.account_id.clone(), w.currency), w.clone());
        }
        for d in e.decisions_new.iter().chain(&e.decisions_changed) {
            let mut d = d.clone();
            d.replayed = false;
            self.decisions.insert(d.key.as_db(), d);
        }
        for h in e.holds_new.iter().chain(&e.holds_changed) {
            self.holds.insert(h.key.as_db(), h.clone());
        }
        for (d, fp) in &e.duplicates {
            self.duplicates
                .entry((d.key.as_db(), fp.clone()))
                .and_modify(|x| {
                    x.last_at = d.last_at;
                    x.times += 1;
                })
                .or_insert_with(|| d.clone());
        }
        for (k, date, _) in &e.cutovers {
            self.cutovers.entry(k.clone()).or_insert(*date);
        }
        if let Some(t) = e.heartbeat {
            self.heartbeat = Some(t);
        }
        if let Some(n) = e.approval_counter {
            self.approval = n;
        }
        for (id, c) in &e.account_controls {
            match c.as_ref().filter(|c| !c.is_empty()) {
                Some(c) => self.account_controls.insert(id.clone(), c.clone()),
                None => self.account_controls.remove(id),
            };
        }
        for s in &e.spend {
            self.spend
                .insert((s.card_id.clone(), s.period.clone()), s.clone());
        }
        for s in &e.security_new {
            self.security
                .entry(s.card_id.clone())
                .or_insert_with(|| SecurityRow {
                    pvv: s.pvv.clone(),
                    pvki: s.pvki,
                    psn: s.psn.clone(),
                    ..SecurityRow::default()
                });
        }
        for c in &e.pin_tries {
            if let Some(row) = self.security.get_mut(&c.card_id) {
                row.tries = c.tries;
            }
        }
        for c in &e.atc {
            self.security.entry(c.card_id.clone()).or_default().atc = c.window;
        }
        for event in events {
            self.outbox_pos = event.pos;
            self.outbox_ids.insert(event.id.clone());
            self.outbox.push(event);
        }
        for (a, n) in &e.outbox_seq {
            self.outbox_seq.insert(a.clone(), *n);
        }
    }

    /// The card with id `id`.
    fn card_by_id(&self, id: &str) -> Option<&CardRecord> {
        self.cards.values().find(|c| c.id == id)
    }

    /// The masked PAN of the card with id `id`.
    fn masked_of(&self, id: &str) -> Option<String> {
        self.card_by_id(id).map(|c| c.masked.clone())
    }

    /// A card's PIN counter with its account, when it has a PVV.
    fn pin_state(&self, card_id: &str) -> Option<PinState> {
        let row = self.security.get(card_id).filter(|r| r.pvv.is_some())?;
        let card = self.card_by_id(card_id)?;
        Some(PinState {
            card_id: card_id.to_owned(),
            account_id: card.account_id.clone(),
            tries: row.tries,
        })
    }
}

/// One batch's view of the data (the store's lock is held for the batch).
struct MemEngine<'d> {
    data: &'d mut Data,
}

impl Engine for MemEngine<'_> {
    async fn begin(&mut self, needs: &Needs) -> Step<Snapshot> {
        let mut snap = Snapshot::default();
        self.data.load(needs, &mut snap);
        Ok(snap)
    }

    async fn lock(&mut self, needs: &Needs, accounts: &[String], snap: &mut Snapshot) -> Step {
        for a in accounts {
            snap.wallets.insert(a.clone(), self.data.wallets_of(a));
        }
        if needs.approvals > 0 {
            snap.approvals = Approvals::Counter(self.data.approval);
        }
        for k in needs.spend_keys(snap) {
            let row = self.data.spend.get(&k).cloned();
            snap.spend.insert(k, row);
        }
        for k in &needs.adjustments {
            let row = self.data.adjustments.get(k).cloned();
            snap.adjustments.insert(k.clone(), row);
        }
        for k in &needs.clearing_files {
            let row = self.data.clearing_files.get(k).cloned();
            snap.clearing_files.insert(k.clone(), row);
        }
        for card in needs.pin_keys(snap) {
            let row = self.data.pin_state(&card);
            snap.pins.insert(card, row);
        }
        for card in needs.atc_keys(snap) {
            let row = self
                .data
                .security
                .get(&card)
                .map(|r| r.atc)
                .unwrap_or_default();
            snap.atcs.insert(card, row);
        }
        for k in needs.card_of_keys(snap) {
            let card = self.data.decisions.get(&k).and_then(|d| d.card_id.clone());
            if let Some(id) = &card {
                snap.masked.insert(id.clone(), self.data.masked_of(id));
            }
            snap.card_of_key.insert(k, card);
        }
        for id in needs.masked_ids(snap) {
            let masked = self.data.masked_of(&id);
            snap.masked.insert(id, masked);
        }
        for a in accounts.iter().map(String::as_str).chain([NO_ACCOUNT]) {
            let last = self.data.outbox_seq.get(a).copied().unwrap_or(0);
            snap.event_seq.insert(a.to_owned(), last);
        }
        Ok(())
    }

    async fn commit(&mut self, effects: &Effects) -> Step {
        // The durable engines' unique indexes on the outbox, checked before anything moves.
        let mut ids = std::collections::HashSet::new();
        for r in &effects.outbox {
            if self.data.outbox_ids.contains(&r.id) || !ids.insert(&r.id) {
                return Err(crate::machine::engine::EngineError::Failed(
                    LedgerError::corrupt("outbox", "an event id written twice"),
                ));
            }
        }
        // Rendered as the durable engines' readers do, before anything moves: a body that
        // cannot be is a failed batch the ledger suite sees.
        let mut events = Vec::with_capacity(effects.outbox.len());
        for (r, pos) in effects.outbox.iter().zip(self.data.outbox_pos + 1..) {
            let cols = (
                pos,
                r.id.clone(),
                r.account.clone(),
                r.seq,
                r.kind.to_owned(),
                r.at_us,
                None,
                r.body.clone(),
            );
            events.push(
                crate::outbox::event(cols).map_err(crate::machine::engine::EngineError::Failed)?,
            );
        }
        self.data.apply(effects, events);
        Ok(())
    }

    async fn rollback(&mut self) {}
}

/// The in-memory store (see the module's documentation).
#[derive(Clone)]
pub struct MemoryStore {
    data: Arc<Mutex<Data>>,
    // Shared (the store is an enum variant: kept small).
    ctx: Arc<Ctx>,
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStore").finish_non_exhaustive()
    }
}

impl MemoryStore {
    /// An empty ledger.
    pub fn new(hasher: PanHasher, quoter: Arc<dyn Quoter>, opts: MemoryOptions) -> Self {
        MemoryStore {
            data: Arc::default(),
            ctx: Arc::new(Ctx {
                security_cache: Default::default(),
                programs: Default::default(),
                hasher,
                quoter,
                hold_ttl: SignedDuration::from_secs(opts.hold_ttl_secs),
                stats: Arc::default(),
                health: Arc::default(),
            }),
        }
    }

    pub(crate) fn ctx(&self) -> &Ctx {
        &self.ctx
    }

    pub(crate) async fn submit(&self, op: Op) -> Result<Output> {
        let mut data = self.data.lock().await;
        let mut engine = MemEngine { data: &mut data };
        driver::run(&mut engine, &self.ctx, &[&Prepared::new(op, &self.ctx)])
            .await
            .pop()
            .unwrap_or(Err(LedgerError::Closed))
    }

    pub(crate) async fn decision(&self, key: &NetworkKey) -> Result<Option<Decision>> {
        Ok(self.data.lock().await.decisions.get(key.db_str()).cloned())
    }

    pub(crate) async fn card_by_hash(&self, hash: String) -> Result<Option<CardRecord>> {
        let data = self.data.lock().await;
        Ok(data.cards.get(&hash).map(|c| {
            c.clone().with_controls(
                c.own_controls.clone(),
                data.account_controls.get(&c.account_id),
            )
        }))
    }

    pub(crate) async fn account(&self, id: String) -> Result<Option<(Currency, Vec<Wallet>)>> {
        let data = self.data.lock().await;
        Ok(data
            .accounts
            .get(&id)
            .map(|home| (*home, data.wallets_of(&id))))
    }

    pub(crate) async fn hold(&self, key: String) -> Result<Option<Hold>> {
        Ok(self.data.lock().await.holds.get(&key).cloned())
    }

    pub(crate) async fn card_hash_by_id(&self, id: String) -> Result<Option<String>> {
        let data = self.data.lock().await;
        Ok(data.card_by_id(&id).map(|c| c.pan_hash.clone()))
    }

    pub(crate) async fn card_decisions(
        &self,
        card_id: String,
        limit: usize,
        before: Option<(i64, String)>,
    ) -> Result<Vec<Decision>> {
        let (us, key) = crate::rows::page_start(before);
        let data = self.data.lock().await;
        let mut v: Vec<Decision> = data
            .decisions
            .iter()
            .filter(|(k, d)| {
                let t = d.created_at.as_microsecond();
                d.card_id.as_deref() == Some(card_id.as_str())
                    && (t < us || (t == us && k.as_str() < key.as_str()))
            })
            .map(|(_, d)| d.clone())
            .collect();
        v.sort_by(|a, b| (b.created_at, b.key.db_str()).cmp(&(a.created_at, a.key.db_str())));
        v.truncate(limit);
        Ok(v)
    }

    pub(crate) async fn clearing_file(
        &self,
        file_id: String,
    ) -> Result<Option<crate::ClearingFileMark>> {
        Ok(self.data.lock().await.clearing_files.get(&file_id).cloned())
    }

    pub(crate) async fn approval_candidates(
        &self,
        card_id: String,
        code: String,
        limit: usize,
    ) -> Result<Vec<NetworkKey>> {
        let data = self.data.lock().await;
        let mut v: Vec<&Decision> = data
            .decisions
            .values()
            .filter(|d| {
                d.card_id.as_deref() == Some(card_id.as_str())
                    && d.approval_code.as_deref() == Some(code.as_str())
            })
            .collect();
        v.sort_by(|a, b| (b.created_at, b.key.db_str()).cmp(&(a.created_at, a.key.db_str())));
        Ok(v.into_iter().take(limit).map(|d| d.key.clone()).collect())
    }

    pub(crate) async fn card_changes(
        &self,
        card_id: String,
        limit: usize,
    ) -> Result<Vec<CardAudit>> {
        let data = self.data.lock().await;
        let mut v: Vec<CardAudit> = data
            .card_audit
            .iter()
            .filter(|a| a.card_id == card_id)
            .cloned()
            .collect();
        v.sort_by(|a, b| (b.at, &b.id).cmp(&(a.at, &a.id)));
        v.truncate(limit);
        Ok(v)
    }

    pub(crate) async fn events_after(
        &self,
        after: i64,
        unpublished: bool,
        limit: usize,
    ) -> Result<Vec<OutboxEvent>> {
        let data = self.data.lock().await;
        Ok(data
            .outbox
            .iter()
            .filter(|e| e.pos > after && (!unpublished || e.published_at.is_none()))
            .take(limit)
            .cloned()
            .collect())
    }

    pub(crate) async fn events_published(&self, positions: &[i64], now: Timestamp) -> Result<()> {
        let mut data = self.data.lock().await;
        for e in data.outbox.iter_mut() {
            if positions.contains(&e.pos) && e.published_at.is_none() {
                e.published_at = Some(now);
            }
        }
        Ok(())
    }

    pub(crate) async fn events_prune(&self, before: Timestamp) -> Result<usize> {
        let mut data = self.data.lock().await;
        let n = data.outbox.len();
        data.outbox
            .retain(|e| e.published_at.is_none_or(|t| t >= before));
        Ok(n - data.outbox.len())
    }

    pub(crate) async fn events_pending(&self) -> Result<u64> {
        let data = self.data.lock().await;
        Ok(data
            .outbox
            .iter()
            .filter(|e| e.published_at.is_none())
            .count() as u64)
    }

    pub(crate) async fn events_lease(
        &self,
        holder: &str,
        now: Timestamp,
        until: Timestamp,
    ) -> Result<bool> {
        let mut data = self.data.lock().await;
        let free = match &data.lease {
            None => true,
            Some((h, u)) => h == holder || *u <= now,
        };
        if free {
            data.lease = Some((holder.to_owned(), until));
        }
        Ok(free)
    }

    pub(crate) async fn duplicates(&self, key: &NetworkKey) -> Result<Vec<DuplicateRecord>> {
        let data = self.data.lock().await;
        let mut v: Vec<DuplicateRecord> = data
            .duplicates
            .iter()
            .filter(|((k, _), _)| k == key.db_str())
            .map(|(_, d)| d.clone())
            .collect();
        v.sort_by_key(|d| d.first_at);
        Ok(v)
    }

    pub(crate) async fn balance(&self, r: BalanceRequest) -> Result<BalanceAnswer> {
        let data = self.data.lock().await;
        let card = data.cards.get(&self.ctx.hasher.hash(&r.pan));
        let wallets = card
            .map(|c| data.wallets_of(&c.account_id))
            .unwrap_or_default();
        Ok(rules::balance::answer(
            card,
            wallets,
            r.expiry.as_deref(),
            r.business_date,
        ))
    }

    pub(crate) async fn card_security(&self, pan_hash: String) -> Result<Option<CardSecurity>> {
        let data = self.data.lock().await;
        Ok(data.cards.get(&pan_hash).map(|c| {
            let row = data.security.get(&c.id).cloned().unwrap_or_default();
            CardSecurity {
                card_id: c.id.clone(),
                expiry: c.expiry.clone(),
                pvv: row.pvv,
                pvki: row.pvki,
                psn: row.psn,
                pin_tries: row.tries,
                atc_highest: row.atc.highest.map(|s| (s & 0xFFFF) as u16),
                atc_psn: row.atc.highest.and_then(|s| u8::try_from(s >> 16).ok()),
            }
        }))
    }

    pub(crate) async fn export_balances(&self) -> Result<Vec<Wallet>> {
        Ok(self.data.lock().await.wallets.values().cloned().collect())
    }

    pub(crate) async fn holds(&self) -> Result<Vec<Hold>> {
        Ok(self.data.lock().await.holds.values().cloned().collect())
    }

    pub(crate) async fn latest_cutover(&self) -> Result<Option<Date>> {
        Ok(self.data.lock().await.cutovers.values().max().copied())
    }

    pub(crate) async fn reset_cutovers(&self, calendar: Date) -> Result<usize> {
        let mut data = self.data.lock().await;
        let before = data.cutovers.len();
        data.cutovers.retain(|_, d| *d <= calendar);
        Ok(before - data.cutovers.len())
    }

    /// What `op` left, read back (unused: the memory store never loses an answer).
    #[allow(dead_code)]
    pub(crate) async fn read_back(&self, op: &Op) -> Result<Option<Output>> {
        let data = self.data.lock().await;
        let p = Prepared::new(op.clone(), &self.ctx);
        let needs = Needs::of(&[&p]);
        let mut snap = Snapshot::default();
        data.load(&needs, &mut snap);
        rules::read_back(&State::new(&snap), &p)
    }
}

impl MemoryStore {
    pub(crate) async fn invariant_violations(&self) -> Result<Vec<String>> {
        let data = self.data.lock().await;
        let wallets: Vec<Wallet> = data.wallets.values().cloned().collect();
        let holds: Vec<Hold> = data.holds.values().cloned().collect();
        let mut sums: BTreeMap<(String, Currency), i128> = BTreeMap::new();
        for a in data.adjustments.values() {
            let adj = &a.adjustment;
            *sums
                .entry((adj.account_id.clone(), adj.currency))
                .or_default() += i128::from(adj.amount_minor);
        }
        let adjusted: Vec<_> = sums.into_iter().map(|((a, c), n)| (a, c, n)).collect();
        Ok(crate::machine::invariants::violations(
            &wallets, &holds, &adjusted,
        ))
    }
}
