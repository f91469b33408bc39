//! Conversion speed (target: under 300 ns) and snapshot reads while the snapshot is replaced.
//!
//! `baseline/*` measure, in the same run, the arithmetic no conversion can avoid (one decimal
//! multiplication and one rounding), so figures can be read as ratios on a noisy machine.

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use fx_rates::{convert, currency, CacheOptions, ConvertOptions, RateCache, RateSet, Rounding};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;

/// A realistic publication: every currency of the table against USD (about 160 pairs).
fn usd_set(version: &str, bump: u32) -> RateSet {
    let mut csv = String::from("base,quote,rate\n");
    for (i, c) in fx_rates::currencies().iter().enumerate() {
        if c.alpha != "USD" {
            csv.push_str(&format!(
                "USD,{},{}.{:04}\n",
                c.alpha,
                1 + i as u32 * 7,
                1234 + bump
            ));
        }
    }
    RateSet::from_csv(&csv, version).unwrap()
}

fn bench_convert(c: &mut Criterion) {
    let set = usd_set("bench", 0);
    let opts = ConvertOptions::default();
    let usd = currency("USD").unwrap();
    let krw = currency("KRW").unwrap();
    let eur = currency("EUR").unwrap();
    let mut g = c.benchmark_group("convert");
    g.bench_function("baseline/decimal_mul_round", |b| {
        let (a, r) = (Decimal::new(123_456, 2), dec!(1385.2051));
        b.iter(|| Rounding::HalfEven.round(black_box(a) * black_box(r), 0))
    });
    g.bench_function("direct_usd_krw", |b| {
        b.iter(|| convert(&set, black_box(123_456), usd, krw, &opts).unwrap())
    });
    g.bench_function("inverse_krw_usd", |b| {
        b.iter(|| convert(&set, black_box(123_456), krw, usd, &opts).unwrap())
    });
    g.bench_function("cross_eur_krw", |b| {
        b.iter(|| convert(&set, black_box(123_456), eur, krw, &opts).unwrap())
    });
    let cache = RateCache::from_set(
        usd_set("bench", 0),
        CacheOptions {
            max_age: Some(Duration::from_secs(3600)),
            ..CacheOptions::default()
        },
    );
    g.bench_function("cache_cross_eur_krw", |b| {
        b.iter(|| cache.convert(black_box(123_456), eur, krw).unwrap())
    });
    g.bench_function("cache_same_currency", |b| {
        b.iter(|| cache.convert(black_box(123_456), krw, krw).unwrap())
    });
    g.finish();
}

fn bench_snapshot_under_refresh(c: &mut Criterion) {
    let eur = currency("EUR").unwrap();
    let krw = currency("KRW").unwrap();
    let sets = [Arc::new(usd_set("a", 0)), Arc::new(usd_set("b", 1))];
    let cache = RateCache::from_set(usd_set("start", 0), CacheOptions::default());
    let mut g = c.benchmark_group("snapshot");
    g.bench_function("read_quiet", |b| b.iter(|| black_box(cache.snapshot())));
    g.bench_function("convert_quiet", |b| {
        b.iter(|| cache.convert(black_box(10_000), eur, krw).unwrap())
    });

    // A refresher swapping the snapshot as fast as it can ("spin": far harsher than any real
    // source) and one swapping every 100 us ("paced": still 10^4 times a real publication rate).
    for (name, pause) in [("spin", None), ("paced", Some(Duration::from_micros(100)))] {
        let stop = Arc::new(AtomicBool::new(false));
        let refresher = {
            let (cache, stop, sets) = (cache.clone(), stop.clone(), sets.clone());
            std::thread::spawn(move || {
                let mut swaps = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    cache.install(Arc::clone(&sets[(swaps % 2) as usize]));
                    swaps += 1;
                    if let Some(p) = pause {
                        std::thread::sleep(p);
                    }
                }
                swaps
            })
        };
        g.bench_function(format!("read_under_refresh_{name}"), |b| {
            b.iter(|| black_box(cache.snapshot()))
        });
        g.bench_function(format!("convert_under_refresh_{name}"), |b| {
            b.iter(|| cache.convert(black_box(10_000), eur, krw).unwrap())
        });
        stop.store(true, Ordering::Relaxed);
        let swaps = refresher.join().unwrap();
        eprintln!("snapshot: {swaps} swaps during the {name} refresh benches");
    }
    g.finish();
}

criterion_group!(benches, bench_convert, bench_snapshot_under_refresh);
criterion_main!(benches);
