//! What a batch must load before its rules run, declared by each operation.
//!
//! Loading happens in two steps, so that PostgreSQL can lock accounts in one global order
//! before it trusts what it read: first what says which accounts the batch touches (cards,
//! the decisions its reversals, completions and voids name, the expired holds, cutovers),
//! then, with those accounts' wallets locked, the decisions, holds and linked holds again.
//! SQLite and memory have one writer and read everything once.

use jiff::Timestamp;

use super::{Op, Prepared, Snapshot};
use crate::NetworkKey;

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
    /// Approval numbers the batch may hand out.
    pub(crate) approvals: usize,
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
                    n.keys.push(key(&r.key));
                    if let Some(o) = &r.original {
                        n.keys.push(key(o));
                        n.holds.push(key(o));
                    }
                    n.approvals += 1;
                }
                Op::Reverse(r) => {
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
                    n.keys.push(key(k));
                    n.holds.push(key(k));
                }
                Op::VoidAuthorization { request, .. } => {
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
                Op::Heartbeat { .. } => {}
            }
        }
        Needs {
            cards: sorted(n.cards),
            keys: sorted(n.keys),
            holds: sorted(n.holds),
            linked: sorted(n.linked),
            cutovers: sorted(n.cutovers),
            accounts: sorted(n.accounts),
            ..n
        }
    }

    /// The accounts whose wallets the batch changes, found from the first load: the cards'
    /// accounts, the accounts of the decisions its operations name, the expired holds'
    /// accounts (sorted, distinct: the order PostgreSQL locks them in).
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
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }
}
