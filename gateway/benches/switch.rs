//! Criterion benches of the gateway, each against a baseline measured in the same run:
//!
//! - `framing`: `FrameCodec` splitting 64 coalesced binary2 frames vs a hand-written split
//!   (read two bytes, `split_to`) with no checks.
//! - `roundtrip`: over loopback TCP, one 0800 echo through the switch vs the same bytes
//!   bounced by a bare framed echo server (the cost of decode, route, encode, tasks).
//! - `pipelined64`: 64 requests written at once on one connection and all answers read: 0800
//!   echoes and 0100 approvals (embedded ledger, group commit with fsync) vs the bare echo.
//! - `metrics`: counting one answered request (`Metrics::request`: the per-(MTI, code)
//!   counter and the latency histogram) with our atomics vs the idiomatic use of
//!   prometheus-client's own types (`Family<labels, Counter>` + `Histogram`), on one thread
//!   and on two at once (the machine's cores contending). Why the hot path keeps its atomics
//!   while the exposition is prometheus-client's (`gateway/src/metrics.rs`).

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use bytes::{Buf, BytesMut};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use framing::{FrameCodec, LengthPrefix};
use gateway::metrics::Metrics;
use iso8583::{OwnedMessage, Spec};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Runtime;
use tokio_util::codec::Decoder;

fn spec() -> &'static Spec {
    Spec::builtin("iso87-binary").unwrap()
}

fn echo_body(stan: u32) -> Vec<u8> {
    let mut m = OwnedMessage::new("0800".parse().unwrap());
    m.set(7, "1125063015")
        .set(11, format!("{stan:06}"))
        .set(70, "301");
    m.encode(spec()).unwrap()
}

/// A 1 KRW purchase; `n` makes its key unique (DE 11 and DE 7 together).
fn purchase_body(n: u32) -> Vec<u8> {
    let mut m = OwnedMessage::new("0100".parse().unwrap());
    m.set(2, "4761739001010010")
        .set(3, "000000")
        .set(4, "000000000001")
        .set(7, format!("1125{:06}", n / 1_000_000))
        .set(11, format!("{:06}", n % 1_000_000))
        .set(32, "12345")
        .set(49, "410");
    m.encode(spec()).unwrap()
}

fn framed(bodies: impl Iterator<Item = Vec<u8>>) -> Vec<u8> {
    let mut out = Vec::new();
    for b in bodies {
        out.extend_from_slice(&(b.len() as u16).to_be_bytes());
        out.extend_from_slice(&b);
    }
    out
}

fn framing(c: &mut Criterion) {
    let wire = framed((0..64).map(echo_body));
    let mut g = c.benchmark_group("framing");
    g.throughput(Throughput::Elements(64));
    g.bench_function("baseline_split", |b| {
        b.iter(|| {
            let mut buf = BytesMut::from(&wire[..]);
            let mut n = 0;
            while buf.len() >= 2 {
                let len = usize::from(u16::from_be_bytes([buf[0], buf[1]]));
                buf.advance(2);
                let body = buf.split_to(len);
                n += body.len();
            }
            n
        })
    });
    g.bench_function("frame_codec", |b| {
        let mut codec = FrameCodec::new(LengthPrefix::Binary2, 0, 8192);
        b.iter(|| {
            let mut buf = BytesMut::from(&wire[..]);
            let mut n = 0;
            while let Some(f) = codec.decode(&mut buf).unwrap() {
                n += f.body.len();
            }
            n
        })
    });
    g.finish();
}

/// A framed echo server: the baseline of a network round trip with no switch work.
async fn bare_echo() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (mut s, _) = l.accept().await.unwrap();
            s.set_nodelay(true).unwrap();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 64 * 1024];
                loop {
                    let n = match s.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => n,
                    };
                    if s.write_all(&buf[..n]).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

async fn exchange(s: &mut TcpStream, wire: &[u8], frames: usize) {
    s.write_all(wire).await.unwrap();
    let mut len = [0u8; 2];
    let mut body = vec![0u8; 8192];
    for _ in 0..frames {
        s.read_exact(&mut len).await.unwrap();
        let n = usize::from(u16::from_be_bytes(len));
        s.read_exact(&mut body[..n]).await.unwrap();
    }
}

