//! Holds per second with durability on, for each store, at 1, 16 and 256 concurrent
//! requests, beside the plain fsync rate of the same disk measured in the same run.
//!
//! `cargo bench -p ledger --bench holds`. PostgreSQL: `TEST_DATABASE_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`); its cases are skipped with a line on stderr
//! when it cannot be reached. Each iteration sends one wave of `c` authorizations at once
//! (each a fresh key, 1 KRW, spread over 64 accounts) and waits for all of them;
//! criterion's "thrpt" is holds per second.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use jiff::civil::date;
use ledger::{
    AuthRequest, EmbeddedOptions, EmbeddedStore, NetworkKey, NoRates, Pan, PanHasher, PgOptions,
    PgStore, ResponseCode, SeedData, Store, TransactionKind,
};

const CONCURRENCY: [usize; 3] = [1, 16, 256];
const ACCOUNTS: usize = 64;

fn pan(i: usize) -> String {
    format!("4761739{:09}", i)
}

fn seed() -> SeedData {
    let accounts: Vec<String> = (0..ACCOUNTS)
        .map(|i| {
            format!(r#"{{"id":"B-{i}","home_currency":"KRW","balances":{{"KRW":"100000000000"}}}}"#)
        })
        .collect();
    let cards: Vec<String> = (0..ACCOUNTS)
        .map(|i| {
            format!(
                r#"{{"pan":"{}","expiry":"3012","account":"B-{i}","status":"active"}}"#,
                pan(i)
            )
        })
        .collect();
    let json = format!(
        r#"{{"accounts":[{}],"cards":[{}]}}"#,
        accounts.join(","),
        cards.join(",")
    );
    SeedData::from_json(&json, &hasher(), &|c: &str| (c == "KRW").then_some(0)).unwrap()
}

fn hasher() -> PanHasher {
    PanHasher::new(&[0x42; 32]).unwrap()
}

static NEXT: AtomicU64 = AtomicU64::new(0);

fn request(pans: &[Pan]) -> AuthRequest {
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    // A fresh key per request: STAN cycles, DE 7's seconds and minutes move on.
    let de7 = format!("1125{:06}", n / 1_000_000);
    AuthRequest {
        key: NetworkKey::new("12345", &format!("{:06}", n % 1_000_000), &de7).unwrap(),
        pan: pans[(n as usize) % pans.len()].clone(),
        expiry: None,
        kind: TransactionKind::Purchase,
        amount_minor: 1,
        currency: "KRW".into(),
        allow_partial: false,
        original: None,
        business_date: date(2026, 11, 25),
        now: jiff::Timestamp::now(),
    }
}

fn bench_store(c: &mut Criterion, rt: &tokio::runtime::Runtime, name: &str, store: &Store) {
    let pans: Arc<Vec<Pan>> = Arc::new((0..ACCOUNTS).map(|i| Pan::new(&pan(i)).unwrap()).collect());
    let mut g = c.benchmark_group(format!("holds/{name}"));
    for conc in CONCURRENCY {
        g.throughput(Throughput::Elements(conc as u64));
        g.bench_with_input(BenchmarkId::from_parameter(conc), &conc, |b, &conc| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let start = Instant::now();
                    for _ in 0..iters {
                        let mut wave = Vec::with_capacity(conc);
                        for _ in 0..conc {
                            let (s, r) = (store.clone(), request(&pans));
                            wave.push(tokio::spawn(async move { s.authorize(r).await }));
                        }
                        for t in wave {
                            let d = t.await.unwrap().unwrap();
                            assert_eq!(d.response_code, ResponseCode::APPROVED);
                        }
                    }
                    start.elapsed()
                })
            })
        });
    }
    g.finish();
}

fn holds(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir_in(
        std::env::var_os("LEDGER_BENCH_DIR").map_or_else(std::env::temp_dir, Into::into),
    )
    .unwrap();

    // The baselines, on the disk the ledger file lives on. `overwrite_4KiB` rewrites one
    // block of a preallocated file (no metadata to journal: the cheapest durable write, and
    // the one the ratios in docs/PERFORMANCE.md are taken against); `append_64B` grows the
    // file each time, so ext4 also commits its journal.
    let mut over = OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(dir.path().join("overwrite.bin"))
        .unwrap();
    over.write_all(&[0u8; 4096]).unwrap();
    over.sync_all().unwrap();
    let mut app = OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.path().join("append.bin"))
        .unwrap();
    let mut g = c.benchmark_group("fsync");
    g.throughput(Throughput::Elements(1));
    g.bench_function("overwrite_4KiB_fdatasync", |b| {
        b.iter(|| {
            over.write_all_at(&[1u8; 4096], 0).unwrap();
            over.sync_data().unwrap();
        })
    });
    g.bench_function("append_64B_fdatasync", |b| {
        b.iter(|| {
            app.write_all(&[0u8; 64]).unwrap();
            app.sync_data().unwrap();
        })
    });
    g.finish();

    let embedded: Store = EmbeddedStore::open(
        dir.path().join("ledger.sqlite"),
        hasher(),
        Arc::new(NoRates),
        EmbeddedOptions::default(),
    )
    .unwrap()
    .into();
    rt.block_on(embedded.seed(seed())).unwrap();
    bench_store(c, &rt, "embedded", &embedded);
    drop(embedded);

    let url = std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let pg = rt.block_on(async {
        let schema = format!("ledger_bench_{:08x}", rand::random::<u32>());
        let opts = PgOptions::new(url.clone(), schema);
        Ok::<_, Box<dyn std::error::Error>>(
            PgStore::connect(opts, hasher(), Arc::new(NoRates)).await?,
        )
    });
    match pg {
        Ok(pg) => {
            let store: Store = pg.clone().into();
            rt.block_on(store.seed(seed())).unwrap();
            bench_store(c, &rt, "postgres", &store);
            rt.block_on(pg.drop_schema()).unwrap();
        }
        Err(e) => eprintln!("SKIP postgres cases: {e}"),
    }
}

criterion_group! {
    name = benches;
    // The machine is shared: short, few samples; the spread shows in criterion's interval.
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    targets = holds
}
criterion_main!(benches);
