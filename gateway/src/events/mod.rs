//! The event stream (issue 20): the ledger's outbox published to Kafka by a relay off the
//! authorization path, and `gateway events tail`.
//!
//! The ledger writes each change's event in the change's own transaction (`ledger` crate,
//! `outbox.rs`). The relay ([`relay::run`]) reads the unpublished events in commit order,
//! produces them keyed by account with the idempotent producer, and marks them published once
//! the broker acknowledged them; a broker outage only makes the outbox grow (a bound past
//! which `/readyz` warns and a metric says so), never slows or declines an authorization.

mod kafka;
pub mod relay;
pub mod tail;

pub use relay::{RelayStats, LEASE};

/// The relay adds the event's ledger-wide commit position to what it publishes, as the
/// CloudEvents extension attribute `outboxpos` (`gateway events tail --from` filters on it;
/// consumers may ignore it). The stored JSON is an object rendered by the ledger: the
/// attribute goes in after its opening brace.
pub fn with_position(body: &str, pos: i64) -> String {
    match body.strip_prefix('{') {
        Some(rest) => format!("{{\"outboxpos\":{pos},{rest}"),
        None => body.to_owned(),
    }
}

/// The position [`with_position`] put in `body`, if any.
pub fn position_of(body: &[u8]) -> Option<i64> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    v.get("outboxpos")?.as_i64()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_position_is_an_attribute_of_the_event() {
        let b = with_position(r#"{"specversion":"1.0","id":"x"}"#, 42);
        let v: serde_json::Value = serde_json::from_str(&b).unwrap();
        assert_eq!(v["outboxpos"], 42);
        assert_eq!(v["id"], "x");
        assert_eq!(position_of(b.as_bytes()), Some(42));
        assert_eq!(position_of(b"not json"), None);
    }
}
