//! The server: listeners, connection limits, per-connection multiplexing and graceful drain.
//!
//! `run(listeners, shared, shutdown)` serves until `shutdown` fires, then stops accepting,
//! lets every connection answer what it has read, and returns once all have closed or the
//! drain time is up.

mod bind;
mod connection;
mod limits;
mod ownership;
mod reader;
mod registry;
mod service;
mod shutdown;

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use framing::FrameCodec;
use ipnet::IpNet;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tracing::{info, warn};

use registry::{Admission, Registry};

pub use bind::bind_reuseport;
pub use connection::{
    serve_connection, CloseReason, ConnOptions, ConnSetup, MAX_UNREADABLE_IN_ROW,
};
pub use limits::Limits;
pub use ownership::{claim, claim_dir, PortClaim, CLAIM_DIR_ENV};
pub use registry::Slot;
pub use service::{ConnContext, Service};
pub use shutdown::{channel as shutdown_channel, Shutdown, ShutdownTrigger};

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
pub struct BoundListener<S> {
    /// The network's name.
    pub name: String,
    /// The socket (see [`bind_reuseport`]).
    pub listener: TcpListener,
    /// Framing of this network.
    pub codec: FrameCodec,
    /// The application.
    pub service: Arc<S>,
    /// Peer addresses allowed to connect; empty: any.
    pub allow: Vec<IpNet>,
    /// TLS, when the network asks for it.
    pub tls: Option<TlsAcceptor>,
    /// The claim of the address for this instance's ledger (see [`claim`]), held as long as
    /// the listener.
    pub claim: Option<PortClaim>,
}

impl<S> std::fmt::Debug for BoundListener<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BoundListener")
            .field("name", &self.name)
            .field("listener", &self.listener)
            .field("allow", &self.allow)
            .field("tls", &self.tls.is_some())
            .field("claim", &self.claim)
            .finish_non_exhaustive()
    }
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
    let drain = shared.limits.load().drain_timeout + Duration::from_secs(1);
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
    let registry = Arc::new(Registry::default());
    // Refusals come in floods (a scan, a storm of reconnects): one line a second, counted.
    let refusals = crate::switch::Throttle::new(Duration::from_secs(1));
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
        if !l.allow.is_empty() && !l.allow.iter().any(|n| n.contains(&peer.ip())) {
            shared.metrics.connection_refused();
            if let Some(more) = refusals.admit() {
                warn!(network = %l.name, %peer, refused_since_last_line = more,
                    "peer not in the listener's allow-list; refusing");
            }
            continue;
        }
        let limit = shared.limits.load().max_connections;
        let slot = match registry.admit(limit) {
            Admission::Admitted { slot, evicted } => {
                if evicted {
                    shared.metrics.connection_evicted();
                    info!(network = %l.name, %peer, limit,
                        "connection limit reached: the oldest connection that has sent nothing \
                         readable is closed to make room");
                }
                slot
            }
            Admission::Refused => {
                shared.metrics.connection_refused();
                if let Some(more) = refusals.admit() {
                    warn!(network = %l.name, %peer, limit, refused_since_last_line = more,
                        "connection limit reached, every connection in use; refusing");
                }
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        info!(network = %l.name, %peer, tls = l.tls.is_some(), "connection accepted");
        let (shared, done, sd) = (shared.clone(), done.clone(), shutdown.clone());
        let (name, codec, service, tls) = (
            l.name.clone(),
            l.codec.clone(),
            l.service.clone(),
            l.tls.clone(),
        );
        tokio::spawn(async move {
            let _gauge = shared.metrics.connection();
            let setup = ConnSetup {
                network: name,
                peer,
                codec,
                options: ConnOptions::default(),
                slot: Some(slot),
            };
            match tls {
                None => {
                    serve_connection(stream, setup, service, shared.clone(), sd).await;
                }
                Some(acceptor) => {
                    let handshake = shared.limits.load().read_timeout;
                    match tokio::time::timeout(handshake, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => {
                            serve_connection(tls, setup, service, shared.clone(), sd).await;
                        }
                        Ok(Err(e)) => {
                            warn!(network = %setup.network, %peer, error = %e, "TLS handshake failed; closing");
                        }
                        Err(_) => {
                            warn!(network = %setup.network, %peer, "TLS handshake not done in time; closing");
                        }
                    }
                }
            }
            drop(done);
        });
    }
    info!(network = %l.name, "stopped accepting");
}
