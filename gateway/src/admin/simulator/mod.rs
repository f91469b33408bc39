//! The simulator behind `POST /v1/simulate/*`: it builds the ISO 8583 request a network would
//! send ([`build`]) and sends it through the first listener's own path, with nothing skipped:
//! the message is encoded with the listener's spec (and MACed when the listener checks MACs),
//! framed with the listener's codec and written into [`serve_connection`], the very function
//! each accepted TCP connection runs, over an in-memory duplex pipe instead of a socket. The
//! connection decodes, routes and answers it as it would any network's request; the answer's
//! frame is read back with the same codec and decoded.
//!
//! An in-memory pipe rather than a loopback TCP connection to the listener: the listener may
//! be TLS-only, allow only the networks' addresses, or be at its connection limit, and a
//! simulation must neither be refused by those nor take a network's connection slot. Below
//! the socket, the path is the listener's.

pub(crate) mod build;
pub(crate) mod mask;

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use framing::{Frame, FrameCodec};
use futures::{SinkExt, StreamExt};
use iso8583::{OwnedMessage, Spec};
use ledger::Pan;
use tokio_util::codec::Framed;
use tracing::warn;

use crate::security::HsmService;
use crate::server::{serve_connection, ConnOptions, ConnSetup, Shared, Shutdown};
use crate::switch::Switch;

/// Bytes the in-memory pipe buffers each way: a few frames of the largest size.
const PIPE_BYTES: usize = 64 * 1024;

/// Longer than the processing deadline by this much before a simulation gives up on an
/// answer (the switch answers 91 itself at its deadline; this only bounds a lost frame).
const ANSWER_MARGIN: Duration = Duration::from_secs(2);

/// The address a simulated connection reports as its peer (logs): none, on loopback.
const SIM_PEER: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 0);

/// Why a simulation has no answer.
#[derive(Debug)]
pub(crate) enum SimFail {
    /// The request could not be encoded or MACed (a field the spec cannot carry).
    Encode(String),
    /// The switch did not answer in time, or dropped the frame.
    NoAnswer,
    /// The answer did not decode with the listener's spec.
    Undecodable(String),
}

/// The first listener's path and what the simulator needs beside it.
pub(crate) struct Simulator {
    switch: Arc<Switch>,
    spec: Arc<Spec>,
    codec: FrameCodec,
    network: String,
    shared: Arc<Shared>,
    shutdown: Shutdown,
    hsm: Option<Arc<HsmService>>,
    /// The seed file's cards by id: the ledger keeps only a keyed hash of each number, so a
    /// simulation by `card_id` can only name the cards whose numbers the seed file gives.
    pans: HashMap<String, Pan>,
    /// The seed cards that have a PIN (only whether: the PIN itself is not kept).
    with_pin: std::collections::HashSet<String>,
    next_stan: AtomicU32,
}

impl std::fmt::Debug for Simulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Simulator")
            .field("network", &self.network)
            .field("cards", &self.pans.len())
            .finish_non_exhaustive()
    }
}

/// What the simulator is built from (one listener's parts, from `app::start`).
pub(crate) struct SimulatorParts {
    pub(crate) switch: Arc<Switch>,
    pub(crate) spec: Arc<Spec>,
    pub(crate) codec: FrameCodec,
    pub(crate) network: String,
    pub(crate) shared: Arc<Shared>,
    pub(crate) shutdown: Shutdown,
    pub(crate) hsm: Option<Arc<HsmService>>,
    pub(crate) seed: Option<std::path::PathBuf>,
}

impl Simulator {
    pub(crate) fn new(p: SimulatorParts) -> Self {
        let (pans, with_pin) = p.seed.as_deref().map(seed_cards).unwrap_or_default();
        Simulator {
            switch: p.switch,
            spec: p.spec,
            codec: p.codec,
            network: p.network,
            shared: p.shared,
            shutdown: p.shutdown,
            hsm: p.hsm,
            pans,
            with_pin,
            next_stan: AtomicU32::new(rand::random::<u32>() % 900_000),
        }
    }

    /// The listener's spec (the JSON form of what is sent and received).
    pub(crate) fn spec(&self) -> &Spec {
        &self.spec
    }

    /// The HSM, for the PIN block of a simulated request.
    pub(crate) fn hsm(&self) -> Option<&Arc<HsmService>> {
        self.hsm.as_ref()
    }

    /// The number of a seed card.
    pub(crate) fn pan_of(&self, card_id: &str) -> Option<&Pan> {
        self.pans.get(card_id)
    }

