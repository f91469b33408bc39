//! `[[programs]]` (issue 22): card programs whose approvals a program manager's service
//! confirms in real time.
//!
//! ```toml
//! [[programs]]
//! name = "fleet"
//! cards = ["C-0174", "C-0175"]        # card ids
//! accounts = ["A-1010"]               # and every card of these accounts
//! url = "https://hooks.example/authorize"
//! secret = { file = "/run/secrets/fleet_hook" }   # or secret = "...", or secret_file = "..."
//! budget_ms = 1500                    # default; below limits.deadline_ms
//! # ca_file = "/etc/switch/fleet-ca.pem"   # a private CA for an https:// hook
//! stand_in = "decline"                # or { approve_up_to_minor = 50000 } (home currency)
//! ```
//!
//! Once our own checks approve an authorization of a card in a program, the switch POSTs it
//! to `url`, signed with HMAC-SHA256 under `secret`, and takes the answer (see
//! `crate::hook`). When no answer comes within `budget_ms`, the connection fails, or the
//! answer is not one, the program's `stand_in` decides. A `SIGHUP` reload applies changed
//! programs (members, URLs, secrets, budgets, stand-ins) to the requests that start after it.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::Secret;
use crate::error::ConfigError;

/// The default time the hook has to answer.
pub const DEFAULT_HOOK_BUDGET_MS: u64 = 1_500;
/// Shortest signing secret accepted (bytes): a guessable key signs nothing.
pub const MIN_HOOK_SECRET_LEN: usize = 16;
/// Most programs in one config.
pub const MAX_PROGRAMS: usize = 256;

/// One `[[programs]]` entry.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ProgramConfig {
    /// The program's name (metrics, logs, the decision's `hook.program`).
    pub name: String,
    /// Card ids in the program.
    #[serde(default)]
    pub cards: Vec<String>,
    /// Accounts whose cards are in the program.
    #[serde(default)]
    pub accounts: Vec<String>,
    /// The hook: an `http://` or `https://` URL.
    pub url: String,
    /// The HMAC-SHA256 key (a value, `{ file = ... }` or `{ env = ... }`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<Secret>,
    /// The key's file (the same as `secret = { file = ... }`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_file: Option<PathBuf>,
    /// Trust anchors (PEM) for an `https://` hook whose certificate a private CA signed, beside
    /// the system's roots.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
    /// How long the hook has to answer, milliseconds.
    #[serde(default = "default_budget_ms")]
    pub budget_ms: u64,
    /// What decides when the hook does not.
    #[serde(default)]
    pub stand_in: StandInConfig,
}

fn default_budget_ms() -> u64 {
    DEFAULT_HOOK_BUDGET_MS
}

/// `stand_in`: `"decline"` (91) or `{ approve_up_to_minor = N }`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(untagged)]
pub enum StandInConfig {
    /// Decline 91.
    Decline(DeclineWord),
    /// Approve up to this amount in the account's home currency (minor units, after
    /// conversion at the fee-free rate), decline 91 above it.
    ApproveUpTo {
        /// The largest amount approved.
        approve_up_to_minor: i64,
    },
}

/// The word `"decline"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeclineWord {
    /// `"decline"`.
    Decline,
}

impl Default for StandInConfig {
    fn default() -> Self {
        StandInConfig::Decline(DeclineWord::Decline)
    }
}

impl StandInConfig {
    /// The ledger's form.
    pub fn to_ledger(self) -> ledger::StandIn {
        match self {
            StandInConfig::Decline(_) => ledger::StandIn::Decline,
            StandInConfig::ApproveUpTo {
                approve_up_to_minor,
            } => ledger::StandIn::ApproveUpTo {
                home_minor: approve_up_to_minor,
            },
        }
    }
}

impl ProgramConfig {
    /// The signing key: `secret` or `secret_file`, exactly one, long enough.
    pub fn secret(&self, key: &str) -> Result<Vec<u8>, ConfigError> {
        let value = match (&self.secret, &self.secret_file) {
            (Some(_), Some(_)) => {
                return Err(ConfigError::invalid(
                    key,
                    "set either secret or secret_file, not both",
                ))
            }
            (None, None) => {
                return Err(ConfigError::invalid(
                    key,
                    "a hook needs its signing key: secret or secret_file",
                ))
            }
            (Some(s), None) => s.resolve(&format!("{key}.secret"))?,
            (None, Some(p)) => Secret::File(p.clone()).resolve(&format!("{key}.secret_file"))?,
        };
        if value.len() < MIN_HOOK_SECRET_LEN {
            return Err(ConfigError::invalid(
                key,
                format!("the signing key must be at least {MIN_HOOK_SECRET_LEN} bytes"),
            ));
        }
        Ok(value.into_bytes())
    }
}

