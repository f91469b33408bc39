//! Removing a namespace: its pointer, every stored set and nothing else.
//!
//! ```text
//! DEL  fx:{NS}:current                        (readers see "no set" from here on)
//! SCAN 0 MATCH fx:{NS}:* COUNT 100          (NS's glob characters escaped)
//!   -> UNLINK each batch, until the cursor is 0
//! ```
//!
//! The pointer goes first so that no reader follows it to a set being deleted. A publisher
//! running meanwhile can write a new set after the scan passed it: stop publishers first.
//! Gateways reading the namespace keep their last snapshot until it is older than their
//! `max_age_s`, then answer conversions with 91.

use super::{connect, Keys, RedisTarget, DEFAULT_CONNECT_TIMEOUT, DEFAULT_RESPONSE_TIMEOUT};
use crate::error::FxError;

/// Keys asked for per SCAN step (a hint to Redis, which may return more or fewer).
const SCAN_COUNT: usize = 100;

/// Deletes every key of `namespace` at `target` (a URL or a [`RedisTarget`]); returns how many
/// keys were deleted.
pub async fn remove_namespace(
    target: impl Into<RedisTarget>,
    namespace: &str,
) -> Result<usize, FxError> {
    let keys = Keys::new(namespace)?;
    let client = target.into().client()?;
    let mut conn = connect(&client, DEFAULT_CONNECT_TIMEOUT, DEFAULT_RESPONSE_TIMEOUT).await?;
    let mut removed: usize = redis::cmd("DEL")
        .arg(keys.current())
        .query_async(&mut conn)
        .await?;
    let pattern = keys.pattern();
    let mut cursor: u64 = 0;
    loop {
        let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(&pattern)
            .arg("COUNT")
            .arg(SCAN_COUNT)
            .query_async(&mut conn)
            .await?;
        if !batch.is_empty() {
            let n: usize = redis::cmd("UNLINK")
                .arg(&batch)
                .query_async(&mut conn)
                .await?;
            removed += n;
        }
        if next == 0 {
            return Ok(removed);
        }
        cursor = next;
    }
}