fn network(c: &mut Criterion) {
    let rt = Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let text = format!(
        "[admin]\naddress = \"127.0.0.1:0\"\n[log]\nlevel = \"error\"\n[ledger]\nembedded = \"{}\"\nseed = \"{}\"\npan_key = \"bench-pan-key-0123456789-0123456789\"\n[rates]\nfile = \"{}\"\n[[listener]]\nname = \"bench\"\naddress = \"127.0.0.1:0\"\n",
        dir.path().join("ledger.sqlite").display(),
        data.join("cards.json").display(),
        data.join("rates.csv").display()
    );
    let config = gateway::config::parse(&text, Path::new(".")).unwrap();
    let gw = rt.block_on(gateway::app::start(config)).unwrap();
    let echo_addr = rt.block_on(bare_echo());
    let mut to_gw = rt.block_on(TcpStream::connect(gw.addr())).unwrap();
    let mut to_echo = rt.block_on(TcpStream::connect(echo_addr)).unwrap();
    to_gw.set_nodelay(true).unwrap();
    to_echo.set_nodelay(true).unwrap();

    let one = framed(std::iter::once(echo_body(1)));
    let mut g = c.benchmark_group("roundtrip");
    g.bench_function(BenchmarkId::new("bare_echo", "0800"), |b| {
        b.iter(|| rt.block_on(exchange(&mut to_echo, &one, 1)))
    });
    g.bench_function(BenchmarkId::new("switch", "0800"), |b| {
        b.iter(|| rt.block_on(exchange(&mut to_gw, &one, 1)))
    });
    g.finish();

    let echoes = framed((0..64).map(echo_body));
    let mut g = c.benchmark_group("pipelined64");
    g.throughput(Throughput::Elements(64));
    g.bench_function(BenchmarkId::new("bare_echo", "0800"), |b| {
        b.iter(|| rt.block_on(exchange(&mut to_echo, &echoes, 64)))
    });
    g.bench_function(BenchmarkId::new("switch", "0800"), |b| {
        b.iter(|| rt.block_on(exchange(&mut to_gw, &echoes, 64)))
    });
    // Fresh keys each round: every request is a new approval with a durable hold. Check once
    // that they are approvals, so the figure is not that of a decline.
    rt.block_on(async {
        to_gw
            .write_all(&framed(std::iter::once(purchase_body(999))))
            .await
            .unwrap();
        let mut len = [0u8; 2];
        to_gw.read_exact(&mut len).await.unwrap();
        let mut body = vec![0u8; usize::from(u16::from_be_bytes(len))];
        to_gw.read_exact(&mut body).await.unwrap();
        let r = iso8583::decode(spec(), &body).unwrap();
        assert_eq!(
            r.text(39).as_deref(),
            Some("00"),
            "bench purchases are approved"
        );
    });
    let mut next = 1000u32;
    g.bench_function(BenchmarkId::new("switch", "0100_approve"), |b| {
        b.iter(|| {
            let wire = framed((next..next + 64).map(purchase_body));
            next += 64;
            rt.block_on(exchange(&mut to_gw, &wire, 64))
        })
    });
    g.finish();
    rt.block_on(gw.drain());
}

/// The request labels as prometheus-client's label families want them: owned values.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    mti: String,
    code: String,
}

/// prometheus-client's types doing what `Metrics::request` does.
struct CrateMetrics {
    requests: Family<RequestLabels, Counter>,
    latency: Histogram,
}

impl CrateMetrics {
    fn new() -> Self {
        // The same bounds as gateway::metrics' latency histogram, in seconds.
        let bounds = [
            0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
        ];
        CrateMetrics {
            requests: Family::default(),
            latency: Histogram::new(bounds),
        }
    }

    fn request(&self, mti: &str, code: &str, latency: Duration) {
        self.requests
            .get_or_create(&RequestLabels {
                mti: mti.to_owned(),
                code: code.to_owned(),
            })
            .inc();
        self.latency.observe(latency.as_secs_f64());
    }
}

const PAIRS: [(&str, &str); 4] = [
    ("0100", "00"),
    ("0100", "51"),
    ("0200", "00"),
    ("0400", "00"),
];

/// `iters` calls of `f` on each of two threads at once; the time of the slower thread.
fn on_two_threads(iters: u64, f: &(dyn Fn(usize) + Sync)) -> Duration {
    let start = std::sync::Barrier::new(2);
    std::thread::scope(|s| {
        let run = || {
            start.wait();
            let t0 = Instant::now();
            for i in 0..iters {
                f(i as usize);
            }
            t0.elapsed()
        };
        let a = s.spawn(run);
        let b = s.spawn(run);
        a.join().unwrap().max(b.join().unwrap())
    })
}

fn metrics(c: &mut Criterion) {
    let ours = Metrics::default();
    let theirs = CrateMetrics::new();
    let lat = Duration::from_micros(700);
    let mut g = c.benchmark_group("metrics");
    g.bench_function(BenchmarkId::new("request", "atomics"), |b| {
        let mut i = 0;
        b.iter(|| {
            let (m, code) = PAIRS[i & 3];
            i += 1;
            ours.request(m, code, lat)
        })
    });
    g.bench_function(BenchmarkId::new("request", "prometheus_client"), |b| {
        let mut i = 0;
        b.iter(|| {
            let (m, code) = PAIRS[i & 3];
            i += 1;
            theirs.request(m, code, lat)
        })
    });
    g.bench_function(BenchmarkId::new("request_2_threads", "atomics"), |b| {
        b.iter_custom(|iters| {
            on_two_threads(iters, &|i| {
                let (m, code) = PAIRS[i & 3];
                ours.request(m, code, lat)
            })
        })
    });
    g.bench_function(
        BenchmarkId::new("request_2_threads", "prometheus_client"),
        |b| {
            b.iter_custom(|iters| {
                on_two_threads(iters, &|i| {
                    let (m, code) = PAIRS[i & 3];
                    theirs.request(m, code, lat)
                })
            })
        },
    );
    g.finish();
}

criterion_group!(benches, framing, network, metrics);
criterion_main!(benches);
