//! What a batch loaded ([`Snapshot`]), what its operations see and change ([`State`]), and
//! what the engine writes at the end ([`Effects`]).
//!
//! The rules read and change a [`State`]: the snapshot with the batch's own changes laid over
//! it, so that a later operation of the batch sees an earlier one's hold, wallet and decision.
//! Asking for a row the batch did not load is an error (`LedgerError::Corrupt` naming the
//! table): every need is declared up front (`needs.rs`), so that the engine reads each row
//! once and the rules never wait on a database.

use std::collections::{BTreeMap, HashMap};

use jiff::civil::Date;
use jiff::Timestamp;
use money::Currency;

use super::events::Event;
use crate::atc::{AtcChange, AtcWindow};
use crate::pin::{PinState, PinTriesChange};
use crate::{
    AdjustmentRecord, CardAudit, CardRecord, Controls, Decision, DuplicateRecord, Hold, HoldStatus,
    LedgerError, NetworkKey, Result, SeedSecurity, Spend, Wallet,
};

/// A spend counter's key: (card id, period).
pub(crate) type SpendKey = (String, String);

/// Approval numbers a batch may hand out.
#[derive(Clone, Debug, Default)]
pub(crate) enum Approvals {
    /// A counter kept in the ledger (SQLite, memory): the last number used.
    Counter(u64),
    /// Numbers reserved from a shared sequence (PostgreSQL), in order.
    Reserved(Vec<u64>),
    /// None loaded: the batch approves nothing.
    #[default]
    None,
}

/// The rows a batch loaded, by key. A key present with `None` was looked up and is absent.
#[derive(Clone, Debug, Default)]
pub(crate) struct Snapshot {
    /// Cards by PAN hash.
    pub(crate) cards: HashMap<String, Option<CardRecord>>,
    /// Decisions by `NetworkKey::as_db`.
    pub(crate) decisions: HashMap<String, Option<Decision>>,
    /// Holds by the key of the decision that placed them.
    pub(crate) holds: HashMap<String, Option<Hold>>,
    /// The active holds extending an original (incremental authorizations), by its key.
    pub(crate) linked: HashMap<String, Vec<Hold>>,
    /// Wallets of the accounts the batch locked, by account (ordered by currency).
    pub(crate) wallets: HashMap<String, Vec<Wallet>>,
    /// Active holds past their expiry, for an expiry operation (oldest first).
    pub(crate) expired: Vec<Hold>,
    /// Cutovers by the key of the message that asked for them.
    pub(crate) cutovers: HashMap<String, Option<Date>>,
    /// The latest business date a recorded cutover moved to (loaded with any cutover).
    pub(crate) latest_cutover: Option<Date>,
    /// Accounts by id, for seeding: whether each exists.
    pub(crate) accounts: HashMap<String, bool>,
    /// Approval numbers.
    pub(crate) approvals: Approvals,
    /// Spend-control counters by (card id, period); `None`: no row yet (zero).
    pub(crate) spend: HashMap<SpendKey, Option<Spend>>,
    /// Adjustments by `Adjustment::db_key`; `None`: the key is unused.
    pub(crate) adjustments: HashMap<String, Option<AdjustmentRecord>>,
    /// Clearing files' marks by file id; `None`: not marked.
    pub(crate) clearing_files: HashMap<String, Option<crate::ClearingFileMark>>,
    /// PIN try counters by card id; `None`: the card has no PIN on record.
    pub(crate) pins: HashMap<String, Option<PinState>>,
    /// ATC windows by card id (a card with no row: none seen).
    pub(crate) atcs: HashMap<String, AtcWindow>,
    /// The card id of the decision under each key, for holds whose card the batch knows
    /// neither by PAN nor by a loaded decision (an expiry sweep's): their events name it (its
    /// masked PAN goes to [`Snapshot::masked`]). `None`: no decision, or one of no card.
    pub(crate) card_of_key: HashMap<String, Option<String>>,
    /// Masked PANs by card id, of cards the batch's events name but it did not load by PAN (a
    /// void, a capture or a reversal without DE 2, an operator's PIN tries reset, an expired
    /// hold's); `None`: no such card, or one from before masked PANs were kept.
    pub(crate) masked: HashMap<String, Option<String>>,
    /// The last event `seq` of each locked account and of `outbox::NO_ACCOUNT` (0: none
    /// yet), read under the accounts' locks.
    pub(crate) event_seq: HashMap<String, i64>,
}

