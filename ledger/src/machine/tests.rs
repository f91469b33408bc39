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
    for c in needs.atc_keys(&snap) {
        snap.atcs.insert(c, crate::atc::AtcWindow::default());
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

// ---- Real-time decision hooks (issue 22): the verdict is an input of the rules. ----

/// `ctx()` with the snapshot's card (C-0010) in the program `fleet`.
fn ctx_in_program() -> Ctx {
    let ctx = ctx();
    let mut p = crate::Programs::new();
    p.add("fleet", &["C-0010".to_owned()], &[]);
    ctx.programs.store(Arc::new(p));
    ctx
}

fn with_verdict(op: Op, verdict: Option<crate::HookVerdict>, partial: bool) -> Op {
    let Op::Authorize(r) = op else { unreachable!() };
    let mut r = AuthRequest::clone(&r);
    r.hook = verdict;
    r.allow_partial = partial;
    Op::Authorize(Arc::new(r))
}

fn answered(answer: crate::HookAnswer) -> Option<crate::HookVerdict> {
    Some(crate::HookVerdict::Answered {
        program: "fleet".into(),
        answer,
    })
}

/// One operation alone: its output and effects.
fn run_one(ctx: &Ctx, op: Op) -> (super::Output, super::Effects) {
    let p = Prepared::new(op, ctx);
    let snap = snapshot(ctx, &[&p]);
    let (mut out, effects) = execute(&snap, ctx, &[&p]);
    (out.remove(0).unwrap(), effects)
}

fn decided(out: super::Output) -> crate::Decision {
    match out {
        super::Output::Decision(d) => *d,
        other => panic!("expected a decision, got {other:?}"),
    }
}

#[test]
fn a_card_in_a_program_without_a_verdict_asks_its_hook_and_nothing_is_recorded() {
    let ctx = ctx_in_program();
    let (out, effects) = run_one(&ctx, auth(1, 4_000, "KRW"));
    let super::Output::AskHook(q) = out else {
        panic!("expected AskHook, got {out:?}")
    };
    assert_eq!(
        (q.program.as_str(), q.card_id.as_str()),
        ("fleet", "C-0010")
    );
    assert_eq!((q.amount_minor, q.approved_minor), (4_000, 4_000));
    assert_eq!(q.pan_masked, "476173******0010");
    assert_eq!(q.controls, crate::ControlsResult::None);
    assert!(
        effects.is_empty(),
        "no decision, hold or event before the verdict"
    );
    // What our checks decline is never asked about.
    let (out, _) = run_one(&ctx, auth(2, 40_000, "KRW"));
    assert_eq!(decided(out).response_code, ResponseCode::INSUFFICIENT_FUNDS);
}

#[test]
fn the_hooks_verdict_declines_cuts_or_approves_and_is_recorded() {
    let ctx = ctx_in_program();
    let code = ResponseCode::parse("59").unwrap();
    let op = with_verdict(
        auth(1, 4_000, "KRW"),
        answered(crate::HookAnswer::Decline(code)),
        false,
    );
    let (out, effects) = run_one(&ctx, op);
    let d = decided(out);
    assert_eq!(d.response_code, code);
    assert_eq!(d.hook.as_ref().unwrap().result, crate::HookResult::Declined);
    assert!(effects.holds_new.is_empty());
    assert_eq!(effects.events[0].hook, d.hook);

    let cut = answered(crate::HookAnswer::ApprovePartial(1_500));
    let (out, effects) = run_one(&ctx, with_verdict(auth(2, 4_000, "KRW"), cut.clone(), true));
    let d = decided(out);
    assert_eq!(
        (d.response_code, d.approved_minor),
        (ResponseCode::PARTIAL_APPROVAL, 1_500)
    );
    assert_eq!(effects.holds_new[0].held_minor, 1_500);
    // An acquirer that takes no partial approval: the cut cannot be approved.
    let (out, effects) = run_one(&ctx, with_verdict(auth(3, 4_000, "KRW"), cut, false));
    assert_eq!(decided(out).response_code, ResponseCode::DO_NOT_HONOUR);
    assert!(effects.holds_new.is_empty());

    // Approve: never more than our checks; and our own decline still wins over it.
    let ok = answered(crate::HookAnswer::Approve);
    let (out, _) = run_one(&ctx, with_verdict(auth(4, 4_000, "KRW"), ok.clone(), false));
    let d = decided(out);
    assert_eq!(
        (d.response_code, d.approved_minor),
        (ResponseCode::APPROVED, 4_000)
    );
    assert_eq!(d.hook.unwrap().source, crate::HookSource::Hook);
    let (out, _) = run_one(&ctx, with_verdict(auth(5, 40_000, "KRW"), ok, false));
    let d = decided(out);
    assert_eq!(d.response_code, ResponseCode::INSUFFICIENT_FUNDS);
    assert!(d.hook.is_none());
}

#[test]
fn a_stand_in_approves_up_to_its_amount_and_says_why_it_decided() {
    let ctx = ctx_in_program();
    let stand_in = |reason| {
        Some(crate::HookVerdict::StandIn {
            program: "fleet".into(),
            reason,
            stand_in: crate::StandIn::ApproveUpTo { home_minor: 5_000 },
        })
    };
    let timeout = stand_in(crate::StandInReason::Timeout);
    let (out, _) = run_one(
        &ctx,
        with_verdict(auth(1, 4_000, "KRW"), timeout.clone(), false),
    );
    let d = decided(out);
    assert_eq!(d.response_code, ResponseCode::APPROVED);
    let h = d.hook.unwrap();
    assert_eq!(
        (h.source, h.reason, h.result),
        (
            crate::HookSource::StandIn,
            Some(crate::StandInReason::Timeout),
            crate::HookResult::Approved
        )
    );
    let (out, effects) = run_one(&ctx, with_verdict(auth(2, 6_000, "KRW"), timeout, false));
    let d = decided(out);
    assert_eq!(d.response_code, ResponseCode::ISSUER_UNAVAILABLE);
    assert_eq!(d.hook.unwrap().result, crate::HookResult::Declined);
    assert!(effects.holds_new.is_empty());
}

#[test]
fn a_card_in_no_program_is_decided_at_once_and_a_verdict_for_it_is_ignored() {
    let ctx = ctx();
    let mut p = crate::Programs::new();
    p.add("other", &["C-9999".to_owned()], &["B".to_owned()]);
    ctx.programs.store(Arc::new(p));
    let decline = answered(crate::HookAnswer::Decline(
        ResponseCode::parse("05").unwrap(),
    ));
    for op in [
        auth(1, 4_000, "KRW"),
        with_verdict(auth(2, 4_000, "KRW"), decline, false),
    ] {
        let d = decided(run_one(&ctx, op).0);
        assert_eq!(d.response_code, ResponseCode::APPROVED);
        assert!(d.hook.is_none());
    }
}

// ---- The ATC replay window (issue 23): the counter of a verified ARQC, decided here. ----

fn with_atc(op: Op, atc: u16) -> Op {
    let Op::Authorize(r) = op else { unreachable!() };
    let mut r = AuthRequest::clone(&r);
    r.security.atc = Some(atc);
    Op::Authorize(Arc::new(r))
}

#[test]
fn a_counter_is_taken_once_in_a_batch_and_a_decline_for_funds_still_takes_it() {
    let ctx = ctx();
    let ops = [
        with_atc(auth(1, 1_000, "KRW"), 5),
        with_atc(auth(2, 1_000, "KRW"), 5),
        with_atc(auth(3, 1_000, "KRW"), 4),
        with_atc(auth(4, 90_000, "KRW"), 9),
        with_atc(auth(5, 1_000, "KRW"), 9),
    ];
    let prepared: Vec<_> = ops.into_iter().map(|o| Prepared::new(o, &ctx)).collect();
    let prepared: Vec<&Prepared> = prepared.iter().collect();
    let snap = snapshot(&ctx, &prepared);
    let (out, effects) = execute(&snap, &ctx, &prepared);
    let codes: Vec<String> = out
        .into_iter()
        .map(|o| decided(o.unwrap()).response_code.as_str().to_owned())
        .collect();
    // The same counter in another message: 82; one below inside the window: taken; a
    // decline for funds still takes its counter, so the same one after it is 82.
    assert_eq!(codes, ["00", "82", "00", "51", "82"]);
    assert_eq!(effects.atc.len(), 1, "one window per card");
    let w = effects.atc[0].window;
    assert_eq!(effects.atc[0].card_id, "C-0010");
    assert_eq!(w.highest, Some(9));
    assert_eq!(w.seen, [1 | (1 << 4) | (1 << 5), 0, 0, 0]);
}

#[test]
fn asking_the_hook_gives_the_counter_back() {
    let ctx = ctx_in_program();
    let (out, effects) = run_one(&ctx, with_atc(auth(1, 4_000, "KRW"), 3));
    assert!(matches!(out, super::Output::AskHook(_)));
    assert!(effects.is_empty(), "the counter is taken with the decision");
    let verdict = answered(crate::HookAnswer::Approve);
    let op = with_verdict(with_atc(auth(1, 4_000, "KRW"), 3), verdict, false);
    let (out, effects) = run_one(&ctx, op);
    assert_eq!(decided(out).response_code, ResponseCode::APPROVED);
    assert_eq!(effects.atc[0].window.highest, Some(3));
}
