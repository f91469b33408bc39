//! One connection: a reader that spawns a task per request under an in-flight limit, and a
//! writer fed by a bounded channel. Responses go out as each request completes.
//!
//! Backpressure: the reader takes an in-flight permit *before* reading the next frame, so at
//! the limit it stops reading and TCP flow control pushes back on the network; nothing is
//! buffered without bound. The writer's channel holds at most one response per permit.

use std::sync::Arc;
use std::time::Duration;

use framing::{Frame, FrameCodec};
use futures::SinkExt;
use ledger::ResponseCode;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{mpsc, Semaphore, TryAcquireError};
use tokio::time::Instant;
use tokio_util::codec::FramedWrite;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::reader::{FrameReader, ReadOutcome};
use super::service::{ConnContext, Service};
use super::shutdown::Shutdown;
use super::Shared;
use crate::error::FramingError;
use crate::network_code::NetworkCode;

/// Why a connection ended (for logs and tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// The peer closed.
    PeerClosed,
    /// The drain started.
    Drain,
    /// The framing broke (bad length, oversize).
    Framing,
    /// A frame started but did not complete in time.
    ReadTimeout,
    /// No answer to our echo test after an idle period: the peer is gone.
    HalfOpen,
    /// The socket failed.
    Io,
    /// Our sign-on was refused or not answered.
    SignOnRefused,
    /// [`MAX_UNREADABLE_IN_ROW`] frames in a row could not be read at all: the peer is not
    /// speaking our spec (wrong spec or framing configured, or not a card network).
    Unreadable,
    /// Nothing readable arrived within `Limits::unproven_timeout` of connecting.
    Unproven,
    /// Closed, still unproven, to make room for a newcomer at the connection limit.
    Evicted,
    /// Our answers could not be written (the peer stopped reading for longer than
    /// `Limits::write_timeout`, or the socket failed).
    WriteFailed,
}

/// Frames in a row that may be dropped as unreadable (no MTI and STAN to answer 30 to)
/// before the connection is closed. One such frame is logged and the connection stays up (a
/// network's occasional bad message must not cut its other traffic); a peer sending nothing
/// else is disconnected with that reason logged.
pub const MAX_UNREADABLE_IN_ROW: u32 = 8;

/// How a connection behaves beyond serving requests.
#[derive(Debug, Clone, Copy, Default)]
pub struct ConnOptions {
    /// Send an echo test after this long without traffic (default: `Limits::idle_timeout`).
    pub echo_after: Option<Duration>,
    /// Sign on (0800/001) when the connection opens; close it if the sign-on is not answered.
    pub sign_on: bool,
    /// Sign off (0800/002) at drain, after the last response, and wait briefly for the answer.
    pub sign_off: bool,
}

/// Who a connection is with and how to frame it.
#[derive(Debug)]
pub struct ConnSetup {
    /// The network's name.
    pub network: String,
    /// The peer's address.
    pub peer: std::net::SocketAddr,
    /// The framing.
    pub codec: FrameCodec,
    /// Link behaviour.
    pub options: ConnOptions,
    /// Its place in its listener (inbound connections): it must prove itself within
    /// `Limits::unproven_timeout`, and is closed when the slot's signal fires.
    pub slot: Option<super::Slot>,
}