/// The snapshot with the batch's changes over it. Cheap to clone (the snapshot is shared):
/// the executor takes a copy before each operation when it has to isolate a failing one.
#[derive(Clone, Debug)]
pub(crate) struct State<'s> {
    snap: &'s Snapshot,
    decisions: BTreeMap<String, Decision>,
    holds: BTreeMap<String, Hold>,
    /// Holds placed by this batch that extend an original, by the original's key.
    new_linked: HashMap<String, Vec<String>>,
    /// Wallets changed or created, by (account, currency); created ones also in
    /// `wallets_created`.
    wallets: BTreeMap<(String, Currency), Wallet>,
    wallets_created: Vec<(String, Currency)>,
    duplicates: Vec<(DuplicateRecord, String)>,
    cutovers: Vec<(String, Date, Timestamp)>,
    heartbeat: Option<Timestamp>,
    accounts_created: Vec<(String, Currency)>,
    cards_created: Vec<CardRecord>,
    cards_changed: Vec<CardRecord>,
    card_audit: Vec<CardAudit>,
    adjustments: Vec<AdjustmentRecord>,
    clearing_files: Vec<crate::ClearingFileMark>,
    approvals_used: usize,
    spend: BTreeMap<SpendKey, Spend>,
    account_controls: Vec<(String, Option<Controls>)>,
    pin_tries: BTreeMap<String, PinTriesChange>,
    atc: BTreeMap<String, AtcChange>,
    security_new: Vec<SeedSecurity>,
    pub(crate) events: Vec<Event>,
}

fn unloaded(table: &'static str) -> LedgerError {
    LedgerError::corrupt(
        table,
        "a batch read a row it did not declare (a bug in its needs)",
    )
}

impl<'s> State<'s> {
    pub(crate) fn new(snap: &'s Snapshot) -> Self {
        State {
            snap,
            decisions: BTreeMap::new(),
            holds: BTreeMap::new(),
            new_linked: HashMap::new(),
            wallets: BTreeMap::new(),
            wallets_created: Vec::new(),
            duplicates: Vec::new(),
            cutovers: Vec::new(),
            heartbeat: None,
            accounts_created: Vec::new(),
            cards_created: Vec::new(),
            cards_changed: Vec::new(),
            card_audit: Vec::new(),
            adjustments: Vec::new(),
            clearing_files: Vec::new(),
            approvals_used: 0,
            spend: BTreeMap::new(),
            account_controls: Vec::new(),
            pin_tries: BTreeMap::new(),
            atc: BTreeMap::new(),
            security_new: Vec::new(),
            events: Vec::new(),
        }
    }

