//! The configuration file's schema (TOML). Every table refuses unknown keys so that a typo
//! is reported with its name rather than silently ignored.

use std::net::SocketAddr;
use std::path::PathBuf;

use framing::{LengthPrefix, DEFAULT_MAX_FRAME_LEN};
use serde::{Deserialize, Serialize};

use super::secret::serialize_redacted_url;
use super::{ResponseCodes, Secret};

/// The whole file. Relative paths resolve against `base_dir` (see [`crate::config::load`]).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where relative paths start; itself relative to the config file's directory. Default
    /// `".."`: a config in `fixtures/` names files from the repository root.
    #[serde(default)]
    pub base_dir: Option<PathBuf>,
    /// The business date's clock.
    #[serde(default)]
    pub business_date: BusinessDateConfig,
    /// The loopback HTTP endpoint for health and metrics.
    #[serde(default)]
    pub admin: AdminConfig,
    /// Logging.
    #[serde(default)]
    pub log: LogConfig,
    /// Limits and timeouts (reloaded on SIGHUP).
    #[serde(default)]
    pub limits: Limits,
    /// Where decisions and holds are kept.
    pub ledger: LedgerConfig,
    /// Where FX rates come from.
    pub rates: RatesConfig,
    /// Ports the networks connect to (`[[listener]]`).
    #[serde(default, rename = "listener")]
    pub listeners: Vec<ListenerConfig>,
    /// Networks the switch dials (`[[outbound]]`).
    #[serde(default, rename = "outbound")]
    pub outbound: Vec<OutboundConfig>,
    /// The HSM that verifies PINs, CVVs, cryptograms and MACs (issue 23); needed when a
    /// listener checks any of them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hsm: Option<super::security::HsmConfig>,
    /// The event stream (issue 20).
    #[serde(default)]
    pub events: EventsConfig,
    /// Card programs with a real-time decision hook (`[[programs]]`, issue 22).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub programs: Vec<super::ProgramConfig>,
    /// Clearing files (issue 24): matching tolerances and the import's pace.
    #[serde(default)]
    pub clearing: super::ClearingConfig,
}

/// `[events]`: where the ledger's events go. Without `kafka` they stay in the ledger's
/// outbox (`gateway events tail` shows them).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EventsConfig {
    /// Kafka bootstrap servers, `"HOST:PORT,..."`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kafka: Option<String>,
    /// The topic.
    #[serde(default = "default_events_topic")]
    pub topic: String,
    /// Unpublished events past which `/readyz` warns and the `events_outbox_over_bound`
    /// metric is 1 (a broker outage: authorizations go on, never declined for it).
    #[serde(default = "default_outbox_bound")]
    pub outbox_bound: u64,
    /// How long published events stay in the outbox before the relay prunes them, seconds.
    #[serde(default = "default_retention_s")]
    pub retention_s: u64,
    /// Events the relay reads and publishes per round.
    #[serde(default = "default_relay_batch")]
    pub relay_batch: usize,
    /// How long the broker may take to acknowledge a round before the relay tries again
    /// (and `message.timeout.ms` of the producer), milliseconds.
    #[serde(default = "default_ack_timeout_ms")]
    pub ack_timeout_ms: u64,
}

impl Default for EventsConfig {
    fn default() -> Self {
        EventsConfig {
            kafka: None,
            topic: default_events_topic(),
            outbox_bound: default_outbox_bound(),
            retention_s: default_retention_s(),
            relay_batch: default_relay_batch(),
            ack_timeout_ms: default_ack_timeout_ms(),
        }
    }
}

fn default_events_topic() -> String {
    "card-events".to_owned()
}
fn default_outbox_bound() -> u64 {
    100_000
}
fn default_retention_s() -> u64 {
    7 * 86_400
}
fn default_relay_batch() -> usize {
    500
}
fn default_ack_timeout_ms() -> u64 {
    10_000
}