    /// Whether the seed gave card `id` a PIN.
    pub(crate) fn has_pin(&self, id: &str) -> bool {
        self.with_pin.contains(id)
    }

    /// The listener's PIN key name (`None`: it checks nothing; the sandbox's name is used).
    pub(crate) fn zpk(&self) -> Option<hsm::KeyName> {
        self.switch.security().map(|s| s.keys.zpk.clone())
    }

    /// The seed file's card ids (the sandbox page lists them).
    pub(crate) fn card_ids(&self) -> impl Iterator<Item = &str> {
        self.pans.keys().map(String::as_str)
    }

    /// A STAN for a simulated request (1..=999999).
    pub(crate) fn next_stan(&self) -> u32 {
        self.next_stan.fetch_add(1, Ordering::Relaxed) % 999_999 + 1
    }

    /// Sends `req` through the listener's path and returns what was sent (`req`, with its
    /// MAC on a MAC listener) and the answer.
    pub(crate) async fn exchange(
        &self,
        req: &OwnedMessage,
    ) -> Result<(OwnedMessage, OwnedMessage), SimFail> {
        let wait = self.switch.deadline_for_simulation() + ANSWER_MARGIN;
        let deadline = tokio::time::Instant::now() + wait;
        let body = match self.switch.security().filter(|s| s.macs()) {
            Some(sec) => sec
                .sign(&self.spec, req.clone(), deadline)
                .await
                .map_err(|e| SimFail::Encode(format!("the request's MAC: {e}")))?,
            None => req
                .encode(&self.spec)
                .map_err(|e| SimFail::Encode(e.to_string()))?,
        };
        let sent = iso8583::decode(&self.spec, &body)
            .map(|m| m.to_owned_message())
            .map_err(|e| SimFail::Encode(e.to_string()))?;
        let (client, server) = tokio::io::duplex(PIPE_BYTES);
        let setup = ConnSetup {
            network: self.network.clone(),
            peer: SIM_PEER,
            codec: self.codec.clone(),
            options: ConnOptions::default(),
            slot: None,
        };
        tokio::spawn(serve_connection(
            server,
            setup,
            self.switch.clone(),
            self.shared.clone(),
            self.shutdown.clone(),
        ));
        let mut conn = Framed::new(client, self.codec.clone());
        conn.send(Frame::new(Bytes::new(), Bytes::from(body)))
            .await
            .map_err(|_| SimFail::NoAnswer)?;
        let answer = tokio::time::timeout_at(deadline, async {
            while let Some(Ok(f)) = conn.next().await {
                if !f.is_keep_alive() {
                    return Some(f.body);
                }
            }
            None
        })
        .await
        .ok()
        .flatten()
        .ok_or(SimFail::NoAnswer)?;
        // Dropping the pipe ends the connection as a peer closing would.
        drop(conn);
        let answer = iso8583::decode(&self.spec, &answer)
            .map(|m| m.to_owned_message())
            .map_err(|e| SimFail::Undecodable(e.to_string()))?;
        Ok((sent, answer))
    }
}

/// The seed file's numbers by card id, and the ids of those with a PIN; a file that cannot be
/// read gives none (logged).
fn seed_cards(path: &Path) -> (HashMap<String, Pan>, std::collections::HashSet<String>) {
    #[derive(serde::Deserialize)]
    struct File {
        cards: Vec<Card>,
    }
    #[derive(serde::Deserialize)]
    struct Card {
        #[serde(default)]
        id: Option<String>,
        pan: String,
        #[serde(default)]
        pin: Option<serde::de::IgnoredAny>,
    }
    let read = match std::fs::metadata(path) {
        Ok(m) if m.len() > ledger::MAX_SEED_BYTES as u64 => Err("larger than a seed file"),
        Ok(_) => std::fs::read_to_string(path).map_err(|_| "unreadable"),
        Err(_) => Err("unreadable"),
    }
    // serde's message may quote a value (a card number): not kept.
    .and_then(|t| serde_json::from_str::<File>(&t).map_err(|_| "not a seed file"));
    match read {
        Ok(f) => {
            let with_pin = f
                .cards
                .iter()
                .filter(|c| c.pin.is_some())
                .filter_map(|c| c.id.clone())
                .collect();
            let pans = f
                .cards
                .into_iter()
                .filter_map(|c| Some((c.id?, Pan::new(&c.pan).ok()?)))
                .collect();
            (pans, with_pin)
        }
        Err(why) => {
            warn!(path = %path.display(), reason = why,
                "simulator: the seed file's cards are unknown; simulate by pan");
            Default::default()
        }
    }
}
