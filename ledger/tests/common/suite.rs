//! The behavioural suite: every function takes a [`Fixture`] and is run for both stores by
//! the `suite!` macro.

use std::collections::HashSet;

use jiff::{SignedDuration, ToSpan};
use ledger::{
    AdviceRequest, BalanceRequest, CaptureRequest, CardStatus, DecisionKind, LedgerError, Pan,
    ResponseCode, ReversalRequest, Terms,
};

use super::*;

/// Generates one `#[tokio::test]` per behaviour for the fixture constructor `$make`.
#[macro_export]
macro_rules! suite {
    ($make:path; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let Some(fx) = $make().await else { return };
                common::suite::$name(&fx).await;
                fx.finish().await;
            }
        )*
    };
}

pub async fn approval_places_one_hold_and_a_repeat_replays(fx: &Fixture) {
    let s = &fx.store;
    let d = s.authorize(auth(1, PAN_A1, 10_000, "KRW")).await.unwrap();
    assert_eq!(d.response_code, ResponseCode::APPROVED);
    assert!(!d.replayed);
    let code = d.approval_code.clone().unwrap();
    assert_eq!(code.len(), 6);
    assert!(code
        .bytes()
        .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase()));
    assert_eq!(
        d.expires_at,
        Some(now() + SignedDuration::from_hours(7 * 24))
    );
    let w = wallet(s, "A-1", "KRW").await;
    assert_eq!((w.balance_minor, w.held_minor), (1_500_000, 10_000));

    let again = s.authorize(auth(1, PAN_A1, 10_000, "KRW")).await.unwrap();
    assert!(again.replayed);
    assert_eq!(again.approval_code.as_deref(), Some(code.as_str()));
    assert_eq!(wallet(s, "A-1", "KRW").await.held_minor, 10_000);

    let other = s.authorize(auth(2, PAN_A1, 10_000, "KRW")).await.unwrap();
    assert_ne!(other.approval_code, Some(code));
    assert_eq!(wallet(s, "A-1", "KRW").await.held_minor, 20_000);
    let stored = s.decision(&key(2)).await.unwrap().unwrap();
    assert_eq!(stored.approval_code, other.approval_code);
}

pub async fn declines_are_recorded_with_their_codes(fx: &Fixture) {
    let s = &fx.store;
    let cases = [
        (10, PAN_UNKNOWN, 1_000, "KRW", ResponseCode::UNKNOWN_CARD),
        (11, PAN_LOST, 1_000, "KRW", ResponseCode::LOST_CARD),
        (12, PAN_STOLEN, 1_000, "KRW", ResponseCode::STOLEN_CARD),
        (13, PAN_BLOCKED, 1_000, "KRW", ResponseCode::RESTRICTED_CARD),
        (14, PAN_EXPIRED, 1_000, "KRW", ResponseCode::EXPIRED_CARD),
        (15, PAN_A1, 0, "KRW", ResponseCode::INVALID_AMOUNT),
        (16, PAN_A2, 100_001, "KRW", ResponseCode::INSUFFICIENT_FUNDS),
        (17, PAN_A1, 1_000, "JPY", ResponseCode::ISSUER_UNAVAILABLE),
        (18, PAN_A1, 1_000, "GBP", ResponseCode::ISSUER_UNAVAILABLE),
    ];
    for (n, pan, amount, ccy, want) in cases {
        let d = s.authorize(auth(n, pan, amount, ccy)).await.unwrap();
        assert_eq!(d.response_code, want, "case {n}");
        assert!(d.approval_code.is_none());
        // A repeat of a decline gets the same decline, even if funds arrived meanwhile.
        let again = s.authorize(auth(n, pan, amount, ccy)).await.unwrap();
        assert!(again.replayed);
        assert_eq!(again.response_code, want);
    }
    let mut r = auth(19, PAN_A1, 1_000, "KRW");
    r.expiry = Some("2712".into());
    assert_eq!(
        s.authorize(r).await.unwrap().response_code,
        ResponseCode::EXPIRED_CARD
    );
    assert_eq!(wallet(s, "A-1", "KRW").await.held_minor, 0);
    assert_eq!(wallet(s, "A-2", "KRW").await.held_minor, 0);
}

pub async fn foreign_amount_converts_to_home_when_its_wallet_falls_short(fx: &Fixture) {
    let s = &fx.store;
    // USD 200.00 fits the USD wallet (250.00): no conversion.
    let d = s.authorize(auth(20, PAN_A1, 20_000, "USD")).await.unwrap();
    assert_eq!(d.wallet_currency, Some(ccy("USD")));
    assert!(d.billing.is_none());
    // USD 300.00 no longer fits (50.00 left): KRW 415,560 from the home wallet.
    let d = s.authorize(auth(21, PAN_A1, 30_000, "USD")).await.unwrap();
    assert_eq!(d.response_code, ResponseCode::APPROVED);
    let b = d.billing.clone().unwrap();
    assert_eq!((b.amount_minor, b.currency.as_str()), (415_560, "KRW"));
    assert_eq!(b.de10, "21385200");
    assert_eq!(b.version, "test-1");
    assert_eq!(wallet(s, "A-1", "KRW").await.held_minor, 415_560);
    assert_eq!(wallet(s, "A-1", "USD").await.held_minor, 20_000);
    // The stored record answers a repeat with the same DE 6/10/51.
    let again = s.authorize(auth(21, PAN_A1, 30_000, "USD")).await.unwrap();
    assert_eq!(again.billing, d.billing);
}

pub async fn partial_approval_only_when_allowed(fx: &Fixture) {
    let s = &fx.store;
    let d = s.authorize(auth(30, PAN_A2, 150_000, "KRW")).await.unwrap();
    assert_eq!(d.response_code, ResponseCode::INSUFFICIENT_FUNDS);
    let mut r = auth(31, PAN_A2, 150_000, "KRW");
    r.allow_partial = true;
    let d = s.authorize(r).await.unwrap();
    assert_eq!(d.response_code, ResponseCode::PARTIAL_APPROVAL);
    assert_eq!((d.amount_minor, d.approved_minor), (150_000, 100_000));
    assert!(d.approval_code.is_some());
    assert_eq!(wallet(s, "A-2", "KRW").await.held_minor, 100_000);
}

pub fn reversal(n: u32, original: u32, keep: Option<i64>) -> ReversalRequest {
    ReversalRequest {
        key: key(n),
        terms: Terms::default(),
        original: key(original),
        keep_minor: keep,
        business_date: BUSINESS_DATE,
        now: now(),
        pan: None,
    }
}

pub async fn reversals_release_in_full_or_down_to_the_actual_amount(fx: &Fixture) {
    let s = &fx.store;
    s.authorize(auth(40, PAN_A1, 50_000, "KRW")).await.unwrap();
    s.authorize(auth(41, PAN_A1, 30_000, "KRW")).await.unwrap();
    assert_eq!(wallet(s, "A-1", "KRW").await.held_minor, 80_000);
    let r = s.reverse(reversal(42, 40, None)).await.unwrap();
    assert_eq!(r.response_code, ResponseCode::APPROVED);
    assert_eq!(wallet(s, "A-1", "KRW").await.held_minor, 30_000);
    // Partial: keep 12,000 of 30,000, twice (a 0401 repeat, then a new key): released once.
    s.reverse(reversal(43, 41, Some(12_000))).await.unwrap();
    assert_eq!(wallet(s, "A-1", "KRW").await.held_minor, 12_000);
    assert!(
        s.reverse(reversal(43, 41, Some(12_000)))
            .await
            .unwrap()
            .replayed
    );
    s.reverse(reversal(44, 41, Some(12_000))).await.unwrap();
    assert_eq!(wallet(s, "A-1", "KRW").await.held_minor, 12_000);
    // Full reversal of the rest; a second full one moves nothing.
    s.reverse(reversal(45, 41, None)).await.unwrap();
    s.reverse(reversal(46, 41, None)).await.unwrap();
    let w = wallet(s, "A-1", "KRW").await;
    assert_eq!((w.balance_minor, w.held_minor), (1_500_000, 0));
    // A converted hold is released pro rata at the rate it was placed at.
    let d = s.authorize(auth(48, PAN_A1, 30_000, "USD")).await.unwrap();
    assert_eq!(d.billing.unwrap().amount_minor, 415_560);
    s.reverse(reversal(49, 48, Some(10_000))).await.unwrap();
    assert_eq!(wallet(s, "A-1", "KRW").await.held_minor, 138_520);
}

pub async fn reversal_before_original_blocks_the_late_original(fx: &Fixture) {
    let s = &fx.store;
    let r = s.reverse(reversal(51, 50, None)).await.unwrap();
    assert_eq!(r.response_code, ResponseCode::APPROVED);
    let late = s.authorize(auth(50, PAN_A1, 10_000, "KRW")).await.unwrap();
    assert_eq!(late.response_code, ResponseCode::INVALID_TRANSACTION);
    assert_eq!(late.kind, DecisionKind::ReversedBeforeOriginal);
    assert!(late.approval_code.is_none());
    assert_eq!(wallet(s, "A-1", "KRW").await.held_minor, 0);
}

fn advice(n: u32, pan: &str, amount: i64, original: Option<u32>) -> AdviceRequest {
    AdviceRequest {
        key: key(n),
        terms: Terms::default(),
        pan: Pan::new(pan).unwrap(),
        amount_minor: amount,
        currency: ccy("KRW"),
        response_code: ResponseCode::APPROVED,
        approval_code: Some("STAND1".into()),
        original: original.map(key),
        business_date: BUSINESS_DATE,
        now: now(),
    }
}

pub async fn advices_force_post_even_below_zero_and_once(fx: &Fixture) {
    let s = &fx.store;
    let d = s.advise(advice(60, PAN_A2, 250_000, None)).await.unwrap();
    assert_eq!(d.response_code, ResponseCode::APPROVED);
    assert_eq!(d.kind, DecisionKind::Advice);
    assert!(
        s.advise(advice(60, PAN_A2, 250_000, None))
            .await
            .unwrap()
            .replayed
    );
    let w = wallet(s, "A-2", "KRW").await;
    assert_eq!((w.balance_minor, w.available_minor()), (-150_000, -150_000));
    // A declined advice is recorded and moves nothing.
    let mut declined = advice(61, PAN_A2, 5_000, None);
    declined.response_code = ResponseCode::INSUFFICIENT_FUNDS;
    assert_eq!(
        s.advise(declined).await.unwrap().response_code,
        ResponseCode::INSUFFICIENT_FUNDS
    );
    // Its reversal (0420) refunds the posted amount.
    s.reverse(reversal(62, 60, None)).await.unwrap();
    assert_eq!(wallet(s, "A-2", "KRW").await.balance_minor, 100_000);
}