    pub(crate) fn snapshot(&self) -> &'s Snapshot {
        self.snap
    }

    /// The card with `pan_hash`, if any.
    pub(crate) fn card(&self, pan_hash: &str) -> Result<Option<&CardRecord>> {
        if let Some(c) = self
            .cards_changed
            .iter()
            .chain(&self.cards_created)
            .find(|c| c.pan_hash == pan_hash)
        {
            return Ok(Some(c));
        }
        self.snap
            .cards
            .get(pan_hash)
            .map(Option::as_ref)
            .ok_or_else(|| unloaded("cards"))
    }

    /// The card with id `id`, if the batch loaded or created it (for an event's card).
    pub(crate) fn card_by_id(&self, id: &str) -> Option<&CardRecord> {
        self.cards_created
            .iter()
            .find(|c| c.id == id)
            .or_else(|| self.snap.cards.values().flatten().find(|c| c.id == id))
    }

    /// The masked PAN of card `id`: of a card the batch loaded or made, else of one it looked
    /// up for its events ([`Snapshot::masked`]).
    pub(crate) fn masked_of(&self, id: &str) -> Option<&str> {
        match self.card_by_id(id) {
            Some(c) => Some(c.masked.as_str()),
            None => self.snap.masked.get(id).and_then(Option::as_deref),
        }
    }

    /// The card id of the decision under `key`, looked up for a hold's event
    /// ([`Snapshot::card_of_key`]).
    pub(crate) fn card_of_key(&self, key: &NetworkKey) -> Option<&str> {
        self.snap
            .card_of_key
            .get(key.db_str())
            .and_then(Option::as_deref)
    }

    /// The decision under `key`, if any.
    pub(crate) fn decision(&self, key: &NetworkKey) -> Result<Option<&Decision>> {
        let k = key.db_str();
        if let Some(d) = self.decisions.get(k) {
            return Ok(Some(d));
        }
        self.snap
            .decisions
            .get(k)
            .map(Option::as_ref)
            .ok_or_else(|| unloaded("decisions"))
    }

    /// Records a new decision, or the new state of one that exists.
    pub(crate) fn put_decision(&mut self, d: Decision) {
        self.decisions.insert(d.key.as_db(), d);
    }

    /// A hold as loaded (by key, as an expired hold, or as a linked hold), if it was.
    fn loaded_hold(&self, k: &str) -> Option<&'s Hold> {
        self.snap
            .holds
            .get(k)
            .and_then(Option::as_ref)
            .or_else(|| self.snap.expired.iter().find(|h| h.key.db_str() == k))
            .or_else(|| {
                self.snap
                    .linked
                    .values()
                    .flatten()
                    .find(|h| h.key.db_str() == k)
            })
    }

    /// The hold placed by `key`, if any.
    pub(crate) fn hold(&self, key: &NetworkKey) -> Result<Option<&Hold>> {
        let k = key.db_str();
        if let Some(h) = self.holds.get(k) {
            return Ok(Some(h));
        }
        if let Some(h) = self.loaded_hold(k) {
            return Ok(Some(h));
        }
        self.snap
            .holds
            .get(k)
            .map(Option::as_ref)
            .ok_or_else(|| unloaded("holds"))
    }

    /// Records a new hold, or the new state of one that exists.
    pub(crate) fn put_hold(&mut self, h: Hold) {
        let k = h.key.as_db();
        let new = !self.holds.contains_key(&k) && self.loaded_hold(&k).is_none();
        if new {
            if let Some(o) = &h.original {
                self.new_linked
                    .entry(o.as_db())
                    .or_default()
                    .push(k.clone());
            }
        }
        self.holds.insert(k, h);
    }

    /// The active holds extending `original` (its incremental authorizations), as this
    /// batch sees them, oldest first.
    pub(crate) fn active_linked(&self, original: &NetworkKey) -> Result<Vec<Hold>> {
        let k = original.db_str();
        let loaded = self.snap.linked.get(k).ok_or_else(|| unloaded("holds"))?;
        let mut out = Vec::new();
        let keys = loaded.iter().map(|h| h.key.clone()).chain(
            self.new_linked
                .get(k)
                .into_iter()
                .flatten()
                .filter_map(|s| self.holds.get(s).map(|h| h.key.clone())),
        );
        for key in keys {
            if let Some(h) = self.hold(&key)?.filter(|h| h.status == HoldStatus::Active) {
                if !out.iter().any(|o: &Hold| o.key == h.key) {
                    out.push(h.clone());
                }
            }
        }
        out.sort_by(|a, b| (a.created_at, &a.key).cmp(&(b.created_at, &b.key)));
        Ok(out)
    }

    /// The wallets of `account` as this batch sees them, ordered by currency; the account
    /// must have been locked.
    pub(crate) fn wallets(&self, account: &str) -> Result<Vec<Wallet>> {
        let loaded = self
            .snap
            .wallets
            .get(account)
            .ok_or_else(|| unloaded("wallets"))?;
        let mut out: Vec<Wallet> = loaded
            .iter()
            .map(|w| {
                self.wallets
                    .get(&(w.account_id.clone(), w.currency))
                    .unwrap_or(w)
                    .clone()
            })
            .collect();
        for (a, c) in &self.wallets_created {
            if a == account {
                if let Some(w) = self.wallets.get(&(a.clone(), *c)) {
                    out.push(w.clone());
                }
            }
        }
        out.sort_by_key(|w| w.currency);
        Ok(out)
    }

    /// One wallet of `account`, if it has one in `currency`.
    pub(crate) fn wallet(&self, account: &str, currency: Currency) -> Result<Option<Wallet>> {
        Ok(self
            .wallets(account)?
            .into_iter()
            .find(|w| w.currency == currency))
    }

    /// Records a wallet's new balance and held amount (or a wallet created).
    pub(crate) fn put_wallet(&mut self, w: Wallet) -> Result<()> {
        let key = (w.account_id.clone(), w.currency);
        let exists = self
            .snap
            .wallets
            .get(&w.account_id)
            .ok_or_else(|| unloaded("wallets"))?
            .iter()
            .any(|x| x.currency == w.currency);
        if !exists && !self.wallets_created.contains(&key) {
            self.wallets_created.push(key.clone());
        }
        self.wallets.insert(key, w);
        Ok(())
    }

    /// The next approval number.
    pub(crate) fn next_approval_number(&mut self) -> Result<u64> {
        let n = match &self.snap.approvals {
            Approvals::Counter(last) => last
                .checked_add(self.approvals_used as u64 + 1)
                .ok_or_else(|| LedgerError::corrupt("meta", "approval counter overflow"))?,
            Approvals::Reserved(v) => *v
                .get(self.approvals_used)
                .ok_or_else(|| unloaded("approval_seq"))?,
            Approvals::None => return Err(unloaded("approval_seq")),
        };
        self.approvals_used += 1;
        Ok(n)
    }

    /// A card's counter for `period`, as this batch sees it (zero when it has no row yet).
    pub(crate) fn spend(&self, card_id: &str, period: &str) -> Result<Spend> {
        let key = (card_id.to_owned(), period.to_owned());
        if let Some(s) = self.spend.get(&key) {
            return Ok(s.clone());
        }
        match self.snap.spend.get(&key) {
            Some(Some(s)) => Ok(s.clone()),
            Some(None) => Ok(Spend {
                card_id: key.0,
                period: key.1,
                ..Spend::default()
            }),
            None => Err(unloaded("spend")),
        }
    }

    /// Records a counter's new value.
    pub(crate) fn put_spend(&mut self, s: Spend) {
        self.spend.insert((s.card_id.clone(), s.period.clone()), s);
    }

    /// A card's PIN try counter as this batch sees it (`None`: no PIN on record).
    pub(crate) fn pin_tries(&self, card_id: &str) -> Result<Option<u32>> {
        if let Some(c) = self.pin_tries.get(card_id) {
            return Ok(Some(c.tries));
        }
        match self.snap.pins.get(card_id) {
            Some(p) => Ok(p.as_ref().map(|p| p.tries)),
            None => Err(unloaded("card_security")),
        }
    }

    /// Records a PIN try counter's new value.
    pub(crate) fn put_pin_tries(&mut self, c: PinTriesChange) {
        self.pin_tries.insert(c.card_id.clone(), c);
    }

    /// A card's ATC window as this batch sees it.
    pub(crate) fn atc(&self, card_id: &str) -> Result<AtcWindow> {
        if let Some(c) = self.atc.get(card_id) {
            return Ok(c.window);
        }
        self.snap
            .atcs
            .get(card_id)
            .copied()
            .ok_or_else(|| unloaded("card_security"))
    }

    /// The change this batch made to a card's ATC window so far, if any (to undo one).
    pub(crate) fn atc_change(&self, card_id: &str) -> Option<AtcChange> {
        self.atc.get(card_id).cloned()
    }

    /// Records a card's ATC window's new value; `None` takes back this batch's change
    /// (`before` as [`State::atc_change`] gave it).
    pub(crate) fn put_atc(&mut self, card_id: &str, c: Option<AtcChange>) {
        match c {
            Some(c) => self.atc.insert(card_id.to_owned(), c),
            None => self.atc.remove(card_id),
        };
    }

    /// Records a card's security row to seed (written unless the card has one).
    pub(crate) fn create_security(&mut self, s: SeedSecurity) {
        self.security_new.push(s);
    }

    /// Sets (or, with `None`, clears) an account's default controls.
    pub(crate) fn set_account_controls(&mut self, account: &str, c: Option<Controls>) {
        self.account_controls.push((account.to_owned(), c));
    }

    /// Counts a duplicate transmission.
    pub(crate) fn record_duplicate(&mut self, d: DuplicateRecord, fingerprint: String) {
        self.duplicates.push((d, fingerprint));
    }

    /// The date the cutover asked for by `key` moved to, if recorded.
    pub(crate) fn cutover(&self, key: &str) -> Result<Option<Date>> {
        if let Some((_, d, _)) = self.cutovers.iter().find(|(k, _, _)| k == key) {
            return Ok(Some(*d));
        }
        self.snap
            .cutovers
            .get(key)
            .copied()
            .ok_or_else(|| unloaded("cutovers"))
    }

    /// The latest recorded cutover date, this batch's included.
    pub(crate) fn latest_cutover(&self) -> Option<Date> {
        self.cutovers
            .iter()
            .map(|(_, d, _)| *d)
            .chain(self.snap.latest_cutover)
            .max()
    }

    /// Records a cutover.
    pub(crate) fn put_cutover(&mut self, key: String, date: Date, now: Timestamp) {
        self.cutovers.push((key, date, now));
    }

    /// Records a heartbeat.
    pub(crate) fn heartbeat(&mut self, now: Timestamp) {
        self.heartbeat = Some(now);
    }

    /// Whether the account exists (seeding).
    pub(crate) fn account_exists(&self, id: &str) -> Result<bool> {
        if self.accounts_created.iter().any(|(a, _)| a == id) {
            return Ok(true);
        }
        self.snap
            .accounts
            .get(id)
            .copied()
            .ok_or_else(|| unloaded("accounts"))
    }

    /// Creates an account with its wallets (seeding).
    pub(crate) fn create_account(&mut self, id: &str, home: Currency, wallets: &[Wallet]) {
        self.accounts_created.push((id.to_owned(), home));
        for w in wallets {
            let key = (w.account_id.clone(), w.currency);
            self.wallets_created.push(key.clone());
            self.wallets.insert(key, w.clone());
        }
    }

    /// Creates a card unless its hash is known (seeding).
    pub(crate) fn create_card(&mut self, c: CardRecord) {
        let known = self
            .snap
            .cards
            .get(&c.pan_hash)
            .is_some_and(Option::is_some)
            || self.cards_created.iter().any(|x| x.pan_hash == c.pan_hash);
        if !known {
            self.cards_created.push(c);
        }
    }

    /// Records a card's new status and controls (an existing card), with the audit rows that
    /// say who changed what.
    pub(crate) fn change_card(&mut self, c: CardRecord, audit: Vec<CardAudit>) {
        self.cards_changed.retain(|x| x.pan_hash != c.pan_hash);
        self.cards_changed.push(c);
        self.card_audit.extend(audit);
    }

    /// The adjustment under `key` (`Adjustment::db_key`), if recorded.
    pub(crate) fn adjustment(&self, key: &str) -> Result<Option<&AdjustmentRecord>> {
        if let Some(a) = self
            .adjustments
            .iter()
            .find(|a| a.adjustment.db_key() == key)
        {
            return Ok(Some(a));
        }
        self.snap
            .adjustments
            .get(key)
            .map(Option::as_ref)
            .ok_or_else(|| unloaded("adjustments"))
    }

    /// Records an adjustment (its wallet is changed with `put_wallet`).
    pub(crate) fn put_adjustment(&mut self, a: AdjustmentRecord) {
        self.adjustments.push(a);
    }

    /// The mark of clearing file `file_id`, if it was marked imported.
    pub(crate) fn clearing_file(&self, file_id: &str) -> Result<Option<&crate::ClearingFileMark>> {
        if let Some(m) = self.clearing_files.iter().find(|m| m.file_id == file_id) {
            return Ok(Some(m));
        }
        self.snap
            .clearing_files
            .get(file_id)
            .map(Option::as_ref)
            .ok_or_else(|| unloaded("clearing_files"))
    }

    /// Marks a clearing file imported.
    pub(crate) fn put_clearing_file(&mut self, m: crate::ClearingFileMark) {
        self.clearing_files.push(m);
    }

    /// The adjustments this batch recorded, in order.
    pub(crate) fn new_adjustments(&self) -> &[AdjustmentRecord] {
        &self.adjustments
    }

    /// What the batch changed, for the engine to write.
    pub(crate) fn effects(&self) -> Effects {
        let mut e = Effects::default();
        for (k, d) in &self.decisions {
            if self.snap.decisions.get(k).is_some_and(Option::is_some) {
                e.decisions_changed.push(d.clone());
            } else {
                e.decisions_new.push(d.clone());
            }
        }
        for (k, h) in &self.holds {
            let existed = self.loaded_hold(k).is_some();
            if existed {
                e.holds_changed.push(h.clone());
            } else {
                e.holds_new.push(h.clone());
            }
        }
        for (key, w) in &self.wallets {
            if self.wallets_created.contains(key) {
                e.wallets_new.push(w.clone());
            } else {
                e.wallets_changed.push(w.clone());
            }
        }
        e.accounts_new.clone_from(&self.accounts_created);
        e.cards_new.clone_from(&self.cards_created);
        e.cards_changed.clone_from(&self.cards_changed);
        e.card_audit.clone_from(&self.card_audit);
        e.adjustments.clone_from(&self.adjustments);
        e.clearing_files.clone_from(&self.clearing_files);
        e.duplicates.clone_from(&self.duplicates);
        e.cutovers.clone_from(&self.cutovers);
        e.heartbeat = self.heartbeat;
        e.approval_counter = match &self.snap.approvals {
            Approvals::Counter(last) if self.approvals_used > 0 => {
                Some(last + self.approvals_used as u64)
            }
            _ => None,
        };
        e.spend = self.spend.values().cloned().collect();
        e.account_controls.clone_from(&self.account_controls);
        e.pin_tries = self.pin_tries.values().cloned().collect();
        e.atc = self.atc.values().cloned().collect();
        e.security_new.clone_from(&self.security_new);
        e.events.clone_from(&self.events);
        e
    }

    /// The holds and wallets this batch changed or created.
    pub(crate) fn changed(&self) -> (impl Iterator<Item = &Hold>, impl Iterator<Item = &Wallet>) {
        (self.holds.values(), self.wallets.values())
    }
}

