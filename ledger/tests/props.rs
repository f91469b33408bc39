//! Random sequences of operations (authorize, repeat, reverse in full or in part, advise,
//! complete, void, expire, cutover) on random cards and currencies, run on the memory, SQLite
//! and PostgreSQL engines side by side: every step's answer is the same on the three, the
//! ledger's invariants hold after every step, and the three end in the same state.

mod common;

use std::sync::Arc;

use common::*;
use jiff::{SignedDuration, Timestamp};
use ledger::{
    AdviceRequest, CaptureRequest, Decision, EmbeddedOptions, EmbeddedStore, LedgerError,
    MemoryOptions, MemoryStore, Pan, PgOptions, PgStore, ResponseCode, ReversalRequest, Store,
    Terms,
};
use proptest::prelude::*;

/// One step; indices pick among the keys used so far (modulo), so every step is valid input
/// whatever came before.
#[derive(Clone, Debug)]
enum Step {
    Authorize {
        card: usize,
        amount: i64,
        ccy: usize,
        partial: bool,
        incremental_of: Option<usize>,
    },
    Repeat {
        of: usize,
    },
    Reverse {
        of: usize,
        keep: Option<i64>,
    },
    Advise {
        card: usize,
        amount: i64,
        of: Option<usize>,
    },
    Capture {
        of: usize,
        amount: i64,
    },
    Void {
        of: usize,
    },
    Expire {
        hours: i64,
    },
    Cutover,
}

const CARDS: [&str; 4] = [PAN_A1, PAN_A2, PAN_A3, PAN_LOST];
const CCYS: [&str; 4] = ["KRW", "USD", "EUR", "JPY"];

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (0..4usize, 1..200_000i64, 0..4usize, any::<bool>(), prop::option::weighted(0.2, 0..64usize))
            .prop_map(|(card, amount, ccy, partial, incremental_of)| Step::Authorize { card, amount, ccy, partial, incremental_of }),
        2 => (0..64usize).prop_map(|of| Step::Repeat { of }),
        2 => (0..64usize, prop::option::of(1..100_000i64)).prop_map(|(of, keep)| Step::Reverse { of, keep }),
        1 => (0..4usize, 1..50_000i64, prop::option::weighted(0.5, 0..64usize))
            .prop_map(|(card, amount, of)| Step::Advise { card, amount, of }),
        1 => (0..64usize, 1..200_000i64).prop_map(|(of, amount)| Step::Capture { of, amount }),
        1 => (0..64usize).prop_map(|of| Step::Void { of }),
        1 => (1..200i64).prop_map(|hours| Step::Expire { hours }),
        1 => Just(Step::Cutover),
    ]
}

/// What a step answered, as comparable across engines (approval codes differ: PostgreSQL
/// takes them from a sequence with gaps).
#[derive(Debug, PartialEq, Eq)]
enum Answer {
    Decided {
        code: ResponseCode,
        approved: i64,
        billing: Option<i64>,
        replayed: bool,
    },
    Count(usize),
    Date(jiff::civil::Date),
    Error(String),
}

fn answer(r: Result<Decision, LedgerError>) -> Answer {
    match r {
        Ok(d) => Answer::Decided {
            code: d.response_code,
            approved: d.approved_minor,
            billing: d.billing.map(|b| b.amount_minor),
            replayed: d.replayed,
        },
        Err(e) => Answer::Error(match e {
            LedgerError::NoHold(_) => "no hold".into(),
            other => other.to_string(),
        }),
    }
}

struct Run {
    keys: Vec<u32>,
    next: u32,
    now: Timestamp,
    business_date: jiff::civil::Date,
}

impl Run {
    fn new() -> Self {
        Run {
            keys: Vec::new(),
            next: 10_000,
            now: now(),
            business_date: BUSINESS_DATE,
        }
    }

    fn fresh(&mut self) -> u32 {
        self.next += 1;
        self.keys.push(self.next);
        self.next
    }

    fn pick(&self, i: usize) -> Option<u32> {
        (!self.keys.is_empty()).then(|| self.keys[i % self.keys.len()])
    }
}

