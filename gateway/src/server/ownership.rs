//! One port, one ledger.
//!
//! Listeners bind with SO_REUSEPORT so that a new instance can start on the port while the old
//! one drains (the rolling restart). That also let a second instance on *another* ledger bind
//! the port and answer a share of the new connections from its own ledger (17 of 40 in one
//! test). So an instance claims each listening address for its ledger: a file per address in
//! a directory every instance of the machine uses, holding the ledger's identity under a
//! shared `flock` for as long as the instance runs. Another instance on the same ledger (the
//! rolling restart) shares the claim; one on another ledger is refused and says which ledger
//! holds the port. A claim nobody holds any more (its process ended) is taken over.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use crate::error::Error;

/// Where the claims live unless `GATEWAY_CLAIM_DIR` says otherwise: a directory of the
/// machine's temporary directory, shared by every instance.
pub const CLAIM_DIR_ENV: &str = "GATEWAY_CLAIM_DIR";

/// The default directory of claims.
pub fn claim_dir() -> PathBuf {
    std::env::var_os(CLAIM_DIR_ENV)
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("iso8583-switch-ports"))
}

/// A held claim: the address stays this ledger's while it lives.
#[derive(Debug)]
pub struct PortClaim {
    _file: File,
    path: PathBuf,
}

impl PortClaim {
    /// The claim file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

fn refuse(addr: SocketAddr, why: String) -> Error {
    Error::Bind {
        addr: addr.to_string(),
        source: std::io::Error::new(std::io::ErrorKind::AddrInUse, why),
    }
}

fn read_identity(f: &mut File) -> std::io::Result<String> {
    let mut s = String::new();
    f.seek(SeekFrom::Start(0))?;
    f.take(4096).read_to_string(&mut s)?;
    Ok(s)
}

/// Claims `addr` for the ledger named `identity` (no secrets: a path, or a database's host,
/// name and schema) in `dir`.
pub fn claim(addr: SocketAddr, identity: &str, dir: &Path) -> Result<PortClaim, Error> {
    let io =
        |e: std::io::Error| refuse(addr, format!("claim of the port in {}: {e}", dir.display()));
    std::fs::create_dir_all(dir).map_err(io)?;
    let name = format!(
        "{}-{}.owner",
        addr.ip().to_string().replace(':', "_"),
        addr.port()
    );
    let path = dir.join(name);
    let mut f = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(io)?;
    match f.try_lock() {
        Ok(()) => {
            // Nobody holds it: ours now. Written under the exclusive lock, then shared.
            f.set_len(0).map_err(io)?;
            f.seek(SeekFrom::Start(0)).map_err(io)?;
            f.write_all(identity.as_bytes()).map_err(io)?;
            f.sync_data().map_err(io)?;
            // flock's conversion may let another claim in between: read again after it.
            f.lock_shared().map_err(io)?;
        }
        Err(TryLockError::WouldBlock) => {
            let held = read_identity(&mut f).map_err(io)?;
            if held != identity {
                return Err(refuse(
                    addr,
                    format!(
                        "{addr} is served by another instance on another ledger ({held}); this \
                         one is on {identity} and will not share the port (claim {})",
                        path.display()
                    ),
                ));
            }
            f.lock_shared().map_err(io)?;
        }
        Err(TryLockError::Error(e)) => return Err(io(e)),
    }
    let held = read_identity(&mut f).map_err(io)?;
    if held != identity {
        return Err(refuse(
            addr,
            format!("{addr} was just claimed by another instance on {held}"),
        ));
    }
    Ok(PortClaim { _file: f, path })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_ledger_shares_a_port_another_is_refused_and_a_released_claim_is_free() {
        let dir = tempfile::tempdir().unwrap();
        let addr: SocketAddr = "127.0.0.1:18583".parse().unwrap();
        let a = claim(addr, "/var/lib/switch/ledger.sqlite", dir.path()).unwrap();
        let b = claim(addr, "/var/lib/switch/ledger.sqlite", dir.path()).unwrap();
        let e = claim(addr, "/tmp/other/ledger.sqlite", dir.path()).unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.contains("another ledger") && msg.contains("/var/lib/switch"),
            "{msg}"
        );
        // Another address is another claim.
        let other: SocketAddr = "127.0.0.1:18584".parse().unwrap();
        let _c = claim(other, "/tmp/other/ledger.sqlite", dir.path()).unwrap();
        drop((a, b));
        // Once its holders are gone, the port is free for another ledger.
        let _d = claim(addr, "/tmp/other/ledger.sqlite", dir.path()).unwrap();
    }
}
