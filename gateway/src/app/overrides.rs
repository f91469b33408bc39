//! Command-line overrides of a config (`--listen`, `--admin`, `--var-dir`) so that scripts and
//! tests can run the sandbox on free ports with a fresh ledger directory.

use std::net::SocketAddr;
use std::path::PathBuf;

use crate::config::Config;
use crate::error::ConfigError;

/// Values that replace the config file's.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// Address of the first listener.
    pub listen: Option<SocketAddr>,
    /// Admin address.
    pub admin: Option<SocketAddr>,
    /// Directory of the embedded ledger file (its file name is kept).
    pub var_dir: Option<PathBuf>,
}

impl Overrides {
    /// Applies the overrides to `config`, then checks it again: an override is held to the
    /// same rules as the file (an `--admin` address must be loopback, as `admin.address`).
    pub fn apply(&self, config: &mut Config) -> Result<(), ConfigError> {
        if let (Some(addr), Some(l)) = (self.listen, config.listeners.first_mut()) {
            l.address = addr;
        }
        if let Some(addr) = self.admin {
            config.admin.address = addr;
        }
        if let (Some(dir), Some(path)) = (&self.var_dir, config.ledger.embedded.as_mut()) {
            let name = path
                .file_name()
                .map_or_else(|| "ledger.sqlite".into(), |n| n.to_owned());
            *path = dir.join(name);
        }
        config.validate()
    }
}
