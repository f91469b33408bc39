//! Configuration: a TOML file (`gateway serve --config FILE`), validated at load with errors
//! that name the key at fault.
//!
//! Relative paths in the file resolve against `base_dir`, which is itself relative to the
//! config file's directory and defaults to `".."`: `fixtures/sandbox.toml` names
//! `var/ledger.db` and `fixtures/cards.json` from the repository root, whatever the working
//! directory.

mod clearing;
mod codes;
mod key_path;
mod programs;
mod schema;
mod secret;
mod security;

use std::path::{Path, PathBuf};

pub use clearing::{
    ClearingConfig, MAX_PRESENTMENT_BATCH, MAX_RECORDS_PER_S, MAX_YIELD_PER_REQUEST,
    SWITCH_RECORDS_PER_S,
};
pub use codes::ResponseCodes;
use framing::MAX_HEADER_LEN;
pub use programs::{
    DeclineWord, ProgramConfig, StandInConfig, DEFAULT_HOOK_BUDGET_MS, MAX_PROGRAMS,
    MIN_HOOK_SECRET_LEN,
};
pub use schema::{
    AdminConfig, ApiToken, BusinessDateConfig, Config, EventsConfig, LedgerConfig, Limits,
    ListenerConfig, ListenerTls, LogConfig, LogFormat, OutboundConfig, RatesConfig,
};
pub use secret::{redact_url, Secret};
pub use security::{CheckMode, HsmBackend, HsmConfig, ListenerSecurity, DEFAULT_HSM_TIMEOUT_MS};

use crate::error::ConfigError;

/// Reads, parses, validates `path` and resolves its relative paths.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    let dir = path.parent().unwrap_or(Path::new("."));
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    parse(&text, dir)
}

/// Parses and validates `text`, resolving relative paths from `config_dir`.
pub fn parse(text: &str, config_dir: &Path) -> Result<Config, ConfigError> {
    let mut config: Config = toml::from_str(text).map_err(|e| {
        let key = e.span().map_or_else(
            || "(file)".to_owned(),
            |s| key_path::key_path_at(text, s.start),
        );
        ConfigError::Parse {
            key,
            reason: e.message().trim().to_owned(),
        }
    })?;
    let base = config_dir.join(config.base_dir.clone().unwrap_or_else(|| "..".into()));
    config.resolve_paths(&base);
    config.validate()?;
    Ok(config)
}

impl Config {
    /// `[hsm]` names one back end and sane limits; a listener that checks anything has an
    /// HSM and a PIN block format the crate knows. (Whether the named keys exist is checked
    /// when the HSM is opened.)
    fn validate_security(&self) -> Result<(), ConfigError> {
        if let Some(h) = &self.hsm {
            h.backend().map_err(|e| ConfigError::invalid("hsm", e))?;
            if h.timeout_ms == 0 || h.timeout_ms > 60_000 {
                return Err(ConfigError::invalid(
                    "hsm.timeout_ms",
                    "between 1 and 60000",
                ));
            }
            if !(1..=ledger::MAX_PIN_TRIES_LIMIT).contains(&h.pin_tries_max) {
                return Err(ConfigError::invalid(
                    "hsm.pin_tries_max",
                    format!("between 1 and {}", ledger::MAX_PIN_TRIES_LIMIT),
                ));
            }
        }
        for (i, l) in self.listeners.iter().enumerate() {
            if l.security.any() && self.hsm.is_none() {
                return Err(ConfigError::invalid(
                    format!("listener[{i}].security"),
                    "card security checks need an [hsm] section",
                ));
            }
            let formats = &l.security.pin_block_formats;
            if formats.is_empty()
                || formats
                    .iter()
                    .any(|&f| hsm::PinBlockFormat::from_control(f).is_none())
            {
                return Err(ConfigError::invalid(
                    format!("listener[{i}].security.pin_block_formats"),
                    "one or more of 0, 1, 3 and 4",
                ));
            }
        }
        Ok(())
    }