/// What a batch writes: rows to insert, rows whose moving parts changed, and the events that
/// say so (the outbox rows, written in the same transaction).
#[derive(Clone, Debug, Default)]
pub(crate) struct Effects {
    pub(crate) accounts_new: Vec<(String, Currency)>,
    pub(crate) cards_new: Vec<CardRecord>,
    /// Cards whose status or own controls changed (written: status, controls).
    pub(crate) cards_changed: Vec<CardRecord>,
    /// Who changed what on a card.
    pub(crate) card_audit: Vec<CardAudit>,
    /// Adjustments recorded.
    pub(crate) adjustments: Vec<AdjustmentRecord>,
    /// Clearing files marked imported.
    pub(crate) clearing_files: Vec<crate::ClearingFileMark>,
    pub(crate) wallets_new: Vec<Wallet>,
    pub(crate) wallets_changed: Vec<Wallet>,
    pub(crate) decisions_new: Vec<Decision>,
    pub(crate) decisions_changed: Vec<Decision>,
    pub(crate) holds_new: Vec<Hold>,
    pub(crate) holds_changed: Vec<Hold>,
    pub(crate) duplicates: Vec<(DuplicateRecord, String)>,
    pub(crate) cutovers: Vec<(String, Date, Timestamp)>,
    pub(crate) heartbeat: Option<Timestamp>,
    /// The approval counter's new value (SQLite, memory).
    pub(crate) approval_counter: Option<u64>,
    /// Spend counters to write (insert or replace).
    pub(crate) spend: Vec<Spend>,
    /// Accounts' default controls set (`None`: cleared).
    pub(crate) account_controls: Vec<(String, Option<Controls>)>,
    /// PIN try counters to write (issue 23).
    pub(crate) pin_tries: Vec<PinTriesChange>,
    /// ATC windows to write (insert or update the card's row).
    pub(crate) atc: Vec<AtcChange>,
    /// Cards' security rows to insert (seeding), unless the card has one.
    pub(crate) security_new: Vec<SeedSecurity>,
    pub(crate) events: Vec<Event>,
    /// The events as outbox rows, numbered and rendered by the commit driver.
    pub(crate) outbox: Vec<crate::outbox::OutboxRow>,
    /// Each account's new last event `seq`.
    pub(crate) outbox_seq: Vec<(String, i64)>,
}

impl Effects {
    /// Nothing to write (a batch of repeats, balance reads, failures).
    pub(crate) fn is_empty(&self) -> bool {
        self.accounts_new.is_empty()
            && self.cards_new.is_empty()
            && self.cards_changed.is_empty()
            && self.card_audit.is_empty()
            && self.adjustments.is_empty()
            && self.clearing_files.is_empty()
            && self.wallets_new.is_empty()
            && self.wallets_changed.is_empty()
            && self.decisions_new.is_empty()
            && self.decisions_changed.is_empty()
            && self.holds_new.is_empty()
            && self.holds_changed.is_empty()
            && self.duplicates.is_empty()
            && self.cutovers.is_empty()
            && self.heartbeat.is_none()
            && self.approval_counter.is_none()
            && self.spend.is_empty()
            && self.account_controls.is_empty()
            && self.pin_tries.is_empty()
            && self.atc.is_empty()
            && self.security_new.is_empty()
    }
}