/// `[business_date]`
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BusinessDateConfig {
    /// IANA time zone whose calendar date is the business date (until a cutover moves it on).
    #[serde(default = "default_time_zone")]
    pub time_zone: String,
    /// Test and operations knob: seconds added to the wall clock when reading the business
    /// date's calendar (and nothing else: hold times and expiry keep the real clock). The
    /// continuity suite sets it so that midnight comes a few seconds after start-up.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub clock_offset_s: i64,
}

fn is_zero(v: &i64) -> bool {
    *v == 0
}

impl Default for BusinessDateConfig {
    fn default() -> Self {
        BusinessDateConfig {
            time_zone: default_time_zone(),
            clock_offset_s: 0,
        }
    }
}

fn default_time_zone() -> String {
    "UTC".to_owned()
}

/// `[admin]`: the loopback HTTP listener of health, metrics and the operations API. At most
/// one of `api_token` and `api_token_file`; with neither, the API under `/v1/` is off.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AdminConfig {
    /// Loopback address of `/healthz`, `/readyz`, `/metrics`, `/openapi.json` and `/v1/`.
    #[serde(default = "default_admin_address")]
    pub address: SocketAddr,
    /// The API's bearer token, inline (a sandbox; prefer `api_token_file` elsewhere).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_token: Option<ApiToken>,
    /// A file holding the API's bearer token (one line; surrounding whitespace ignored).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_token_file: Option<PathBuf>,
    /// A sandbox (test data, a committed test token): the page at `/sandbox` fills the API
    /// token in for its visitor. Never on a switch whose token is a secret.
    #[serde(default)]
    pub sandbox: bool,
}

impl Default for AdminConfig {
    fn default() -> Self {
        AdminConfig {
            address: default_admin_address(),
            api_token: None,
            api_token_file: None,
            sandbox: false,
        }
    }
}

/// The operations API's bearer token. Neither `Debug` nor `Serialize` (`check-config`) shows
/// it; [`ApiToken::expose`] is for the one comparison that needs it.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct ApiToken(String);

impl ApiToken {
    /// A token from its text.
    pub fn new(text: impl Into<String>) -> Self {
        ApiToken(text.into())
    }

    /// The token itself: compare it in constant time, never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for ApiToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

impl Serialize for ApiToken {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("<redacted>")
    }
}

fn default_admin_address() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 9583))
}

/// Log line format.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// `[log]`
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    /// An `EnvFilter` directive such as `info` or `gateway=debug,info` (reloaded on SIGHUP).
    #[serde(default = "default_log_level")]
    pub level: String,
    /// `text` or `json`.
    #[serde(default)]
    pub format: LogFormat,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            level: default_log_level(),
            format: LogFormat::Text,
        }
    }
}

fn default_log_level() -> String {
    "info".to_owned()
}

/// `[limits]`: a named limit for everything a peer can make us hold.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Connections per listener; one more is accepted and closed at once.
    pub max_connections: usize,
    /// Requests being processed per connection; beyond it the connection stops reading.
    pub in_flight_per_connection: usize,
    /// Processing deadline of a request; must be shorter than the network's own timeout.
    pub deadline_ms: u64,
    /// A connection with no frame at all for this long is sent an echo test (half-open
    /// detection); it is closed if nothing arrives within `read_timeout_ms` after that.
    pub idle_timeout_ms: u64,
    /// Time allowed to complete a frame once its first byte has arrived.
    pub read_timeout_ms: u64,
    /// Bound on a graceful drain: requests still running after it are abandoned.
    pub drain_timeout_ms: u64,
    /// Time a peer has to take a response we write; a peer that stops reading is closed
    /// after it instead of keeping its slot (and our memory) indefinitely.
    pub write_timeout_ms: u64,
    /// Time an inbound connection has to send a message we can read (or sign on): until
    /// then it is unproven, closed after this long, and the first closed to make room when
    /// a listener is at `max_connections`.
    pub unproven_timeout_ms: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 64,
            in_flight_per_connection: 512,
            deadline_ms: 2_000,
            idle_timeout_ms: 60_000,
            read_timeout_ms: 10_000,
            drain_timeout_ms: 10_000,
            write_timeout_ms: 10_000,
            unproven_timeout_ms: 30_000,
        }
    }
}