    fn resolve_paths(&mut self, base: &Path) {
        let fix = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        if let Some(p) = self.ledger.embedded.as_mut() {
            fix(p);
        }
        if let Some(p) = self.ledger.seed.as_mut() {
            fix(p);
        }
        if let Some(p) = self.rates.file.as_mut() {
            fix(p);
        }
        if let Some(p) = self.rates.redis_ca.as_mut() {
            fix(p);
        }
        self.ledger.pan_key.resolve_path(base);
        for s in [
            self.ledger.postgres_password.as_mut(),
            self.rates.redis_password.as_mut(),
        ]
        .into_iter()
        .flatten()
        {
            s.resolve_path(base);
        }
        if let Some(p) = self.admin.api_token_file.as_mut() {
            fix(p);
        }
        for p in &mut self.programs {
            if let Some(s) = p.secret.as_mut() {
                s.resolve_path(base);
            }
            if let Some(f) = p.secret_file.as_mut() {
                fix(f);
            }
            if let Some(f) = p.ca_file.as_mut() {
                fix(f);
            }
        }
        if let Some(h) = self.hsm.as_mut() {
            for p in [h.software_keys.as_mut(), h.pkcs11.as_mut()]
                .into_iter()
                .flatten()
            {
                fix(p);
            }
        }
        for l in &mut self.listeners {
            if let Some(t) = l.tls.as_mut() {
                fix(&mut t.cert);
                fix(&mut t.key);
                if let Some(ca) = t.client_ca.as_mut() {
                    fix(ca);
                }
            }
            // A spec is a built-in name unless it looks like a path.
            if l.spec.contains('/') || l.spec.ends_with(".toml") || l.spec.ends_with(".json") {
                let mut p = PathBuf::from(&l.spec);
                fix(&mut p);
                l.spec = p.to_string_lossy().into_owned();
            }
        }
    }

