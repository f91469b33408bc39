//! Starting and stopping the whole switch from a [`Config`]: rates, ledger (seeded when
//! empty), listeners, outbound links, admin endpoint, hold expiry; drain and reload.
//!
//! The binary is a thin shell around this (signals, logging); integration tests run it
//! in-process on `127.0.0.1:0`.

mod overrides;
mod status;
mod tls;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use framing::FrameCodec;
use fx_rates::{CacheOptions, RateCache, RedisOptions};
use iso8583::Spec;
use ledger::{EmbeddedOptions, EmbeddedStore, PanHasher, PgOptions, PgStore, SeedData, Store};
use tokio::task::JoinHandle;
use tracing::{info, warn};

pub use overrides::Overrides;

use crate::admin::simulator::{Simulator, SimulatorParts};
use crate::admin::{serve_admin, AdminParts, AdminState};
use crate::business_date::BusinessDate;
use crate::config::{Config, Limits, RatesConfig};
use crate::error::{ConfigError, Error};
use crate::link::run_link;
use crate::quoter::RateQuoter;
use crate::security::{HsmService, SwitchSecurity};
use crate::server::{self, bind_reuseport, BoundListener, Shared, Shutdown, ShutdownTrigger};
use crate::switch::{Switch, SwitchCore};
pub(crate) use status::Status;

/// How often a file rates source is checked for changes.
const RATES_FILE_POLL: Duration = Duration::from_secs(1);
/// How long start-up waits for a first rate set from Redis (readiness reports the rest).
const RATES_FIRST_LOAD: Duration = Duration::from_secs(5);
/// How often expired holds are released.
const EXPIRY_INTERVAL: Duration = Duration::from_secs(60);
/// How often the ledger commits a heartbeat (readiness of an idle ledger; see
/// `ledger::LedgerHealth`).
const HEARTBEAT_EVERY: Duration = Duration::from_secs(1);
/// How often [`Running::ledger_stopped`] looks at the ledger's health.
const WATCH_LEDGER_EVERY: Duration = Duration::from_millis(250);

/// A running switch.
#[derive(Debug)]
pub struct Running {
    /// Bound address of each listener, by network name.
    pub listeners: Vec<(String, SocketAddr)>,
    /// Bound admin address.
    pub admin: SocketAddr,
    trigger: ShutdownTrigger,
    server: JoinHandle<()>,
    tasks: Vec<JoinHandle<()>>,
    links: Vec<JoinHandle<()>>,
    core: Arc<SwitchCore>,
    quoter: Arc<RateQuoter>,
    shared: Arc<Shared>,
    hsm: Option<Arc<HsmService>>,
    config: Config,
}

/// How often an instance reads the latest recorded cutover: the longest another instance's
/// cutover takes to reach this one.
const FOLLOW_CUTOVERS_EVERY: Duration = Duration::from_secs(1);

