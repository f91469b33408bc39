//! The stored form of a rate set: one Redis hash per version.
//!
//! Fields `"BASE/QUOTE"` hold the rate as a decimal string; fields starting with `@` hold
//! metadata: `@version`, `@pivot`, `@pairs` (the count, so a reader can tell the set is whole),
//! `@content_hash` and `@published_at` (UTC, RFC 3339).

use std::collections::HashMap;
use std::str::FromStr;

use redis::aio::MultiplexedConnection;
use redis::AsyncCommands;
use rust_decimal::Decimal;

use crate::currency::currency;
use crate::error::FxError;
use crate::rate_set::{Pair, RateSet, MAX_PAIRS};

use super::Keys;

/// The hash fields and values for `set` published as `version`.
pub(crate) fn fields(set: &RateSet, version: &str, published_at: &str) -> Vec<(String, String)> {
    let mut out = Vec::with_capacity(set.pairs().len() + 5);
    out.push(("@version".to_string(), version.to_string()));
    out.push(("@pivot".to_string(), set.pivot().alpha.to_string()));
    out.push(("@pairs".to_string(), set.pairs().len().to_string()));
    out.push(("@content_hash".to_string(), set.content_hash().to_string()));
    out.push(("@published_at".to_string(), published_at.to_string()));
    for p in set.pairs() {
        out.push((format!("{}/{}", p.base, p.quote), p.rate.to_string()));
    }
    out
}

/// Rebuilds a set from its hash, refusing anything incomplete or inconsistent.
pub(crate) fn from_fields(version: &str, map: HashMap<String, String>) -> Result<RateSet, FxError> {
    let invalid = |reason: String| FxError::InvalidSet {
        version: version.to_string(),
        reason,
    };
    if map.is_empty() {
        return Err(invalid(
            "the set's key is missing (expired, or never written)".into(),
        ));
    }
    if map.len() > MAX_PAIRS + 16 {
        return Err(invalid(format!(
            "{} fields: more than the limit",
            map.len()
        )));
    }
    let meta = |name: &str| {
        map.get(name)
            .map(String::as_str)
            .ok_or_else(|| invalid(format!("field {name} missing")))
    };
    if meta("@version")? != version {
        return Err(invalid(format!("@version is {:?}", meta("@version")?)));
    }
    let pivot = currency(meta("@pivot")?)?;
    let count: usize = meta("@pairs")?
        .parse()
        .map_err(|_| invalid("@pairs is not a count".into()))?;
    let mut pairs = Vec::with_capacity(count.min(MAX_PAIRS));
    for (field, value) in &map {
        if field.starts_with('@') {
            continue;
        }
        let (base, quote) = field
            .split_once('/')
            .ok_or_else(|| invalid(format!("field {field:?} is not BASE/QUOTE")))?;
        let rate = Decimal::from_str(value)
            .map_err(|_| invalid(format!("{field}: rate {value:?} is not a decimal")))?;
        pairs.push(Pair {
            base: currency(base)?,
            quote: currency(quote)?,
            rate,
        });
    }
    if pairs.len() != count {
        return Err(invalid(format!(
            "{} pairs stored, @pairs says {count}",
            pairs.len()
        )));
    }
    let set = RateSet::new(pairs, version, pivot)?;
    if set.content_hash() != meta("@content_hash")? {
        return Err(invalid("content hash does not match the pairs".into()));
    }
    Ok(set)
}

/// The version the pointer names, if any.
pub(crate) async fn read_pointer(
    conn: &mut MultiplexedConnection,
    keys: &Keys,
) -> Result<Option<String>, FxError> {
    Ok(conn.get(keys.current()).await?)
}

/// Reads the set `version` (named by the pointer a moment ago).
pub(crate) async fn read_current_with(
    conn: &mut MultiplexedConnection,
    keys: &Keys,
    version: &str,
) -> Result<RateSet, FxError> {
    let map: HashMap<String, String> = conn.hgetall(keys.set(version)).await?;
    from_fields(version, map)
}

/// One-shot read of the current set of `namespace` at `target` (a URL or a
/// [`super::RedisTarget`]), for the CLI's `show` and `convert --redis`.
pub async fn read_current(
    target: impl Into<super::RedisTarget>,
    namespace: &str,
) -> Result<Option<RateSet>, FxError> {
    let keys = Keys::new(namespace)?;
    let client = target.into().client()?;
    let mut conn = super::connect(
        &client,
        super::DEFAULT_CONNECT_TIMEOUT,
        super::DEFAULT_RESPONSE_TIMEOUT,
    )
    .await?;
    match read_pointer(&mut conn, &keys).await? {
        None => Ok(None),
        Some(v) => read_current_with(&mut conn, &keys, &v).await.map(Some),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_round_trip_and_tampering_is_refused() {
        let set =
            RateSet::from_csv("base,quote,rate\nUSD,KRW,1385.2\nEUR,USD,1.085\n", "f").unwrap();
        let map: HashMap<String, String> = fields(&set, "v9", "2026-01-01T00:00:00Z")
            .into_iter()
            .collect();
        let back = from_fields("v9", map.clone()).unwrap();
        assert_eq!(back.pairs(), set.pairs());
        assert_eq!(back.version(), "v9");

        assert!(from_fields("v8", map.clone()).is_err());
        let mut missing = map.clone();
        missing.remove("EUR/USD");
        assert!(from_fields("v9", missing).is_err());
        let mut changed = map.clone();
        changed.insert("EUR/USD".into(), "1.086".into());
        assert!(from_fields("v9", changed).is_err());
        assert!(from_fields("v9", HashMap::new()).is_err());
    }
}