    /// Checks what serde cannot: exclusive choices, ranges, loopback admin, time zone.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.validate_security()?;
        self.clearing.validate()?;
        match (&self.ledger.embedded, &self.ledger.postgres) {
            (Some(_), Some(_)) => {
                return Err(ConfigError::invalid(
                    "ledger.postgres",
                    "set either ledger.embedded or ledger.postgres, not both",
                ))
            }
            (None, None) => {
                return Err(ConfigError::invalid(
                    "ledger",
                    "set ledger.embedded (a path) or ledger.postgres (a URL)",
                ))
            }
            _ => {}
        }
        self.ledger.pan_hasher()?;
        self.ledger.postgres_url()?;
        self.validate_events()?;
        programs::validate(&self.programs, self.limits.deadline_ms)?;
        if self.ledger.hold_expiry_days == 0 {
            return Err(ConfigError::invalid(
                "ledger.hold_expiry_days",
                "must be at least 1",
            ));
        }
        match (&self.rates.file, &self.rates.redis) {
            (Some(_), Some(_)) => {
                return Err(ConfigError::invalid(
                    "rates.redis",
                    "set either rates.file or rates.redis, not both",
                ))
            }
            (None, None) => {
                return Err(ConfigError::invalid(
                    "rates",
                    "set rates.file (a CSV path) or rates.redis (a URL)",
                ))
            }
            _ => {}
        }
        self.rates.redis_target()?;
        if self.rates.max_age_s == 0 {
            return Err(ConfigError::invalid("rates.max_age_s", "must be positive"));
        }
        if !self.admin.address.ip().is_loopback() {
            return Err(ConfigError::invalid(
                "admin.address",
                "the admin endpoint is served on loopback only",
            ));
        }
        self.admin.api_token()?;
        if jiff::tz::TimeZone::get(&self.business_date.time_zone).is_err() {
            return Err(ConfigError::invalid(
                "business_date.time_zone",
                format!("unknown time zone {:?}", self.business_date.time_zone),
            ));
        }
        if tracing_subscriber::EnvFilter::try_new(&self.log.level).is_err() {
            return Err(ConfigError::invalid(
                "log.level",
                format!("not a log filter: {:?}", self.log.level),
            ));
        }
        self.validate_limits()?;
        if self.listeners.is_empty() && self.outbound.is_empty() {
            return Err(ConfigError::invalid(
                "listener",
                "at least one [[listener]] or [[outbound]] is needed",
            ));
        }
        for (i, l) in self.listeners.iter().enumerate() {
            let key = |k: &str| format!("listener[{i}].{k}");
            check_link(&key, &l.name, l.header_len, l.max_frame_len, l.framing)?;
            if l.deadline_ms == Some(0) {
                return Err(ConfigError::invalid(key("deadline_ms"), "must be positive"));
            }
            if self.listeners[..i].iter().any(|o| o.name == l.name) {
                return Err(ConfigError::invalid(key("name"), "names must be unique"));
            }
            if let Some(t) = &l.tls {
                for (k, p) in [("tls.cert", Some(&t.cert)), ("tls.key", Some(&t.key))]
                    .into_iter()
                    .chain([("tls.client_ca", t.client_ca.as_ref())])
                {
                    if let Some(p) = p.filter(|p| !p.is_file()) {
                        return Err(ConfigError::invalid(
                            key(k),
                            format!("no such file: {}", p.display()),
                        ));
                    }
                }
            }
        }
        for (i, o) in self.outbound.iter().enumerate() {
            let key = |k: &str| format!("outbound[{i}].{k}");
            check_link(&key, &o.name, o.header_len, o.max_frame_len, o.framing)?;
            if o.backoff_min_ms == 0 || o.backoff_max_ms < o.backoff_min_ms {
                return Err(ConfigError::invalid(
                    key("backoff_max_ms"),
                    "need 0 < backoff_min_ms <= backoff_max_ms",
                ));
            }
            if o.echo_interval_ms == 0 {
                return Err(ConfigError::invalid(
                    key("echo_interval_ms"),
                    "must be positive",
                ));
            }
        }
        Ok(())
    }

    fn validate_events(&self) -> Result<(), ConfigError> {
        let e = &self.events;
        if let Some(k) = &e.kafka {
            let ok = !k.trim().is_empty()
                && k.split(',').all(|h| {
                    h.trim()
                        .rsplit_once(':')
                        .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok())
                });
            if !ok {
                return Err(ConfigError::invalid(
                    "events.kafka",
                    "expected \"HOST:PORT,HOST:PORT,...\"",
                ));
            }
        }
        // Kafka's legal topic names: 1..249 of [a-zA-Z0-9._-].
        let legal = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
        if e.topic.is_empty() || e.topic.len() > 249 || !e.topic.chars().all(legal) {
            return Err(ConfigError::invalid(
                "events.topic",
                "1 to 249 of letters, digits, '.', '_' and '-'",
            ));
        }
        if e.relay_batch == 0 || e.relay_batch > ledger::MAX_EVENTS_PAGE {
            return Err(ConfigError::invalid(
                "events.relay_batch",
                format!("1..={}", ledger::MAX_EVENTS_PAGE),
            ));
        }
        if !(100..=600_000).contains(&e.ack_timeout_ms) {
            return Err(ConfigError::invalid(
                "events.ack_timeout_ms",
                "100..=600000",
            ));
        }
        if e.outbox_bound == 0 || e.retention_s == 0 {
            return Err(ConfigError::invalid(
                "events",
                "outbox_bound and retention_s must be positive",
            ));
        }
        Ok(())
    }

    fn validate_limits(&self) -> Result<(), ConfigError> {
        let l = &self.limits;
        for (k, v) in [
            ("max_connections", l.max_connections as u64),
            (
                "in_flight_per_connection",
                l.in_flight_per_connection as u64,
            ),
            ("deadline_ms", l.deadline_ms),
            ("idle_timeout_ms", l.idle_timeout_ms),
            ("read_timeout_ms", l.read_timeout_ms),
            ("drain_timeout_ms", l.drain_timeout_ms),
            ("write_timeout_ms", l.write_timeout_ms),
            ("unproven_timeout_ms", l.unproven_timeout_ms),
        ] {
            if v == 0 {
                return Err(ConfigError::invalid(
                    format!("limits.{k}"),
                    "must be positive",
                ));
            }
        }
        // Tokio's semaphore caps permits; far above any sane in-flight limit.
        if l.in_flight_per_connection > 65_536 {
            return Err(ConfigError::invalid(
                "limits.in_flight_per_connection",
                "at most 65536",
            ));
        }
        Ok(())
    }
}

impl LedgerConfig {
    /// The PAN hasher, its key read from wherever `pan_key` says.
    pub fn pan_hasher(&self) -> Result<ledger::PanHasher, ConfigError> {
        let key = self.pan_key.resolve("ledger.pan_key")?;
        // Its errors give lengths, never the key.
        ledger::PanHasher::from_config_str(&key)
            .map_err(|e| ConfigError::invalid("ledger.pan_key", e.to_string()))
    }

