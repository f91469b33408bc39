//! What a batch must load before its rules run, declared by each operation.
//!
//! Loading happens in two steps, so that PostgreSQL can lock accounts in one global order
//! before it trusts what it read: first what says which accounts the batch touches (cards,
//! the decisions its reversals, completions and voids name, the expired holds, cutovers),
//! then, with those accounts' wallets locked, the decisions, holds and linked holds again.
//! SQLite and memory have one writer and read everything once.

use jiff::civil::Date;
use jiff::Timestamp;

use super::state::SpendKey;
use super::{Op, Prepared, Snapshot};
use crate::{NetworkKey, TransactionKind};

/// Rows a batch reads, by key (sorted, distinct).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Needs {
    /// Cards by PAN hash.
    pub(crate) cards: Vec<String>,
    /// Decisions by key.
    pub(crate) keys: Vec<String>,
    /// Holds by key.
    pub(crate) holds: Vec<String>,
    /// Active holds extending each of these originals.
    pub(crate) linked: Vec<String>,
    /// Expired holds: (now, at most).
    pub(crate) expire: Option<(Timestamp, usize)>,
    /// Cutovers by key (with the latest recorded one).
    pub(crate) cutovers: Vec<String>,
    /// Accounts whose existence matters (seeding).
    pub(crate) accounts: Vec<String>,
    /// Accounts whose wallets an operation changes directly (adjustments): locked.
    pub(crate) lock: Vec<String>,
    /// Adjustments by `Adjustment::db_key` (read under the accounts' locks).
    pub(crate) adjustments: Vec<String>,
    /// Clearing files' marks by file id.
    pub(crate) clearing_files: Vec<String>,
    /// Approval numbers the batch may hand out.
    pub(crate) approvals: usize,
    /// Where the spend counters a batch reads come from, known once cards and holds are
    /// loaded ([`Needs::spend_keys`]).
    pub(crate) spend_from: Vec<SpendSource>,
    /// PIN try counters by card id, known up front (an operator's reset): loaded with the
    /// first step (their accounts are locked) and again under the locks.
    pub(crate) pin_cards: Vec<String>,
    /// PIN try counters of the cards of these PAN hashes (authorizations that carry a PIN
    /// verdict), known once the cards are loaded ([`Needs::pin_keys`]).
    pub(crate) pin_from: Vec<String>,
    /// ATC windows of the cards of these PAN hashes (authorizations and PIN tries that carry
    /// the counter of a verified cryptogram), known once the cards are loaded
    /// ([`Needs::atc_keys`]).
    pub(crate) atc_from: Vec<String>,
}

/// What says which spend-control counters an operation reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum SpendSource {
    /// An authorization: its card's controls, for its business date (and cash or not).
    Auth {
        pan_hash: String,
        business_date: Date,
        cash: bool,
    },
    /// A release of the hold placed under this key, and of the holds extending it: the
    /// counters they were counted in.
    Release(String),
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort_unstable();
    v.dedup();
    v
}