fn auth_req(
    run: &Run,
    n: u32,
    card: usize,
    amount: i64,
    ccy: usize,
    partial: bool,
    original: Option<u32>,
) -> ledger::AuthRequest {
    let mut r = auth(n, CARDS[card], amount, CCYS[ccy]);
    r.allow_partial = partial;
    r.original = original.map(key);
    r.business_date = run.business_date;
    r.now = run.now;
    r
}

/// Runs `step` on `store`, `run` being the same bookkeeping for every engine.
async fn apply(store: &Store, run: &Run, step: &Step, n: Option<u32>) -> Answer {
    match step {
        Step::Authorize {
            card,
            amount,
            ccy,
            partial,
            incremental_of,
        } => {
            let orig = incremental_of.and_then(|i| run.pick(i));
            let r = auth_req(run, n.unwrap(), *card, *amount, *ccy, *partial, orig);
            answer(store.authorize(r).await)
        }
        Step::Repeat { of } => {
            let Some(k) = run.pick(*of) else {
                return Answer::Count(0);
            };
            // The same request again, as its original was built (cards and amounts are a
            // function of the key, so a repeat is a true repeat).
            let r = auth_req(
                run,
                k,
                (k as usize) % 4,
                1_000 + i64::from(k % 97),
                (k as usize) % 4,
                false,
                None,
            );
            answer(store.authorize(r).await)
        }
        Step::Reverse { of, keep } => {
            let Some(orig) = run.pick(*of) else {
                return Answer::Count(0);
            };
            let r = ReversalRequest {
                key: key(n.unwrap()),
                terms: Terms::default(),
                original: key(orig),
                keep_minor: *keep,
                business_date: run.business_date,
                now: run.now,
                pan: None,
            };
            answer(store.reverse(r).await)
        }
        Step::Advise { card, amount, of } => {
            let r = AdviceRequest {
                key: key(n.unwrap()),
                terms: Terms::default(),
                pan: Pan::new(CARDS[*card]).unwrap(),
                amount_minor: *amount,
                currency: ccy("KRW"),
                response_code: ResponseCode::APPROVED,
                approval_code: None,
                original: of.and_then(|i| run.pick(i)).map(key),
                business_date: run.business_date,
                now: run.now,
            };
            answer(store.advise(r).await)
        }
        Step::Capture { of, amount } => {
            let Some(orig) = run.pick(*of) else {
                return Answer::Count(0);
            };
            let r = CaptureRequest {
                key: key(n.unwrap()),
                terms: Terms::default(),
                original: key(orig),
                amount_minor: *amount,
                business_date: run.business_date,
                now: run.now,
            };
            answer(store.capture(r).await)
        }
        Step::Void { of } => {
            let Some(k) = run.pick(*of) else {
                return Answer::Count(0);
            };
            answer(
                store
                    .void_timed_out(key(k), run.business_date, run.now)
                    .await,
            )
        }
        Step::Expire { .. } => match store.expire(run.now, 1000).await {
            Ok(c) => Answer::Count(c),
            Err(e) => Answer::Error(e.to_string()),
        },
        Step::Cutover => match store
            .cutover(format!("props:{}", run.next), run.business_date, run.now)
            .await
        {
            Ok(d) => Answer::Date(d),
            Err(e) => Answer::Error(e.to_string()),
        },
    }
}

/// Everything that defines a ledger's state, comparable across engines.
async fn state(s: &Store) -> (Vec<String>, Vec<String>) {
    let wallets = s
        .export_balances()
        .await
        .unwrap()
        .into_iter()
        .map(|w| {
            format!(
                "{}/{} {} {}",
                w.account_id, w.currency, w.balance_minor, w.held_minor
            )
        })
        .collect();
    let holds = s
        .holds()
        .await
        .unwrap()
        .into_iter()
        .map(|h| {
            format!(
                "{} {} {} {} {}",
                h.key,
                h.status.as_str(),
                h.held_minor,
                h.captured_minor,
                h.currency
            )
        })
        .collect();
    (wallets, holds)
}