pub async fn completion_captures_a_different_amount(fx: &Fixture) {
    let s = &fx.store;
    s.authorize(auth(70, PAN_A1, 50_000, "KRW")).await.unwrap();
    // 0220 naming the approval: completion for 45,000.
    let d = s
        .advise(advice(71, PAN_A1, 45_000, Some(70)))
        .await
        .unwrap();
    assert_eq!(d.kind, DecisionKind::Completion);
    let w = wallet(s, "A-1", "KRW").await;
    assert_eq!((w.balance_minor, w.held_minor), (1_455_000, 0));
    // A second completion of the same authorization finds no hold.
    let again = CaptureRequest {
        key: key(72),
        terms: Terms::default(),
        original: key(70),
        amount_minor: 45_000,
        business_date: BUSINESS_DATE,
        now: now(),
    };
    assert!(matches!(
        s.capture(again).await,
        Err(LedgerError::NoHold(_))
    ));
    // A reversal of the captured amount refunds it.
    s.reverse(reversal(73, 70, None)).await.unwrap();
    assert_eq!(wallet(s, "A-1", "KRW").await.balance_minor, 1_500_000);
    // Capture of a converted hold uses the hold's rate.
    s.authorize(auth(74, PAN_A1, 30_000, "USD")).await.unwrap();
    let c = CaptureRequest {
        key: key(75),
        terms: Terms::default(),
        original: key(74),
        amount_minor: 20_000,
        business_date: BUSINESS_DATE,
        now: now(),
    };
    s.capture(c.clone()).await.unwrap();
    assert!(s.capture(c).await.unwrap().replayed);
    let w = wallet(s, "A-1", "KRW").await;
    assert_eq!((w.balance_minor, w.held_minor), (1_500_000 - 277_040, 0));
}

pub async fn incremental_authorization_links_and_completes_together(fx: &Fixture) {
    let s = &fx.store;
    s.authorize(auth(80, PAN_A1, 100_000, "KRW")).await.unwrap();
    let mut inc = auth(81, PAN_A1, 20_000, "KRW");
    inc.original = Some(key(80));
    let d = s.authorize(inc).await.unwrap();
    assert_eq!(d.response_code, ResponseCode::APPROVED);
    assert_eq!(d.original, Some(key(80)));
    assert_eq!(wallet(s, "A-1", "KRW").await.held_minor, 120_000);
    // An incremental naming an unknown original is an invalid transaction.
    let mut bad = auth(82, PAN_A1, 20_000, "KRW");
    bad.original = Some(key(89));
    assert_eq!(
        s.authorize(bad).await.unwrap().response_code,
        ResponseCode::INVALID_TRANSACTION
    );
    let c = CaptureRequest {
        key: key(83),
        terms: Terms::default(),
        original: key(80),
        amount_minor: 118_000,
        business_date: BUSINESS_DATE,
        now: now(),
    };
    s.capture(c).await.unwrap();
    let w = wallet(s, "A-1", "KRW").await;
    assert_eq!((w.balance_minor, w.held_minor), (1_382_000, 0));
}

pub async fn timed_out_keys_answer_91_and_hold_nothing(fx: &Fixture) {
    let s = &fx.store;
    // Deadline passed before the ledger decided: the late authorize finds the 91.
    let v = s
        .void_timed_out(key(90), BUSINESS_DATE, now())
        .await
        .unwrap();
    assert_eq!(v.response_code, ResponseCode::ISSUER_UNAVAILABLE);
    let late = s.authorize(auth(90, PAN_A1, 10_000, "KRW")).await.unwrap();
    assert_eq!(late.response_code, ResponseCode::ISSUER_UNAVAILABLE);
    assert_eq!(wallet(s, "A-1", "KRW").await.held_minor, 0);
    // Approved, then the deadline passed: released, and the stored answer becomes 91.
    s.authorize(auth(91, PAN_A1, 10_000, "KRW")).await.unwrap();
    let v = s
        .void_timed_out(key(91), BUSINESS_DATE, now())
        .await
        .unwrap();
    assert_eq!(v.response_code, ResponseCode::ISSUER_UNAVAILABLE);
    assert!(v.approval_code.is_none());
    assert_eq!(wallet(s, "A-1", "KRW").await.held_minor, 0);
    let repeat = s.authorize(auth(91, PAN_A1, 10_000, "KRW")).await.unwrap();
    assert_eq!(repeat.response_code, ResponseCode::ISSUER_UNAVAILABLE);
    assert!(repeat.replayed);
}

pub async fn expiry_releases_old_holds_in_bounded_batches(fx: &Fixture) {
    let s = &fx.store;
    for n in 100..103 {
        s.authorize(auth(n, PAN_A1, 1_000, "KRW")).await.unwrap();
    }
    assert_eq!(s.expire(now() + 1.hour(), 10).await.unwrap(), 0);
    let later = now() + SignedDuration::from_hours(7 * 24);
    assert_eq!(s.expire(later, 2).await.unwrap(), 2);
    assert_eq!(s.expire(later, 2).await.unwrap(), 1);
    assert_eq!(s.expire(later, 2).await.unwrap(), 0);
    let w = wallet(s, "A-1", "KRW").await;
    assert_eq!((w.balance_minor, w.held_minor), (1_500_000, 0));
}

pub async fn balance_inquiry_lists_home_wallet_first(fx: &Fixture) {
    let s = &fx.store;
    s.authorize(auth(110, PAN_A1, 1_000, "EUR")).await.unwrap();
    let req = |pan: &str| BalanceRequest {
        pan: Pan::new(pan).unwrap(),
        expiry: None,
        business_date: BUSINESS_DATE,
    };
    let b = s.balance(req(PAN_A1)).await.unwrap();
    assert_eq!(b.response_code, ResponseCode::APPROVED);
    let order: Vec<_> = b.wallets.iter().map(|w| w.currency.as_str()).collect();
    assert_eq!(order, ["KRW", "EUR", "USD"]);
    assert_eq!(b.wallets[1].available_minor(), 0);
    assert_eq!(
        s.balance(req(PAN_UNKNOWN)).await.unwrap().response_code,
        ResponseCode::UNKNOWN_CARD
    );
    assert_eq!(
        s.balance(req(PAN_LOST)).await.unwrap().response_code,
        ResponseCode::LOST_CARD
    );
}

pub async fn seeding_twice_keeps_balances(fx: &Fixture) {
    let s = &fx.store;
    assert!(!s.is_empty().await.unwrap());
    s.authorize(auth(120, PAN_A2, 1_000, "KRW")).await.unwrap();
    s.advise(advice(121, PAN_A2, 1_000, None)).await.unwrap();
    assert_eq!(s.seed(seed_data()).await.unwrap(), 0);
    let all = s.export_balances().await.unwrap();
    assert_eq!(all.len(), 5);
    let w = wallet(s, "A-2", "KRW").await;
    assert_eq!((w.balance_minor, w.held_minor), (99_000, 1_000));
}

