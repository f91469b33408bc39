//! The Redis source: keeps a [`RateCache`] on the namespace's current set.
//!
//! A background task holds two connections: a pub/sub one subscribed to the namespace's
//! channel (a publication wakes it at once) and a command one that polls the pointer every
//! `poll_interval` (pub/sub loses messages while disconnected, and a poll is also how a dead
//! connection is noticed). On any connection error it drops both and reconnects with
//! exponential backoff plus jitter. A reader never waits for any of this.
//!
//! Freshness: every successful poll that finds the pointer on the snapshot's version confirms
//! the snapshot. While Redis is unreachable nothing confirms it, its age grows, and past
//! `max_age` foreign-currency conversions are refused ([`FxError::Stale`]).

use std::sync::{Arc, Weak};
use std::time::Duration;

use futures::StreamExt;
use rand::Rng;
use redis::aio::MultiplexedConnection;

use crate::cache::{CacheOptions, RateCache, Shared};
use crate::error::FxError;
use crate::redis::{connect, read_current_with, read_pointer, Keys, RedisTarget};
use crate::status::SourceState;

/// Where and how often to look.
#[derive(Clone, Debug)]
pub struct RedisOptions {
    /// Key namespace (the hash tag): keys are `fx:{NS}:...`.
    pub namespace: String,
    /// How often the pointer is polled even without a notification.
    pub poll_interval: Duration,
    /// Bound on establishing a connection.
    pub connect_timeout: Duration,
    /// Bound on any one command.
    pub response_timeout: Duration,
    /// First reconnect delay.
    pub backoff_min: Duration,
    /// Largest reconnect delay.
    pub backoff_max: Duration,
}

impl Default for RedisOptions {
    fn default() -> Self {
        Self {
            namespace: "default".into(),
            poll_interval: Duration::from_secs(1),
            connect_timeout: crate::redis::DEFAULT_CONNECT_TIMEOUT,
            response_timeout: crate::redis::DEFAULT_RESPONSE_TIMEOUT,
            backoff_min: Duration::from_millis(100),
            backoff_max: Duration::from_secs(5),
        }
    }
}

impl RateCache {
    /// A cache following the current set of `redis.namespace` at `target` (a URL or a
    /// [`RedisTarget`]). Returns at once, empty: the refresher task loads the first set as
    /// soon as Redis answers (see [`RateCache::wait_loaded`]). Fails only on a bad URL, an
    /// unreadable CA file or inconsistent options. Must be called inside a tokio runtime.
    pub async fn from_redis(
        target: impl Into<RedisTarget>,
        redis: RedisOptions,
        opts: CacheOptions,
    ) -> Result<RateCache, FxError> {
        let keys = Keys::new(&redis.namespace)?;
        let client = target.into().client()?;
        if redis.poll_interval.is_zero() || redis.backoff_min.is_zero() {
            return Err(FxError::Config(
                "poll interval and backoff must be positive".into(),
            ));
        }
        if let Some(max_age) = opts.max_age {
            // Otherwise a healthy cache would flap to stale between two polls.
            if max_age <= redis.poll_interval {
                return Err(FxError::Config(format!(
                    "max_age {max_age:?} must exceed the poll interval {:?}",
                    redis.poll_interval
                )));
            }
        }
        let cache = RateCache::new_empty(format!("redis:fx:{{{}}}", keys.namespace()), None, opts);
        let weak = Arc::downgrade(&cache.shared);
        let handle = tokio::spawn(run(weak, client, keys, redis));
        cache.add_task(handle.abort_handle());
        Ok(cache)
    }
}

/// Connect, follow, and on failure back off and reconnect, until the cache is dropped.
async fn run(weak: Weak<Shared>, client: ::redis::Client, keys: Keys, opts: RedisOptions) {
    let mut backoff = opts.backoff_min;
    loop {
        let err = follow(&weak, &client, &keys, &opts, &mut backoff).await;
        let Some(shared) = weak.upgrade() else { return };
        shared.observe(SourceState::Unreachable, Some(&err));
        drop(shared);
        // Full jitter keeps many gateways from reconnecting in lockstep after an outage.
        let delay = rand::rng().random_range(backoff / 2..=backoff);
        tokio::time::sleep(delay).await;
        backoff = backoff
            .saturating_mul(2)
            .min(opts.backoff_max)
            .max(opts.backoff_min);
    }
}

/// One connected session; returns the error that ended it.
async fn follow(
    weak: &Weak<Shared>,
    client: &::redis::Client,
    keys: &Keys,
    opts: &RedisOptions,
    backoff: &mut Duration,
) -> FxError {
    let mut conn = match connect(client, opts.connect_timeout, opts.response_timeout).await {
        Ok(c) => c,
        Err(e) => return e,
    };
    let bound = opts.connect_timeout.saturating_add(opts.response_timeout);
    let subscribed = tokio::time::timeout(bound, async {
        let mut pubsub = client.get_async_pubsub().await?;
        pubsub.subscribe(keys.channel()).await?;
        Ok::<_, FxError>(pubsub)
    })
    .await;
    let pubsub = match subscribed {
        Ok(Ok(p)) => p,
        Ok(Err(e)) => return e,
        Err(_) => return FxError::Timeout(opts.connect_timeout),
    };
    *backoff = opts.backoff_min;
    let mut messages = pubsub.into_on_message();
    let mut tick = tokio::time::interval(opts.poll_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // Subscribed before the first read, so a publication in between is not missed.
    loop {
        let Some(shared) = weak.upgrade() else {
            return FxError::Config("cache dropped".into());
        };
        match refresh(&shared, &mut conn, keys).await {
            Ok(()) => {}
            Err(e @ (FxError::Redis(_) | FxError::Timeout(_))) => return e,
            Err(e) => shared.observe(SourceState::Invalid, Some(&e)),
        }
        drop(shared);
        tokio::select! {
            msg = messages.next() => {
                if msg.is_none() {
                    return FxError::Config("pub/sub connection closed".into());
                }
            }
            _ = tick.tick() => {}
        }
    }
}

/// Reads the pointer; loads the set it names when it is not the snapshot's.
async fn refresh(
    shared: &Shared,
    conn: &mut MultiplexedConnection,
    keys: &Keys,
) -> Result<(), FxError> {
    let Some(version) = read_pointer(conn, keys).await? else {
        // Redis answers but nothing is published yet: reachable, nothing to serve.
        shared.observe(SourceState::Starting, None);
        return Ok(());
    };
    if shared.current_version().as_deref() != Some(version.as_str()) {
        let set = read_current_with(conn, keys, &version).await?;
        shared.install(set);
    }
    shared.confirm();
    shared.observe(SourceState::Live, None);
    Ok(())
}