/// Starts everything `config` describes.
pub async fn start(config: Config) -> Result<Running, Error> {
    let cache = rate_cache(&config.rates).await?;
    let quoter = Arc::new(RateQuoter::new(cache));
    let hasher = config.ledger.pan_hasher()?;
    let store = open_store(&config, hasher.clone(), quoter.clone()).await?;
    // Opened before the seed: the seed stores the PVVs the HSM's `pvk` computes.
    let hsm = config
        .hsm
        .as_ref()
        .map(|c| HsmService::open(c).map(Arc::new))
        .transpose()?;
    if let Some(h) = &config.hsm {
        let exposed = config
            .listeners
            .iter()
            .any(|l| !l.address.ip().is_loopback());
        if h.software_keys.is_some() && exposed {
            warn!(
                "[hsm] software_keys holds clear keys: test keys for the sandbox only; a \
                network-facing switch names its keys by PKCS#11 label ([hsm] pkcs11)"
            );
        }
    }
    if let Some(seed) = &config.ledger.seed {
        seed_if_empty(&store, seed, &hasher, hsm.as_deref()).await?;
    }
    let business_date = Arc::new(
        BusinessDate::with_clock_offset(
            &config.business_date.time_zone,
            config.business_date.clock_offset_s,
        )
        .map_err(|e| ConfigError::invalid("business_date.time_zone", e.to_string()))?,
    );
    let shared = Arc::new(Shared::new(server_limits(&config.limits)));
    let hooks = crate::hook::Hooks::from_config(&config)?.map(Arc::new);
    if hooks.is_some() {
        info!(programs = config.programs.len(), "real-time decision hooks");
    }
    let core = Arc::new(
        SwitchCore::new(
            store,
            business_date,
            shared.clone(),
            Duration::from_millis(config.limits.deadline_ms),
        )
        .with_hooks(hooks),
    );
    // A cutover recorded before this start (by this instance before a restart, or by
    // another one) stands: the first answer already carries its date.
    if let Err(e) = core.catch_up_with_cutovers().await {
        warn!(error = %e, "cannot read the recorded cutovers; retrying in the background");
    }
    info!(business_date = %core.business_date().today(), "business date");
    let (trigger, shutdown) = server::shutdown_channel();

    let mut bound = Vec::new();
    let mut addrs = Vec::new();
    let (identity, claims) = (ledger_identity(&config), server::claim_dir());
    // The first listener's switch, spec, codec and name: the simulation endpoints' path.
    let mut sim_parts = None;
    for (i, l) in config.listeners.iter().enumerate() {
        let spec = load_spec(&l.spec, &format!("listener[{i}].spec"))?;
        let tls = l
            .tls
            .as_ref()
            .map(|t| tls::acceptor(t, &format!("listener[{i}].tls")))
            .transpose()?;
        // A fixed port is claimed before it is bound (no connection reaches an instance on
        // another ledger even for a moment); a port the system picks, once it is known.
        let early = (l.address.port() != 0)
            .then(|| server::claim(l.address, &identity, &claims))
            .transpose()?;
        let listener = bind_reuseport(l.address)?;
        let addr = listener.local_addr()?;
        let claim = match early {
            Some(c) => c,
            None => server::claim(addr, &identity, &claims)?,
        };
        if l.allow.is_empty() && !addr.ip().is_loopback() {
            warn!(network = %l.name, %addr,
                "listener open to any peer address: set listener.allow to the networks' CIDRs");
        }
        info!(network = %l.name, %addr, framing = %l.framing, spec = %l.spec,
            tls = tls.is_some(), allow = ?l.allow, "listening");
        addrs.push((l.name.clone(), addr));
        let deadline = l.deadline_ms.map(Duration::from_millis);
        let codec = FrameCodec::new(l.framing, l.header_len, l.max_frame_len);
        let service = Arc::new(
            Switch::new(
                core.clone(),
                spec.clone(),
                l.name.clone(),
                deadline,
                l.codes,
            )
            .with_security(SwitchSecurity::new(
                hsm.as_ref(),
                &l.security,
                &format!("listener[{i}]"),
            )?),
        );
        if sim_parts.is_none() {
            sim_parts = Some((service.clone(), spec, codec.clone(), l.name.clone()));
        }
        bound.push(BoundListener {
            name: l.name.clone(),
            listener,
            codec,
            service,
            allow: l.allow.clone(),
            tls,
            claim: Some(claim),
        });
    }
    let mut links = Vec::new();
    for (i, o) in config.outbound.iter().enumerate() {
        let spec = load_spec(&o.spec, &format!("outbound[{i}].spec"))?;
        let service = Arc::new(Switch::new(
            core.clone(),
            spec,
            o.name.clone(),
            None,
            o.codes,
        ));
        links.push(tokio::spawn(run_link(
            o.clone(),
            service,
            shared.clone(),
            shutdown.clone(),
        )));
    }
    let admin_listener = bind_reuseport(config.admin.address)?;
    let admin = admin_listener.local_addr()?;
    let token = config.admin.api_token()?;
    info!(%admin, api = token.is_some(), "admin endpoint");
    let events = Arc::new(crate::events::RelayStats::default());
    let status = Arc::new(Status {
        core: core.clone(),
        quoter: quoter.clone(),
        shared: shared.clone(),
        events: events.clone(),
    });
    let simulator = sim_parts.map(|(switch, spec, codec, network)| {
        Arc::new(Simulator::new(SimulatorParts {
            switch,
            spec,
            codec,
            network,
            shared: shared.clone(),
            shutdown: shutdown.clone(),
            hsm: hsm.clone(),
            seed: config.ledger.seed.clone(),
        }))
    });
    let admin_state = Arc::new(AdminState::new(
        status,
        AdminParts {
            token,
            sandbox: config.admin.sandbox,
            simulator,
            shutdown: shutdown.clone(),
            clearing: config.clearing.clone(),
        },
    ));
    let tasks = vec![
        tokio::spawn(serve_admin(admin_listener, admin_state, shutdown.clone())),
        tokio::spawn(expire_holds(core.clone(), shutdown.clone())),
        tokio::spawn(
            core.clone()
                .follow_cutovers(FOLLOW_CUTOVERS_EVERY, shutdown.clone()),
        ),
        tokio::spawn(core.run_voids()),
        tokio::spawn(core.clone().heartbeat(HEARTBEAT_EVERY, shutdown.clone())),
        tokio::spawn(crate::events::relay::run(
            core.store().clone(),
            config.events.clone(),
            events,
            shutdown.clone(),
        )),
    ];
    let server = tokio::spawn(server::run(bound, shared.clone(), shutdown));
    Ok(Running {
        listeners: addrs,
        admin,
        trigger,
        server,
        tasks,
        links,
        core,
        quoter,
        shared,
        hsm,
        config,
    })
}