/// Serves one connection until the peer leaves, the framing breaks, or the drain starts;
/// in every case each request already read is answered before the writer closes.
pub async fn serve_connection<S, T>(
    stream: T,
    setup: ConnSetup,
    service: Arc<S>,
    shared: Arc<Shared>,
    mut shutdown: Shutdown,
) -> CloseReason
where
    S: Service,
    T: AsyncRead + AsyncWrite + Send + 'static,
{
    let limits = shared.limits.load_full();
    let in_flight = limits.in_flight_per_connection.max(1);
    let idle = setup.options.echo_after.unwrap_or(limits.idle_timeout);
    let read_timeout = limits.read_timeout;
    let drain = limits.drain_timeout;
    let write_timeout = limits.write_timeout;
    let (proven, close) = match &setup.slot {
        Some(s) => (s.proven.clone(), s.close.clone()),
        None => (Arc::default(), CancellationToken::new()),
    };
    // Inbound connections have a time to prove they speak our protocol.
    let mut unproven_until = setup
        .slot
        .as_ref()
        .map(|_| Instant::now() + limits.unproven_timeout);

    let (rd, wr) = tokio::io::split(stream);
    let mut reader = FrameReader::new(rd, setup.codec.clone());
    // One slot per permit plus a few for our own network-management requests.
    let (tx, rx) = mpsc::channel::<Frame>(in_flight + 4);
    let writer = tokio::spawn(write_loop(
        FramedWrite::new(wr, setup.codec),
        rx,
        write_timeout,
    ));
    let ctx = Arc::new(ConnContext::new(
        setup.network,
        setup.peer,
        tx.clone(),
        proven,
    ));
    let permits = Arc::new(Semaphore::new(in_flight));
    let mut echo_sent = false;
    let mut sign_on = setup.options.sign_on.then(|| {
        let (ctx, service) = (ctx.clone(), service.clone());
        tokio::spawn(async move {
            network_exchange(&ctx, service.as_ref(), NetworkCode::SignOn, read_timeout).await
        })
    });

    let reason = loop {
        // A peer keeping many requests in flight sends them back to back: most frames are
        // already in the buffer when a permit is free, and then neither needs a select (each
        // of which registered with the drain signal and the clocks, and then unregistered).
        if shutdown.is_set() {
            break CloseReason::Drain;
        }
        if close.is_cancelled() {
            break CloseReason::Evicted;
        }
        if tx.is_closed() {
            break CloseReason::WriteFailed;
        }
        if let Some(until) = unproven_until {
            if ctx.is_proven() {
                unproven_until = None;
            } else if Instant::now() >= until {
                break CloseReason::Unproven;
            }
        }
        let permit = match permits.clone().try_acquire_owned() {
            Ok(p) => p,
            Err(TryAcquireError::Closed) => break CloseReason::Io,
            Err(TryAcquireError::NoPermits) => tokio::select! {
                biased;
                _ = shutdown.wait() => break CloseReason::Drain,
                _ = close.cancelled() => break CloseReason::Evicted,
                _ = tx.closed() => break CloseReason::WriteFailed,
                p = permits.clone().acquire_owned() => match p {
                    Ok(p) => p,
                    Err(_) => break CloseReason::Io,
                },
            },
        };
        let ready = if sign_on.is_none() {
            reader.buffered()
        } else {
            None
        };
        // After an echo test the peer has read_timeout to show it is alive; an unproven one
        // has until its deadline.
        let mut wait = if echo_sent { read_timeout } else { idle };
        if let Some(until) = unproven_until {
            wait = wait.min(until.saturating_duration_since(Instant::now()));
        }
        let next = if let Some(outcome) = ready {
            // No await on this path otherwise: let the runtime's budget decide when the
            // connection yields to the other tasks of its worker.
            tokio::task::consume_budget().await;
            outcome
        } else {
            tokio::select! {
                biased;
                _ = shutdown.wait() => break CloseReason::Drain,
                _ = close.cancelled() => break CloseReason::Evicted,
                _ = tx.closed() => break CloseReason::WriteFailed,
                ok = async {
                    match sign_on.as_mut() {
                        Some(h) => h.await,
                        None => std::future::pending().await,
                    }
                }, if sign_on.is_some() => {
                    sign_on = None;
                    if ok.unwrap_or(false) {
                        continue;
                    }
                    break CloseReason::SignOnRefused;
                }
                r = reader.next(wait, read_timeout) => r,
            }
        };
        let frame = match next {
            ReadOutcome::Frame(f) => f,
            ReadOutcome::Idle if unproven_until.is_some_and(|u| Instant::now() >= u) => {
                break CloseReason::Unproven
            }
            ReadOutcome::Idle if echo_sent => break CloseReason::HalfOpen,
            ReadOutcome::Idle => {
                // Idle: ask the peer whether it is still there.
                echo_sent = send_echo(&ctx, service.as_ref()).await;
                if !echo_sent {
                    break CloseReason::HalfOpen;
                }
                continue;
            }
            ReadOutcome::ReadTimeout => break CloseReason::ReadTimeout,
            ReadOutcome::Closed => break CloseReason::PeerClosed,
            ReadOutcome::Error(FramingError::Io(e)) => {
                debug!(network = %ctx.network, peer = %ctx.peer, error = %e, "read failed");
                break CloseReason::Io;
            }
            ReadOutcome::Error(e) => {
                shared.metrics.framing_error();
                warn!(network = %ctx.network, peer = %ctx.peer, error = %e, "framing broken; closing");
                break CloseReason::Framing;
            }
        };
        echo_sent = false;
        if ctx.unreadable_in_row() >= MAX_UNREADABLE_IN_ROW {
            warn!(network = %ctx.network, peer = %ctx.peer, in_row = ctx.unreadable_in_row(),
                "nothing readable from this peer; closing");
            break CloseReason::Unreadable;
        }
        if frame.is_keep_alive() {
            continue;
        }
        shared.metrics.received();
        let (service, ctx, shared, tx) = (service.clone(), ctx.clone(), shared.clone(), tx.clone());
        tokio::spawn(async move {
            let _gauge = shared.metrics.in_flight();
            let Frame { header, body } = frame;
            // Boxed: the call's future is a few KiB, and the task's own future (which tokio
            // copies into its cell at spawn and moves through its stages) would otherwise
            // hold it, twice over (the awaited value and its pinned slot).
            if let Some(resp) = Box::pin(service.call(&ctx, body)).await {
                // The permit is held until the response is queued: the channel never holds
                // more than the in-flight limit.
                if tx.send(Frame::new(header, resp)).await.is_err() {
                    debug!("connection writer gone; response dropped");
                }
            }
            drop(permit);
        });
    };
    if reason != CloseReason::PeerClosed {
        info!(network = %ctx.network, peer = %ctx.peer, ?reason, "closing connection");
    }
    if reason == CloseReason::Drain && setup.options.sign_off {
        let n = u32::try_from(in_flight).unwrap_or(u32::MAX);
        sign_off(
            &ctx,
            service.as_ref(),
            &permits,
            n,
            &mut reader,
            read_timeout,
            drain,
        )
        .await;
    }
    // Every request task holds a sender; the writer ends once the last response is queued.
    drop(tx);
    drop(ctx);
    if tokio::time::timeout(drain, writer).await.is_err() {
        warn!("responses still pending after the drain timeout; connection abandoned");
    }
    reason
}