impl Needs {
    /// What `ops` read.
    pub(crate) fn of(ops: &[&Prepared]) -> Needs {
        let mut n = Needs::default();
        let key = |k: &NetworkKey| k.as_db();
        for p in ops {
            if let Some(h) = &p.pan_hash {
                n.cards.push(h.clone());
            }
            match &p.op {
                Op::Authorize(r) => {
                    if let Some(h) = &p.pan_hash {
                        n.spend_from.push(SpendSource::Auth {
                            pan_hash: h.clone(),
                            business_date: r.business_date,
                            cash: r.kind == TransactionKind::Cash,
                        });
                    }
                    n.keys.push(key(&r.key));
                    if let Some(o) = &r.original {
                        n.keys.push(key(o));
                        n.holds.push(key(o));
                    }
                    n.approvals += 1;
                    if r.security.pin != crate::PinVerdict::NotChecked {
                        if let Some(h) = &p.pan_hash {
                            n.pin_from.push(h.clone());
                        }
                    }
                    if r.security.atc.is_some() {
                        n.atc_from.extend(p.pan_hash.iter().cloned());
                    }
                }
                Op::Reverse(r) => {
                    n.spend_from.push(SpendSource::Release(key(&r.original)));
                    n.keys.extend([key(&r.key), key(&r.original)]);
                    n.holds.push(key(&r.original));
                    n.linked.push(key(&r.original));
                }
                Op::Advise(r) => {
                    n.keys.push(key(&r.key));
                    if let Some(o) = &r.original {
                        n.keys.push(key(o));
                        n.holds.push(key(o));
                        n.linked.push(key(o));
                    }
                }
                Op::Capture(r) => {
                    n.keys.extend([key(&r.key), key(&r.original)]);
                    n.holds.push(key(&r.original));
                    n.linked.push(key(&r.original));
                }
                Op::VoidTimedOut { key: k, .. } => {
                    n.spend_from.push(SpendSource::Release(key(k)));
                    n.keys.push(key(k));
                    n.holds.push(key(k));
                }
                Op::VoidAuthorization { request, .. } => {
                    n.spend_from.push(SpendSource::Release(key(&request.key)));
                    n.keys.push(key(&request.key));
                    n.holds.push(key(&request.key));
                }
                Op::Expire { now, limit } => {
                    let (t, l) = n.expire.unwrap_or((*now, 0));
                    n.expire = Some((t.max(*now), l + limit));
                }
                Op::Seed(s) => {
                    n.accounts.extend(s.accounts.iter().map(|a| a.id.clone()));
                    n.cards.extend(s.cards.iter().map(|c| c.pan_hash.clone()));
                }
                Op::Cutover { key, .. } => n.cutovers.push(key.clone()),
                Op::ResetPinTries {
                    card_id, pan_hash, ..
                } => {
                    n.pin_cards.push(card_id.clone());
                    n.cards.extend(pan_hash.iter().cloned());
                }
                Op::PinTry { security, .. } => {
                    if security.pin != crate::PinVerdict::NotChecked {
                        if let Some(h) = &p.pan_hash {
                            n.pin_from.push(h.clone());
                        }
                    }
                    if security.atc.is_some() {
                        n.atc_from.extend(p.pan_hash.iter().cloned());
                    }
                }
                Op::Heartbeat { .. } => {}
                Op::ChangeCard { pan_hash, .. } => n.cards.push(pan_hash.clone()),
                Op::Adjust(a) => {
                    n.lock.push(a.account_id.clone());
                    n.adjustments.push(a.db_key());
                }
                Op::Present {
                    presentment,
                    candidates,
                } => {
                    // A key that cannot be made fails the operation in its rule.
                    if let Ok(k) = presentment.key() {
                        n.keys.push(key(&k));
                    }
                    for c in candidates {
                        n.keys.push(key(c));
                        n.holds.push(key(c));
                        n.spend_from.push(SpendSource::Release(key(c)));
                    }
                }
                Op::MarkClearingFile {
                    file_id, key: k, ..
                } => {
                    n.keys.push(key(k));
                    n.clearing_files.push(file_id.clone());
                }
            }
        }
        Needs {
            cards: sorted(n.cards),
            keys: sorted(n.keys),
            holds: sorted(n.holds),
            linked: sorted(n.linked),
            cutovers: sorted(n.cutovers),
            accounts: sorted(n.accounts),
            lock: sorted(n.lock),
            adjustments: sorted(n.adjustments),
            clearing_files: sorted(n.clearing_files),
            pin_cards: sorted(n.pin_cards),
            pin_from: sorted(n.pin_from),
            atc_from: sorted(n.atc_from),
            ..n
        }
    }

    /// The accounts whose wallets the batch changes, found from the first load: the cards'
    /// accounts, the accounts of the decisions its operations name, the expired holds'
    /// accounts (sorted, distinct: the order PostgreSQL locks them in).
    /// The spend counters the batch reads, from what `snap` holds so far (cards, holds,
    /// linked holds: load them first). Empty unless a card has controls that count, or a
    /// released hold was counted.
    pub(crate) fn spend_keys(&self, snap: &Snapshot) -> Vec<SpendKey> {
        let mut out = Vec::new();
        for s in &self.spend_from {
            match s {
                SpendSource::Auth {
                    pan_hash,
                    business_date,
                    cash,
                } => {
                    let Some(Some(card)) = snap.cards.get(pan_hash) else {
                        continue;
                    };
                    if let Some(c) = &card.controls {
                        for p in c.periods(*business_date, *cash) {
                            out.push((card.id.clone(), p));
                        }
                    }
                }
                SpendSource::Release(k) => {
                    let own = snap.holds.get(k).and_then(Option::as_ref);
                    let linked = snap.linked.get(k).into_iter().flatten();
                    for h in own.into_iter().chain(linked) {
                        if let Some(c) = &h.counted {
                            for p in &c.periods {
                                out.push((c.card_id.clone(), p.clone()));
                            }
                        }
                    }
                }
            }
        }
        out.sort_unstable();
        out.dedup();
        out
    }

