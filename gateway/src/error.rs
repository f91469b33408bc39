//! Errors of the gateway library. Display text never carries card data: frames and messages
//! are described by sizes, offsets and field numbers only.

use std::io;
use std::path::PathBuf;

pub use framing::FramingError;

/// A configuration that cannot be used; `key` names the setting at fault (`listener[1].spec`).
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// TOML syntax, an unknown key or a wrong type.
    #[error("{key}: {reason}")]
    Parse {
        /// The key at fault, as a dotted path (or the table when the key is missing).
        key: String,
        /// What is wrong, with the line and column.
        reason: String,
    },
    /// A value that parses but cannot work.
    #[error("{key}: {reason}")]
    Invalid {
        /// The key at fault.
        key: String,
        /// What is wrong.
        reason: String,
    },
}

impl ConfigError {
    /// A value that parses but cannot work.
    pub fn invalid(key: impl Into<String>, reason: impl Into<String>) -> Self {
        ConfigError::Invalid {
            key: key.into(),
            reason: reason.into(),
        }
    }

    /// The key at fault.
    pub fn key(&self) -> Option<&str> {
        match self {
            ConfigError::Read { .. } => None,
            ConfigError::Parse { key, .. } | ConfigError::Invalid { key, .. } => Some(key),
        }
    }
}

/// Errors of the gateway outside framing and configuration.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// See [`ConfigError`].
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// See [`FramingError`].
    #[error(transparent)]
    Framing(#[from] FramingError),
    /// A socket could not be bound or configured.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: String,
        /// Why.
        source: io::Error,
    },
    /// The ledger failed.
    #[error("ledger: {0}")]
    Ledger(String),
    /// The rate source failed.
    #[error("rates: {0}")]
    Rates(String),
    /// Seeding the sandbox ledger failed.
    #[error("seed {path}: {reason}")]
    Seed {
        /// The seed file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// Other i/o.
    #[error("i/o: {0}")]
    Io(#[from] io::Error),
}