/// Sends 0800 with DE 70 = `code` and waits for an approving answer.
async fn network_exchange<S: Service>(
    ctx: &ConnContext,
    service: &S,
    code: NetworkCode,
    wait: Duration,
) -> bool {
    let stan = ctx.next_stan();
    let Some(body) = service.network_request(code, stan) else {
        return false;
    };
    let Some(rx) = ctx.request(stan, body).await else {
        return false;
    };
    match tokio::time::timeout(wait, rx).await {
        Ok(Ok(resp)) => {
            let code39 = service.response_code(&resp);
            let approved = code39 == Some(ResponseCode::APPROVED);
            if !approved {
                warn!(network = %ctx.network, code = ?code39.as_ref().map(ResponseCode::as_str),
                    "network management {code} refused");
            }
            approved
        }
        _ => {
            warn!(network = %ctx.network, "network management {code} not answered");
            false
        }
    }
}

/// At drain, once every request read has been answered: sign off and read frames until the
/// answer arrives (requests the network still sends are left unanswered: after our sign-off it
/// routes them elsewhere and repeats).
async fn sign_off<S: Service, R: AsyncRead + Unpin>(
    ctx: &Arc<ConnContext>,
    service: &S,
    permits: &Arc<Semaphore>,
    in_flight: u32,
    reader: &mut FrameReader<R>,
    wait: Duration,
    drain: Duration,
) {
    // The sign-off is the last message we send: wait until no request is in flight.
    let _ = tokio::time::timeout(drain, permits.acquire_many(in_flight)).await;
    let exchange = network_exchange(ctx, service, NetworkCode::SignOff, wait);
    tokio::pin!(exchange);
    let until = tokio::time::Instant::now() + wait;
    loop {
        tokio::select! {
            ok = &mut exchange => {
                if ok {
                    info!(network = %ctx.network, "signed off");
                }
                return;
            }
            r = reader.next(wait, wait) => match r {
                ReadOutcome::Frame(f) => {
                    if let Some(stan) = service.response_stan(&f.body) {
                        ctx.complete(stan, f.body);
                    } else if !f.is_keep_alive() {
                        debug!(network = %ctx.network, "request after sign-off left unanswered");
                    }
                }
                _ => return,
            },
            _ = tokio::time::sleep_until(until) => return,
        }
    }
}