impl Running {
    /// A handle that starts the drain (for signal handlers).
    pub fn trigger(&self) -> ShutdownTrigger {
        self.trigger.clone()
    }

    /// Address of the first listener.
    ///
    /// # Panics
    /// When the config has no listener (outbound links only); see [`Running::listeners`].
    pub fn addr(&self) -> SocketAddr {
        self.listeners[0].1
    }

    /// Shared limits and metrics.
    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// The ledger, business date and background work.
    pub fn core(&self) -> &Arc<SwitchCore> {
        &self.core
    }

    /// Resolves, with the reason, once the ledger's writer has stopped for good (it kept
    /// panicking): this process can no longer commit, so it should exit non-zero and let its
    /// supervisor replace it (the ledger file is intact; a new process answers repeats from
    /// it).
    pub async fn ledger_stopped(&self) -> String {
        loop {
            let h = self.core.store().health();
            if h.stopped {
                return h
                    .last_error
                    .unwrap_or_else(|| "the ledger writer stopped".into());
            }
            tokio::time::sleep(WATCH_LEDGER_EVERY).await;
        }
    }

    /// Graceful drain: stop accepting and reading, answer every request in flight, sign off
    /// outbound links, finish background voids; bounded by `limits.drain_timeout_ms`.
    pub async fn drain(self) {
        self.trigger.trigger();
        let bound = self.shared.limits.load().drain_timeout;
        let _ = self.server.await;
        for l in self.links {
            let _ = tokio::time::timeout(bound, l).await;
        }
        if !self.core.wait_voids(bound).await {
            warn!("drain ended with voids still running");
        }
        for t in self.tasks {
            t.abort();
        }
        info!("drained");
    }

    /// Applies what can change without a restart: the HSM's keys (re-read from the same key
    /// file or token configuration), limits (new connections and requests see them) and the
    /// rates source. Returns what changed. Listeners, ledger and admin address
    /// need a restart (SO_REUSEPORT lets the new instance start first).
    pub async fn reload(&mut self, new: Config) -> Result<Vec<&'static str>, Error> {
        let mut changed = Vec::new();
        // Keys rotate without a restart: the key file (or the token's labels) is read again,
        // and the new set replaces the old only if every key loads and its KCV matches. First,
        // so that a refused key file leaves the whole running configuration as it was.
        if let Some(h) = &self.hsm {
            h.reload()
                .map_err(|e| ConfigError::invalid("hsm", format!("keys not reloaded: {e}")))?;
            changed.push("hsm.keys");
        }
        // Before anything is applied too: a secret that cannot be read refuses the reload.
        let new_hooks = (new.programs != self.config.programs)
            .then(|| crate::hook::Hooks::from_config(&new))
            .transpose()?;
        if new.limits != self.config.limits {
            self.shared
                .limits
                .store(Arc::new(server_limits(&new.limits)));
            self.core
                .set_deadline(Duration::from_millis(new.limits.deadline_ms));
            changed.push("limits");
        }
        let rates_changed = new.rates.file != self.config.rates.file
            || new.rates.redis != self.config.rates.redis
            || new.rates.redis_ca != self.config.rates.redis_ca
            || new.rates.redis_password != self.config.rates.redis_password
            || new.rates.namespace != self.config.rates.namespace
            || new.rates.max_age_s != self.config.rates.max_age_s;
        if rates_changed {
            self.quoter.replace(rate_cache(&new.rates).await?);
            changed.push("rates");
        } else if new.rates.file.is_some() {
            // Same file: re-read it now rather than at the next poll.
            let _ = self.quoter.cache().reload();
        }
        if new.log.level != self.config.log.level {
            changed.push("log.level");
        }
        if let Some(hooks) = new_hooks {
            self.core.set_hooks(hooks.map(Arc::new));
            self.config.programs = new.programs.clone();
            changed.push("programs");
        }
        let needs_restart = new.listeners.len() != self.config.listeners.len()
            || new.admin.address != self.config.admin.address
            || new.admin.api_token != self.config.admin.api_token
            || new.admin.api_token_file != self.config.admin.api_token_file
            || new.ledger.embedded != self.config.ledger.embedded
            || new.ledger.postgres != self.config.ledger.postgres
            || new.ledger.postgres_password != self.config.ledger.postgres_password
            || new.ledger.pan_key != self.config.ledger.pan_key
            || new.hsm != self.config.hsm
            || new
                .listeners
                .iter()
                .zip(&self.config.listeners)
                .any(|(a, b)| a.security != b.security);
        if needs_restart {
            warn!(
                "listener (its security checks included), admin (address, API token), ledger or \
                [hsm] section changes need a restart; not applied"
            );
        }
        self.config.limits = new.limits;
        self.config.rates = new.rates;
        self.config.log = new.log;
        Ok(changed)
    }
}