/// `[ledger]`: exactly one of `embedded` and `postgres`.
#[derive(Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LedgerConfig {
    /// Path of the embedded (SQLite) store.
    #[serde(default)]
    pub embedded: Option<PathBuf>,
    /// PostgreSQL URL of the shared store, with libpq's `sslmode` and `sslrootcert` for TLS
    /// (`postgres://app@db:5432/ledger?sslmode=verify-full&sslrootcert=/etc/ssl/db-ca.pem`).
    #[serde(default, serialize_with = "serialize_redacted_url")]
    pub postgres: Option<String>,
    /// The database password when it is not in the URL: `"..."`, `{ file = "PATH" }` or
    /// `{ env = "NAME" }` (a URL that has one too is refused).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postgres_password: Option<Secret>,
    /// PostgreSQL schema holding the ledger's tables (`[a-z0-9_]`, created if missing).
    #[serde(default = "default_schema")]
    pub schema: String,
    /// Key of the PAN HMAC (the ledger keeps a keyed hash of the PAN, never the PAN):
    /// `"..."`, `{ file = "PATH" }` or `{ env = "NAME" }`; 64 hex digits are decoded, other
    /// text is used as bytes, at least 32.
    pub pan_key: Secret,
    /// Holds expire after this many days (DESIGN.md: configurable, default 7).
    #[serde(default = "default_hold_expiry_days")]
    pub hold_expiry_days: u32,
    /// Accounts and cards loaded when the ledger is empty (`fixtures/cards.json` form).
    #[serde(default)]
    pub seed: Option<PathBuf>,
}

fn default_schema() -> String {
    "ledger".to_owned()
}

fn default_hold_expiry_days() -> u32 {
    7
}

/// `[rates]`: exactly one of `file` and `redis`.
#[derive(Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RatesConfig {
    /// A `base,quote,rate` CSV file, reloaded when it changes.
    #[serde(default)]
    pub file: Option<PathBuf>,
    /// Redis URL where `fx-rates publish` keeps the rate sets; `rediss://` for TLS.
    #[serde(default, serialize_with = "serialize_redacted_url")]
    pub redis: Option<String>,
    /// PEM file of the CA a `rediss://` server's certificate must chain to (default: the
    /// system's trusted roots).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redis_ca: Option<PathBuf>,
    /// The Redis password (`AUTH`) when it is not in the URL: `"..."`, `{ file = "PATH" }` or
    /// `{ env = "NAME" }`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redis_password: Option<Secret>,
    /// Key namespace in Redis.
    #[serde(default = "default_namespace")]
    pub namespace: String,
    /// A rate set older than this is not used to convert (the request is answered 91).
    #[serde(default = "default_max_age_s")]
    pub max_age_s: u64,
}

fn default_namespace() -> String {
    "fx".to_owned()
}

fn default_max_age_s() -> u64 {
    // A day and a bit: daily publication with room for a late run.
    26 * 3600
}

/// One `[[listener]]`.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ListenerConfig {
    /// The network's name, shown in logs and metrics.
    pub name: String,
    /// Address to bind (SO_REUSEPORT).
    pub address: SocketAddr,
    /// `binary2`, `ascii4` or `bcd2`.
    #[serde(default = "default_framing")]
    pub framing: LengthPrefix,
    /// Fixed header bytes after the length, echoed in responses.
    #[serde(default)]
    pub header_len: usize,
    /// Built-in spec name or path of a spec file.
    #[serde(default = "default_spec")]
    pub spec: String,
    /// Largest message accepted.
    #[serde(default = "default_max_frame_len")]
    pub max_frame_len: usize,
    /// This network's deadline, when shorter than `limits.deadline_ms`.
    #[serde(default)]
    pub deadline_ms: Option<u64>,
    /// Response codes this network expects (`[listener.codes]`).
    #[serde(default)]
    pub codes: ResponseCodes,
    /// Peer addresses allowed to connect, as CIDRs (`["10.20.0.0/16", "192.0.2.7/32"]`);
    /// empty: any (a listener not on loopback without one is warned about at start).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow: Vec<ipnet::IpNet>,
    /// TLS on this listener (`[listener.tls]`), for networks that ask for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<ListenerTls>,
    /// The card security checks this network's messages go through (issue 23; default:
    /// none).
    #[serde(default)]
    pub security: super::security::ListenerSecurity,
}