    /// The PIN try counters the batch reads (card ids, sorted, distinct): the resets' and the
    /// cards' of the authorizations with a PIN verdict (load the cards first).
    pub(crate) fn pin_keys(&self, snap: &Snapshot) -> Vec<String> {
        let mut out = self.pin_cards.clone();
        for h in &self.pin_from {
            if let Some(Some(card)) = snap.cards.get(h) {
                out.push(card.id.clone());
            }
        }
        out.sort_unstable();
        out.dedup();
        out
    }

    /// The keys of the holds whose card the batch knows neither by PAN nor by a loaded
    /// decision, whose events must still name it ([`Snapshot::card_of_key`]; load the holds
    /// and decisions first). Empty for a batch of authorizations and of reversals with DE 2.
    pub(crate) fn card_of_keys(&self, snap: &Snapshot) -> Vec<String> {
        let mut out: Vec<String> = snapshot_holds(snap)
            .filter(|h| h.counted.is_none())
            .filter(|h| {
                !matches!(
                    snap.decisions.get(h.key.db_str()),
                    Some(Some(d)) if d.card_id.is_some()
                )
            })
            .map(|h| h.key.as_db())
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }

    /// The cards (ids) the batch's events may name but it did not load by PAN
    /// ([`Snapshot::masked`]): those of its holds and decisions, and the cards of PIN resets.
    pub(crate) fn masked_ids(&self, snap: &Snapshot) -> Vec<String> {
        let mut out: Vec<&str> = snapshot_holds(snap)
            .filter_map(|h| h.counted.as_ref().map(|c| c.card_id.as_str()))
            .chain(
                snap.decisions
                    .values()
                    .flatten()
                    .filter_map(|d| d.card_id.as_deref()),
            )
            .chain(self.pin_cards.iter().map(String::as_str))
            .collect();
        if out.is_empty() {
            // A batch of new authorizations: nothing named, nothing built.
            return Vec::new();
        }
        out.sort_unstable();
        out.dedup();
        let loaded: std::collections::HashSet<&str> = snap
            .cards
            .values()
            .flatten()
            .map(|c| c.id.as_str())
            .collect();
        out.into_iter()
            .filter(|id| !loaded.contains(id))
            .map(str::to_owned)
            .collect()
    }

    /// The ATC windows the batch reads (card ids, sorted, distinct): the cards' of the
    /// requests with a verified cryptogram's counter (load the cards first; their accounts
    /// are locked with the cards').
    pub(crate) fn atc_keys(&self, snap: &Snapshot) -> Vec<String> {
        let mut out: Vec<String> = self
            .atc_from
            .iter()
            .filter_map(|h| snap.cards.get(h).and_then(Option::as_ref))
            .map(|c| c.id.clone())
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }

    pub(crate) fn accounts_to_lock(&self, snap: &Snapshot) -> Vec<String> {
        let mut out: Vec<String> = snap
            .cards
            .values()
            .flatten()
            .map(|c| c.account_id.clone())
            .chain(
                snap.decisions
                    .values()
                    .flatten()
                    .filter_map(|d| d.account_id.clone()),
            )
            .chain(snap.expired.iter().map(|h| h.account_id.clone()))
            .chain(self.lock.iter().cloned())
            .chain(snap.pins.values().flatten().map(|p| p.account_id.clone()))
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }
}

/// Every hold the snapshot holds: by key, linked to an original, and expired.
fn snapshot_holds(snap: &Snapshot) -> impl Iterator<Item = &crate::Hold> {
    snap.holds
        .values()
        .flatten()
        .chain(snap.linked.values().flatten())
        .chain(snap.expired.iter())
}
