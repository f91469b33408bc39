//! The rules and the executor over hand-made snapshots: no engine, no database, no runtime.

use std::sync::Arc;

use jiff::civil::date;
use jiff::{SignedDuration, Timestamp};

use super::events::EventKind;
use super::needs::Needs;
use super::state::Approvals;
use super::{execute, invariants, Ctx, Op, Prepared, Snapshot, State};
use crate::{
    AuthRequest, CardRecord, CardStatus, Currency, LedgerError, NetworkKey, NoRates, Pan,
    PanHasher, Quote, QuoteError, Quoter, ResponseCode, Terms, TransactionKind, Wallet,
};

const PAN: &str = "4761739001010010";

/// Converts nothing; panics on XPT (a quoter bug).
struct PanicsOnXpt;

impl Quoter for PanicsOnXpt {
    fn quote(&self, _: u64, from: Currency, to: Currency) -> Result<Quote, QuoteError> {
        if from == "XPT" {
            panic!("quoter bug");
        }
        NoRates.quote(0, from, to)
    }
}

fn ctx() -> Ctx {
    Ctx {
        security_cache: Default::default(),
        programs: Default::default(),
        hasher: PanHasher::new(&[7; 32]).unwrap(),
        quoter: Arc::new(PanicsOnXpt),
        hold_ttl: SignedDuration::from_hours(24),
        stats: Arc::default(),
        health: Arc::default(),
    }
}

fn auth(stan: u32, amount: i64, currency: &str) -> Op {
    Op::Authorize(Arc::new(AuthRequest {
        key: NetworkKey::new("123", &format!("{stan:06}"), "1125063015").unwrap(),
        terms: Terms::default(),
        pan: Pan::new(PAN).unwrap(),
        expiry: None,
        kind: TransactionKind::Purchase,
        amount_minor: amount,
        currency: currency.parse().unwrap(),
        allow_partial: false,
        original: None,
        merchant: Default::default(),
        security: Default::default(),
        hook: None,
        business_date: date(2026, 11, 25),
        now: Timestamp::from_second(1_764_000_000).unwrap(),
    }))
}

/// What the engine would have loaded for `ops`: the card, its account's KRW wallet of
/// 10,000, no decisions, approval counter at 41.
fn snapshot(ctx: &Ctx, ops: &[&Prepared]) -> Snapshot {
    let needs = Needs::of(ops);
    let mut snap = Snapshot::default();
    let hash = ctx.hasher.hash(&Pan::new(PAN).unwrap());
    snap.cards.insert(
        hash.clone(),
        Some(CardRecord {
            id: "C-0010".into(),
            masked: "476173******0010".into(),
            pan_hash: hash,
            last4: "0010".into(),
            expiry: "2912".into(),
            status: CardStatus::Active,
            account_id: "A".into(),
            home_currency: "KRW".parse().unwrap(),
            own_controls: None,
            controls: None,
            account_controls: None,
        }),
    );
    for k in &needs.keys {
        snap.decisions.insert(k.clone(), None);
    }
    snap.wallets.insert(
        "A".into(),
        vec![Wallet {
            account_id: "A".into(),
            currency: "KRW".parse().unwrap(),
            balance_minor: 10_000,
            held_minor: 0,
            overdraft_minor: 0,
            opening_minor: 10_000,
        }],
    );
    snap.approvals = Approvals::Counter(41);
    snap
}

#[test]
fn an_approval_changes_a_wallet_places_a_hold_and_says_so() {
    let ctx = ctx();
    let ops = [auth(1, 4_000, "KRW"), auth(2, 7_000, "KRW")];
    let prepared: Vec<_> = ops.into_iter().map(|o| Prepared::new(o, &ctx)).collect();
    let prepared: Vec<&Prepared> = prepared.iter().collect();
    let snap = snapshot(&ctx, &prepared);
    let (out, effects) = execute(&snap, &ctx, &prepared);
    let first = out[0].as_ref().unwrap();
    let second = out[1].as_ref().unwrap();
    assert!(
        matches!(first, super::Output::Decision(d) if d.response_code == ResponseCode::APPROVED)
    );
    // The second sees the first's hold: 6,000 left.
    assert!(matches!(second, super::Output::Decision(d)
        if d.response_code == ResponseCode::INSUFFICIENT_FUNDS));
    assert_eq!(effects.decisions_new.len(), 2);
    assert_eq!(effects.holds_new.len(), 1);
    assert_eq!(effects.wallets_changed[0].held_minor, 4_000);
    assert_eq!(effects.approval_counter, Some(42));
    let kinds: Vec<&str> = effects.events.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds, ["authorization.approved", "authorization.declined"]);
    assert_eq!(effects.events[0].account.as_deref(), Some("A"));
}

#[test]
fn a_failing_operation_leaves_nothing_and_its_neighbours_are_decided() {
    let ctx = ctx();
    // The quoter panics on XPT (no XPT wallet: the conversion is attempted).
    let ops = [
        auth(1, 1_000, "KRW"),
        auth(2, 1_000, "XPT"),
        auth(3, 2_000, "KRW"),
    ];
    let prepared: Vec<_> = ops.into_iter().map(|o| Prepared::new(o, &ctx)).collect();
    let prepared: Vec<&Prepared> = prepared.iter().collect();
    let snap = snapshot(&ctx, &prepared);
    let (out, effects) = execute(&snap, &ctx, &prepared);
    assert!(out[0].is_ok() && out[2].is_ok());
    assert!(matches!(out[1], Err(LedgerError::Panicked)));
    assert_eq!(effects.decisions_new.len(), 2);
    assert_eq!(effects.wallets_changed[0].held_minor, 3_000);
    assert!(effects
        .events
        .iter()
        .all(|e| e.kind == EventKind::AuthorizationApproved));
}

#[test]
fn reading_a_row_the_batch_did_not_declare_is_an_error_not_a_guess() {
    let ctx = ctx();
    let op = auth(1, 1_000, "KRW");
    let p = Prepared::new(op, &ctx);
    // Nothing loaded at all.
    let snap = Snapshot::default();
    let (out, effects) = execute(&snap, &ctx, &[&p]);
    assert!(matches!(&out[0], Err(LedgerError::Corrupt { .. })));
    assert!(effects.is_empty());
}

#[test]
fn a_wallet_moved_without_its_holds_breaks_an_invariant() {
    let ctx = ctx();
    let op = auth(1, 1_000, "KRW");
    let p = Prepared::new(op, &ctx);
    let snap = snapshot(&ctx, &[&p]);
    let before = State::new(&snap);
    let mut after = State::new(&snap);
    let mut w = after.wallet("A", "KRW".parse().unwrap()).unwrap().unwrap();
    w.held_minor += 500;
    after.put_wallet(w).unwrap();
    let e = invariants::check(&before, &after).unwrap_err().to_string();
    assert!(e.contains("held moved by 500"), "{e}");
}