    /// The PostgreSQL connection string to use, `postgres_password` added: `None` for an
    /// embedded ledger. Checked (TLS settings, one password) without connecting.
    pub fn postgres_url(&self) -> Result<Option<String>, ConfigError> {
        let Some(url) = &self.postgres else {
            if self.postgres_password.is_some() {
                return Err(ConfigError::invalid(
                    "ledger.postgres_password",
                    "only with ledger.postgres",
                ));
            }
            return Ok(None);
        };
        // Parse errors name the parameter, never the password.
        let target = ledger::PgTarget::parse(url)
            .map_err(|e| ConfigError::invalid("ledger.postgres", e.to_string()))?;
        if let Some(ca) = target.root_cert_file().filter(|p| !p.is_file()) {
            return Err(ConfigError::invalid(
                "ledger.postgres",
                format!("sslrootcert: no such file: {}", ca.display()),
            ));
        }
        let Some(secret) = &self.postgres_password else {
            return Ok(Some(url.clone()));
        };
        let password = secret.resolve("ledger.postgres_password")?;
        ledger::pg_url_with_password(url, &password)
            .map(Some)
            .map_err(|e| ConfigError::invalid("ledger.postgres_password", e.to_string()))
    }
}

impl RatesConfig {
    /// The Redis server to follow, password and CA added: `None` for a rates file. Checked
    /// (URL, CA file, one password) without connecting.
    pub fn redis_target(&self) -> Result<Option<fx_rates::RedisTarget>, ConfigError> {
        let Some(url) = &self.redis else {
            for (key, set) in [
                ("rates.redis_ca", self.redis_ca.is_some()),
                ("rates.redis_password", self.redis_password.is_some()),
            ] {
                if set {
                    return Err(ConfigError::invalid(key, "only with rates.redis"));
                }
            }
            return Ok(None);
        };
        if self.redis_password.is_some() && redact_url(url) != *url {
            return Err(ConfigError::invalid(
                "rates.redis_password",
                "rates.redis already has a password: give it in one place",
            ));
        }
        let target = fx_rates::RedisTarget {
            url: url.clone(),
            ca_file: self.redis_ca.clone(),
            password: self
                .redis_password
                .as_ref()
                .map(|s| s.resolve("rates.redis_password"))
                .transpose()?,
        };
        if let Some(ca) = &self.redis_ca {
            if !target.is_tls() {
                return Err(ConfigError::invalid(
                    "rates.redis_ca",
                    "only used with a rediss:// URL in rates.redis",
                ));
            }
            if !ca.is_file() {
                return Err(ConfigError::invalid(
                    "rates.redis_ca",
                    format!("no such file: {}", ca.display()),
                ));
            }
        }
        // Parses the URL and reads the CA; its errors never hold a password. When the same
        // target without the CA is fine, the CA file was at fault.
        if let Err(e) = target.client() {
            let without_ca = fx_rates::RedisTarget {
                ca_file: None,
                ..target.clone()
            };
            let key = if self.redis_ca.is_some() && without_ca.client().is_ok() {
                "rates.redis_ca"
            } else {
                "rates.redis"
            };
            return Err(ConfigError::invalid(key, e.to_string()));
        }
        Ok(Some(target))
    }
}

/// Shortest API token accepted: guessing one must be hopeless.
pub const MIN_API_TOKEN_LEN: usize = 16;
/// Longest API token accepted (and the largest token file read).
pub const MAX_API_TOKEN_LEN: usize = 256;

impl AdminConfig {
    /// The API's bearer token: `api_token`, or the content of `api_token_file` (read now);
    /// `None` when neither is set (the API is off). Both set, an unreadable file, or a token
    /// that is too short, too long or not visible ASCII (it travels in a header) is an error
    /// naming the key. The token itself never appears in the error.
    pub fn api_token(&self) -> Result<Option<ApiToken>, ConfigError> {
        let (key, token) = match (&self.api_token, &self.api_token_file) {
            (Some(_), Some(_)) => {
                return Err(ConfigError::invalid(
                    "admin.api_token_file",
                    "set either admin.api_token or admin.api_token_file, not both",
                ))
            }
            (None, None) => return Ok(None),
            (Some(t), None) => ("admin.api_token", t.clone()),
            (None, Some(path)) => ("admin.api_token_file", read_token_file(path)?),
        };
        let t = token.expose();
        if !(MIN_API_TOKEN_LEN..=MAX_API_TOKEN_LEN).contains(&t.len()) {
            return Err(ConfigError::invalid(
                key,
                format!("the token must be {MIN_API_TOKEN_LEN} to {MAX_API_TOKEN_LEN} characters"),
            ));
        }
        if !t.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(ConfigError::invalid(
                key,
                "the token must be visible ASCII characters (no spaces)",
            ));
        }
        Ok(Some(token))
    }
}

