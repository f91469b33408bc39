//! `gateway check-ledger`: the ledger against what the network was told.
//!
//! Reads the ledger's invariants (held = sum of active holds, balance = opening - captured)
//! and, given the load generator's record (`harness load --record FILE`, one JSON line per
//! request), checks every answer against the stored decisions and holds:
//!
//! - every approval received has its decision (same DE 38) and exactly one hold, active
//!   unless a reversal the switch acknowledged released it;
//! - a decline or a 91 the network received has no active hold behind it;
//! - a request the network never got an answer for and reversed holds nothing;
//! - every hold has a recorded approval, and every active hold of the record's acquirers
//!   is one the network was told about (no hold without a decision anyone saw).
//!
//! Two states that break none of these rules after a crash or a lost connection are listed
//! apart, as `explained`, not as violations (issue 25, item 8):
//!
//! - an approval committed while its request was in flight when its connection died: the
//!   network never received it, its hold stays active until the network reverses it or the
//!   hold expires;
//! - a hold released by a reversal whose own answer was lost: the network received the
//!   approval and sent the reversal, the ledger applied it, and only the acknowledgement
//!   went missing (the network repeats the reversal, which is answered from its record).
//!
//! The record's format belongs to the harness; only the fields read here are named.

use std::collections::{BTreeMap, HashMap, HashSet};

use futures::{StreamExt, TryStreamExt};
use ledger::{Decision, HoldStatus, NetworkKey, ResponseCode, Store};
use serde::{Deserialize, Serialize};

/// Most violations listed in the report (the count is always complete).
pub const MAX_LISTED: usize = 50;
/// Decisions looked up at once.
const LOOKUPS_IN_FLIGHT: usize = 16;

/// The fields of a harness record line this check reads.
#[derive(Debug, Clone, Deserialize)]
pub struct Recorded {
    /// `approve`, `fx`, `reverse`, `reversal`, `repeat`.
    pub kind: String,
    /// Request MTI as last sent.
    pub mti: String,
    /// DE 32.
    pub de32: String,
    /// DE 11.
    pub de11: String,
    /// DE 7.
    pub de7: String,
    /// For a reversal: `de11/de7` of its original.
    #[serde(default)]
    pub original: Option<String>,
    /// Whether an answer came.
    pub answered: bool,
    /// Whether it was in flight on a connection that died.
    #[serde(default)]
    pub lost: bool,
    /// DE 39.
    #[serde(default)]
    pub de39: Option<String>,
    /// DE 38.
    #[serde(default)]
    pub de38: Option<String>,
    /// DE 10.
    #[serde(default)]
    pub de10: Option<String>,
}

/// What the check found.
#[derive(Debug, Default, Serialize)]
pub struct AuditReport {
    /// No violation.
    pub ok: bool,
    /// How many violations.
    pub violation_count: usize,
    /// The first [`MAX_LISTED`] violations.
    pub violations: Vec<String>,
    /// How many states a crash or a lost connection explains (not violations).
    pub explained_count: usize,
    /// The first [`MAX_LISTED`] of them, each saying what explains it.
    pub explained: Vec<String>,
    /// Record lines read.
    pub records: usize,
    /// Approvals received and checked against the ledger.
    pub approvals_checked: usize,
    /// Declines and 91s received and checked.
    pub declines_checked: usize,
    /// Unanswered requests that a reversal settled.
    pub lost_reversed_checked: usize,
    /// Holds in the ledger, and of those active.
    pub holds: usize,
    /// Active holds.
    pub active_holds: usize,
    /// For every converted approval received (`de11/de7`): the rate-set version of its hold.
    pub versions: BTreeMap<String, String>,
    /// Events in the ledger's outbox (issue 20).
    pub events: usize,
    /// Authorization decisions whose event was looked for in the outbox.
    pub events_checked: usize,
}

