//! What the server enforces on listeners and connections: its own type, so that the server
//! does not depend on the configuration schema. The application builds it from `[limits]` at
//! start and again on reload (SIGHUP); connections read it when they start, the accept loop on
//! every connection.

use std::time::Duration;

/// Limits and timeouts of the server, replaced whole on reload (see [`super::Shared`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Connections per listener; one more is accepted and closed at once.
    pub max_connections: usize,
    /// Requests being processed per connection; beyond it the connection stops reading.
    pub in_flight_per_connection: usize,
    /// A connection with no frame at all for this long is sent an echo test (half-open
    /// detection); it is closed if nothing arrives within `read_timeout` after that.
    pub idle_timeout: Duration,
    /// Time allowed to complete a frame once its first byte has arrived (and a TLS handshake).
    pub read_timeout: Duration,
    /// Time a peer has to take a response we write; a peer that stops reading is closed
    /// after it instead of keeping its slot (and our memory) indefinitely.
    pub write_timeout: Duration,
    /// Bound on a graceful drain: requests still running after it are abandoned.
    pub drain_timeout: Duration,
    /// Time an inbound connection has to send a message we can read (or sign on): until
    /// then it is unproven, closed after this long, and the first closed to make room when
    /// a listener is at `max_connections`.
    pub unproven_timeout: Duration,
}
