//! Decode and encode of a realistic authorization request (15 fields: PAN, track 2, PIN block,
//! ICC data ...) in every built-in spec. The baseline, measured in the same run, is one pass
//! over the same bytes (a byte sum), so figures can be read as ratios on a noisy shared machine.
//!
//! cargo bench -p iso8583 --bench codec

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use iso8583::{decode, Mti, OwnedMessage, Spec, VersionRule};
use std::hint::black_box;
use std::time::Duration;

fn auth_request(spec: &Spec) -> OwnedMessage {
    let mti = if spec.version() == VersionRule::Iso1993 {
        "1100"
    } else {
        "0100"
    };
    let icc = hex::decode(
        "9F02060000000015009F03060000000000009F1A0208405F2A020840950500000080009A03251125\
         9C01009F3704A1B2C3D49F2608C2D1E0F1A2B3C4D59F270180",
    )
    .unwrap();
    OwnedMessage::new(mti.parse::<Mti>().unwrap())
        .with(2, "4761739001010119")
        .with(3, "000000")
        .with(4, "000000001500")
        .with(7, "1125063015")
        .with(11, "000123")
        .with(14, "2812")
        .with(18, "5411")
        .with(32, "12345678901")
        .with(35, "4761739001010119=28122011143804400000")
        .with(37, "532914000123")
        .with(41, "TERM0001")
        .with(42, "MERCHANT0000001")
        .with(49, "840")
        .with(52, hex::decode("A1B2C3D4E5F60718").unwrap())
        .with(55, icc)
}

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