/// The outbox (issue 20): ids unique, each account's `seq` +1 each event from its first one
/// kept (pruning removes the oldest), each body a CloudEvent agreeing with its row, and every
/// authorization decision looked up above with the event of its outcome (unless its
/// account's oldest events were pruned, or it is older than every event kept: a ledger
/// migrated from before the outbox has no events for what it decided then).
async fn check_events(
    store: &Store,
    decisions: &HashMap<String, Option<Decision>>,
    v: &mut Vec<String>,
    report: &mut AuditReport,
) -> ledger::Result<()> {
    let mut ids: HashSet<String> = HashSet::new();
    let mut last: HashMap<String, i64> = HashMap::new();
    let mut pruned: HashSet<String> = HashSet::new();
    // The oldest event kept: decisions before it predate the outbox (a ledger made before
    // issue 20, migrated at start) or lost their events to pruning; neither can be checked.
    let mut since: Option<jiff::Timestamp> = None;
    let mut after = 0;
    loop {
        let page = store
            .events_after(after, false, ledger::MAX_EVENTS_PAGE)
            .await?;
        let Some(end) = page.last().map(|e| e.pos) else {
            break;
        };
        after = end;
        report.events += page.len();
        for e in page {
            since = Some(since.map_or(e.at, |t| t.min(e.at)));
            match last.get(&e.account) {
                None if e.seq > 1 => {
                    pruned.insert(e.account.clone());
                }
                Some(prev) if e.seq != prev + 1 => v.push(format!(
                    "event {}: account {:?} seq {} after {prev}",
                    e.id, e.account, e.seq
                )),
                _ => {}
            }
            last.insert(e.account.clone(), e.seq);
            let body: Option<serde_json::Value> = serde_json::from_str(&e.body).ok();
            let agrees = body.as_ref().is_some_and(|b| {
                b["id"] == e.id.as_str()
                    && b["type"] == e.kind.as_str()
                    && b["data"]["seq"] == e.seq
            });
            if !agrees {
                v.push(format!(
                    "event {}: its JSON does not agree with its row",
                    e.id
                ));
            }
            if !ids.insert(e.id.clone()) {
                v.push(format!("event {}: twice in the outbox", e.id));
            }
        }
    }
    for d in decisions.values().flatten() {
        if d.kind != ledger::DecisionKind::Authorization {
            continue;
        }
        if d.account_id.as_ref().is_some_and(|a| pruned.contains(a)) {
            continue;
        }
        if since.is_none_or(|t| d.created_at < t) {
            continue;
        }
        report.events_checked += 1;
        let kind = if d.response_code.is_approval() {
            "authorization.approved"
        } else {
            "authorization.declined"
        };
        if !ids.contains(&format!("{kind}/{}", d.key.db_str())) {
            v.push(format!("{}: no {kind} event in the outbox", d.key));
        }
    }
    Ok(())
}

fn key_of(r: &Recorded, de11: &str, de7: &str) -> Option<NetworkKey> {
    NetworkKey::new(&r.de32, de11, de7).ok()
}

/// Answered 00 on the wire (the record keeps DE 39 as the harness read it).
fn approved_on_the_wire(r: &Recorded) -> bool {
    r.de39.as_deref() == Some(ResponseCode::APPROVED.as_str())
}

fn is_authorization(r: &Recorded) -> bool {
    r.mti.starts_with("010") || r.mti.starts_with("020")
}