async fn engines() -> (Vec<Store>, Vec<tempfile::TempDir>, Option<PgStore>) {
    let q: Arc<dyn ledger::Quoter> = Arc::new(FixedQuoter);
    let memory: Store = MemoryStore::new(hasher(), q.clone(), MemoryOptions::default()).into();
    let dir = tempfile::tempdir().unwrap();
    let sqlite: Store = EmbeddedStore::open(
        dir.path().join("l.sqlite"),
        hasher(),
        q.clone(),
        EmbeddedOptions::default(),
    )
    .unwrap()
    .into();
    let mut stores = vec![memory, sqlite];
    let mut pg = None;
    match tokio_postgres::connect(&database_url(), tokio_postgres::NoTls).await {
        Ok(_) => {
            let schema = format!("ledger_test_{:016x}", rand::random::<u64>());
            let p = PgStore::connect(PgOptions::new(database_url(), schema), hasher(), q)
                .await
                .unwrap();
            stores.push(p.clone().into());
            pg = Some(p);
        }
        Err(e) if std::env::var_os("CI").is_some() => {
            panic!("PostgreSQL unreachable with CI set: {e}")
        }
        Err(e) => eprintln!("PostgreSQL unreachable ({e}): memory and SQLite only"),
    }
    for s in &stores {
        s.seed(seed_data()).await.unwrap();
    }
    (stores, vec![dir], pg)
}

fn run_case(steps: Vec<Step>) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let (stores, _dirs, pg) = engines().await;
        let mut run = Run::new();
        for (i, step) in steps.iter().enumerate() {
            let n = match step {
                Step::Authorize { .. }
                | Step::Reverse { .. }
                | Step::Advise { .. }
                | Step::Capture { .. } => Some(run.fresh()),
                _ => None,
            };
            // Amounts and cards of a repeat are a function of its key: make the first
            // authorization under a key use them too.
            let step = match (step, n) {
                (
                    Step::Authorize {
                        partial,
                        incremental_of,
                        ..
                    },
                    Some(k),
                ) => Step::Authorize {
                    card: (k as usize) % 4,
                    amount: 1_000 + i64::from(k % 97) * if *partial { 1_000 } else { 1 },
                    ccy: (k as usize) % 4,
                    partial: false,
                    incremental_of: *incremental_of,
                },
                _ => step.clone(),
            };
            let mut answers = Vec::new();
            for s in &stores {
                answers.push(apply(s, &run, &step, n).await);
            }
            for (e, a) in answers.iter().enumerate().skip(1) {
                assert_eq!(
                    a, &answers[0],
                    "step {i} {step:?}: engine {e} answered otherwise"
                );
            }
            let v = stores[0].invariant_violations().await.unwrap();
            assert!(v.is_empty(), "step {i} {step:?}: {v:?}");
            match step {
                Step::Expire { hours } => run.now += SignedDuration::from_hours(hours),
                Step::Cutover => {
                    if let Answer::Date(d) = answers[0] {
                        run.business_date = d;
                    }
                }
                _ => run.now += SignedDuration::from_secs(1),
            }
        }
        if std::env::var_os("PROPS_SHOW").is_some() {
            eprintln!("{:?}", state(&stores[0]).await.1);
        }
        let want = state(&stores[0]).await;
        for (e, s) in stores.iter().enumerate().skip(1) {
            assert!(
                s.invariant_violations().await.unwrap().is_empty(),
                "engine {e}"
            );
            assert_eq!(
                state(s).await,
                want,
                "engine {e} ends in another state than memory"
            );
        }
        if let Some(p) = pg {
            p.drop_schema().await.unwrap();
        }
    });
}

proptest! {
    // Each case starts three stores (one a PostgreSQL schema): few cases, many steps each.
    #![proptest_config(ProptestConfig { cases: 12, max_shrink_iters: 64, ..ProptestConfig::default() })]

    #[test]
    fn three_engines_answer_alike_and_keep_the_invariants(steps in prop::collection::vec(step(), 20..60)) {
        run_case(steps);
    }
}