async fn send_echo<S: Service>(ctx: &ConnContext, service: &S) -> bool {
    let stan = ctx.next_stan();
    match service.network_request(NetworkCode::Echo, stan) {
        Some(body) => ctx.request(stan, body).await.is_some(),
        None => false,
    }
}

/// Writes the responses. A peer that does not take them within `write_timeout` (it stopped
/// reading: the socket's buffers are full) is given up on: the loop ends, which closes the
/// connection (its reader sees the channel closed) instead of the peer keeping its slot and
/// our memory for as long as it likes.
async fn write_loop<W>(
    mut sink: FramedWrite<W, FrameCodec>,
    mut rx: mpsc::Receiver<Frame>,
    write_timeout: Duration,
) where
    W: AsyncWrite + Unpin,
{
    while let Some(frame) = rx.recv().await {
        let written = tokio::time::timeout(write_timeout, async {
            // Feed what is ready, then flush once: fewer syscalls under load. Responses tend
            // to complete together (one ledger commit answers a whole batch), but their tasks
            // queue behind this one: yield once so they can add theirs to the same write.
            // Idle, the yield returns at once; the profile showed one writev per response
            // without it.
            let mut result = sink.feed(frame).await;
            let mut yielded = false;
            while result.is_ok() {
                match rx.try_recv() {
                    Ok(f) => result = sink.feed(f).await,
                    Err(_) if !yielded => {
                        yielded = true;
                        tokio::task::yield_now().await;
                    }
                    Err(_) => break,
                }
            }
            result.and(sink.flush().await)
        })
        .await;
        match written {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                warn!(error = %e, "write failed; closing connection");
                return;
            }
            Err(_) => {
                warn!(
                    write_timeout_ms = write_timeout.as_millis() as u64,
                    "the peer takes none of its answers; closing connection"
                );
                return;
            }
        }
    }
    let _ = sink.close().await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::shutdown::channel;
    use crate::server::Limits;
    use bytes::Bytes;
    use framing::LengthPrefix;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

    /// Answers `"<ms>:<tag>"` with `"R<tag>"` after sleeping `ms`; counts concurrency.
    #[derive(Default)]
    struct Sleepy {
        now: AtomicUsize,
        peak: AtomicUsize,
    }

    impl Service for Sleepy {
        async fn call(&self, _conn: &ConnContext, body: Bytes) -> Option<Bytes> {
            let n = self.now.fetch_add(1, Ordering::SeqCst) + 1;
            self.peak.fetch_max(n, Ordering::SeqCst);
            let s = std::str::from_utf8(&body).ok()?.to_owned();
            let (ms, tag) = s.split_once(':')?;
            tokio::time::sleep(Duration::from_millis(ms.parse().ok()?)).await;
            self.now.fetch_sub(1, Ordering::SeqCst);
            Some(Bytes::from(format!("R{tag}")))
        }

        fn network_request(&self, _code: NetworkCode, stan: u32) -> Option<Bytes> {
            Some(Bytes::from(format!("ECHO{stan}")))
        }

        fn response_stan(&self, _body: &[u8]) -> Option<u32> {
            None
        }

        fn response_code(&self, _body: &[u8]) -> Option<ResponseCode> {
            None
        }
    }

    /// Generous limits: a test tightens the one it is about.
    fn limits() -> Limits {
        Limits {
            max_connections: 64,
            in_flight_per_connection: 512,
            idle_timeout: Duration::from_secs(60),
            read_timeout: Duration::from_secs(10),
            write_timeout: Duration::from_secs(10),
            drain_timeout: Duration::from_secs(10),
            unproven_timeout: Duration::from_secs(30),
        }
    }

    fn frame(s: &str) -> Vec<u8> {
        let mut v = (s.len() as u16).to_be_bytes().to_vec();
        v.extend_from_slice(s.as_bytes());
        v
    }

    async fn read_frame(c: &mut DuplexStream) -> String {
        let mut len = [0u8; 2];
        c.read_exact(&mut len).await.unwrap();
        let mut body = vec![0; u16::from_be_bytes(len) as usize];
        c.read_exact(&mut body).await.unwrap();
        String::from_utf8(body).unwrap()
    }

    fn start(
        limits: Limits,
        svc: Arc<Sleepy>,
    ) -> (
        DuplexStream,
        crate::server::ShutdownTrigger,
        tokio::task::JoinHandle<CloseReason>,
    ) {
        let (client, server) = tokio::io::duplex(64 * 1024);
        let (trigger, sd) = channel();
        let shared = Arc::new(Shared::new(limits));
        let codec = FrameCodec::new(LengthPrefix::Binary2, 0, 100);
        let setup = ConnSetup {
            network: "test".into(),
            peer: "127.0.0.1:1".parse().unwrap(),
            codec,
            options: ConnOptions::default(),
            slot: None,
        };
        let h = tokio::spawn(serve_connection(server, setup, svc, shared, sd));
        (client, trigger, h)
    }

    #[tokio::test]
    async fn answers_as_each_request_completes() {
        let svc = Arc::new(Sleepy::default());
        let (mut c, _t, _h) = start(limits(), svc);
        c.write_all(&[frame("200:slow"), frame("10:fast")].concat())
            .await
            .unwrap();
        assert_eq!(read_frame(&mut c).await, "Rfast");
        assert_eq!(read_frame(&mut c).await, "Rslow");
    }

    #[tokio::test]
    async fn in_flight_limit_stops_reading() {
        let svc = Arc::new(Sleepy::default());
        let limits = Limits {
            in_flight_per_connection: 3,
            ..limits()
        };
        let (mut c, _t, _h) = start(limits, svc.clone());
        let all: Vec<u8> = (0..10).flat_map(|i| frame(&format!("30:{i}"))).collect();
        c.write_all(&all).await.unwrap();
        let mut got: Vec<String> = Vec::new();
        for _ in 0..10 {
            got.push(read_frame(&mut c).await);
        }
        got.sort();
        let mut want: Vec<String> = (0..10).map(|i| format!("R{i}")).collect();
        want.sort();
        assert_eq!(got, want);
        assert_eq!(svc.peak.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn drain_answers_what_was_read_then_closes() {
        let svc = Arc::new(Sleepy::default());
        let (mut c, trigger, h) = start(limits(), svc);
        c.write_all(&[frame("150:a"), frame("100:b")].concat())
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(30)).await;
        trigger.trigger();
        assert_eq!(read_frame(&mut c).await, "Rb");
        assert_eq!(read_frame(&mut c).await, "Ra");
        assert_eq!(h.await.unwrap(), CloseReason::Drain);
        let mut rest = Vec::new();
        c.read_to_end(&mut rest).await.unwrap();
        assert!(rest.is_empty(), "closed after the last response");
    }

    #[tokio::test]
    async fn oversize_frame_closes_the_connection() {
        let svc = Arc::new(Sleepy::default());
        let (mut c, _t, h) = start(limits(), svc);
        c.write_all(&[0xFF, 0xFF]).await.unwrap();
        assert_eq!(h.await.unwrap(), CloseReason::Framing);
    }

    #[tokio::test]
    async fn keep_alives_are_not_answered() {
        let svc = Arc::new(Sleepy::default());
        let (mut c, _t, _h) = start(limits(), svc);
        c.write_all(&[&[0u8, 0][..], &frame("1:x")].concat())
            .await
            .unwrap();
        assert_eq!(read_frame(&mut c).await, "Rx");
    }

    #[tokio::test]
    async fn idle_peer_gets_an_echo_then_is_dropped_as_half_open() {
        let svc = Arc::new(Sleepy::default());
        let limits = Limits {
            idle_timeout: Duration::from_millis(50),
            read_timeout: Duration::from_millis(50),
            ..limits()
        };
        let (mut c, _t, h) = start(limits, svc);
        assert!(read_frame(&mut c).await.starts_with("ECHO"));
        assert_eq!(h.await.unwrap(), CloseReason::HalfOpen);
    }

    #[tokio::test]
    async fn partial_frame_times_out() {
        let svc = Arc::new(Sleepy::default());
        let limits = Limits {
            read_timeout: Duration::from_millis(50),
            ..limits()
        };
        let (mut c, _t, h) = start(limits, svc);
        c.write_all(&[0, 10, b'1']).await.unwrap();
        assert_eq!(h.await.unwrap(), CloseReason::ReadTimeout);
    }
}
