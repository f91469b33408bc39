//! Decode and encode of a realistic authorization request (15 fields: PAN, track 2, PIN block,
//! ICC data ...) in every built-in spec. The baseline, measured in the same run, is one pass
//! over the same bytes (a byte sum), so figures can be read as ratios on a noisy shared machine.
//!
//! cargo bench -p iso8583 --bench codec

// The same message as the tests and bench/peers.
#[path = "../tests/common/mod.rs"]
mod common;

use common::auth_request;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use iso8583::{decode, Spec};
use std::hint::black_box;
use std::time::Duration;

fn codec(c: &mut Criterion) {
    for name in Spec::builtin_names() {
        let spec = Spec::builtin(name).unwrap();
        let msg = auth_request(spec);
        let bytes = msg.encode(spec).unwrap();
        let mut g = c.benchmark_group(*name);
        g.throughput(Throughput::Bytes(bytes.len() as u64));
        g.bench_function(BenchmarkId::new("baseline_byte_sum", bytes.len()), |b| {
            b.iter(|| {
                black_box(&bytes)
                    .iter()
                    .fold(0u32, |s, &x| s.wrapping_add(u32::from(x)))
            })
        });
        g.bench_function("decode", |b| {
            b.iter(|| decode(spec, black_box(&bytes)).unwrap().fields().count())
        });
        g.bench_function("decode_read_all_text", |b| {
            b.iter(|| {
                let m = decode(spec, black_box(&bytes)).unwrap();
                m.fields()
                    .filter_map(|n| m.text(n))
                    .map(|t| t.len())
                    .sum::<usize>()
            })
        });
        // What the switch does with each request: keep it beyond the frame, then build the
        // response from it (a dozen echoed fields and two more).
        g.bench_function("decode_to_owned_and_respond", |b| {
            b.iter(|| {
                let req = decode(spec, black_box(&bytes)).unwrap().to_owned_message();
                common::respond(&req, &[(15, "0309"), (39, "00")])
            })
        });
        g.bench_function("encode", |b| {
            b.iter(|| black_box(&msg).encode(spec).unwrap())
        });
        let mut out = Vec::with_capacity(1024);
        g.bench_function("encode_into_reused_buffer", |b| {
            b.iter(|| {
                out.clear();
                black_box(&msg).encode_into(spec, &mut out).unwrap();
                out.len()
            })
        });
        g.finish();
    }
}

fn config() -> Criterion {
    // Short runs: the machine is shared (2 cores).
    Criterion::default()
        .sample_size(50)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
}

criterion_group! {
    name = benches;
    config = config();
    targets = codec
}
criterion_main!(benches);
