//! Holds per second with durability on, for each store, at 1, 16 and 256 concurrent
//! requests, beside the plain fsync rate of the same disk measured in the same run.
//!
//! `cargo bench -p ledger --bench holds`. PostgreSQL: `TEST_DATABASE_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`); its cases are skipped with a line on stderr
//! when it cannot be reached. Each iteration sends one wave of `c` authorizations at once
//! (each a fresh key, 1 KRW, spread over 64 accounts) and waits for all of them;
//! criterion's "thrpt" is holds per second.

mod common;

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{bench_dir, embedded, hasher, pans, runtime, seed, wave};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use ledger::{NoRates, PgOptions, PgStore, Store};

const CONCURRENCY: [usize; 3] = [1, 16, 256];

fn bench_store(c: &mut Criterion, rt: &tokio::runtime::Runtime, name: &str, store: &Store) {
    let pans = pans();
    let mut g = c.benchmark_group(format!("holds/{name}"));
    for conc in CONCURRENCY {
        g.throughput(Throughput::Elements(conc as u64));
        g.bench_with_input(BenchmarkId::from_parameter(conc), &conc, |b, &conc| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let start = Instant::now();
                    for _ in 0..iters {
                        wave(store, &pans, conc).await;
                    }
                    start.elapsed()
                })
            })
        });
    }
    g.finish();
}

fn holds(c: &mut Criterion) {
    let rt = runtime();
    let dir = bench_dir();

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

    let embedded = embedded(&rt, dir.path());
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
