//! The server: listeners, connection limits, per-connection multiplexing and graceful drain.
//!
//! `run(listeners, shared, shutdown)` serves until `shutdown` fires, then stops accepting,
//! lets every connection answer what it has read, and returns once all have closed or the
//! drain time is up.

mod bind;
mod connection;
mod reader;
mod service;
mod shutdown;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tracing::{info, warn};

pub use bind::bind_reuseport;
pub use connection::{
    serve_connection, CloseReason, ConnOptions, ConnSetup, MAX_UNREADABLE_IN_ROW,
};
pub use service::{ConnContext, Service};
pub use shutdown::{channel as shutdown_channel, Shutdown, ShutdownTrigger};

use crate::config::Limits;
use crate::framing::FrameCodec;
use crate::metrics::Metrics;

/// State every connection shares: limits (swapped on SIGHUP) and metrics.
#[derive(Debug)]
pub struct Shared {
    /// Current limits; read once per connection or request, replaced whole on reload.
    pub limits: ArcSwap<Limits>,
    /// Counters for `/metrics`.
    pub metrics: Metrics,
}

impl Shared {
    /// Shared state with `limits`.
    pub fn new(limits: Limits) -> Self {
        Shared {
            limits: ArcSwap::from_pointee(limits),
            metrics: Metrics::default(),
        }
    }
}

/// A bound listening socket and what serves it.
#[derive(Debug)]
pub struct BoundListener<S> {
    /// The network's name.
    pub name: String,
    /// The socket (see [`bind_reuseport`]).
    pub listener: TcpListener,
    /// Framing of this network.
    pub codec: FrameCodec,
    /// The application.
    pub service: Arc<S>,
}

/// Serves `listeners` until `shutdown`, then drains. Returns when every connection closed or
/// the drain timeout passed.
pub async fn run<S: Service>(
    listeners: Vec<BoundListener<S>>,
    shared: Arc<Shared>,
    shutdown: Shutdown,
) {
    // Each connection holds a clone of `done_tx`; recv() returns None once all are gone.
    let (done_tx, mut done_rx) = mpsc::channel::<()>(1);
    let mut accept_loops = Vec::new();
    for l in listeners {
        accept_loops.push(tokio::spawn(accept_loop(
            l,
            shared.clone(),
            shutdown.clone(),
            done_tx.clone(),
        )));
    }
    drop(done_tx);
    let mut sd = shutdown.clone();
    sd.wait().await;
    for a in accept_loops {
        let _ = a.await;
    }
    // Connections bound their own drain by drain_timeout; this outer bound adds a margin
    // so a stuck peer cannot hold the process.
    let drain =
        Duration::from_millis(shared.limits.load().drain_timeout_ms) + Duration::from_secs(1);
    if tokio::time::timeout(drain, done_rx.recv()).await.is_err() {
        warn!("drain timeout: some connections did not close");
    }
}

async fn accept_loop<S: Service>(
    l: BoundListener<S>,
    shared: Arc<Shared>,
    mut shutdown: Shutdown,
    done: mpsc::Sender<()>,
) {
    let open = Arc::new(AtomicUsize::new(0));
    loop {
        let accepted = tokio::select! {
            biased;
            _ = shutdown.wait() => break,
            r = l.listener.accept() => r,
        };
        let (stream, peer) = match accepted {
            Ok(x) => x,
            Err(e) => {
                // EMFILE and friends: back off instead of spinning.
                warn!(network = %l.name, error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let limit = shared.limits.load().max_connections;
        if open.load(Ordering::Acquire) >= limit {
            shared.metrics.connection_refused();
            warn!(network = %l.name, %peer, limit, "connection limit reached; refusing");
            drop(stream);
            continue;
        }
        let _ = stream.set_nodelay(true);
        open.fetch_add(1, Ordering::AcqRel);
        info!(network = %l.name, %peer, "connection accepted");
        let (open, shared, done, sd) =
            (open.clone(), shared.clone(), done.clone(), shutdown.clone());
        let (name, codec, service) = (l.name.clone(), l.codec.clone(), l.service.clone());
        tokio::spawn(async move {
            let _gauge = shared.metrics.connection();
            let setup = ConnSetup {
                network: name,
                peer,
                codec,
                options: ConnOptions::default(),
            };
            serve_connection(stream, setup, service, shared.clone(), sd).await;
            open.fetch_sub(1, Ordering::AcqRel);
            drop(done);
        });
    }
    info!(network = %l.name, "stopped accepting");
}