pub async fn many_tasks_never_overdraw_one_wallet(fx: &Fixture) {
    // 200 requests of 10,000 against 1,000,000: exactly 100 fit.
    let mut tasks = Vec::new();
    for n in 0..200u32 {
        let s = if n % 2 == 0 {
            fx.store.clone()
        } else {
            fx.second.clone()
        };
        tasks.push(tokio::spawn(async move {
            s.authorize(auth(1_000 + n, PAN_A3, 10_000, "KRW")).await
        }));
    }
    let mut approved = 0;
    for t in tasks {
        let d = t.await.unwrap().unwrap();
        match d.response_code {
            ResponseCode::APPROVED => approved += 1,
            ResponseCode::INSUFFICIENT_FUNDS => {}
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!(approved, 100);
    let w = wallet(&fx.store, "A-3", "KRW").await;
    assert_eq!((w.held_minor, w.available_minor()), (1_000_000, 0));
}

pub async fn duplicates_racing_on_two_handles_hold_once(fx: &Fixture) {
    let mut tasks = Vec::new();
    for n in 0..40u32 {
        for s in [fx.store.clone(), fx.second.clone()] {
            tasks.push(tokio::spawn(async move {
                s.authorize(auth(2_000 + n, PAN_A3, 1_000, "KRW")).await
            }));
        }
    }
    let mut codes = std::collections::HashMap::new();
    for t in tasks {
        let d = t.await.unwrap().unwrap();
        assert_eq!(d.response_code, ResponseCode::APPROVED);
        let c = d.approval_code.unwrap();
        // Both answers for one key carry the same approval code.
        assert_eq!(codes.entry(d.key).or_insert_with(|| c.clone()), &c);
    }
    assert_eq!(codes.len(), 40);
    let distinct: HashSet<_> = codes.values().collect();
    assert_eq!(distinct.len(), 40);
    assert_eq!(wallet(&fx.store, "A-3", "KRW").await.held_minor, 40_000);
}

pub async fn a_panicking_quoter_fails_one_request_not_the_store(fx: &Fixture) {
    let s = &fx.store;
    let r = s.authorize(auth(130, PAN_A1, 1_000, "XPT")).await;
    assert!(matches!(r, Err(LedgerError::Panicked)), "{r:?}");
    assert!(s.decision(&key(130)).await.unwrap().is_none());
    let d = s.authorize(auth(131, PAN_A1, 1_000, "KRW")).await.unwrap();
    assert_eq!(d.response_code, ResponseCode::APPROVED);
    assert_eq!(wallet(s, "A-1", "KRW").await.held_minor, 1_000);
}

/// Random mixes of every write operation from 8 tasks over two handles; the invariants are
/// checked by `Fixture::finish` afterwards (held = sum of active holds, balance = opening -
/// captured, no inactive hold holding anything).
pub async fn mixed_concurrent_operations_keep_invariants(fx: &Fixture) {
    use rand::{Rng, SeedableRng};
    let mut tasks = Vec::new();
    for t in 0..8u32 {
        let s = if t % 2 == 0 {
            fx.store.clone()
        } else {
            fx.second.clone()
        };
        tasks.push(tokio::spawn(async move {
            let mut rng = rand::rngs::StdRng::seed_from_u64(u64::from(t));
            let base = 10_000 + t * 1_000;
            let pans = [PAN_A1, PAN_A2, PAN_A3];
            for i in 0..60u32 {
                let n = base + i;
                let prev = base + rng.random_range(0..=i);
                let pan = pans[rng.random_range(0..3)];
                let amount = rng.random_range(1..40_000);
                let r = match rng.random_range(0..7) {
                    0..=2 => s.authorize(auth(n, pan, amount, "KRW")).await,
                    3 => {
                        s.reverse(reversal(
                            n,
                            prev,
                            rng.random_bool(0.5).then_some(amount / 2),
                        ))
                        .await
                    }
                    4 => {
                        s.advise(advice(n, pan, amount, rng.random_bool(0.5).then_some(prev)))
                            .await
                    }
                    5 => {
                        let c = CaptureRequest {
                            key: key(n),
                            terms: Terms::default(),
                            original: key(prev),
                            amount_minor: amount,
                            business_date: BUSINESS_DATE,
                            now: now(),
                        };
                        match s.capture(c).await {
                            Err(LedgerError::NoHold(_)) => continue,
                            r => r,
                        }
                    }
                    _ => s.void_timed_out(key(prev), BUSINESS_DATE, now()).await,
                };
                r.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let later = now() + SignedDuration::from_hours(8 * 24);
    while fx.store.expire(later, 7).await.unwrap() > 0 {}
    for w in fx.store.export_balances().await.unwrap() {
        assert_eq!(
            w.held_minor, 0,
            "{}/{} still holds after expiry",
            w.account_id, w.currency
        );
    }
}

pub async fn batch_stats_count_every_write(fx: &Fixture) {
    let s = &fx.store;
    let before = s.batch_stats();
    // One write alone is a batch of one.
    s.authorize(auth(3_000, PAN_A1, 100, "KRW")).await.unwrap();
    let one = s.batch_stats();
    assert_eq!(one.batches - before.batches, 1);
    assert_eq!(one.operations - before.operations, 1);
    assert_eq!(one.cumulative[0] - before.cumulative[0], 1);
    // Reads are not batches.
    s.decision(&key(3_000)).await.unwrap().unwrap();
    assert_eq!(s.batch_stats(), one);

    // 64 at once: every operation is counted once, in at least one and at most 64 batches,
    // and a clone of the handle reads the same figures.
    let tasks: Vec<_> = (0..64u32)
        .map(|n| {
            let s = s.clone();
            tokio::spawn(async move { s.authorize(auth(3_100 + n, PAN_A1, 100, "KRW")).await })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let after = s.clone().batch_stats();
    assert_eq!(after.operations - one.operations, 64);
    let batches = after.batches - one.batches;
    assert!((1..=64).contains(&batches), "{batches} batches");
    assert!(after.cumulative.windows(2).all(|w| w[0] <= w[1]));
    assert!(*after.cumulative.last().unwrap() <= after.batches);
}

pub async fn reversing_an_original_reverses_its_incrementals(fx: &Fixture) {
    let s = &fx.store;
    s.authorize(auth(3_500, PAN_A1, 100_000, "KRW"))
        .await
        .unwrap();
    for (n, amount) in [(3_501, 20_000), (3_502, 30_000)] {
        let mut inc = auth(n, PAN_A1, amount, "KRW");
        inc.original = Some(key(3_500));
        assert_eq!(
            s.authorize(inc).await.unwrap().response_code,
            ResponseCode::APPROVED
        );
    }
    assert_eq!(wallet(s, "A-1", "KRW").await.held_minor, 150_000);
    // DE 95 keeps 110,000 of the cumulative 150,000: the original keeps its 100,000, the
    // first incremental 10,000, the second nothing.
    let r = s
        .reverse(reversal(3_503, 3_500, Some(110_000)))
        .await
        .unwrap();
    assert_eq!(r.amount_minor, 40_000);
    assert_eq!(wallet(s, "A-1", "KRW").await.held_minor, 110_000);
    assert!(s.invariant_violations().await.unwrap().is_empty());
    // An incremental reversed by its own key releases only itself.
    s.reverse(reversal(3_504, 3_501, None)).await.unwrap();
    assert_eq!(wallet(s, "A-1", "KRW").await.held_minor, 100_000);
    // A full reversal of the original releases what is left of all of them.
    let mut inc = auth(3_505, PAN_A1, 5_000, "KRW");
    inc.original = Some(key(3_500));
    s.authorize(inc).await.unwrap();
    assert_eq!(wallet(s, "A-1", "KRW").await.held_minor, 105_000);
    let r = s.reverse(reversal(3_506, 3_500, None)).await.unwrap();
    assert_eq!(r.amount_minor, 105_000);
    let w = wallet(s, "A-1", "KRW").await;
    assert_eq!((w.balance_minor, w.held_minor), (1_500_000, 0));
    assert!(s.invariant_violations().await.unwrap().is_empty());
}

/// A request failing inside a batch (here the quoter panics) sends the batch round again
/// with a savepoint per request: the requests beside it keep every write they made,
/// wallets included, however the store batches them.
pub async fn a_failing_request_keeps_its_neighbours_writes(fx: &Fixture) {
    let s = &fx.store;
    let held_before = wallet(s, "A-1", "KRW").await.held_minor;
    let mut tasks = Vec::new();
    for n in 0..40u32 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            // Every tenth asks for the currency whose quote panics.
            let currency = if n % 10 == 5 { "XPT" } else { "KRW" };
            (
                n,
                s.authorize(auth(7_000 + n, PAN_A1, 1_000, currency)).await,
            )
        }));
    }
    let mut approved = 0i64;
    for t in tasks {
        let (n, r) = t.await.unwrap();
        if n % 10 == 5 {
            assert!(matches!(r, Err(LedgerError::Panicked)), "{n}: {r:?}");
        } else {
            assert_eq!(r.unwrap().response_code, ResponseCode::APPROVED, "{n}");
            approved += 1;
        }
    }
    assert_eq!(approved, 36);
    assert_eq!(
        wallet(s, "A-1", "KRW").await.held_minor,
        held_before + approved * 1_000
    );
    assert!(s.invariant_violations().await.unwrap().is_empty());
}

/// A cutover at `s` asked for by the message with `key`, at an instance on `current`.
async fn cutover_at(s: &Store, key: &str, current: jiff::civil::Date) -> jiff::civil::Date {
    s.cutover(key.into(), current, now()).await.unwrap()
}

pub async fn cutovers_are_shared_durable_and_once_per_message(fx: &Fixture) {
    let (a, b) = (&fx.store, &fx.second);
    let day = |d: i8| jiff::civil::date(2026, 11, d);
    assert_eq!(a.latest_cutover().await.unwrap(), None);
    let first = cutover_at(a, "sandbox:000201:1125140000", day(25)).await;
    assert_eq!(first, day(26));
    // The other instance sees it, and the same message again (a retransmission, to either
    // instance) gets the same date: the date moves once.
    assert_eq!(b.latest_cutover().await.unwrap(), Some(day(26)));
    for s in [a, b] {
        let again = cutover_at(s, "sandbox:000201:1125140000", day(25)).await;
        assert_eq!(again, day(26));
    }
    // A new cutover at an instance still on the 25th moves on from the latest, not from its
    // own date.
    let next = cutover_at(b, "sandbox:000202:1126140000", day(25)).await;
    assert_eq!(next, day(27));
    // One whose own date is ahead of every recorded cutover moves on from its own.
    let ahead = cutover_at(a, "sandbox:000203:1129140000", day(29)).await;
    assert_eq!(ahead, day(30));
    assert_eq!(a.latest_cutover().await.unwrap(), Some(day(30)));
    assert_eq!(b.latest_cutover().await.unwrap(), Some(day(30)));
}

/// The terms a gateway would fold in for an authorization of message class `class` with
/// processing code `de3` (the rest is folded in by the ledger from the request).
fn terms(class: &str, de3: &str) -> Terms {
    Terms::builder(class)
        .field(3, Some(de3.as_bytes()))
        .finish()
}

/// Issue 25, item 1: a message that reuses a decided key for another request is not a
/// repeat. Each variation below used to come back 00 with the original's DE 38 and no hold.
pub async fn a_key_reused_for_another_request_is_a_duplicate_not_a_repeat(fx: &Fixture) {
    let s = &fx.store;
    let mut first = auth(140, PAN_A1, 10_000, "KRW");
    first.terms = terms("0100", "000000");
    let d = s.authorize(first.clone()).await.unwrap();
    assert_eq!(d.response_code, ResponseCode::APPROVED);
    let code = d.approval_code.clone();
    // A true repeat (same terms): the stored answer, nothing moved.
    let again = s.authorize(first.clone()).await.unwrap();
    assert!(again.replayed);
    assert_eq!(
        (again.response_code, again.approval_code.clone()),
        (ResponseCode::APPROVED, code.clone())
    );
    let mut variations = Vec::new();
    let mut r = first.clone();
    r.amount_minor = 10_001;
    variations.push(("amount", r));
    let mut r = first.clone();
    r.currency = ccy("USD");
    variations.push(("currency", r));
    for pan in [PAN_A2, PAN_UNKNOWN, PAN_LOST, PAN_EXPIRED] {
        let mut r = first.clone();
        r.pan = Pan::new(pan).unwrap();
        variations.push(("card", r));
    }
    let mut r = first.clone();
    r.terms = terms("0200", "000000");
    variations.push(("MTI class", r));
    let mut r = first.clone();
    r.terms = terms("0100", "010000");
    r.kind = ledger::TransactionKind::Cash;
    variations.push(("DE 3", r));
    let mut r = first.clone();
    r.expiry = Some("2812".into());
    variations.push(("DE 14", r));
    for (what, r) in variations {
        let dup = s.authorize(r.clone()).await.unwrap();
        assert_eq!(
            dup.response_code,
            ResponseCode::DUPLICATE_TRANSMISSION,
            "another {what} under a decided key"
        );
        assert_eq!(dup.kind, DecisionKind::Duplicate);
        assert!(dup.approval_code.is_none(), "{what}");
        assert!(dup.billing.is_none(), "{what}");
        // The same duplicate again is counted, not answered from the original either.
        let twice = s.authorize(r).await.unwrap();
        assert_eq!(twice.response_code, ResponseCode::DUPLICATE_TRANSMISSION);
    }
    // Nothing moved, and the stored decision is the original's.
    assert_eq!(wallet(s, "A-1", "KRW").await.held_minor, 10_000);
    assert_eq!(wallet(s, "A-2", "KRW").await.held_minor, 0);
    assert_eq!(wallet(s, "A-1", "USD").await.held_minor, 0);
    let stored = s.decision(&key(140)).await.unwrap().unwrap();
    assert_eq!((stored.amount_minor, stored.approval_code), (10_000, code));
    // Recorded: one row per distinct request, counted twice each.
    let dups = s.duplicates(&key(140)).await.unwrap();
    assert_eq!(dups.len(), 9);
    assert!(dups.iter().all(|d| d.times == 2 && d.key == key(140)));
    assert!(dups
        .iter()
        .any(|d| d.amount_minor == 10_001 && d.account_id.as_deref() == Some("A-1")));
    assert!(dups.iter().any(|d| d.account_id.as_deref() == Some("A-2")));
    assert!(
        dups.iter().any(|d| d.account_id.is_none()),
        "the unknown card"
    );
    // The original's true repeat still gets its answer after all that.
    assert!(s.authorize(first).await.unwrap().replayed);
}

/// Reversals, advices and completions: a repeat must be the same message too.
pub async fn other_messages_reusing_a_key_are_duplicates(fx: &Fixture) {
    let s = &fx.store;
    s.authorize(auth(150, PAN_A1, 50_000, "KRW")).await.unwrap();
    s.authorize(auth(151, PAN_A1, 20_000, "KRW")).await.unwrap();
    // A partial reversal, then its key reused to reverse another original, or in full.
    s.reverse(reversal(152, 150, Some(30_000))).await.unwrap();
    assert_eq!(wallet(s, "A-1", "KRW").await.held_minor, 50_000);
    assert!(
        s.reverse(reversal(152, 150, Some(30_000)))
            .await
            .unwrap()
            .replayed
    );
    for r in [reversal(152, 151, None), reversal(152, 150, None)] {
        let d = s.reverse(r).await.unwrap();
        assert_eq!(d.response_code, ResponseCode::DUPLICATE_TRANSMISSION);
    }
    assert_eq!(wallet(s, "A-1", "KRW").await.held_minor, 50_000);
    // An authorization under the reversal's key.
    let d = s.authorize(auth(152, PAN_A1, 1_000, "KRW")).await.unwrap();
    assert_eq!(d.response_code, ResponseCode::DUPLICATE_TRANSMISSION);
    // An advice under an authorization's key, and an advice's key reused.
    let d = s.advise(advice(151, PAN_A1, 20_000, None)).await.unwrap();
    assert_eq!(d.response_code, ResponseCode::DUPLICATE_TRANSMISSION);
    s.advise(advice(153, PAN_A2, 5_000, None)).await.unwrap();
    assert!(
        s.advise(advice(153, PAN_A2, 5_000, None))
            .await
            .unwrap()
            .replayed
    );
    let d = s.advise(advice(153, PAN_A2, 6_000, None)).await.unwrap();
    assert_eq!(d.response_code, ResponseCode::DUPLICATE_TRANSMISSION);
    assert_eq!(wallet(s, "A-2", "KRW").await.balance_minor, 95_000);
    // A completion (0220 naming the approval), then its key reused for another amount.
    let d = s
        .advise(advice(154, PAN_A1, 18_000, Some(151)))
        .await
        .unwrap();
    assert_eq!(d.kind, DecisionKind::Completion);
    assert!(
        s.advise(advice(154, PAN_A1, 18_000, Some(151)))
            .await
            .unwrap()
            .replayed
    );
    let d = s
        .advise(advice(154, PAN_A1, 19_000, Some(151)))
        .await
        .unwrap();
    assert_eq!(d.response_code, ResponseCode::DUPLICATE_TRANSMISSION);
    let w = wallet(s, "A-1", "KRW").await;
    assert_eq!((w.balance_minor, w.held_minor), (1_482_000, 30_000));
    assert_eq!(s.duplicates(&key(152)).await.unwrap().len(), 3);
}

/// Concurrent arrivals of one key, matching or not, make exactly one decision: 50 tasks on
/// two handles (two instances) send one key with 50 amounts.
pub async fn one_key_with_many_amounts_at_once_makes_one_decision(fx: &Fixture) {
    let mut tasks = Vec::new();
    for i in 0..50i64 {
        let s = if i % 2 == 0 {
            fx.store.clone()
        } else {
            fx.second.clone()
        };
        tasks.push(tokio::spawn(async move {
            let r = auth(160, PAN_A3, 1_000 + i, "KRW");
            (i, s.authorize(r).await.unwrap())
        }));
    }
    let mut approved = Vec::new();
    for t in tasks {
        let (i, d) = t.await.unwrap();
        match d.response_code {
            ResponseCode::APPROVED => approved.push(1_000 + i),
            ResponseCode::DUPLICATE_TRANSMISSION => assert!(d.approval_code.is_none()),
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!(approved.len(), 1, "one decision for one key");
    let w = wallet(&fx.store, "A-3", "KRW").await;
    assert_eq!(w.held_minor, approved[0]);
    let stored = fx.store.decision(&key(160)).await.unwrap().unwrap();
    assert_eq!(stored.amount_minor, approved[0]);
    let dups = fx.store.duplicates(&key(160)).await.unwrap();
    assert_eq!(dups.len(), 49);
}

pub async fn resetting_cutovers_returns_to_the_calendar(fx: &Fixture) {
    let (a, b) = (&fx.store, &fx.second);
    let day = |d: i8| jiff::civil::date(2026, 11, d);
    assert_eq!(a.reset_cutovers(day(25)).await.unwrap(), 0, "nothing yet");
    // Yesterday's cutover (to the 24th, now the calendar's past) and two run ahead of it.
    assert_eq!(
        cutover_at(a, "sandbox:000301:1123140000", day(23)).await,
        day(24)
    );
    assert_eq!(
        cutover_at(a, "sandbox:000302:1125140000", day(25)).await,
        day(26)
    );
    assert_eq!(
        cutover_at(b, "sandbox:000303:1125140100", day(25)).await,
        day(27)
    );
    // On the 25th: the two ahead of the calendar go, from either instance's handle.
    assert_eq!(b.reset_cutovers(day(25)).await.unwrap(), 2);
    assert_eq!(a.latest_cutover().await.unwrap(), Some(day(24)));
    assert_eq!(b.latest_cutover().await.unwrap(), Some(day(24)));
    assert_eq!(
        a.reset_cutovers(day(25)).await.unwrap(),
        0,
        "once is enough"
    );
    // The one kept still answers its retransmission; the next cutover moves on from the
    // calendar again, not from the removed 27th.
    assert_eq!(
        cutover_at(b, "sandbox:000301:1123140000", day(25)).await,
        day(24)
    );
    assert_eq!(
        cutover_at(a, "sandbox:000304:1125150000", day(25)).await,
        day(26)
    );
}

// Spend controls (issue 21): the cards below are seeded beside the suite's `SEED`.

pub const PAN_CTL: &str = "4761739001010085";
pub const PAN_DAY: &str = "4761739001010093";
pub const PAN_DEFAULT: &str = "4761739001010101";
pub const PAN_OWN: &str = "4761739001010119";

const CONTROLS_SEED: &str = r#"{
  "accounts": [
    {"id": "A-C1", "home_currency": "KRW", "balances": {"KRW": "10000000", "USD": "500.00"}},
    {"id": "A-C2", "home_currency": "KRW", "balances": {"KRW": "10000000"},
     "controls": {"daily_max_minor": 100000, "atm": false}}
  ],
  "cards": [
    {"pan": "4761739001010085", "expiry": "2812", "account": "A-C1", "status": "active",
     "controls": {"per_transaction_max_minor": 500000, "daily_max_minor": 600000,
                  "velocity": [{"max_count": 3, "window_s": 3600}],
                  "mcc_blocked": ["7995"], "ecommerce": false, "countries_blocked": ["408"]}},
    {"pan": "4761739001010093", "expiry": "2812", "account": "A-C1", "status": "active",
     "controls": {"daily_max_minor": 1000000, "monthly_max_minor": 1500000,
                  "cash_daily_max_minor": 50000}},
    {"pan": "4761739001010101", "expiry": "2812", "account": "A-C2", "status": "active"},
    {"pan": "4761739001010119", "expiry": "2812", "account": "A-C2", "status": "active",
     "controls": {"daily_max_minor": 300000}}
  ]
}"#;

async fn seed_controls(s: &Store) {
    let data = SeedData::from_json(CONTROLS_SEED, &hasher(), &exponent).unwrap();
    s.seed(data).await.unwrap();
}

fn at_merchant(mut r: AuthRequest, mcc: &str) -> AuthRequest {
    r.merchant.mcc = Some(mcc.into());
    r
}

async fn code(s: &Store, r: AuthRequest) -> ResponseCode {
    s.authorize(r).await.unwrap().response_code
}

pub async fn spend_controls_refuse_57_61_65_in_the_home_currency(fx: &Fixture) {
    let s = &fx.store;
    seed_controls(s).await;
    let ok = ResponseCode::APPROVED;
    // Where and how: 57, before any amount is looked at.
    assert_eq!(
        code(s, at_merchant(auth(900, PAN_CTL, 1_000, "KRW"), "7995")).await,
        ResponseCode::NOT_PERMITTED
    );
    let mut online = auth(901, PAN_CTL, 1_000, "KRW");
    online.merchant.ecommerce = true;
    assert_eq!(code(s, online).await, ResponseCode::NOT_PERMITTED);
    let mut abroad = auth(902, PAN_CTL, 1_000, "KRW");
    abroad.merchant.country = Some("408".into());
    assert_eq!(code(s, abroad).await, ResponseCode::NOT_PERMITTED);
    // Amounts: 61 per transaction, then the day's total.
    assert_eq!(
        code(s, auth(903, PAN_CTL, 500_001, "KRW")).await,
        ResponseCode::AMOUNT_LIMIT
    );
    assert_eq!(code(s, auth(904, PAN_CTL, 400_000, "KRW")).await, ok);
    assert_eq!(
        code(s, auth(905, PAN_CTL, 250_000, "KRW")).await,
        ResponseCode::AMOUNT_LIMIT
    );
    // USD 100.00 paid from the USD wallet still counts in KRW: 138,520, 538,520 in all.
    let usd = s
        .authorize(auth(906, PAN_CTL, 10_000, "USD"))
        .await
        .unwrap();
    assert_eq!(usd.response_code, ok);
    assert_eq!(usd.wallet_currency, Some(ccy("USD")));
    assert_eq!(
        code(s, auth(907, PAN_CTL, 61_481, "KRW")).await,
        ResponseCode::AMOUNT_LIMIT,
        "538,520 + 61,481 is past 600,000"
    );
    // A repeat counts nothing again.
    assert!(
        s.authorize(auth(904, PAN_CTL, 400_000, "KRW"))
            .await
            .unwrap()
            .replayed
    );
    // The third approval within the hour is the last: 65 after it.
    assert_eq!(code(s, auth(908, PAN_CTL, 10_000, "KRW")).await, ok);
    assert_eq!(
        code(s, auth(909, PAN_CTL, 1, "KRW")).await,
        ResponseCode::FREQUENCY_LIMIT
    );
    // An hour on, the window has room again; the day has 51,480 left.
    let hour_on = now() + SignedDuration::from_hours(1) + SignedDuration::from_secs(1);
    let mut later = auth(910, PAN_CTL, 51_481, "KRW");
    later.now = hour_on;
    assert_eq!(code(s, later).await, ResponseCode::AMOUNT_LIMIT);
    let mut later = auth(911, PAN_CTL, 51_480, "KRW");
    later.now = hour_on;
    assert_eq!(code(s, later).await, ok);
    // Declines are on the card, for the API's listing.
    let d = s.decision(&key(905)).await.unwrap().unwrap();
    assert!(d.card_id.is_some());
}

pub async fn reversals_give_back_to_the_day_they_were_counted_in(fx: &Fixture) {
    let s = &fx.store;
    seed_controls(s).await;
    let ok = ResponseCode::APPROVED;
    assert_eq!(code(s, auth(920, PAN_DAY, 700_000, "KRW")).await, ok);
    assert_eq!(code(s, auth(921, PAN_DAY, 300_000, "KRW")).await, ok);
    assert_eq!(
        code(s, auth(922, PAN_DAY, 1, "KRW")).await,
        ResponseCode::AMOUNT_LIMIT,
        "exactly the limit was used"
    );
    // A partial reversal keeping 200,000 gives 500,000 back; its repeat gives nothing more.
    s.reverse(reversal(923, 920, Some(200_000))).await.unwrap();
    s.reverse(reversal(923, 920, Some(200_000))).await.unwrap();
    assert_eq!(code(s, auth(924, PAN_DAY, 500_000, "KRW")).await, ok);
    assert_eq!(
        code(s, auth(925, PAN_DAY, 1, "KRW")).await,
        ResponseCode::AMOUNT_LIMIT
    );
    // A full reversal of the rest gives back the 200,000 still counted.
    s.reverse(reversal(926, 920, None)).await.unwrap();
    assert_eq!(code(s, auth(927, PAN_DAY, 200_000, "KRW")).await, ok);
    // A void of an answer the network never got gives back too.
    s.void_timed_out(key(927), BUSINESS_DATE, now())
        .await
        .unwrap();
    assert_eq!(code(s, auth(928, PAN_DAY, 200_000, "KRW")).await, ok);
    // The next business day starts afresh, but the month (1,500,000) is nearly used:
    // 1,000,000 counted so far this month.
    let mut tomorrow = auth(929, PAN_DAY, 500_001, "KRW");
    tomorrow.business_date = BUSINESS_DATE.tomorrow().unwrap();
    assert_eq!(code(s, tomorrow).await, ResponseCode::AMOUNT_LIMIT);
    let mut tomorrow = auth(930, PAN_DAY, 500_000, "KRW");
    tomorrow.business_date = BUSINESS_DATE.tomorrow().unwrap();
    assert_eq!(code(s, tomorrow).await, ok);
    // Cash has its own daily limit beside the day's.
    let mut cash = auth(931, PAN_DAY, 50_001, "KRW");
    cash.kind = TransactionKind::Cash;
    cash.business_date = date(2026, 12, 1);
    assert_eq!(code(s, cash).await, ResponseCode::AMOUNT_LIMIT);
    let mut cash = auth(932, PAN_DAY, 50_000, "KRW");
    cash.kind = TransactionKind::Cash;
    cash.business_date = date(2026, 12, 1);
    assert_eq!(code(s, cash).await, ok);
}

pub async fn an_accounts_controls_are_its_cards_default(fx: &Fixture) {
    let s = &fx.store;
    seed_controls(s).await;
    let ok = ResponseCode::APPROVED;
    // The account's daily 100,000 and no ATM apply to the card without controls of its own.
    assert_eq!(
        code(s, auth(940, PAN_DEFAULT, 100_001, "KRW")).await,
        ResponseCode::AMOUNT_LIMIT
    );
    assert_eq!(
        code(s, at_merchant(auth(941, PAN_DEFAULT, 1_000, "KRW"), "6011")).await,
        ok,
        "the MCC alone says nothing: the gateway sets `atm` from it"
    );
    let mut atm = auth(942, PAN_DEFAULT, 1_000, "KRW");
    atm.merchant.atm = true;
    assert_eq!(code(s, atm).await, ResponseCode::NOT_PERMITTED);
    // The card's own daily limit wins; the account's ATM block is still inherited.
    assert_eq!(code(s, auth(943, PAN_OWN, 250_000, "KRW")).await, ok);
    let mut atm = auth(944, PAN_OWN, 1_000, "KRW");
    atm.merchant.atm = true;
    assert_eq!(code(s, atm).await, ResponseCode::NOT_PERMITTED);
    // Cards without controls anywhere are untouched by all this.
    assert_eq!(code(s, auth(945, PAN_A1, 1_400_000, "KRW")).await, ok);
}

pub async fn a_daily_limit_holds_across_instances_at_once(fx: &Fixture) {
    seed_controls(&fx.store).await;
    // 40 authorizations of 50,000 at once on two handles (two gateway instances on one
    // PostgreSQL, or one SQLite file) against a daily limit of 1,000,000: exactly 20 pass.
    let mut tasks = Vec::new();
    for i in 0..40u32 {
        let s = if i % 2 == 0 {
            fx.store.clone()
        } else {
            fx.second.clone()
        };
        tasks.push(tokio::spawn(async move {
            s.authorize(auth(950 + i, PAN_DAY, 50_000, "KRW"))
                .await
                .unwrap()
                .response_code
        }));
    }
    let mut approved = 0;
    for t in tasks {
        let c = t.await.unwrap();
        if c == ResponseCode::APPROVED {
            approved += 1;
        } else {
            assert_eq!(c, ResponseCode::AMOUNT_LIMIT);
        }
    }
    assert_eq!(approved, 20);
}

fn change(card_id: &str, actor: &str) -> ledger::CardChange {
    ledger::CardChange {
        card_id: card_id.to_owned(),
        status: None,
        controls: None,
        actor: actor.to_owned(),
        at: now(),
    }
}

fn controls(json: &str) -> ledger::Controls {
    serde_json::from_str(json).unwrap()
}

pub async fn an_operators_change_is_seen_by_the_next_authorization_and_recorded(fx: &Fixture) {
    seed_controls(&fx.store).await;
    let (a, b) = (&fx.store, &fx.second);
    let card = a
        .card_by_pan(&Pan::new(PAN_DAY).unwrap())
        .await
        .unwrap()
        .expect("the card by its PAN");
    assert_eq!(card.masked, "476173******0093");
    assert_eq!(b.card(&card.id).await.unwrap().as_ref(), Some(&card));
    assert!(a.card("C-none").await.unwrap().is_none());
    let ok = ResponseCode::APPROVED;

    // Blocked on one instance: the other's very next authorization is declined.
    let mut blocked = change(&card.id, "ops:alice");
    blocked.status = Some(CardStatus::Blocked);
    let now_card = a.change_card(blocked.clone()).await.unwrap().unwrap();
    assert_eq!(now_card.status, CardStatus::Blocked);
    assert_eq!(
        code(b, auth(960, PAN_DAY, 1_000, "KRW")).await,
        ResponseCode::RESTRICTED_CARD
    );
    // The same change again writes and records nothing.
    a.change_card(blocked).await.unwrap().unwrap();

    // Active again, with a lower per-transaction limit set on the other instance.
    let mut active = change(&card.id, "ops:bob");
    active.status = Some(CardStatus::Active);
    active.controls = Some(Some(controls(r#"{"per_transaction_max_minor": 5000}"#)));
    let now_card = b.change_card(active).await.unwrap().unwrap();
    assert_eq!(now_card.status, CardStatus::Active);
    assert_eq!(
        now_card
            .controls
            .as_deref()
            .and_then(|c| c.per_transaction_max_minor),
        Some(5_000)
    );
    assert_eq!(
        code(a, auth(961, PAN_DAY, 5_001, "KRW")).await,
        ResponseCode::AMOUNT_LIMIT
    );
    assert_eq!(code(a, auth(962, PAN_DAY, 5_000, "KRW")).await, ok);
    // Removed: the seed's own controls are gone, nothing limits the card any more.
    let mut cleared = change(&card.id, "ops:bob");
    cleared.controls = Some(None);
    let now_card = a.change_card(cleared).await.unwrap().unwrap();
    assert!(now_card.own_controls.is_none());
    assert_eq!(code(b, auth(963, PAN_DAY, 1_200_000, "KRW")).await, ok);

    // Invalid controls are refused and change nothing; an unknown card is `None`.
    let mut bad = change(&card.id, "ops:bob");
    bad.controls = Some(Some(controls(r#"{"mcc_blocked": ["79"]}"#)));
    assert!(matches!(
        a.change_card(bad).await,
        Err(LedgerError::Invalid { .. })
    ));
    assert!(a
        .change_card(change("C-none", "ops:bob"))
        .await
        .unwrap()
        .is_none());

    // Four changes recorded, newest first, with who and what.
    let log = b.card_changes(&card.id, 10).await.unwrap();
    let fields: Vec<(&str, &str)> = log
        .iter()
        .map(|c| (c.field.as_str(), c.actor.as_str()))
        .collect();
    assert_eq!(log.len(), 4, "{log:?}");
    assert!(fields.contains(&("status", "ops:alice")));
    assert_eq!(fields.iter().filter(|f| f.0 == "status").count(), 2);
    assert_eq!(fields.iter().filter(|f| f.0 == "controls").count(), 2);
    let first = log.iter().find(|c| c.actor == "ops:alice").unwrap();
    assert_eq!(
        (first.before.as_str(), first.after.as_str()),
        ("\"active\"", "\"blocked\"")
    );
    let removed = log
        .iter()
        .find(|c| c.field == "controls" && c.after == "null")
        .expect("the removal");
    assert!(removed.before.contains("5000"), "{}", removed.before);
}

pub async fn a_cards_decisions_page_newest_first(fx: &Fixture) {
    seed_controls(&fx.store).await;
    let s = &fx.store;
    let card = s
        .card_by_pan(&Pan::new(PAN_OWN).unwrap())
        .await
        .unwrap()
        .unwrap();
    let mut keys = Vec::new();
    for i in 0..5u32 {
        let mut r = auth(970 + i, PAN_OWN, 1_000, "KRW");
        r.now = now() + SignedDuration::from_secs(i64::from(i));
        keys.push(s.authorize(r).await.unwrap().key);
    }
    // A decline is listed too; another card's decisions are not.
    s.authorize(auth(975, PAN_OWN, 400_000, "KRW"))
        .await
        .unwrap();
    s.authorize(auth(976, PAN_A1, 1_000, "KRW")).await.unwrap();
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let page = s.card_decisions(&card.id, 2, cursor.clone()).await.unwrap();
        assert!(page.len() <= 2);
        if page.is_empty() {
            break;
        }
        let last = page.last().unwrap();
        cursor = Some((last.created_at, last.key.as_db()));
        seen.extend(page);
    }
    assert_eq!(seen.len(), 6, "{seen:?}");
    assert!(seen.windows(2).all(|w| w[0].created_at >= w[1].created_at));
    assert!(seen
        .iter()
        .all(|d| d.card_id.as_deref() == Some(card.id.as_str())));
    let listed: HashSet<_> = seen.iter().map(|d| d.key.clone()).collect();
    assert!(keys.iter().all(|k| listed.contains(k)));
    assert_eq!(seen[0].key, keys[4], "the newest first");
}

fn adjustment(key: &str, currency: &str, amount_minor: i64) -> ledger::Adjustment {
    ledger::Adjustment {
        account_id: "A-1".into(),
        currency: ccy(currency),
        amount_minor,
        idempotency_key: key.into(),
        reason: "goodwill".into(),
        actor: "ops:carol".into(),
        at: now(),
    }
}

pub async fn adjustments_move_a_balance_once_per_key_and_keep_the_invariants(fx: &Fixture) {
    let (a, b) = (&fx.store, &fx.second);
    let before = wallet(a, "A-1", "KRW").await.balance_minor;
    let first = a.adjust(adjustment("adj-1", "KRW", 25_000)).await.unwrap();
    assert!(!first.replayed);
    assert_eq!(first.balance_after_minor, before + 25_000);
    // The same key and terms again, on another instance: found, nothing moves.
    let again = b.adjust(adjustment("adj-1", "KRW", 25_000)).await.unwrap();
    assert!(again.replayed);
    assert_eq!(again.balance_after_minor, before + 25_000);
    assert_eq!(wallet(a, "A-1", "KRW").await.balance_minor, before + 25_000);
    // The key reused for another amount is refused.
    assert!(matches!(
        a.adjust(adjustment("adj-1", "KRW", 1)).await,
        Err(LedgerError::Invalid {
            field: "idempotency_key",
            ..
        })
    ));
    // A debit; a wallet the account lacks; a zero amount.
    let debit = b.adjust(adjustment("adj-2", "KRW", -5_000)).await.unwrap();
    assert_eq!(debit.balance_after_minor, before + 20_000);
    assert!(matches!(
        a.adjust(adjustment("adj-3", "JPY", 100)).await,
        Err(LedgerError::Invalid {
            field: "currency",
            ..
        })
    ));
    assert!(matches!(
        a.adjust(adjustment("adj-4", "KRW", 0)).await,
        Err(LedgerError::Invalid {
            field: "amount_minor",
            ..
        })
    ));
    // Holds and captures around it: the ledger-wide invariants count the adjustments.
    let d = a.authorize(auth(990, PAN_A1, 10_000, "KRW")).await.unwrap();
    assert_eq!(d.response_code, ResponseCode::APPROVED);
    assert_eq!(
        a.invariant_violations().await.unwrap(),
        Vec::<String>::new()
    );
    let (home, wallets) = b.account("A-1").await.unwrap().expect("the account");
    assert_eq!(home, ccy("KRW"));
    assert!(wallets
        .iter()
        .any(|w| w.currency == ccy("KRW") && w.held_minor == 10_000));
    assert!(a.account("A-none").await.unwrap().is_none());
    // Twenty tasks on both instances with one key: one adjustment.
    let mut tasks = Vec::new();
    for i in 0..20 {
        let s = if i % 2 == 0 { a.clone() } else { b.clone() };
        tasks.push(tokio::spawn(async move {
            s.adjust(adjustment("adj-race", "KRW", 1_000))
                .await
                .unwrap()
                .replayed
        }));
    }
    let mut made = 0;
    for t in tasks {
        if !t.await.unwrap() {
            made += 1;
        }
    }
    assert_eq!(made, 1);
    assert_eq!(wallet(a, "A-1", "KRW").await.balance_minor, before + 21_000);
    assert_eq!(
        a.invariant_violations().await.unwrap(),
        Vec::<String>::new()
    );
    // One event per adjustment made, none for a replay or a refusal: the amount moved and
    // the balance after it, in the account's own sequence.
    let adjusted: Vec<serde_json::Value> = a
        .events_after(0, false, 1_000)
        .await
        .unwrap()
        .iter()
        .filter(|e| e.kind == "account.adjusted")
        .map(|e| serde_json::from_str(&e.body).unwrap())
        .collect();
    assert_eq!(adjusted.len(), 3, "{adjusted:?}");
    assert_eq!(adjusted[0]["id"], "account.adjusted/A-1/adj-1");
    assert_eq!(adjusted[0]["subject"], "A-1");
    assert_eq!(
        adjusted[0]["data"]["wallet_amount"],
        serde_json::json!({"minor": 25_000, "currency": "KRW"})
    );
    assert_eq!(
        adjusted[1]["data"]["balance"],
        serde_json::json!({"minor": before + 20_000, "currency": "KRW"})
    );
    assert_eq!(adjusted[2]["id"], "account.adjusted/A-1/adj-race");
    assert!(adjusted.iter().all(|e| e["data"].get("reason").is_none()));
}

// ---- Card security (issue 23): the PIN try counter, decided with the authorization. ----

pub const PAN_PIN: &str = "4761739001020019";
pub const PAN_NO_PIN: &str = "4761739001020027";

const PIN_SEED: &str = r#"{
  "accounts": [
    {"id": "A-PIN", "home_currency": "KRW", "balances": {"KRW": "1000000"}}
  ],
  "cards": [
    {"id": "C-PIN", "pan": "4761739001020019", "expiry": "2812", "account": "A-PIN",
     "status": "active", "pin": "1234", "psn": "01"},
    {"id": "C-NOPIN", "pan": "4761739001020027", "expiry": "2812", "account": "A-PIN",
     "status": "active"}
  ]
}"#;

/// Seeds the PIN cards; the "HSM" here is a stand-in PVV function (the ledger stores what it
/// is given: the real PVV comes from the `hsm` crate in the gateway).
async fn seed_pins(s: &Store) {
    let pvv = |_: &Pan, pin: &str| -> Result<(String, u8), String> {
        assert_eq!(pin, "1234");
        Ok(("5678".to_string(), 1))
    };
    let data = SeedData::from_json_with_pvv(PIN_SEED, &hasher(), &exponent, &pvv).unwrap();
    assert!(!format!("{data:?}").contains("5678"), "no PVV in Debug");
    s.seed(data).await.unwrap();
}

fn with_pin(mut r: AuthRequest, verdict: ledger::PinVerdict) -> AuthRequest {
    r.security.pin = verdict;
    r
}

async fn tries(s: &Store, pan: &str) -> u32 {
    s.card_security(&Pan::new(pan).unwrap())
        .await
        .unwrap()
        .unwrap()
        .pin_tries
}

pub async fn wrong_pins_count_block_at_the_limit_and_reset(fx: &Fixture) {
    use ledger::PinVerdict::{Match, Mismatch, Unverifiable};
    let s = &fx.store;
    seed_pins(s).await;
    let sec = s
        .card_security(&Pan::new(PAN_PIN).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(sec.card_id, "C-PIN");
    assert_eq!(sec.pvv.as_deref(), Some("5678"));
    assert_eq!(sec.pvki, Some(1));
    assert_eq!(sec.psn.as_deref(), Some("01"));
    assert_eq!(sec.expiry, "2812");
    assert!(!format!("{sec:?}").contains("5678"));
    let wrong = ResponseCode::INCORRECT_PIN;
    let exceeded = ResponseCode::PIN_TRIES_EXCEEDED;
    // A wrong PIN, then a right one: the count goes back to zero.
    assert_eq!(
        code(s, with_pin(auth(1000, PAN_PIN, 100, "KRW"), Mismatch)).await,
        wrong
    );
    assert_eq!(tries(s, PAN_PIN).await, 1);
    let d = s.decision(&key(1000)).await.unwrap().unwrap();
    assert_eq!(d.card_id.as_deref(), Some("C-PIN"));
    assert_eq!(wallet(s, "A-PIN", "KRW").await.held_minor, 0);
    // A repeat of the declined request is answered from the record, not counted again.
    assert!(
        s.authorize(with_pin(auth(1000, PAN_PIN, 100, "KRW"), Mismatch))
            .await
            .unwrap()
            .replayed
    );
    assert_eq!(tries(s, PAN_PIN).await, 1);
    assert_eq!(
        code(s, with_pin(auth(1001, PAN_PIN, 100, "KRW"), Match)).await,
        ResponseCode::APPROVED
    );
    assert_eq!(tries(s, PAN_PIN).await, 0);
    // Three wrong in a row: 55, 55, then 75 on the third.
    assert_eq!(
        code(s, with_pin(auth(1002, PAN_PIN, 100, "KRW"), Mismatch)).await,
        wrong
    );
    assert_eq!(
        code(s, with_pin(auth(1003, PAN_PIN, 100, "KRW"), Mismatch)).await,
        wrong
    );
    assert_eq!(
        code(s, with_pin(auth(1004, PAN_PIN, 100, "KRW"), Mismatch)).await,
        exceeded
    );
    assert_eq!(tries(s, PAN_PIN).await, 3);
    // Blocked: even the right PIN is refused, and does not reset.
    assert_eq!(
        code(s, with_pin(auth(1005, PAN_PIN, 100, "KRW"), Match)).await,
        exceeded
    );
    assert_eq!(tries(s, PAN_PIN).await, 3);
    // Without a PIN the card still works (only PIN use is blocked).
    assert_eq!(
        code(s, auth(1006, PAN_PIN, 100, "KRW")).await,
        ResponseCode::APPROVED
    );
    // An operator resets it: the count before comes back, the right PIN works again.
    assert_eq!(
        s.reset_pin_tries("C-PIN", "ops:alice", now())
            .await
            .unwrap(),
        Some(3)
    );
    assert_eq!(tries(s, PAN_PIN).await, 0);
    assert_eq!(
        code(s, with_pin(auth(1007, PAN_PIN, 100, "KRW"), Match)).await,
        ResponseCode::APPROVED
    );
    // Unknown cards and cards without a PIN have nothing to reset.
    assert_eq!(
        s.reset_pin_tries("C-NOPE", "ops", now()).await.unwrap(),
        None
    );
    assert_eq!(
        s.reset_pin_tries("C-NOPIN", "ops", now()).await.unwrap(),
        None
    );
    // A PIN presented to a card with no PVV cannot be right, and counts nothing.
    assert_eq!(
        code(
            s,
            with_pin(auth(1008, PAN_NO_PIN, 100, "KRW"), Unverifiable)
        )
        .await,
        wrong
    );
    assert_eq!(tries(s, PAN_NO_PIN).await, 0);
}

pub async fn a_failed_card_check_declines_without_counting_a_pin_try(fx: &Fixture) {
    use ledger::PinVerdict::Mismatch;
    let s = &fx.store;
    seed_pins(s).await;
    let mut r = with_pin(auth(1100, PAN_PIN, 100, "KRW"), Mismatch);
    r.security.refusal = Some(ResponseCode::CARD_AUTHENTICATION_FAILED);
    assert_eq!(code(s, r).await, ResponseCode::CARD_AUTHENTICATION_FAILED);
    assert_eq!(tries(s, PAN_PIN).await, 0);
    let mut r = auth(1101, PAN_PIN, 100, "KRW");
    r.security.refusal = Some(ResponseCode::CVV2_MISMATCH);
    let d = s.authorize(r).await.unwrap();
    assert_eq!(d.response_code.as_str(), "N7");
    assert_eq!(wallet(s, "A-PIN", "KRW").await.held_minor, 0);
    // The limit and the codes are the caller's (per network).
    let policy = ledger::PinPolicy {
        tries_max: 1,
        wrong_code: ResponseCode::parse("55").unwrap(),
        exceeded_code: ResponseCode::parse("38").unwrap(),
    };
    let mut r = with_pin(auth(1102, PAN_PIN, 100, "KRW"), Mismatch);
    r.security.pin_policy = policy;
    assert_eq!(code(s, r).await.as_str(), "38");
}

pub async fn wrong_pins_on_two_instances_at_once_are_all_counted(fx: &Fixture) {
    use ledger::PinVerdict::Mismatch;
    seed_pins(&fx.store).await;
    let mut tasks = Vec::new();
    for i in 0..6u32 {
        let s = if i % 2 == 0 {
            fx.store.clone()
        } else {
            fx.second.clone()
        };
        let mut r = with_pin(auth(1200 + i, PAN_PIN, 100, "KRW"), Mismatch);
        r.security.pin_policy.tries_max = 10;
        tasks.push(tokio::spawn(async move { s.authorize(r).await.unwrap() }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap().response_code, ResponseCode::INCORRECT_PIN);
    }
    assert_eq!(tries(&fx.store, PAN_PIN).await, 6);
}

pub async fn pins_presented_with_balance_inquiries_count_as_any_other(fx: &Fixture) {
    use ledger::PinVerdict::{Match, Mismatch};
    let s = &fx.store;
    seed_pins(s).await;
    let sec = |pin| ledger::Security {
        pin,
        ..Default::default()
    };
    let pan = || Pan::new(PAN_PIN).unwrap();
    assert_eq!(
        s.pin_try(pan(), sec(Mismatch), now()).await.unwrap(),
        Some(ResponseCode::INCORRECT_PIN)
    );
    assert_eq!(tries(s, PAN_PIN).await, 1);
    // The authorization sees the try the inquiry counted.
    assert_eq!(
        code(s, with_pin(auth(1300, PAN_PIN, 100, "KRW"), Mismatch)).await,
        ResponseCode::INCORRECT_PIN
    );
    assert_eq!(
        s.pin_try(pan(), sec(Mismatch), now()).await.unwrap(),
        Some(ResponseCode::PIN_TRIES_EXCEEDED)
    );
    assert_eq!(
        s.pin_try(pan(), sec(Match), now()).await.unwrap(),
        Some(ResponseCode::PIN_TRIES_EXCEEDED)
    );
    s.reset_pin_tries("C-PIN", "ops", now()).await.unwrap();
    assert_eq!(s.pin_try(pan(), sec(Match), now()).await.unwrap(), None);
    let refused = ledger::Security {
        refusal: Some(ResponseCode::CARD_AUTHENTICATION_FAILED),
        ..Default::default()
    };
    assert_eq!(
        s.pin_try(pan(), refused, now()).await.unwrap(),
        Some(ResponseCode::CARD_AUTHENTICATION_FAILED)
    );
    // An unknown card: nothing to refuse here (the inquiry answers 14).
    assert_eq!(
        s.pin_try(Pan::new(PAN_UNKNOWN).unwrap(), sec(Mismatch), now())
            .await
            .unwrap(),
        None
    );
}

fn with_atc(mut r: AuthRequest, atc: u16) -> AuthRequest {
    r.security.atc = Some(atc);
    r
}

async fn atc_highest(s: &Store, pan: &str) -> Option<u16> {
    s.card_security(&Pan::new(pan).unwrap())
        .await
        .unwrap()
        .unwrap()
        .atc_highest
}

/// Issue 23: the application transaction counter of a verified ARQC is taken once per card.
/// A genuine cryptogram sent again in a new message (another key) is refused with the
/// card-check code and moves nothing; the same message again is a repeat with its stored
/// answer; a counter inside the window below the highest is taken once (out of order), one
/// older than the window is refused; a decline for funds still takes its counter.
pub async fn a_replayed_atc_is_refused_and_a_fresh_one_taken_once(fx: &Fixture) {
    let s = &fx.store;
    seed_pins(s).await;
    let refused = ResponseCode::CARD_AUTHENTICATION_FAILED;
    assert_eq!(atc_highest(s, PAN_PIN).await, None);
    let first = s
        .authorize(with_atc(auth(1400, PAN_PIN, 100, "KRW"), 10))
        .await
        .unwrap();
    assert_eq!(first.response_code, ResponseCode::APPROVED);
    assert_eq!(atc_highest(s, PAN_PIN).await, Some(10));
    // The same message again: its stored answer, not a replay refusal.
    let again = s
        .authorize(with_atc(auth(1400, PAN_PIN, 100, "KRW"), 10))
        .await
        .unwrap();
    assert!(again.replayed);
    assert_eq!(again.response_code, ResponseCode::APPROVED);
    assert_eq!(again.approval_code, first.approval_code);
    // The same cryptogram in a new message: 82, recorded, no hold.
    assert_eq!(
        code(s, with_atc(auth(1401, PAN_PIN, 100, "KRW"), 10)).await,
        refused
    );
    let d = s.decision(&key(1401)).await.unwrap().unwrap();
    assert_eq!(d.card_id.as_deref(), Some("C-PIN"));
    assert_eq!(wallet(s, "A-PIN", "KRW").await.held_minor, 100);
    // Out of order inside the window: 12 then 11 both pass, 11 once.
    for (n, atc, want) in [
        (1402, 12, ResponseCode::APPROVED),
        (1403, 11, ResponseCode::APPROVED),
        (1404, 11, refused),
        (1405, 12, refused),
    ] {
        assert_eq!(
            code(s, with_atc(auth(n, PAN_PIN, 100, "KRW"), atc)).await,
            want,
            "ATC {atc}"
        );
    }
    assert_eq!(atc_highest(s, PAN_PIN).await, Some(12));
    // Older than the window: refused, and the window does not move.
    let high = 12 + ledger::ATC_WINDOW;
    assert_eq!(
        code(s, with_atc(auth(1406, PAN_PIN, 100, "KRW"), high)).await,
        ResponseCode::APPROVED
    );
    assert_eq!(
        code(s, with_atc(auth(1407, PAN_PIN, 100, "KRW"), 12)).await,
        refused
    );
    assert_eq!(
        code(s, with_atc(auth(1408, PAN_PIN, 100, "KRW"), 13)).await,
        ResponseCode::APPROVED
    );
    assert_eq!(atc_highest(s, PAN_PIN).await, Some(high));
    // A decline for funds still takes the counter: the card counted it, the cryptogram
    // verified.
    let r = with_atc(auth(1409, PAN_PIN, 5_000_000, "KRW"), high + 1);
    assert_eq!(code(s, r).await, ResponseCode::INSUFFICIENT_FUNDS);
    assert_eq!(
        code(s, with_atc(auth(1410, PAN_PIN, 100, "KRW"), high + 1)).await,
        refused
    );
    // The code is the caller's (per network).
    let mut r = with_atc(auth(1411, PAN_PIN, 100, "KRW"), high + 1);
    r.security.card_check_code = ResponseCode::parse("Q8").unwrap();
    assert_eq!(code(s, r).await.as_str(), "Q8");
    // A chip card with no security row gets one; a PIN try with a counter takes it too.
    assert_eq!(
        code(s, with_atc(auth(1412, PAN_A1, 100, "KRW"), 3)).await,
        ResponseCode::APPROVED
    );
    assert_eq!(atc_highest(s, PAN_A1).await, Some(3));
    let sec = ledger::Security {
        atc: Some(3),
        ..Default::default()
    };
    let pan = Pan::new(PAN_A1).unwrap();
    assert_eq!(
        s.pin_try(pan.clone(), sec, now()).await.unwrap(),
        Some(refused)
    );
    let sec = ledger::Security {
        atc: Some(4),
        ..Default::default()
    };
    assert_eq!(s.pin_try(pan, sec, now()).await.unwrap(), None);
    assert_eq!(atc_highest(s, PAN_A1).await, Some(4));
    // The card re-issued with the next PAN sequence number counts from 1 again, above all
    // the old card sent; the old card's counters are then below the window.
    let mut r = with_atc(auth(1413, PAN_PIN, 100, "KRW"), 1);
    r.security.atc_psn = 2;
    assert_eq!(code(s, r).await, ResponseCode::APPROVED);
    let sec = s
        .card_security(&Pan::new(PAN_PIN).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!((sec.atc_psn, sec.atc_highest), (Some(2), Some(1)));
    assert_eq!(
        code(s, with_atc(auth(1414, PAN_PIN, 100, "KRW"), high + 2)).await,
        refused
    );
    // Nothing else changed: no PIN try counted, the invariants hold.
    assert_eq!(tries(s, PAN_PIN).await, 0);
    assert!(s.invariant_violations().await.unwrap().is_empty());
}

/// One cryptogram sent in several new messages at once through two instances: exactly one
/// is approved, whichever wins the card's account's lock.
pub async fn one_atc_on_two_instances_at_once_is_approved_once(fx: &Fixture) {
    seed_pins(&fx.store).await;
    let mut tasks = Vec::new();
    for i in 0..6u32 {
        let s = if i % 2 == 0 {
            fx.store.clone()
        } else {
            fx.second.clone()
        };
        let r = with_atc(auth(1500 + i, PAN_PIN, 100, "KRW"), 77);
        tasks.push(tokio::spawn(async move { s.authorize(r).await.unwrap() }));
    }
    let mut approved = 0;
    for t in tasks {
        let d = t.await.unwrap();
        match d.response_code {
            ResponseCode::APPROVED => approved += 1,
            c => assert_eq!(c, ResponseCode::CARD_AUTHENTICATION_FAILED),
        }
    }
    assert_eq!(approved, 1);
    assert_eq!(wallet(&fx.store, "A-PIN", "KRW").await.held_minor, 100);
    assert_eq!(atc_highest(&fx.store, PAN_PIN).await, Some(77));
}

/// Issue 20: each decision writes exactly one event with it (a repeat none), numbered per
/// account without a gap, carrying what the CloudEvents `data` promises.
pub async fn every_change_writes_one_event_and_a_repeat_none(fx: &Fixture) {
    let s = &fx.store;
    let approved = s.authorize(auth(300, PAN_A1, 10_000, "KRW")).await.unwrap();
    s.authorize(auth(300, PAN_A1, 10_000, "KRW")).await.unwrap(); // a repeat
    s.authorize(auth(301, PAN_UNKNOWN, 10_000, "KRW"))
        .await
        .unwrap();
    s.authorize(auth(302, PAN_LOST, 10_000, "KRW"))
        .await
        .unwrap();
    s.authorize(auth(303, PAN_A2, 900_000, "KRW"))
        .await
        .unwrap(); // 51
    s.authorize(auth(304, PAN_A1, 30_000, "USD")).await.unwrap();
    let converted = s.authorize(auth(305, PAN_A1, 30_000, "USD")).await.unwrap();
    s.reverse(reversal(306, 300, None)).await.unwrap();
    s.reverse(reversal(306, 300, None)).await.unwrap(); // a repeat
    s.advise(advice(307, PAN_A3, 5_000, None)).await.unwrap();
    s.cutover("sandbox:000201:1125140000".into(), BUSINESS_DATE, now())
        .await
        .unwrap();
    s.cutover("sandbox:000201:1125140000".into(), BUSINESS_DATE, now())
        .await
        .unwrap();
    let events = all_events(s).await;
    let kinds: Vec<(&str, &str)> = events
        .iter()
        .map(|e| (e.kind.as_str(), e.id.rsplit('/').next().unwrap_or("")))
        .collect();
    let k = |n: u32| key(n).as_db();
    let want = [
        ("authorization.approved", k(300)),
        ("authorization.declined", k(301)),
        ("authorization.declined", k(302)),
        ("authorization.declined", k(303)),
        ("authorization.approved", k(304)),
        ("authorization.approved", k(305)),
        ("hold.released", k(300)),
        ("reversal.recorded", k(306)),
        ("advice.recorded", k(307)),
        (
            "business_date.changed",
            "sandbox:000201:1125140000".to_owned(),
        ),
    ];
    let want: Vec<(&str, &str)> = want.iter().map(|(a, b)| (*a, b.as_str())).collect();
    assert_eq!(kinds, want);
    // Per account: A-1 has 300, 302, 304, 305, the release and the reversal.
    let seqs = |a: &str| -> Vec<i64> {
        events
            .iter()
            .filter(|e| e.account == a)
            .map(|e| e.seq)
            .collect()
    };
    assert_eq!(seqs("A-1"), vec![1, 2, 3, 4, 5, 6]);
    assert_eq!(seqs("A-2"), vec![1]);
    assert_eq!(seqs("A-3"), vec![1]);
    assert_eq!(seqs(ledger::NO_ACCOUNT), vec![1, 2]);
    let body = |i: usize| -> serde_json::Value { serde_json::from_str(&events[i].body).unwrap() };
    let a = body(0);
    assert_eq!(a["source"], ledger::EVENT_SOURCE);
    assert_eq!(a["subject"], "A-1");
    assert_eq!(a["time"], now().to_string());
    let d = &a["data"];
    assert_eq!(d["account"], "A-1");
    assert_eq!(d["pan_masked"], "476173******0010");
    assert!(d["card_id"].as_str().is_some_and(|c| c.starts_with("C-")));
    assert_eq!(d["business_date"], "2026-11-25");
    assert_eq!(
        d["amount"],
        serde_json::json!({"minor": 10_000, "currency": "KRW"})
    );
    assert_eq!(d["response_code"], "00");
    assert_eq!(d["approval_code"], approved.approval_code.unwrap().as_str());
    assert_eq!(
        d["network_key"],
        serde_json::json!({"acquirer": "12345", "stan": "000300", "transmitted": "1125063000"})
    );
    // A lost card's decline names the card; an unknown one names none.
    assert_eq!(body(2)["data"]["response_code"], "41");
    assert_eq!(body(2)["data"]["pan_masked"], "476173******0028");
    assert!(body(1)["data"]["account"].is_null());
    assert!(body(1)["data"].get("pan_masked").is_none());
    // The converted one: its billing with the rate and the rate set.
    let b = &body(5)["data"]["billing"];
    let billing = converted.billing.unwrap();
    assert_eq!(
        b["amount"],
        serde_json::json!({"minor": billing.amount_minor, "currency": "KRW"})
    );
    assert_eq!(b["rate"], billing.rate.to_string().as_str());
    assert_eq!(b["rate_set"], "test-1");
    // The release: the amount the wallet got back; the reversal names its original.
    assert_eq!(
        body(6)["data"]["wallet_amount"],
        serde_json::json!({"minor": 10_000, "currency": "KRW"})
    );
    // The reversal carried no PAN, so its batch did not load the card: the release names
    // the card by id only.
    assert_eq!(body(6)["data"]["card_id"], body(0)["data"]["card_id"]);
    assert_eq!(body(7)["data"]["original"]["stan"], "000300");
    assert_eq!(body(9)["data"]["business_date"], "2026-11-26");
    assert!(events.iter().all(|e| e.published_at.is_none()));
    assert_eq!(s.events_pending().await.unwrap(), 10);
}

/// Issue 20: the unpublished events are found whatever order they were published in and
/// however the reads and commits interleave (SQLite reads them from a floor, not an index).
pub async fn unpublished_events_are_found_whatever_order_they_are_published_in(fx: &Fixture) {
    let s = &fx.store;
    let unpublished = || async {
        s.events_after(0, true, 100)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.pos)
            .collect::<Vec<_>>()
    };
    for n in 0..4 {
        s.authorize(auth(500 + n, PAN_A1, 1_000, "KRW"))
            .await
            .unwrap();
    }
    let all = unpublished().await;
    assert_eq!(all.len(), 4);
    // The second and the fourth first: the first stays the lowest unpublished.
    s.events_published(&[all[1], all[3]], now()).await.unwrap();
    assert_eq!(unpublished().await, vec![all[0], all[2]]);
    assert_eq!(s.events_pending().await.unwrap(), 2);
    // A read that finds them all published, then more commits: the new ones are found.
    s.events_published(&[all[0], all[2]], now()).await.unwrap();
    assert_eq!(unpublished().await, Vec::<i64>::new());
    assert_eq!(s.events_pending().await.unwrap(), 0);
    s.authorize(auth(510, PAN_A1, 1_000, "KRW")).await.unwrap();
    s.authorize(auth(511, PAN_A1, 1_000, "KRW")).await.unwrap();
    let more = unpublished().await;
    assert_eq!(more.len(), 2);
    assert!(more.iter().all(|p| p > &all[3]));
    assert_eq!(s.events_pending().await.unwrap(), 2);
    // A read from a later position says nothing of those before it.
    let tail = s.events_after(more[0], true, 100).await.unwrap();
    assert_eq!(
        tail.iter().map(|e| e.pos).collect::<Vec<_>>(),
        vec![more[1]]
    );
    assert_eq!(unpublished().await, more);
    // Limits: one at a time, in order, as the relay pages through a backlog.
    let one = s.events_after(0, true, 1).await.unwrap();
    assert_eq!(one.iter().map(|e| e.pos).collect::<Vec<_>>(), vec![more[0]]);
    s.events_published(&[more[0]], now()).await.unwrap();
    let one = s.events_after(0, true, 1).await.unwrap();
    assert_eq!(one.iter().map(|e| e.pos).collect::<Vec<_>>(), vec![more[1]]);
}

/// Issue 20: the relay's side of the outbox: unpublished events in order, marked published,
/// pruned after a retention (never before they are published); one lease holder at a time.
pub async fn published_events_are_marked_pruned_and_leased_once(fx: &Fixture) {
    let (a, b) = (&fx.store, &fx.second);
    for n in 0..5 {
        a.authorize(auth(400 + n, PAN_A1, 1_000, "KRW"))
            .await
            .unwrap();
    }
    let all = a.events_after(0, true, 100).await.unwrap();
    assert_eq!(all.len(), 5);
    let first: Vec<i64> = all[..3].iter().map(|e| e.pos).collect();
    let t = now();
    // Marks with a hole: the row between stays unpublished.
    a.events_published(&[first[2], first[0]], t).await.unwrap();
    assert_eq!(b.events_pending().await.unwrap(), 3);
    let holes = b.events_after(0, true, 100).await.unwrap();
    assert_eq!(holes, [&all[1..2], &all[3..]].concat());
    a.events_published(&first, t).await.unwrap();
    assert_eq!(b.events_pending().await.unwrap(), 2);
    let left = b.events_after(0, true, 100).await.unwrap();
    assert_eq!(left, all[3..].to_vec());
    // Not yet past the retention: nothing pruned; past it, the published ones only.
    assert_eq!(a.events_prune(t).await.unwrap(), 0);
    assert_eq!(
        a.events_prune(t + SignedDuration::from_secs(1))
            .await
            .unwrap(),
        3
    );
    assert_eq!(
        a.events_after(0, false, 100).await.unwrap(),
        all[3..].to_vec()
    );
    // The lease: one holder until it lapses or renews.
    let until = t + SignedDuration::from_secs(10);
    assert!(a.events_lease("one", t, until).await.unwrap());
    assert!(!b.events_lease("two", t, until).await.unwrap());
    assert!(a.events_lease("one", t, until).await.unwrap());
    assert!(b
        .events_lease("two", until, until + SignedDuration::from_secs(10))
        .await
        .unwrap());
    assert!(!a.events_lease("one", until, until).await.unwrap());
    // Pruning keeps the numbering: the next event of A-1 is its sixth.
    a.authorize(auth(410, PAN_A1, 1_000, "KRW")).await.unwrap();
    let last = a.events_after(0, false, 100).await.unwrap();
    assert_eq!(last.last().map(|e| e.seq), Some(6));
    assert!(last.last().map(|e| e.pos) > all.last().map(|e| e.pos));
    // Everything published and past the retention: a `pos` is still never given twice.
    let newest = last.last().map(|e| e.pos).unwrap();
    let every: Vec<i64> = last.iter().map(|e| e.pos).collect();
    a.events_published(&every, t).await.unwrap();
    a.events_prune(t + SignedDuration::from_secs(1))
        .await
        .unwrap();
    a.authorize(auth(411, PAN_A1, 1_000, "KRW")).await.unwrap();
    let next = a.events_after(newest, false, 100).await.unwrap();
    assert_eq!(next.len(), 1, "{next:#?}");
    assert!(next[0].pos > newest);
    assert_eq!(next[0].seq, 7);
}

// ---- Clearing (issue 24): presentments posted against their authorizations. ----

fn presentment(
    arn: &str,
    kind: ledger::PresentmentKind,
    pan: &str,
    code: Option<&str>,
    amount_minor: i64,
    currency: &str,
) -> ledger::Presentment {
    ledger::Presentment {
        arn: arn.into(),
        kind,
        pan: Pan::new(pan).unwrap(),
        approval_code: code.map(str::to_owned),
        amount_minor,
        currency: ccy(currency),
        mcc: Some("5812".into()),
        txn_date: Some(BUSINESS_DATE),
        window_days: 30,
        over_bp: 2000,
        file_id: "F-TEST".into(),
        business_date: BUSINESS_DATE,
        now: now(),
    }
}

pub async fn clearing_posts_each_presentment_once_against_its_hold(fx: &Fixture) {
    use ledger::{ClearingOutcome as O, PresentmentKind as K};
    let (a, b) = (&fx.store, &fx.second);
    let opening = wallet(a, "A-3", "KRW").await.balance_minor;
    let approve = |n: u32, amount: i64, ccy: &str| {
        let a = a.clone();
        let ccy = ccy.to_owned();
        async move {
            let d = a.authorize(auth(n, PAN_A3, amount, &ccy)).await.unwrap();
            assert_eq!(d.response_code, ResponseCode::APPROVED);
            d.approval_code.unwrap()
        }
    };
    let c1 = approve(2401, 10_000, "KRW").await;
    let c2 = approve(2402, 20_000, "KRW").await;
    let c3 = approve(2403, 10_000, "KRW").await;
    let c4 = approve(2404, 10_000, "KRW").await;
    let c5 = approve(2405, 30_000, "KRW").await;
    let c6 = approve(2406, 1_000, "USD").await; // 10.00 USD held as 13,852 KRW
    assert_eq!(wallet(a, "A-3", "KRW").await.held_minor, 93_852);

    let post = |p: ledger::Presentment| {
        let a = a.clone();
        async move { a.present(p).await.unwrap() }
    };
    // Exact: the hold becomes the posting.
    let r = post(presentment(
        "A1",
        K::First,
        PAN_A3,
        Some(&c1),
        10_000,
        "KRW",
    ))
    .await;
    assert_eq!(
        (r.outcome, r.posted_minor, r.consumed_minor),
        (O::Matched, 10_000, 10_000)
    );
    assert_eq!(r.matched, Some(key(2401)));
    // Less, final: the rest is released.
    let r = post(presentment(
        "A2",
        K::First,
        PAN_A3,
        Some(&c2),
        15_000,
        "KRW",
    ))
    .await;
    assert_eq!((r.outcome, r.released_minor), (O::Partial, 5_000));
    // A tip within 20 %: the whole hold and the larger posting.
    let r = post(presentment(
        "A3",
        K::First,
        PAN_A3,
        Some(&c3),
        11_500,
        "KRW",
    ))
    .await;
    assert_eq!((r.outcome, r.posted_minor), (O::Over, 11_500));
    // Beyond the tolerance: it clears nothing; forced, the hold stays.
    let r = post(presentment(
        "A4",
        K::First,
        PAN_A3,
        Some(&c4),
        13_000,
        "KRW",
    ))
    .await;
    assert_eq!((r.outcome, r.matched.clone()), (O::Forced, None));
    // A split shipment: two partial amounts keep the rest held, the final releases it.
    let r = post(presentment(
        "A5a",
        K::Partial,
        PAN_A3,
        Some(&c5),
        10_000,
        "KRW",
    ))
    .await;
    assert_eq!((r.outcome, r.released_minor), (O::Partial, 0));
    assert_eq!(
        a.hold(&key(2405)).await.unwrap().unwrap().held_minor,
        20_000
    );
    let r = post(presentment(
        "A5b",
        K::Partial,
        PAN_A3,
        Some(&c5),
        10_000,
        "KRW",
    ))
    .await;
    assert_eq!(r.matched, Some(key(2405)));
    let r = post(presentment(
        "A5c",
        K::First,
        PAN_A3,
        Some(&c5),
        5_000,
        "KRW",
    ))
    .await;
    assert_eq!((r.outcome, r.released_minor), (O::Partial, 5_000));
    // Foreign currency: posted at today's rate, the difference from the hold shown.
    let r = post(presentment("A6", K::First, PAN_A3, Some(&c6), 1_000, "USD")).await;
    assert_eq!((r.outcome, r.posted_minor), (O::Matched, 13_852));
    assert_eq!(r.fx_difference_minor, Some(0));
    // No authorization at all: forced. An unknown card: rejected, nothing moves.
    let r = post(presentment("A7", K::First, PAN_A3, None, 7_000, "KRW")).await;
    assert_eq!(r.outcome, O::Forced);
    let r = post(presentment("A8", K::First, PAN_UNKNOWN, None, 7_000, "KRW")).await;
    assert_eq!(r.outcome, O::Rejected);
    let w = wallet(a, "A-3", "KRW").await;
    let posted = 10_000 + 15_000 + 11_500 + 13_000 + 25_000 + 13_852 + 7_000;
    assert_eq!(w.balance_minor, opening - posted);
    // Only the hold the too-large presentment did not clear is left.
    assert_eq!(w.held_minor, 10_000);
    // Imported again, on another instance: duplicates, nothing moves.
    let r = b
        .present(presentment(
            "A1",
            K::First,
            PAN_A3,
            Some(&c1),
            10_000,
            "KRW",
        ))
        .await
        .unwrap();
    assert_eq!(r.outcome, O::Duplicate);
    let r = b
        .present(presentment("A7", K::First, PAN_A3, None, 7_000, "KRW"))
        .await
        .unwrap();
    assert_eq!(r.outcome, O::Duplicate);
    // A second presentment (after a chargeback) under the same DE 31 is another posting;
    // its hold is long cleared: a late match.
    let r = post(presentment(
        "A1",
        K::Second,
        PAN_A3,
        Some(&c1),
        10_000,
        "KRW",
    ))
    .await;
    assert_eq!((r.outcome, r.late), (O::Matched, true));
    assert_eq!(
        wallet(a, "A-3", "KRW").await.balance_minor,
        opening - posted - 10_000
    );
    // One clearing.posted event per posting, none for duplicates or rejections.
    let events = a.events_after(0, false, 1000).await.unwrap();
    let n = events
        .iter()
        .filter(|e| e.kind == "clearing.posted")
        .count();
    assert_eq!(n, 10);
    assert!(events
        .iter()
        .filter(|e| e.kind == "clearing.posted")
        .all(|e| !e.body.contains(PAN_A3)));
    // The file mark: once.
    assert!(!a.clearing_file_imported("F-TEST").await.unwrap());
    assert!(a
        .mark_clearing_file("F-TEST", 11, BUSINESS_DATE, now())
        .await
        .unwrap());
    assert!(!b
        .mark_clearing_file("F-TEST", 11, BUSINESS_DATE, now())
        .await
        .unwrap());
    assert!(b.clearing_file_imported("F-TEST").await.unwrap());
    assert_eq!(
        a.invariant_violations().await.unwrap(),
        Vec::<String>::new()
    );
}