/// Checks every program: names unique, cards and accounts in one program at most, a URL
/// with a scheme the client speaks, a budget below the deadline, a stand-in amount that
/// makes sense, a signing key that can be read.
pub(super) fn validate(programs: &[ProgramConfig], deadline_ms: u64) -> Result<(), ConfigError> {
    if programs.len() > MAX_PROGRAMS {
        return Err(ConfigError::invalid(
            "programs",
            format!("at most {MAX_PROGRAMS} programs"),
        ));
    }
    let mut names = std::collections::HashSet::new();
    let mut members = std::collections::HashMap::new();
    for (i, p) in programs.iter().enumerate() {
        let key = format!("programs[{i}]");
        if p.name.trim().is_empty() || !names.insert(p.name.as_str()) {
            return Err(ConfigError::invalid(
                format!("{key}.name"),
                "a program needs a name of its own",
            ));
        }
        if p.cards.is_empty() && p.accounts.is_empty() {
            return Err(ConfigError::invalid(
                key,
                "a program needs cards or accounts",
            ));
        }
        for m in p
            .cards
            .iter()
            .map(|c| ("card", c))
            .chain(p.accounts.iter().map(|a| ("account", a)))
        {
            if let Some(other) = members.insert(m, p.name.as_str()) {
                return Err(ConfigError::invalid(
                    key,
                    format!("{} {} is already in program {other}", m.0, m.1),
                ));
            }
        }
        let url = reqwest::Url::parse(&p.url)
            .map_err(|e| ConfigError::invalid(format!("{key}.url"), e.to_string()))?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(ConfigError::invalid(
                format!("{key}.url"),
                "an http:// or https:// URL with a host",
            ));
        }
        if p.budget_ms == 0 || p.budget_ms >= deadline_ms {
            return Err(ConfigError::invalid(
                format!("{key}.budget_ms"),
                format!(
                    "must be at least 1 and below limits.deadline_ms ({deadline_ms}): the \
                     answer and its commit must fit in the deadline"
                ),
            ));
        }
        if let StandInConfig::ApproveUpTo {
            approve_up_to_minor,
        } = p.stand_in
        {
            if !(0..=ledger::MAX_AMOUNT_MINOR).contains(&approve_up_to_minor) {
                return Err(ConfigError::invalid(
                    format!("{key}.stand_in.approve_up_to_minor"),
                    "an amount from 0 to 999999999999",
                ));
            }
        }
        p.secret(&key)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    const BASE: &str = r#"
[ledger]
embedded = "var/ledger.db"
pan_key = "sandbox-pan-key-0123456789-abcdefghijkl"
[rates]
file = "fixtures/rates.csv"
[[listener]]
name = "visa"
address = "127.0.0.1:8583"
"#;

    const PROGRAM: &str = r#"
[[programs]]
name = "fleet"
cards = ["C-0174"]
accounts = ["A-1010"]
url = "https://hooks.example/authorize"
secret = "0123456789abcdef0123"
"#;

    fn parse(extra: &str) -> Result<crate::config::Config, ConfigError> {
        crate::config::parse(&format!("{BASE}{extra}"), Path::new("/cfg/fixtures"))
    }

    fn refused(extra: &str) -> String {
        let e = parse(extra).unwrap_err();
        format!("{} {e}", e.key().unwrap_or(""))
    }

    #[test]
    fn a_program_takes_its_defaults() {
        let c = parse(PROGRAM).unwrap();
        let p = &c.programs[0];
        assert_eq!(p.budget_ms, DEFAULT_HOOK_BUDGET_MS);
        assert_eq!(p.stand_in.to_ledger(), ledger::StandIn::Decline);
        assert_eq!(p.secret("p").unwrap(), b"0123456789abcdef0123");
        let c = parse(&format!(
            "{PROGRAM}stand_in = {{ approve_up_to_minor = 5000 }}\n"
        ))
        .unwrap();
        assert_eq!(
            c.programs[0].stand_in.to_ledger(),
            ledger::StandIn::ApproveUpTo { home_minor: 5000 }
        );
        // Nothing is printed of the secret.
        let shown = toml::to_string(&c).unwrap();
        assert!(!shown.contains("0123456789abcdef0123"), "{shown}");
    }

    #[test]
    fn what_a_program_cannot_be() {
        let second = PROGRAM.replace("\"fleet\"", "\"other\"");
        assert!(refused(&format!("{PROGRAM}{second}")).contains("already in program fleet"));
        let dup_name = second
            .replace("C-0174", "C-0175")
            .replace("A-1010", "A-1011");
        assert!(
            refused(&format!("{PROGRAM}{}", dup_name.replace("other", "fleet")))
                .starts_with("programs[1].name")
        );
        assert!(
            refused(&PROGRAM.replace("https://hooks.example", "ftp://x"))
                .starts_with("programs[0].url")
        );
        assert!(
            refused(&format!("{PROGRAM}budget_ms = 2000\n")).starts_with("programs[0].budget_ms")
        );
        assert!(refused(&PROGRAM.replace("0123456789abcdef0123", "short")).contains("at least 16"));
        assert!(refused(&format!("{PROGRAM}secret_file = \"k\"\n")).contains("not both"));
        assert!(parse(&format!("{PROGRAM}stand_in = \"approve\"\n")).is_err());
        let no_members = PROGRAM
            .replace("cards = [\"C-0174\"]\n", "")
            .replace("accounts = [\"A-1010\"]\n", "");
        assert!(refused(&no_members).contains("cards or accounts"));
    }
}
