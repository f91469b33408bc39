//! The file source: the embedded default, a rates CSV read into the same [`RateCache`].
//!
//! A set read from a file is named `file-<hash>` after the file's bytes. The file is re-read
//! on demand ([`RateCache::reload`], e.g. on SIGHUP) or by a watcher task that looks at the
//! file's length and modification time and re-reads it when they change. A file that fails to
//! parse is refused as a whole and the last good set keeps serving.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use sha2::{Digest, Sha256};

use crate::cache::{CacheOptions, RateCache, Shared};
use crate::csv::MAX_CSV_BYTES;
use crate::error::FxError;
use crate::fingerprint::Fingerprint;
use crate::rate_set::RateSet;
use crate::status::SourceState;
use crate::version::file_version;

/// Shortest interval accepted for the watcher (a tighter loop would only burn the CPU).
pub const MIN_WATCH_INTERVAL: Duration = Duration::from_millis(10);

impl RateCache {
    /// A cache fed from a rates CSV file, loaded now. Fails if the file cannot be read or is
    /// refused (a bad embedded default should stop the start, not serve nothing).
    pub fn from_file(path: impl Into<PathBuf>, opts: CacheOptions) -> Result<RateCache, FxError> {
        let path = path.into();
        let cache = RateCache::new_empty(format!("file:{}", path.display()), Some(path), opts);
        cache.reload()?;
        Ok(cache)
    }

    /// Re-reads the file now (file source only; e.g. on SIGHUP). `Ok(true)` when a new set was
    /// installed, `Ok(false)` when the content is unchanged. On error the last set keeps serving.
    pub fn reload(&self) -> Result<bool, FxError> {
        reload_shared(&self.shared)
    }

    /// Starts a tokio task that reloads the file when its length or mtime changes, checking
    /// every `every`. The task ends when the last handle on the cache is dropped.
    pub fn watch_file(&self, every: Duration) -> Result<(), FxError> {
        if self.shared.file.is_none() {
            return Err(FxError::Config("watch_file: not a file source".into()));
        }
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|_| FxError::Config("watch_file needs a tokio runtime".into()))?;
        let every = every.max(MIN_WATCH_INTERVAL);
        // A weak handle: dropping the cache ends the task even if the abort were to race.
        let weak = Arc::downgrade(&self.shared);
        let handle = runtime.spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(shared) = weak.upgrade() else { return };
                let changed = match cheap_fingerprint(shared.file.as_deref()) {
                    Some((len, modified)) => shared.with_file_fingerprint(|f| {
                        f.as_ref()
                            .is_none_or(|f| f.len != len || f.modified != modified)
                    }),
                    None => true, // unreadable: let the reload record why
                };
                if changed {
                    // Off the async threads: the read is small but still blocking I/O.
                    // Errors are kept in the status and logged once per state change.
                    let s = Arc::clone(&shared);
                    let _ = tokio::task::spawn_blocking(move || reload_shared(&s)).await;
                } else {
                    shared.confirm();
                    shared.observe(SourceState::Live, None);
                }
            }
        });
        self.add_task(handle.abort_handle());
        Ok(())
    }
}

fn reload_shared(shared: &Shared) -> Result<bool, FxError> {
    let Some(path) = shared.file.as_deref() else {
        return Err(FxError::Config(format!(
            "reload: {} is not a file source",
            shared.source
        )));
    };
    let result = read_file(path).and_then(|(bytes, fingerprint)| {
        let unchanged = shared
            .with_file_fingerprint(|f| f.as_ref().is_some_and(|f| f.hash == fingerprint.hash));
        if unchanged {
            shared.with_file_fingerprint(|f| *f = Some(fingerprint));
            return Ok(false);
        }
        let text = std::str::from_utf8(&bytes).map_err(|e| FxError::Csv {
            line: 1 + bytes[..e.valid_up_to()]
                .iter()
                .filter(|&&b| b == b'\n')
                .count(),
            reason: "not UTF-8".into(),
        })?;
        let set = RateSet::from_csv(text, &file_version(&fingerprint.hash))?;
        shared.install(set);
        shared.with_file_fingerprint(|f| *f = Some(fingerprint));
        Ok(true)
    });
    match &result {
        Ok(_) => {
            shared.confirm();
            shared.observe(SourceState::Live, None);
        }
        Err(e @ FxError::Io { .. }) => shared.observe(SourceState::Unreachable, Some(e)),
        Err(e) => shared.observe(SourceState::Invalid, Some(e)),
    }
    result
}

fn cheap_fingerprint(path: Option<&Path>) -> Option<(u64, Option<SystemTime>)> {
    let meta = std::fs::metadata(path?).ok()?;
    Some((meta.len(), meta.modified().ok()))
}

/// Reads at most [`MAX_CSV_BYTES`] (refusing larger files before reading them).
fn read_file(path: &Path) -> Result<(Vec<u8>, Fingerprint), FxError> {
    let io = |source| FxError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let meta = file.metadata().map_err(io)?;
    if meta.len() > MAX_CSV_BYTES {
        return Err(FxError::InvalidSet {
            version: path.display().to_string(),
            reason: format!("file is {} bytes, limit {MAX_CSV_BYTES}", meta.len()),
        });
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    // `take` guards against a file that grows while it is read.
    file.take(MAX_CSV_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    if bytes.len() as u64 > MAX_CSV_BYTES {
        return Err(FxError::InvalidSet {
            version: path.display().to_string(),
            reason: format!("file grew past the limit {MAX_CSV_BYTES}"),
        });
    }
    let fingerprint = Fingerprint {
        len: meta.len(),
        modified: meta.modified().ok(),
        hash: hex::encode(Sha256::digest(&bytes)),
    };
    Ok((bytes, fingerprint))
}