/// What the server enforces, from the configuration's `[limits]` (the processing deadline
/// goes to the switch instead).
fn server_limits(l: &Limits) -> server::Limits {
    // Named one by one, so that a limit added to the schema has to be placed here.
    let &Limits {
        max_connections,
        in_flight_per_connection,
        deadline_ms: _,
        idle_timeout_ms,
        read_timeout_ms,
        drain_timeout_ms,
        write_timeout_ms,
        unproven_timeout_ms,
    } = l;
    server::Limits {
        max_connections,
        in_flight_per_connection,
        idle_timeout: Duration::from_millis(idle_timeout_ms),
        read_timeout: Duration::from_millis(read_timeout_ms),
        write_timeout: Duration::from_millis(write_timeout_ms),
        drain_timeout: Duration::from_millis(drain_timeout_ms),
        unproven_timeout: Duration::from_millis(unproven_timeout_ms),
    }
}

async fn rate_cache(c: &RatesConfig) -> Result<RateCache, Error> {
    let opts = CacheOptions {
        max_age: Some(Duration::from_secs(c.max_age_s)),
        ..CacheOptions::default()
    };
    if let Some(path) = &c.file {
        let cache = RateCache::from_file(path.clone(), opts)
            .map_err(|e| Error::Rates(format!("{}: {e}", path.display())))?;
        cache
            .watch_file(RATES_FILE_POLL)
            .map_err(|e| Error::Rates(e.to_string()))?;
        info!(path = %path.display(), version = ?cache.status().version, "rates loaded from file");
        return Ok(cache);
    }
    let target = c.redis_target()?.unwrap_or_default();
    let redis = RedisOptions {
        namespace: c.namespace.clone(),
        ..RedisOptions::default()
    };
    let cache = RateCache::from_redis(target, redis, opts)
        .await
        .map_err(|e| ConfigError::invalid("rates.redis", e.to_string()))?;
    if !cache.wait_loaded(RATES_FIRST_LOAD).await {
        warn!("no rate set from Redis yet; foreign-currency conversions answer 91 until one loads");
    }
    Ok(cache)
}

/// What names the ledger this instance serves from, for the claims of its listening ports
/// (`server::claim`): the embedded file's full path, or PostgreSQL's host, database and
/// schema. Never a password.
fn ledger_identity(config: &Config) -> String {
    if let Some(path) = &config.ledger.embedded {
        let dir = path.parent().unwrap_or(std::path::Path::new("."));
        let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_owned());
        let name = path.file_name().unwrap_or_default();
        return format!("sqlite:{}", dir.join(name).display());
    }
    let url = config.ledger.postgres.as_deref().unwrap_or_default();
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let rest = rest.rsplit_once('@').map_or(rest, |(_, r)| r);
    let rest = rest.split('?').next().unwrap_or_default();
    format!("postgres:{rest}#{}", config.ledger.schema)
}

/// Opens the ledger `config` names without serving anything (no rates: it cannot convert),
/// for audits such as `gateway check-ledger`.
pub async fn open_ledger(config: &Config) -> Result<Store, Error> {
    let hasher = config.ledger.pan_hasher()?;
    open_store(config, hasher, Arc::new(ledger::NoRates)).await
}

/// Opens the ledger `config` names with its rates source (a foreign-currency presentment
/// posts at today's fee-free rate), without serving anything: `gateway clearing import`.
pub async fn open_ledger_with_rates(config: &Config) -> Result<Store, Error> {
    let hasher = config.ledger.pan_hasher()?;
    let cache = rate_cache(&config.rates).await?;
    let quoter = Arc::new(crate::quoter::RateQuoter::new(cache));
    open_store(config, hasher, quoter).await
}