fn read_token_file(path: &Path) -> Result<ApiToken, ConfigError> {
    let key = "admin.api_token_file";
    let text = std::fs::read(path)
        .map_err(|e| ConfigError::invalid(key, format!("{}: {e}", path.display())))?;
    // A token file is one short line; anything larger is not one (and is not read whole
    // into an error message).
    if text.len() > MAX_API_TOKEN_LEN + 2 {
        return Err(ConfigError::invalid(
            key,
            format!("{}: larger than a token", path.display()),
        ));
    }
    let text = String::from_utf8(text)
        .map_err(|_| ConfigError::invalid(key, format!("{}: not UTF-8 text", path.display())))?;
    Ok(ApiToken::new(text.trim()))
}

fn check_link(
    key: &dyn Fn(&str) -> String,
    name: &str,
    header_len: usize,
    max_frame_len: usize,
    framing: framing::LengthPrefix,
) -> Result<(), ConfigError> {
    if name.is_empty() {
        return Err(ConfigError::invalid(key("name"), "must not be empty"));
    }
    if header_len > MAX_HEADER_LEN {
        return Err(ConfigError::invalid(
            key("header_len"),
            format!("at most {MAX_HEADER_LEN}"),
        ));
    }
    if max_frame_len == 0 || max_frame_len > framing.max_len() {
        return Err(ConfigError::invalid(
            key("max_frame_len"),
            format!("must be 1..={} for {framing}", framing.max_len()),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
[ledger]
embedded = "var/ledger.db"
pan_key = "sandbox-pan-key-0123456789-abcdefghijkl"

[rates]
file = "fixtures/rates.csv"

[[listener]]
name = "visa"
address = "127.0.0.1:8583"
"#;

    fn err_key(text: &str) -> String {
        parse(text, Path::new("/cfg/fixtures"))
            .unwrap_err()
            .key()
            .unwrap()
            .to_owned()
    }

    #[test]
    fn minimal_config_takes_defaults_and_resolves_from_the_parent() {
        let c = parse(MINIMAL, Path::new("/cfg/fixtures")).unwrap();
        assert_eq!(
            c.ledger.embedded.unwrap(),
            Path::new("/cfg/fixtures/../var/ledger.db")
        );
        assert_eq!(c.listeners[0].framing, framing::LengthPrefix::Binary2);
        assert_eq!(c.listeners[0].spec, "iso87-binary");
        assert_eq!(c.listeners[0].max_frame_len, 8192);
        assert_eq!(c.ledger.hold_expiry_days, 7);
        assert_eq!(c.limits, Limits::default());
    }

    #[test]
    fn wrong_framing_names_the_listener_key() {
        let t = format!("{MINIMAL}framing = \"binary3\"\n");
        assert_eq!(err_key(&t), "listener[0].framing");
    }

    #[test]
    fn unknown_key_is_named() {
        let t = MINIMAL.replace("[rates]", "[rates]\nmax_agee_s = 3");
        assert_eq!(err_key(&t), "rates.max_agee_s");
    }

    #[test]
    fn wrong_type_is_named() {
        let t = format!("{MINIMAL}\n[limits]\ndeadline_ms = \"soon\"\n");
        assert_eq!(err_key(&t), "limits.deadline_ms");
    }

    #[test]
    fn missing_required_key_names_its_table() {
        let t = MINIMAL.replace("pan_key = \"sandbox-pan-key-0123456789-abcdefghijkl\"", "");
        let e = parse(&t, Path::new(".")).unwrap_err();
        assert_eq!(e.key(), Some("ledger"));
        assert!(e.to_string().contains("pan_key"), "{e}");
    }

    #[test]
    fn debug_hides_the_pan_key_and_urls() {
        let t = MINIMAL
            .replace("[rates]", "[rates]\nredis = \"redis://:hunter2@h/\"")
            .replace("file = \"fixtures/rates.csv\"", "");
        let c = parse(&t, Path::new(".")).unwrap();
        let shown = format!("{c:?}");
        assert!(!shown.contains("sandbox-pan-key"), "{shown}");
        assert!(!shown.contains("hunter2"), "{shown}");
    }

    /// MINIMAL on PostgreSQL and Redis, with `ledger` and `rates` lines added.
    fn services(ledger: &str, rates: &str) -> String {
        MINIMAL
            .replace(
                "embedded = \"var/ledger.db\"",
                &format!("postgres = \"postgres://app@127.0.0.1/db\"\n{ledger}"),
            )
            .replace(
                "file = \"fixtures/rates.csv\"",
                &format!("redis = \"rediss://127.0.0.1:6380/\"\n{rates}"),
            )
    }

    #[test]
    fn secrets_come_from_files_or_the_environment() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("pan.key"),
            "0123456789abcdef0123456789abcdef\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("db.pw"), "db pass@word\n").unwrap();
        let ca = rcgen::generate_simple_self_signed(vec!["redis.test".to_owned()]).unwrap();
        std::fs::write(dir.path().join("ca.pem"), ca.cert.pem()).unwrap();
        // Relative to base_dir, as every path of the file.
        let text = services(
            "postgres_password = { file = \"db.pw\" }",
            "redis_ca = \"ca.pem\"\nredis_password = { env = \"PATH\" }",
        )
        .replace(
            "pan_key = \"sandbox-pan-key-0123456789-abcdefghijkl\"",
            "pan_key = { file = \"pan.key\" }",
        )
        .replace("[ledger]", "base_dir = \".\"\n[ledger]");
        let c = parse(&text, dir.path()).unwrap();
        assert_eq!(c.ledger.pan_key, Secret::File(dir.path().join("./pan.key")));
        c.ledger.pan_hasher().unwrap();
        let url = c.ledger.postgres_url().unwrap().unwrap();
        let target = ledger::PgTarget::parse(&url).unwrap();
        assert!(target.has_password());
        let redis = c.rates.redis_target().unwrap().unwrap();
        assert_eq!(
            redis.password.as_deref(),
            Some(std::env::var("PATH").unwrap().as_str())
        );
        assert_eq!(redis.ca_file, Some(dir.path().join("./ca.pem")));

        // A variable that is not set is named, with the setting.
        let unset = MINIMAL.replace(
            "pan_key = \"sandbox-pan-key-0123456789-abcdefghijkl\"",
            "pan_key = { env = \"GATEWAY_TEST_UNSET_PAN_KEY_91d2\" }",
        );
        let e = parse(&unset, Path::new(".")).unwrap_err();
        assert_eq!(e.key(), Some("ledger.pan_key"));
        assert!(e
            .to_string()
            .contains("GATEWAY_TEST_UNSET_PAN_KEY_91d2 is not set"));
    }

    #[test]
    fn secrets_have_one_place_and_tls_settings_are_checked() {
        let key = |ledger: &str, rates: &str| err_key(&services(ledger, rates));
        let pw_twice = services("postgres_password = \"b\"", "")
            .replace("postgres://app@", "postgres://app:a@");
        assert_eq!(err_key(&pw_twice), "ledger.postgres_password");
        let redis_pw_twice =
            services("", "redis_password = \"b\"").replace("rediss://127", "rediss://:a@127");
        assert_eq!(err_key(&redis_pw_twice), "rates.redis_password");
        assert_eq!(
            key("", "redis_ca = \"/nonexistent/ca.pem\""),
            "rates.redis_ca"
        );
        let plain_with_ca = services("", "redis_ca = \"Cargo.toml\"").replace("rediss:", "redis:");
        assert_eq!(err_key(&plain_with_ca), "rates.redis_ca");
        // A file that holds no certificate.
        let not_pem = format!("redis_ca = \"{}/Cargo.toml\"", env!("CARGO_MANIFEST_DIR"));
        let e = parse(&services("", &not_pem), Path::new("/cfg/fixtures")).unwrap_err();
        assert_eq!(e.key(), Some("rates.redis_ca"));
        assert!(e.to_string().contains("no PEM certificate"), "{e}");
        let verify_no_root = services("", "").replace("/db", "/db?sslmode=verify-full");
        assert_eq!(err_key(&verify_no_root), "ledger.postgres");
        let missing_root = services("", "").replace(
            "/db",
            "/db?sslmode=verify-full&sslrootcert=/nonexistent/ca.pem",
        );
        assert_eq!(err_key(&missing_root), "ledger.postgres");
        let bad_mode = services("", "").replace("/db", "/db?sslmode=maybe");
        assert_eq!(err_key(&bad_mode), "ledger.postgres");
        let embedded_pw = MINIMAL.replace("[rates]", "postgres_password = \"x\"\n[rates]");
        assert_eq!(err_key(&embedded_pw), "ledger.postgres_password");
        let two_sources = MINIMAL.replace(
            "pan_key = \"sandbox-pan-key-0123456789-abcdefghijkl\"",
            "pan_key = { env = \"A\", file = \"b\" }",
        );
        assert_eq!(err_key(&two_sources), "ledger.pan_key");
    }

    #[test]
    fn serialized_config_shows_no_secret() {
        let t = services("", "")
            .replace("postgres://app@", "postgres://app:hunter2@")
            .replace("rediss://127", "rediss://:swordfish@127");
        let c = parse(&t, Path::new(".")).unwrap();
        let shown = toml::to_string_pretty(&c).unwrap();
        for secret in ["sandbox-pan-key", "hunter2", "swordfish"] {
            assert!(!shown.contains(secret), "{shown}");
        }
        assert!(
            shown.contains("postgres://app:<redacted>@127.0.0.1/db"),
            "{shown}"
        );
        // And it reads back as a config (the value replaced by its placeholder).
        let back: Config = toml::from_str(&shown).unwrap();
        assert_eq!(back.ledger.pan_key, Secret::Value("<redacted>".into()));
    }

    #[test]
    fn the_api_token_comes_inline_or_from_a_file_trimmed() {
        let c = parse(MINIMAL, Path::new(".")).unwrap();
        assert!(
            c.admin.api_token().unwrap().is_none(),
            "no token: the API is off"
        );
        let inline = format!("{MINIMAL}\n[admin]\napi_token = \"inline-token-0123456789\"\n");
        let c = parse(&inline, Path::new(".")).unwrap();
        let t = c.admin.api_token().unwrap().unwrap();
        assert_eq!(t.expose(), "inline-token-0123456789");
        assert_eq!(format!("{t:?} {c:?}").matches("inline-token").count(), 0);
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("t"), "  file-token-0123456789\n").unwrap();
        // base_dir "." : the token file's path resolves from the config's directory.
        let file = format!("base_dir = \".\"\n{MINIMAL}\n[admin]\napi_token_file = \"t\"\n");
        let c = parse(&file, dir.path()).unwrap();
        assert_eq!(
            c.admin.api_token().unwrap().unwrap().expose(),
            "file-token-0123456789"
        );
    }

    #[test]
    fn bad_api_tokens_name_the_key_and_not_the_token() {
        for (admin, key) in [
            ("api_token = \"short\"", "admin.api_token"),
            ("api_token = \"has a space in it 0123\"", "admin.api_token"),
            (
                "api_token = \"ok-token-0123456789\"\napi_token_file = \"t\"",
                "admin.api_token_file",
            ),
            (
                "api_token_file = \"/nonexistent/token\"",
                "admin.api_token_file",
            ),
        ] {
            let t = format!("{MINIMAL}\n[admin]\n{admin}\n");
            let e = parse(&t, Path::new("/cfg/fixtures")).unwrap_err();
            assert_eq!(e.key(), Some(key), "{admin}: {e}");
            assert!(!e.to_string().contains("0123"), "{e}");
        }
    }

    #[test]
    fn semantic_errors_name_the_key() {
        let both = MINIMAL.replace("[ledger]", "[ledger]\npostgres = \"postgres://x\"");
        assert_eq!(err_key(&both), "ledger.postgres");
        let tz = format!("{MINIMAL}\n[business_date]\ntime_zone = \"Mars/Olympus\"\n");
        assert_eq!(err_key(&tz), "business_date.time_zone");
        let admin = format!("{MINIMAL}\n[admin]\naddress = \"0.0.0.0:9000\"\n");
        assert_eq!(err_key(&admin), "admin.address");
        let zero = format!("{MINIMAL}\n[limits]\nin_flight_per_connection = 0\n");
        assert_eq!(err_key(&zero), "limits.in_flight_per_connection");
        let big = format!("{MINIMAL}max_frame_len = 70000\n");
        assert_eq!(err_key(&big), "listener[0].max_frame_len");
    }
}
