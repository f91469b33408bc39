//! What a connection asks of the application, and what the application may ask of it.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use framing::Frame;
use ledger::ResponseCode;
use tokio::sync::{mpsc, oneshot};

use crate::network_code::NetworkCode;

/// The application behind a listener or outbound link: it turns a request body into a
/// response body. It is called concurrently for the requests of one connection.
pub trait Service: Send + Sync + 'static {
    /// Handles one message body. `None` means nothing is sent back (a response to one of our
    /// own requests, delivered through [`ConnContext::complete`], or a message that cannot be
    /// answered at all).
    fn call(&self, conn: &ConnContext, body: Bytes) -> impl Future<Output = Option<Bytes>> + Send;

    /// A network-management request we originate on this link (0800 with DE 70 = `code`:
    /// sign-on, sign-off, echo), with STAN `stan`; `None` when the link's spec cannot carry
    /// one (or for [`NetworkCode::Other`], which has no code to send).
    fn network_request(&self, code: NetworkCode, stan: u32) -> Option<Bytes>;

    /// The STAN of `body` when it is a response (to one of our own requests).
    fn response_stan(&self, body: &[u8]) -> Option<u32>;

    /// DE 39 of a response body; `None` when it has none that reads as a response code.
    fn response_code(&self, body: &[u8]) -> Option<ResponseCode>;
}

/// Bound on our own outstanding requests per connection (echo tests, sign-on/off): a peer
/// that never answers cannot make the table grow.
const MAX_PENDING_OWN_REQUESTS: usize = 64;

/// One connection as the application sees it.
#[derive(Debug)]
pub struct ConnContext {
    /// The network's name (listener or outbound link).
    pub network: String,
    /// The peer's address.
    pub peer: SocketAddr,
    writer: mpsc::Sender<Frame>,
    pending: Mutex<HashMap<u32, oneshot::Sender<Bytes>>>,
    next_stan: AtomicU32,
    /// Frames in a row that could not be read at all (no MTI and STAN to answer).
    unreadable: AtomicU32,
    /// Set by the first message that could be read: the peer speaks our protocol.
    proven: Arc<AtomicBool>,
}

impl ConnContext {
    pub(crate) fn new(
        network: String,
        peer: SocketAddr,
        writer: mpsc::Sender<Frame>,
        proven: Arc<AtomicBool>,
    ) -> Self {
        ConnContext {
            network,
            peer,
            writer,
            pending: Mutex::new(HashMap::new()),
            next_stan: AtomicU32::new(rand::random::<u32>() % 900_000),
            unreadable: AtomicU32::new(0),
            proven,
        }
    }

    /// Whether the peer has sent a message we could read.
    pub fn is_proven(&self) -> bool {
        self.proven.load(Ordering::Relaxed)
    }

    /// Counts a frame that could not be read at all; returns how many came in a row.
    pub fn note_unreadable(&self) -> u32 {
        self.unreadable
            .fetch_add(1, Ordering::Relaxed)
            .saturating_add(1)
    }

    /// A frame was read (decoded, or answered 30): the run of unreadable ones ends, and the
    /// peer has proved it speaks our protocol.
    pub fn note_readable(&self) {
        self.unreadable.store(0, Ordering::Relaxed);
        if !self.proven.load(Ordering::Relaxed) {
            self.proven.store(true, Ordering::Release);
        }
    }

    /// Unreadable frames in a row so far.
    pub fn unreadable_in_row(&self) -> u32 {
        self.unreadable.load(Ordering::Relaxed)
    }

    /// A STAN for a message we originate (1..=999999).
    pub fn next_stan(&self) -> u32 {
        self.next_stan.fetch_add(1, Ordering::Relaxed) % 999_999 + 1
    }

    /// Delivers a response to one of our own requests; false when nobody waits for `stan`.
    pub fn complete(&self, stan: u32, body: Bytes) -> bool {
        let waiter = self.pending.lock().ok().and_then(|mut p| p.remove(&stan));
        match waiter {
            Some(tx) => tx.send(body).is_ok(),
            None => false,
        }
    }

    /// Sends a request we originate and returns where its response will arrive.
    pub(crate) async fn request(&self, stan: u32, body: Bytes) -> Option<oneshot::Receiver<Bytes>> {
        let (tx, rx) = oneshot::channel();
        {
            let mut p = self.pending.lock().ok()?;
            p.retain(|_, w| !w.is_closed());
            if p.len() >= MAX_PENDING_OWN_REQUESTS {
                return None;
            }
            p.insert(stan, tx);
        }
        self.writer
            .send(Frame::new(Bytes::new(), body))
            .await
            .ok()?;
        Some(rx)
    }
}