/// Checks `store` (and `records`, when given).
pub async fn audit(store: &Store, records: &[Recorded]) -> ledger::Result<AuditReport> {
    let mut v: Vec<String> = store.invariant_violations().await?;
    let holds = store.holds().await?;
    let by_key: HashMap<String, &ledger::Hold> = holds.iter().map(|h| (h.key.as_db(), h)).collect();
    let mut report = AuditReport {
        records: records.len(),
        holds: holds.len(),
        active_holds: holds
            .iter()
            .filter(|h| h.status == HoldStatus::Active)
            .count(),
        ..AuditReport::default()
    };

    // Originals the switch acknowledged a reversal for, and those whose reversal was sent but
    // its answer lost.
    let original_of = |r: &Recorded| {
        let (de11, de7) = r.original.as_deref()?.split_once('/')?;
        Some(key_of(r, de11, de7)?.as_db())
    };
    let reversed: HashSet<String> = records
        .iter()
        .filter(|r| r.answered && approved_on_the_wire(r))
        .filter_map(original_of)
        .collect();
    let reversal_unanswered: HashSet<String> = records
        .iter()
        .filter(|r| !r.answered)
        .filter_map(original_of)
        .collect();
    // Requests in flight on a connection that died, never answered.
    let lost_in_flight: HashSet<String> = records
        .iter()
        .filter(|r| is_authorization(r) && !r.answered && r.lost)
        .filter_map(|r| Some(key_of(r, &r.de11, &r.de7)?.as_db()))
        .collect();
    let mut explained: Vec<String> = Vec::new();

    // Every decision the record or a hold names, looked up a few at a time.
    let mut wanted: Vec<NetworkKey> = records
        .iter()
        .filter(|r| is_authorization(r))
        .filter_map(|r| key_of(r, &r.de11, &r.de7))
        .collect();
    wanted.extend(holds.iter().map(|h| h.key.clone()));
    wanted.sort_by_key(NetworkKey::as_db);
    wanted.dedup_by_key(|k| k.as_db());
    let decisions: HashMap<String, Option<Decision>> = futures::stream::iter(wanted)
        .map(|k| async move { store.decision(&k).await.map(|d| (k.as_db(), d)) })
        .buffer_unordered(LOOKUPS_IN_FLIGHT)
        .try_collect()
        .await?;

    let mut told: HashSet<String> = HashSet::new();
    for r in records.iter().filter(|r| is_authorization(r)) {
        let Some(key) = key_of(r, &r.de11, &r.de7) else {
            v.push(format!("record {}/{}: not a network key", r.de11, r.de7));
            continue;
        };
        let k = key.as_db();
        let decision = decisions.get(&k).and_then(Option::as_ref);
        let hold = by_key.get(&k);
        let active = hold.is_some_and(|h| h.status == HoldStatus::Active);
        match (r.answered, r.de39.as_deref()) {
            (true, _) if approved_on_the_wire(r) => {
                report.approvals_checked += 1;
                told.insert(k.clone());
                match decision {
                    None => v.push(format!("{key}: approved on the wire, no decision")),
                    Some(d) if d.response_code != ResponseCode::APPROVED => v.push(format!(
                        "{key}: approved on the wire, decision {}",
                        d.response_code.as_str()
                    )),
                    Some(d) if d.approval_code != r.de38 => v.push(format!(
                        "{key}: DE 38 {:?} on the wire, {:?} recorded",
                        r.de38, d.approval_code
                    )),
                    Some(d) => {
                        if let Some(b) = &d.billing {
                            if r.de10.as_deref() != Some(b.de10.as_str()) {
                                v.push(format!(
                                    "{key}: DE 10 {:?} on the wire, {} recorded",
                                    r.de10, b.de10
                                ));
                            }
                            report
                                .versions
                                .insert(format!("{}/{}", r.de11, r.de7), b.version.clone());
                        }
                    }
                }
                match hold {
                    None => v.push(format!("{key}: approved on the wire, no hold")),
                    Some(h) if reversed.contains(&k) && h.status == HoldStatus::Active => {
                        v.push(format!("{key}: reversed, hold still active"))
                    }
                    Some(h)
                        if !reversed.contains(&k)
                            && h.status == HoldStatus::Released
                            && reversal_unanswered.contains(&k) =>
                    {
                        explained.push(format!(
                            "{key}: approved, hold released by a reversal whose answer was lost"
                        ))
                    }
                    Some(h) if !reversed.contains(&k) && h.status != HoldStatus::Active => {
                        v.push(format!("{key}: approved, hold {}", h.status.as_str()))
                    }
                    Some(_) => {}
                }
            }
            (true, code) => {
                report.declines_checked += 1;
                if active {
                    v.push(format!("{key}: answered {code:?}, hold active"));
                }
                if let Some(d) = decision {
                    if Some(d.response_code.as_str()) != code {
                        v.push(format!(
                            "{key}: answered {code:?}, decision {}",
                            d.response_code.as_str()
                        ));
                    }
                }
            }
            (false, _) => {
                if reversed.contains(&k) {
                    report.lost_reversed_checked += 1;
                    if active {
                        v.push(format!("{key}: never answered and reversed, hold active"));
                    }
                }
            }
        }
    }

    let acquirers: HashSet<&str> = records.iter().map(|r| r.de32.as_str()).collect();
    for h in &holds {
        let k = h.key.as_db();
        match decisions.get(&k).and_then(Option::as_ref) {
            Some(d) if d.response_code.is_approval() => {}
            Some(d) => v.push(format!(
                "hold {}: decision {}",
                h.key,
                d.response_code.as_str()
            )),
            None => v.push(format!("hold {}: no decision", h.key)),
        }
        if h.status == HoldStatus::Active
            && acquirers.contains(h.key.acquirer())
            && !told.contains(&k)
        {
            if lost_in_flight.contains(&k) {
                explained.push(format!(
                    "hold {}: active, approved while its request was in flight on a connection \
                     that died (held until the network reverses it or it expires)",
                    h.key
                ));
            } else {
                v.push(format!(
                    "hold {}: active, but the network never received its approval",
                    h.key
                ));
            }
        }
    }

    check_events(store, &decisions, &mut v, &mut report).await?;
    report.violation_count = v.len();
    report.ok = v.is_empty();
    v.truncate(MAX_LISTED);
    report.violations = v;
    report.explained_count = explained.len();
    explained.truncate(MAX_LISTED);
    report.explained = explained;
    Ok(report)
}