/// `[listener.tls]`: the listener's certificate and, for mutual TLS, the CA its peers'
/// certificates must chain to. PEM files.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ListenerTls {
    /// Certificate chain, leaf first.
    pub cert: PathBuf,
    /// Its private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
    /// When set, a peer must present a certificate issued by this CA.
    #[serde(default)]
    pub client_ca: Option<PathBuf>,
}

/// One `[[outbound]]`: the switch dials the network and keeps the link up.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct OutboundConfig {
    /// The network's name.
    pub name: String,
    /// Address to dial.
    pub address: String,
    /// `binary2`, `ascii4` or `bcd2`.
    #[serde(default = "default_framing")]
    pub framing: LengthPrefix,
    /// Fixed header bytes after the length.
    #[serde(default)]
    pub header_len: usize,
    /// Built-in spec name or path.
    #[serde(default = "default_spec")]
    pub spec: String,
    /// Largest message accepted.
    #[serde(default = "default_max_frame_len")]
    pub max_frame_len: usize,
    /// Send an echo test (0800/301) after this long without traffic.
    #[serde(default = "default_echo_interval_ms")]
    pub echo_interval_ms: u64,
    /// First reconnect delay.
    #[serde(default = "default_backoff_min_ms")]
    pub backoff_min_ms: u64,
    /// Cap of the reconnect delay.
    #[serde(default = "default_backoff_max_ms")]
    pub backoff_max_ms: u64,
    /// Our institution id (DE 33 / DE 32 of network-management messages we originate).
    #[serde(default)]
    pub institution_id: Option<String>,
    /// Response codes this network expects (`[outbound.codes]`).
    #[serde(default)]
    pub codes: ResponseCodes,
}

fn default_framing() -> LengthPrefix {
    LengthPrefix::Binary2
}

fn default_spec() -> String {
    "iso87-binary".to_owned()
}

fn default_max_frame_len() -> usize {
    DEFAULT_MAX_FRAME_LEN
}

fn default_echo_interval_ms() -> u64 {
    30_000
}

fn default_backoff_min_ms() -> u64 {
    250
}

fn default_backoff_max_ms() -> u64 {
    30_000
}

/// Shows whether a secret-bearing value is set, never the value.
fn set_or_not(v: &Option<String>) -> &'static str {
    if v.is_some() {
        "<set>"
    } else {
        "<none>"
    }
}

/// The PAN key and URLs (which may carry passwords) are never shown.
impl std::fmt::Debug for LedgerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LedgerConfig")
            .field("embedded", &self.embedded)
            .field("postgres", &set_or_not(&self.postgres))
            .field("postgres_password", &self.postgres_password)
            .field("schema", &self.schema)
            .field("pan_key", &self.pan_key)
            .field("hold_expiry_days", &self.hold_expiry_days)
            .field("seed", &self.seed)
            .finish()
    }
}

/// The Redis URL may carry a password: not shown.
impl std::fmt::Debug for RatesConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RatesConfig")
            .field("file", &self.file)
            .field("redis", &set_or_not(&self.redis))
            .field("redis_ca", &self.redis_ca)
            .field("redis_password", &self.redis_password)
            .field("namespace", &self.namespace)
            .field("max_age_s", &self.max_age_s)
            .finish()
    }
}
