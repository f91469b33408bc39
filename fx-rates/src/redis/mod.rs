//! Rate sets in Redis: key layout, the stored form of a set, publication and reading.

mod keys;
mod publisher;
mod remove;
mod stored_set;
mod target;

pub use keys::{Keys, MAX_NAMESPACE_LEN};
pub use publisher::{Published, Publisher, DEFAULT_RETENTION, MAX_PUBLISH_ATTEMPTS};
pub use remove::remove_namespace;
pub use stored_set::read_current;
pub(crate) use stored_set::{read_current_with, read_pointer};
pub use target::{redact_url, RedisTarget};

use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::AsyncConnectionConfig;

use crate::error::FxError;

/// How long a command may wait for Redis before the caller treats Redis as unreachable.
pub const DEFAULT_RESPONSE_TIMEOUT: Duration = Duration::from_millis(1000);

/// How long a connection attempt may take.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_millis(1000);

/// Opens a dedicated (not shared) multiplexed connection with bounded timeouts.
pub(crate) async fn connect(
    client: &redis::Client,
    connect_timeout: Duration,
    response_timeout: Duration,
) -> Result<MultiplexedConnection, FxError> {
    let config = AsyncConnectionConfig::new()
        .set_connection_timeout(connect_timeout)
        .set_response_timeout(response_timeout);
    // The outer timeout also bounds DNS and the handshake, whatever the client does inside.
    tokio::time::timeout(
        connect_timeout.saturating_add(response_timeout),
        client.get_multiplexed_async_connection_with_config(&config),
    )
    .await
    .map_err(|_| FxError::Timeout(connect_timeout))?
    .map_err(FxError::from)
}
