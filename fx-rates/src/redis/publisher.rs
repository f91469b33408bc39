//! Publishing a rate set.
//!
//! One optimistic transaction per attempt:
//!
//! ```text
//! WATCH fx:{NS}:current
//! GET   fx:{NS}:current                      -> previous version (or none)
//! MULTI
//!   HSET    fx:{NS}:set:NEW  @version .. @pairs .. BASE/QUOTE rate ...   (the whole set)
//!   SET     fx:{NS}:current  NEW                                          (the pointer)
//!   EXPIRE  fx:{NS}:set:PREVIOUS  retention                               (old sets age out)
//!   PUBLISH fx:{NS}:published NEW                                         (a hint for readers)
//! EXEC                                         -> nil if another publisher moved the pointer
//! ```
//!
//! Because the set and the pointer change in one EXEC, a reader that follows the pointer always
//! finds a whole set, and no orphan set is left by a publisher that lost a race. NEW is made
//! strictly greater than PREVIOUS (see [`crate::version`]), so the pointer only moves forward.
//! Retention: a set gets its EXPIRE when it stops being current; the current set never expires.

use std::time::Duration;

use jiff::Timestamp;
use redis::aio::MultiplexedConnection;

use crate::error::FxError;
use crate::rate_set::RateSet;
use crate::version::new_version;

use super::{
    connect, stored_set, Keys, RedisTarget, DEFAULT_CONNECT_TIMEOUT, DEFAULT_RESPONSE_TIMEOUT,
};

/// How long an old set stays readable after it stops being current (holds reference it).
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(24 * 3600);

/// Attempts before giving up when other publishers keep moving the pointer first.
pub const MAX_PUBLISH_ATTEMPTS: u32 = 16;

/// What a publication did.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Published {
    /// The new version, now current.
    pub version: String,
    /// The version it replaced, if any.
    pub previous: Option<String>,
    /// Number of pairs written.
    pub pairs: usize,
    /// Transaction attempts needed (more than 1 means another publisher raced this one).
    pub attempts: u32,
}

/// Writes rate sets into one namespace. Holds its own connection: WATCH is per connection,
/// so it must never be shared with other users.
pub struct Publisher {
    conn: MultiplexedConnection,
    keys: Keys,
    retention: Duration,
}

impl Publisher {
    /// Connects to `target` (a URL or a [`RedisTarget`]) for `namespace`; old sets expire
    /// `retention` after being replaced.
    pub async fn connect(
        target: impl Into<RedisTarget>,
        namespace: &str,
        retention: Duration,
    ) -> Result<Self, FxError> {
        let keys = Keys::new(namespace)?;
        if retention < Duration::from_secs(1) {
            return Err(FxError::Config("retention must be at least 1 s".into()));
        }
        let client = target.into().client()?;
        let conn = connect(&client, DEFAULT_CONNECT_TIMEOUT, DEFAULT_RESPONSE_TIMEOUT).await?;
        Ok(Self {
            conn,
            keys,
            retention,
        })
    }

    /// The keys used.
    pub fn keys(&self) -> &Keys {
        &self.keys
    }

    /// Publishes `set` (its pairs and pivot; the version is newly assigned) and makes it current.
    pub async fn publish(&mut self, set: &RateSet) -> Result<Published, FxError> {
        let current = self.keys.current();
        let mut version = String::new();
        for attempt in 1..=MAX_PUBLISH_ATTEMPTS {
            redis::cmd("WATCH")
                .arg(&current)
                .exec_async(&mut self.conn)
                .await?;
            let previous = super::read_pointer(&mut self.conn, &self.keys).await?;
            version = new_version(set.content_hash(), previous.as_deref());
            let published_at = Timestamp::now().to_string();

            let mut hset = redis::cmd("HSET");
            hset.arg(self.keys.set(&version));
            for (field, value) in stored_set::fields(set, &version, &published_at) {
                hset.arg(field).arg(value);
            }
            let mut tx = redis::pipe();
            tx.atomic().add_command(hset).ignore();
            tx.cmd("SET").arg(&current).arg(&version).ignore();
            if let Some(prev) = &previous {
                tx.cmd("EXPIRE")
                    .arg(self.keys.set(prev))
                    .arg(self.retention.as_secs())
                    .ignore();
            }
            tx.cmd("PUBLISH")
                .arg(self.keys.channel())
                .arg(&version)
                .ignore();
            let committed: Option<()> = tx.query_async(&mut self.conn).await?;
            if committed.is_some() {
                tracing::info!(%version, previous = previous.as_deref().unwrap_or("-"),
                    pairs = set.pairs().len(), attempt, "published rate set");
                return Ok(Published {
                    version,
                    previous,
                    pairs: set.pairs().len(),
                    attempts: attempt,
                });
            }
            // Another publisher moved the pointer between WATCH and EXEC: nothing was written.
        }
        Err(FxError::PublishContention {
            version,
            attempts: MAX_PUBLISH_ATTEMPTS,
        })
    }

    /// The current set of the namespace, if one is published.
    pub async fn current(&mut self) -> Result<Option<RateSet>, FxError> {
        match super::read_pointer(&mut self.conn, &self.keys).await? {
            None => Ok(None),
            Some(v) => stored_set::read_current_with(&mut self.conn, &self.keys, &v)
                .await
                .map(Some),
        }
    }
}
