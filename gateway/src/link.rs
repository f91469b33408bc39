//! Outbound links: the switch dials the network, signs on with 0800/001, sends an echo test
//! (0800/301) when the link is idle, reconnects with capped exponential backoff and jitter,
//! and signs off (0800/002) at drain. Requests the network sends over the link are served like
//! those of an inbound connection.

use std::sync::Arc;
use std::time::Duration;

use framing::FrameCodec;
use rand::Rng;
use tokio::net::TcpStream;
use tracing::{info, warn};

use crate::config::OutboundConfig;
use crate::server::{serve_connection, ConnOptions, ConnSetup, Service, Shared, Shutdown};

/// Bound on one connection attempt.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The delay before reconnect attempt `attempt` (0-based): `min * 2^attempt` capped at `max`,
/// then "full jitter" (uniform in [delay/2, delay]) so that many switches restarting together
/// do not reconnect in step.
pub fn backoff_delay(attempt: u32, min_ms: u64, max_ms: u64, rng: &mut impl Rng) -> Duration {
    let exp = min_ms.saturating_mul(1u64 << attempt.min(30)).min(max_ms);
    Duration::from_millis(rng.random_range(exp / 2..=exp))
}

/// Keeps the link up until `shutdown`.
pub async fn run_link<S: Service>(
    cfg: OutboundConfig,
    service: Arc<S>,
    shared: Arc<Shared>,
    mut shutdown: Shutdown,
) {
    let mut attempt = 0u32;
    loop {
        let connected = tokio::select! {
            biased;
            _ = shutdown.wait() => return,
            r = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(&cfg.address)) => r,
        };
        match connected {
            Ok(Ok(stream)) => {
                let _ = stream.set_nodelay(true);
                let peer = match stream.peer_addr() {
                    Ok(p) => p,
                    Err(_) => continue,
                };
                info!(network = %cfg.name, %peer, "link connected");
                let setup = ConnSetup {
                    network: cfg.name.clone(),
                    peer,
                    codec: FrameCodec::new(cfg.framing, cfg.header_len, cfg.max_frame_len),
                    options: ConnOptions {
                        echo_after: Some(Duration::from_millis(cfg.echo_interval_ms)),
                        sign_on: true,
                        sign_off: true,
                    },
                    slot: None,
                };
                let reason = serve_connection(
                    stream,
                    setup,
                    service.clone(),
                    shared.clone(),
                    shutdown.clone(),
                )
                .await;
                info!(network = %cfg.name, ?reason, "link closed");
                if shutdown.is_set() {
                    return;
                }
                // A link that was up starts its backoff again from the minimum.
                attempt = 0;
            }
            Ok(Err(e)) => {
                warn!(network = %cfg.name, address = %cfg.address, error = %e, "link connect failed")
            }
            Err(_) => warn!(network = %cfg.name, address = %cfg.address, "link connect timed out"),
        }
        let delay = backoff_delay(
            attempt,
            cfg.backoff_min_ms,
            cfg.backoff_max_ms,
            &mut rand::rng(),
        );
        attempt = attempt.saturating_add(1);
        tokio::select! {
            biased;
            _ = shutdown.wait() => return,
            _ = tokio::time::sleep(delay) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_caps_and_jitters() {
        let mut rng = rand::rng();
        for _ in 0..100 {
            let d0 = backoff_delay(0, 100, 10_000, &mut rng).as_millis();
            assert!((50..=100).contains(&d0), "{d0}");
            let d3 = backoff_delay(3, 100, 10_000, &mut rng).as_millis();
            assert!((400..=800).contains(&d3), "{d3}");
            let big = backoff_delay(40, 100, 10_000, &mut rng).as_millis();
            assert!((5_000..=10_000).contains(&big), "{big}");
        }
    }
}
