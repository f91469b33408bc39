//! How authorization latency grows with the size of the embedded ledger: the store is grown to
//! 1 thousand, 10 thousand, 100 thousand and 1 million holds (10 million with
//! `LEDGER_SIZE_MAX=10000000`), and at each size criterion measures one authorization alone
//! (concurrency 1: one hold, one commit, one fsync: p50 and p99 of 200) and waves of 256 at
//! once (group commit: holds per second over 20 waves). Read the growth as ratios against the
//! first point of the same run. Not criterion: its time-based iteration would grow the store
//! by an unknown amount while measuring one size; here each point adds 5 320 holds.
//!
//! `cargo bench -p ledger --bench size` (LEDGER_BENCH_DIR picks the disk, default the temp dir)

mod common;

use std::os::unix::fs::FileExt;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use common::{bench_dir, embedded, pans, runtime, wave, NEXT};

/// Requests in flight while the store is grown between measurements.
const GROW_WAVE: usize = 512;
/// Authorizations timed one at a time at each size.
const ALONE: usize = 200;
/// Waves of 256 concurrent authorizations timed at each size.
const WAVES: usize = 20;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 * p) as usize).min(sorted.len() - 1)]
}

fn main() {
    let rt = runtime();
    let dir = bench_dir();
    let max: u64 = std::env::var("LEDGER_SIZE_MAX")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let store = embedded(&rt, dir.path());
    let probe = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(dir.path().join("fsync-probe.bin"))
        .unwrap();
    probe.write_all_at(&[0u8; 4096], 0).unwrap();
    probe.sync_all().unwrap();
    let pans = pans();

    println!(
        "| holds in the ledger | file MiB | fsync p50 us | alone: p50 us | alone: p99 us | \
         alone p50 / fsync p50 | 256 at once: holds/s | holds/s x first | grown at holds/s |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let mut first: Option<f64> = None;
    let mut target = 1_000u64;
    while target <= max {
        // Grow (not measured) to `target` holds.
        let started = Instant::now();
        let before = NEXT.load(Ordering::Relaxed);
        rt.block_on(async {
            while NEXT.load(Ordering::Relaxed) < target {
                let left = (target - NEXT.load(Ordering::Relaxed)) as usize;
                wave(&store, &pans, left.min(GROW_WAVE)).await;
            }
        });
        let grow_rate =
            (NEXT.load(Ordering::Relaxed) - before) as f64 / started.elapsed().as_secs_f64();
        let size = NEXT.load(Ordering::Relaxed);
        let bytes = std::fs::metadata(dir.path().join("ledger.sqlite")).map_or(0, |m| m.len());
        // One authorization at a time: its own transaction and fsync.
        let mut alone: Vec<Duration> = rt.block_on(async {
            let mut v = Vec::with_capacity(ALONE);
            for _ in 0..ALONE {
                let t = Instant::now();
                wave(&store, &pans, 1).await;
                v.push(t.elapsed());
            }
            v
        });
        alone.sort();
        // The disk's own durable write at this moment: rewrite 4 KiB and fdatasync.
        let mut fs: Vec<Duration> = (0..ALONE)
            .map(|_| {
                let t = Instant::now();
                probe.write_all_at(&[1u8; 4096], 0).unwrap();
                probe.sync_data().unwrap();
                t.elapsed()
            })
            .collect();
        fs.sort();
        let fsync50 = percentile(&fs, 0.5).as_secs_f64() * 1e6;
        // Waves of 256: group commit.
        let waves = rt.block_on(async {
            let t = Instant::now();
            for _ in 0..WAVES {
                wave(&store, &pans, 256).await;
            }
            (WAVES * 256) as f64 / t.elapsed().as_secs_f64()
        });
        let p50 = percentile(&alone, 0.5).as_secs_f64() * 1e6;
        let p99 = percentile(&alone, 0.99).as_secs_f64() * 1e6;
        let fw = *first.get_or_insert(waves);
        println!(
            "| {size} | {} | {fsync50:.0} | {p50:.0} | {p99:.0} | x{:.2} | {waves:.0} | x{:.2} | \
             {grow_rate:.0} |",
            bytes >> 20,
            p50 / fsync50,
            waves / fw
        );
        target *= 10;
    }
}
