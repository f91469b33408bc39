//! Rate-set version ids.
//!
//! A published set is named `YYYYMMDDTHHMMSS.mmmZ-HHHHHHHHHHHH`: the UTC publication time
//! (fixed width, so versions sort as text in time order) and the first 12 hex digits of the
//! content hash (so two versions with the same rates are visibly the same). A set loaded from
//! a file is named `file-HHHHHHHHHHHH` from the file's content hash alone.

use std::sync::atomic::{AtomicI64, Ordering};

use jiff::Timestamp;

/// Hex digits of the content hash kept in a version.
const HASH_DIGITS: usize = 12;

const TIME_FORMAT: &str = "%Y%m%dT%H%M%S%.3fZ";

/// Length of the time part of a published version (`20261125T063640.123Z`).
const TIME_LEN: usize = 20;

/// The last millisecond handed out by this process, so that two publications in the same
/// millisecond still get increasing versions.
static LAST_MS: AtomicI64 = AtomicI64::new(0);

/// A new publication version, strictly after `after` (the version currently published, when
/// known) and after any version this process made before, even if the clock stepped back.
pub fn new_version(content_hash: &str, after: Option<&str>) -> String {
    let floor = after.and_then(version_millis).map_or(i64::MIN, |ms| ms + 1);
    let now = Timestamp::now().as_millisecond().max(floor);
    let mut prev = LAST_MS.load(Ordering::Relaxed);
    let ms = loop {
        let candidate = now.max(prev + 1);
        match LAST_MS.compare_exchange(prev, candidate, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => break candidate,
            Err(actual) => prev = actual,
        }
    };
    let ts = Timestamp::from_millisecond(ms).unwrap_or(Timestamp::UNIX_EPOCH);
    format!("{}-{}", ts.strftime(TIME_FORMAT), short_hash(content_hash))
}

/// The version of a file-sourced set: from its content hash only.
pub fn file_version(content_hash: &str) -> String {
    format!("file-{}", short_hash(content_hash))
}

/// Milliseconds since the epoch of a published version, if it has the published form.
pub fn version_millis(version: &str) -> Option<i64> {
    let time = version.get(..TIME_LEN)?;
    // jiff parses a Timestamp only with an offset; the `Z` is read as UTC by hand.
    let civil = time.strip_suffix('Z')?;
    let dt = jiff::civil::DateTime::strptime("%Y%m%dT%H%M%S%.f", civil).ok()?;
    dt.to_zoned(jiff::tz::TimeZone::UTC)
        .ok()
        .map(|z| z.timestamp().as_millisecond())
}

fn short_hash(content_hash: &str) -> &str {
    content_hash.get(..HASH_DIGITS).unwrap_or(content_hash)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_sort_in_time_order_and_round_trip() {
        let a = new_version("0123456789abcdef", None);
        let b = new_version("fedcba9876543210", None);
        assert!(a < b, "{a} < {b}");
        assert_eq!(a.len(), TIME_LEN + 1 + HASH_DIGITS);
        assert!(a.ends_with("-0123456789ab"));
        assert!(version_millis(&b).unwrap() > version_millis(&a).unwrap());
    }

    #[test]
    fn a_version_from_the_future_is_overtaken() {
        let future = "29991231T235959.998Z-000000000000";
        let v = new_version("abc", Some(future));
        assert!(v.as_str() > future, "{v}");
        assert!(v.starts_with("29991231T235959.999Z"), "{v}");
        assert_eq!(version_millis("file-abc"), None);
        assert_eq!(file_version("0123456789abcdef"), "file-0123456789ab");
    }
}