async fn open_store(
    config: &Config,
    hasher: PanHasher,
    quoter: Arc<dyn ledger::Quoter>,
) -> Result<Store, Error> {
    let ttl = i64::from(config.ledger.hold_expiry_days) * 86_400;
    if let Some(path) = config.ledger.embedded.clone() {
        let opts = EmbeddedOptions {
            hold_ttl_secs: ttl,
            ..EmbeddedOptions::default()
        };
        let shown = path.display().to_string();
        // Opening runs migrations and may fsync: keep it off the async workers.
        let store =
            tokio::task::spawn_blocking(move || EmbeddedStore::open(path, hasher, quoter, opts))
                .await
                .map_err(|e| Error::Ledger(e.to_string()))?
                .map_err(|e| Error::Ledger(format!("{shown}: {e}")))?;
        info!(path = %shown, "embedded ledger open");
        return Ok(store.into());
    }
    let url = config.ledger.postgres_url()?.unwrap_or_default();
    let mut opts = PgOptions::new(url, config.ledger.schema.clone());
    opts.hold_ttl_secs = ttl;
    let store = PgStore::connect(opts, hasher, quoter)
        .await
        .map_err(|e| Error::Ledger(format!("postgres: {e}")))?;
    info!(schema = %config.ledger.schema, "postgres ledger connected");
    Ok(store.into())
}

/// "seeded from `fixtures/cards.json` if empty".
async fn seed_if_empty(
    store: &Store,
    path: &std::path::Path,
    hasher: &PanHasher,
    hsm: Option<&HsmService>,
) -> Result<(), Error> {
    let seed_err = |reason: String| Error::Seed {
        path: path.to_owned(),
        reason,
    };
    let empty = store
        .is_empty()
        .await
        .map_err(|e| Error::Ledger(e.to_string()))?;
    // A ledger seeded before card security gets its cards' PVVs and PSNs (only those rows:
    // its accounts and cards stay as they are).
    if !empty && hsm.is_none() {
        return Ok(());
    }
    let text = tokio::fs::read_to_string(path)
        .await
        .map_err(|e| seed_err(e.to_string()))?;
    let exponent = |ccy: &str| fx_rates::currency(ccy).ok().map(|c| u32::from(c.exponent));
    let mut data = match hsm {
        Some(h) => {
            let pvv = |pan: &ledger::Pan, pin: &str| seed_pvv(h, pan, pin);
            SeedData::from_json_with_pvv(&text, hasher, &exponent, &pvv)
        }
        None => SeedData::from_json(&text, hasher, &exponent),
    }
    .map_err(|e| seed_err(e.to_string()))?;
    if !empty {
        data.accounts.clear();
        data.cards.clear();
    }
    let (cards, pins) = (
        data.cards.len(),
        data.security.iter().filter(|s| s.pvv.is_some()).count(),
    );
    let accounts = store
        .seed(data)
        .await
        .map_err(|e| seed_err(e.to_string()))?;
    info!(path = %path.display(), accounts, cards, pins, "ledger seeded");
    Ok(())
}

/// The PVV of a seed card's PIN under the HSM's `pvk` (its current version's PVKI). The
/// clear PIN goes into the HSM and only the PVV comes out.
fn seed_pvv(h: &HsmService, pan: &ledger::Pan, pin: &str) -> Result<(String, u8), String> {
    const PVK: &str = "pvk";
    let pvki = h
        .hsm()
        .keys()
        .into_iter()
        .find(|k| k.name.as_str() == PVK)
        .and_then(|k| k.versions.iter().find(|v| v.current).and_then(|v| v.pvki))
        .ok_or("the HSM has no 'pvk' with a pvki")?;
    let pin = hsm::ClearPin::new(pin).map_err(|e| e.to_string())?;
    let digits = pan.clear_digits();
    let pvv = h
        .hsm()
        .pvv_for_clear_pin(&hsm::KeyName::new(PVK), pvki, digits, &pin)
        .map_err(|e| e.to_string())?;
    Ok((pvv, pvki))
}

fn load_spec(name: &str, key: &str) -> Result<Arc<Spec>, Error> {
    Spec::load(name).map_err(|e| ConfigError::invalid(key, e.to_string()).into())
}

async fn expire_holds(core: Arc<SwitchCore>, mut shutdown: Shutdown) {
    loop {
        tokio::select! {
            _ = shutdown.wait() => return,
            _ = tokio::time::sleep(EXPIRY_INTERVAL) => {}
        }
        loop {
            match core
                .store()
                .expire(jiff::Timestamp::now(), ledger::MAX_EXPIRE_BATCH)
                .await
            {
                Ok(n) if n == ledger::MAX_EXPIRE_BATCH => continue,
                Ok(n) => {
                    if n > 0 {
                        info!(released = n, "expired holds released");
                    }
                    break;
                }
                Err(e) => {
                    warn!(error = %e, "hold expiry failed; retrying next round");
                    break;
                }
            }
        }
    }
}
