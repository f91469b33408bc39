//! Hostile input over real TCP against the real binary (`gateway serve`): garbage, length
//! headers of 0, 1, the maximum, one past it and 65535, a truncated frame followed by silence,
//! a frame written one byte at a time, 10,000 connections left idle, and a reader that never
//! reads its responses. Each test checks that the process stays up, that a well-behaved
//! connection keeps getting correct answers during and after the attack, and where memory
//! could grow, that the gateway's resident memory (`VmRSS` of its process) stays bounded.

mod common;

use std::net::SocketAddr;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Growth of the gateway's resident memory an attack may cause. Measured on a debug build
/// (idle RSS about 22 MB): 10,000 connections add about 1 MB, the stalled reader about 5 MB
/// (in-flight limit 512: at most 512 requests and 516 responses are held in the process; what
/// the kernel buffers is bounded by the socket buffer limits).
const RSS_GROWTH_BOUND_KB: u64 = 48 * 1024;

/// The `read_timeout_ms` these tests configure: a started frame must complete within it.
const READ_TIMEOUT_MS: u64 = 600;

/// The gateway binary on the embedded sandbox, killed on drop.
struct Gateway {
    child: Child,
    listen: SocketAddr,
    admin: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Gateway {
    /// Starts `gateway serve` with `limits` added to the `[limits]` table.
    async fn start(limits: &str) -> Gateway {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("gateway.toml");
        let text = embedded_config_text(dir.path()).replace(
            "[limits]",
            &format!("[limits]\nread_timeout_ms = {READ_TIMEOUT_MS}\n{limits}"),
        );
        std::fs::write(&cfg, text).unwrap();
        let (listen, admin) = (free_addr(), free_addr());
        let child = serve(&cfg, listen, admin, Stdio::null());
        let gw = Gateway {
            child,
            listen,
            admin,
            _dir: dir,
        };
        wait_ready(gw.admin).await;
        gw
    }

    /// The process is still running.
    fn assert_alive(&mut self) {
        assert!(
            self.child.try_wait().unwrap().is_none(),
            "the gateway process exited"
        );
    }

    /// Resident memory of the gateway process, in KiB.
    fn rss_kb(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("/proc/PID/status (these tests need Linux)");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS")
    }

    /// A metric's value from `/metrics` (0 when absent).
    async fn metric(&self, name: &str) -> i64 {
        let (_, body) = http_get(self.admin, "/metrics").await;
        body.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or(0)
    }

    async fn client(&self) -> Client {
        Client::connect(self.listen).await
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An echo test on `c` is answered 0810 / 00 with its own STAN.
async fn assert_served(c: &mut Client) {
    let s = stan();
    let r = c.call(&network("301", &s)).await;
    assert_eq!(r.mti().as_str(), "0810");
    assert_eq!(de39(&r), "00");
    assert_eq!(r.get_str(11), Some(s.as_str()));
}

/// The peer closes `stream` (EOF or reset) within `within`; returns how long it took.
async fn assert_closed(stream: &mut TcpStream, within: Duration) -> Duration {
    let t0 = Instant::now();
    let mut buf = [0u8; 512];
    loop {
        match tokio::time::timeout_at((t0 + within).into(), stream.read(&mut buf)).await {
            Err(_) => panic!("connection still open after {within:?}"),
            Ok(Ok(0) | Err(_)) => return t0.elapsed(),
            Ok(Ok(_)) => {} // an answer to something sent before; keep reading
        }
    }
}

/// Bytes of a binary2 frame with header `len` followed by `body`.
fn framed(len: u16, body: &[u8]) -> Vec<u8> {
    let mut out = len.to_be_bytes().to_vec();
    out.extend_from_slice(body);
    out
}

#[tokio::test]
async fn garbage_and_edge_length_headers() {
    let mut gw = Gateway::start("").await;
    let mut good = gw.client().await;
    assert_served(&mut good).await;

    // Not ISO 8583 at all: "GE" reads as a length of 18245, over the 8192 limit: closed.
    let mut c = gw.client().await;
    c.stream
        .write_all(b"GET / HTTP/1.1\r\nHost: switch\r\n\r\n")
        .await
        .unwrap();
    assert_closed(&mut c.stream, Duration::from_secs(5)).await;
    assert_served(&mut good).await;

    // Header 0: a keep-alive, not answered; the connection goes on.
    let mut c = gw.client().await;
    c.stream.write_all(&framed(0, b"")).await.unwrap();
    assert_served(&mut c).await;

    // Header 1: one byte cannot hold an MTI; dropped (logged), the connection goes on and the
    // next answer on it is the echo's.
    let format_errors = gw.metric("gateway_format_errors_total").await;
    c.stream.write_all(&framed(1, b"\xFF")).await.unwrap();
    assert_served(&mut c).await;
    assert_eq!(
        gw.metric("gateway_format_errors_total").await,
        format_errors + 1
    );

    // A readable MTI and STAN with a broken field: answered 39=30 with the STAN.
    let s = stan();
    let mut bad = network("301", &s).encode(spec()).unwrap();
    bad.extend_from_slice(b"trailing garbage");
    c.send_raw(&bad).await;
    let r = c.recv().await;
    assert_eq!(
        (r.mti().as_str(), de39(&r), r.get_str(11)),
        ("0810", "30", Some(s.as_str()))
    );

    // Header at the limit (8192): the frame is read whole; its readable head gets 39=30.
    let s = stan();
    let mut body = network("301", &s).encode(spec()).unwrap();
    body.resize(8192, b'x');
    c.send_raw(&body).await;
    let r = c.recv().await;
    assert_eq!((de39(&r), r.get_str(11)), ("30", Some(s.as_str())));
    assert_served(&mut c).await;

    // One past the limit, and the largest binary2 header: refused on the header alone (the
    // body is never awaited), the connection closed.
    for len in [8193u16, 65535] {
        let framing_errors = gw.metric("gateway_framing_errors_total").await;
        let mut c = gw.client().await;
        c.stream
            .write_all(&framed(len, &[0x30; 100]))
            .await
            .unwrap();
        assert_closed(&mut c.stream, Duration::from_secs(5)).await;
        // Counted as a framing error: refused on the header, not left to the read timeout
        // (which closes without counting one).
        assert_eq!(
            gw.metric("gateway_framing_errors_total").await,
            framing_errors + 1,
            "header {len}"
        );
        assert_served(&mut good).await;
    }

    // Random bytes in frames of random sizes, then the connection is still usable or closed;
    // either way the well-behaved one is served and the process is up.
    let mut seed = 0x2545_F491_4F6C_DD1Du64;
    for _ in 0..50 {
        let mut c = gw.client().await;
        let mut junk = Vec::new();
        for _ in 0..64 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            junk.push(seed as u8);
        }
        let len = (seed >> 8) as u16 % 80;
        let _ = c.stream.write_all(&framed(len, &junk)).await;
    }
    assert_served(&mut good).await;
    gw.assert_alive();
}

#[tokio::test]
async fn truncated_frame_then_silence_is_closed_by_the_read_timeout() {
    let mut gw = Gateway::start("").await;
    let mut good = gw.client().await;
    let mut c = gw.client().await;
    // Announces 100 bytes, sends 10, then nothing.
    c.stream
        .write_all(&framed(100, b"0800\x82\x20\x00\x00\x00"))
        .await
        .unwrap();
    let took = assert_closed(&mut c.stream, Duration::from_secs(10)).await;
    assert!(
        took >= Duration::from_millis(READ_TIMEOUT_MS * 3 / 4),
        "closed after {took:?}, before the read timeout"
    );
    assert_served(&mut good).await;
    gw.assert_alive();
}

#[tokio::test]
async fn a_frame_split_into_one_byte_writes_gets_a_correct_answer() {
    let mut gw = Gateway::start("").await;
    let mut c = gw.client().await;
    let s = stan();
    let req = purchase(PAN_OK, 1500, "410", &s);
    let body = req.encode(spec()).unwrap();
    for b in framed(body.len() as u16, &body) {
        c.stream.write_all(&[b]).await.unwrap();
        c.stream.flush().await.unwrap();
        tokio::time::sleep(Duration::from_micros(200)).await;
    }
    let r = c.recv().await;
    assert_eq!(r.mti().as_str(), "0110");
    assert_eq!(de39(&r), "00");
    assert_eq!(r.get_str(11), Some(s.as_str()));
    assert_eq!(r.get_str(4), req.get_str(4));
    gw.assert_alive();
}

#[cfg(target_os = "linux")]
mod rlimit {
    /// `struct rlimit` of Linux on 64-bit targets.
    #[repr(C)]
    struct RLimit {
        cur: u64,
        max: u64,
    }
    const RLIMIT_NOFILE: i32 = 7;
    extern "C" {
        fn getrlimit(resource: i32, rlim: *mut RLimit) -> i32;
        fn setrlimit(resource: i32, rlim: *const RLimit) -> i32;
    }

    /// Raises the soft limit on open files to the hard limit; returns the new soft limit.
    /// (The gateway child inherits it.)
    pub(crate) fn raise_nofile() -> u64 {
        let mut r = RLimit { cur: 0, max: 0 };
        // SAFETY: plain libc calls with a valid pointer to a properly laid out struct.
        unsafe {
            assert_eq!(getrlimit(RLIMIT_NOFILE, &mut r), 0, "getrlimit");
            r.cur = r.max;
            assert_eq!(setrlimit(RLIMIT_NOFILE, &r), 0, "setrlimit");
        }
        r.cur
    }
}

/// 10,000 connections opened and left idle. The listener serves `max_connections` (64, the
/// default) at a time: the first 63 beyond the well-behaved one are accepted and sit idle, every
/// later one is accepted and closed at once (counted in `gateway_connections_refused_total`).
/// Served connections are not disturbed, and once the idle ones leave new ones are served.
#[cfg(target_os = "linux")]
#[tokio::test]
async fn ten_thousand_idle_connections() {
    const IDLE: usize = 10_000;
    let nofile = rlimit::raise_nofile();
    assert!(
        nofile >= IDLE as u64 + 512,
        "the hard limit on open files ({nofile}) is below {} (raise it: ulimit -Hn)",
        IDLE + 512
    );
    let mut gw = Gateway::start("").await;
    let mut good = gw.client().await;
    assert_served(&mut good).await;
    let rss_before = gw.rss_kb();

    let mut idle = Vec::with_capacity(IDLE);
    while idle.len() < IDLE {
        let batch: Vec<_> = (0..500)
            .map(|_| tokio::spawn(TcpStream::connect(gw.listen)))
            .collect();
        for t in batch {
            idle.push(t.await.unwrap().expect("connect"));
        }
        assert_served(&mut good).await;
    }
    // Every connection was taken off the backlog: held, or refused or (silent, so unproven)
    // closed to make room for a newer one; the well-behaved one is never closed.
    let total = IDLE as i64 + 1; // and the well-behaved one
    let until = Instant::now() + Duration::from_secs(20);
    loop {
        let held = gw.metric("gateway_connections").await;
        let refused = gw.metric("gateway_connections_refused_total").await;
        let evicted = gw.metric("gateway_connections_evicted_total").await;
        // An evicted connection's task ends a moment after its place went to a newcomer:
        // wait for the count to settle at the limit.
        if held + refused + evicted >= total && held == 64 {
            assert_eq!(refused + evicted, total - 64);
            break;
        }
        assert!(
            Instant::now() < until,
            "{held} held + {refused} refused + {evicted} evicted of {}",
            IDLE + 1
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let rss_during = gw.rss_kb();
    assert_served(&mut good).await;
    gw.assert_alive();
    eprintln!("gateway RSS {rss_before} kB idle, {rss_during} kB with {IDLE} connections");
    assert!(
        rss_during.saturating_sub(rss_before) < RSS_GROWTH_BOUND_KB,
        "RSS grew from {rss_before} to {rss_during} kB"
    );

    drop(idle);
    let until = Instant::now() + Duration::from_secs(10);
    while gw.metric("gateway_connections").await > 1 {
        assert!(Instant::now() < until, "idle connections not released");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut fresh = gw.client().await;
    assert_served(&mut fresh).await;
    assert_served(&mut good).await;
}

/// A peer that sends requests without ever reading the answers. The switch holds at most
/// `in_flight_per_connection` of its requests and then stops reading from it, so TCP pushes
/// back: the peer's writes block, the switch's count of messages read stops moving, and its
/// memory does not grow with what the peer sends.
#[tokio::test]
async fn a_reader_that_never_reads_is_not_buffered_without_bound() {
    /// Writes beyond this mean the switch kept reading: it never stopped.
    const WRITE_CAP: usize = 256 * 1024 * 1024;
    let mut gw = Gateway::start("").await;
    let mut good = gw.client().await;
    assert_served(&mut good).await;
    let rss_before = gw.rss_kb();

    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    // A small receive window so that the switch's writes stall soon.
    sock.set_recv_buffer_size(4096).unwrap();
    sock.connect(&gw.listen.into()).unwrap();
    sock.set_nonblocking(true).unwrap();
    let mut slow = TcpStream::from_std(sock.into()).unwrap();

    let mut batch = Vec::new();
    for _ in 0..2000 {
        let body = network("301", &stan()).encode(spec()).unwrap();
        batch.extend_from_slice(&framed(body.len() as u16, &body));
    }
    // Single `write` calls (cancel-safe, unlike `write_all`) keep the stream whole: it is an
    // endless repetition of `batch`. The switch keeps reading while its socket's send buffer
    // (kernel memory, bounded by tcp_wmem) takes answers; then its writer blocks, the
    // in-flight permits run out and it stops reading.
    let (mut written, mut pos) = (0usize, 0usize);
    let until = Instant::now() + Duration::from_secs(40);
    loop {
        assert!(
            Instant::now() < until,
            "the switch still reads from a peer that does not read, after {written} bytes"
        );
        assert!(
            written < WRITE_CAP,
            "{written} bytes taken: the switch never pushed back"
        );
        match tokio::time::timeout(Duration::from_millis(300), slow.write(&batch[pos..])).await {
            Ok(Ok(n)) => {
                written += n;
                pos = (pos + n) % batch.len();
            }
            Ok(Err(e)) => panic!("write failed: {e}"),
            Err(_) => {
                // Blocked: has the switch stopped reading, or is it still draining?
                let a = gw.metric("gateway_messages_received_total").await;
                tokio::time::sleep(Duration::from_millis(500)).await;
                if gw.metric("gateway_messages_received_total").await == a {
                    break;
                }
            }
        }
    }
    let read_then = gw.metric("gateway_messages_received_total").await;
    assert_served(&mut good).await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let read_later = gw.metric("gateway_messages_received_total").await;
    // The well-behaved connection's echo is the only message read in between.
    assert!(
        read_later - read_then <= 1,
        "the switch kept reading from a peer that does not read: {read_then} -> {read_later}"
    );
    assert!(gw.metric("gateway_in_flight").await <= 512);
    let rss_stalled = gw.rss_kb();
    eprintln!(
        "slow reader: {written} bytes written before the switch stopped reading; \
         {read_then} messages read; gateway RSS {rss_before} -> {rss_stalled} kB"
    );
    assert!(
        rss_stalled.saturating_sub(rss_before) < RSS_GROWTH_BOUND_KB,
        "RSS grew from {rss_before} to {rss_stalled} kB"
    );
    assert_served(&mut good).await;

    drop(slow);
    let mut fresh = gw.client().await;
    assert_served(&mut fresh).await;
    assert_served(&mut good).await;
    gw.assert_alive();
}

/// Issue 25, item 5: a peer that takes none of its answers used to keep its connection (and
/// its slot under `max_connections`) for as long as it liked. With `write_timeout_ms`, the
/// switch gives up on it once its writes have been stuck that long, and closes it.
#[tokio::test]
async fn a_reader_that_never_reads_is_closed_after_the_write_timeout() {
    let gw = Gateway::start("write_timeout_ms = 500").await;
    let mut good = gw.client().await;
    assert_served(&mut good).await;
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    sock.set_recv_buffer_size(4096).unwrap();
    sock.connect(&gw.listen.into()).unwrap();
    sock.set_nonblocking(true).unwrap();
    let mut slow = TcpStream::from_std(sock.into()).unwrap();
    let mut batch = Vec::new();
    for _ in 0..2000 {
        let body = network("301", &stan()).encode(spec()).unwrap();
        batch.extend_from_slice(&framed(body.len() as u16, &body));
    }
    let until = Instant::now() + Duration::from_secs(5);
    while gw.metric("gateway_connections").await != 2 {
        assert!(
            Instant::now() < until,
            "the slow connection was never accepted"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Write without reading until the switch closes the connection: a write then fails
    // (reset), or everything stalls and the connection count falls back to the good one.
    let (mut pos, t0) = (0usize, Instant::now());
    let closed_after = loop {
        assert!(t0.elapsed() < Duration::from_secs(40), "never closed");
        match tokio::time::timeout(Duration::from_millis(300), slow.write(&batch[pos..])).await {
            Ok(Ok(n)) => pos = (pos + n) % batch.len(),
            Ok(Err(_)) => break t0.elapsed(),
            Err(_) => {
                if gw.metric("gateway_connections").await == 1 {
                    break t0.elapsed();
                }
            }
        }
    };
    eprintln!("a peer that never reads was closed {closed_after:?} after it started");
    let until = Instant::now() + Duration::from_secs(5);
    while gw.metric("gateway_connections").await != 1 {
        assert!(
            Instant::now() < until,
            "the stalled connection still holds its slot"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_served(&mut good).await;
}

/// Issue 25, item 5: 64 silent connections used to lock the networks out (every newcomer
/// refused at `max_connections` for as long as they stayed). Now a connection that has sent
/// nothing readable is the first closed to make room, and is closed anyway after
/// `unproven_timeout_ms`; a connection that proved itself is never closed for a newcomer.
#[tokio::test]
async fn silent_connections_do_not_lock_out_a_network() {
    let gw = Gateway::start("max_connections = 8\nunproven_timeout_ms = 1500").await;
    let mut good = gw.client().await;
    assert_served(&mut good).await;
    let mut silent = Vec::new();
    for _ in 0..7 {
        silent.push(TcpStream::connect(gw.listen).await.unwrap());
    }
    // Full: 8 connections. A network's new connection is served at once, not refused.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(gw.metric("gateway_connections").await, 8);
    let mut newcomer = gw.client().await;
    assert_served(&mut newcomer).await;
    assert_served(&mut good).await;
    assert!(gw.metric("gateway_connections_evicted_total").await >= 1);
    // The oldest silent one made room.
    assert_closed(&mut silent[0], Duration::from_secs(2)).await;
    // And every silent connection is closed once its time to speak is up.
    for s in silent.iter_mut().skip(1) {
        let took = assert_closed(s, Duration::from_secs(5)).await;
        assert!(took <= Duration::from_secs(4), "{took:?}");
    }
    // Proven connections hold: at the limit with all proven, a newcomer is refused.
    let mut proven = vec![good, newcomer];
    while proven.len() < 8 {
        let mut c = gw.client().await;
        assert_served(&mut c).await;
        proven.push(c);
    }
    let mut extra = TcpStream::connect(gw.listen).await.unwrap();
    assert_closed(&mut extra, Duration::from_secs(2)).await;
    for c in &mut proven {
        assert_served(c).await;
    }
    assert!(gw.metric("gateway_connections_refused_total").await >= 1);
}
