//! The file source of the cache: the embedded default rates.

mod common;

use std::time::Duration;

use common::eventually;
use fx_rates::{currency, CacheOptions, FxError, RateCache, SourceState};

fn write(path: &std::path::Path, text: &str) {
    // Write then rename, as an operator's deploy would: the watcher never reads half a file.
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

#[test]
fn loads_converts_and_names_the_version_after_the_content() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rates.csv");
    write(&path, "base,quote,rate\nUSD,KRW,1385.20\n");
    let cache = RateCache::from_file(&path, CacheOptions::default()).unwrap();
    let c = cache
        .convert(1000, currency("USD").unwrap(), currency("KRW").unwrap())
        .unwrap();
    assert_eq!((c.amount_minor, c.de10.as_str()), (13852, "31385200"));
    assert!(c.version.starts_with("file-"), "{}", c.version);
    let status = cache.status();
    assert_eq!(status.state, SourceState::Live);
    assert!(status.source.starts_with("file:"));
    assert!(!status.stale);

    // Same content in another file: same version.
    let other = dir.path().join("copy.csv");
    write(&other, "base,quote,rate\nUSD,KRW,1385.20\n");
    let again = RateCache::from_file(&other, CacheOptions::default()).unwrap();
    assert_eq!(again.snapshot().unwrap().version(), &*c.version);
}

#[test]
fn reload_installs_changes_and_keeps_the_last_good_set_on_a_bad_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rates.csv");
    write(&path, "base,quote,rate\nUSD,KRW,1385.20\n");
    let cache = RateCache::from_file(&path, CacheOptions::default()).unwrap();
    let v1 = cache.snapshot().unwrap().version().to_string();
    assert!(!cache.reload().unwrap(), "unchanged file must not reload");

    write(&path, "base,quote,rate\nUSD,KRW,1400\n");
    assert!(cache.reload().unwrap());
    let v2 = cache.snapshot().unwrap().version().to_string();
    assert_ne!(v1, v2);

    write(&path, "base,quote,rate\nUSD,KRW,1400\nUSD,KRW,1401\n");
    match cache.reload() {
        Err(FxError::Csv { line: 3, .. }) => {}
        other => panic!("expected a refusal naming line 3, got {other:?}"),
    }
    assert_eq!(
        cache.snapshot().unwrap().version(),
        v2,
        "the last good set serves"
    );
    let status = cache.status();
    assert_eq!(status.state, SourceState::Invalid);
    assert!(status.last_error.unwrap().contains("line 3"));

    std::fs::remove_file(&path).unwrap();
    assert!(matches!(cache.reload(), Err(FxError::Io { .. })));
    assert_eq!(cache.status().state, SourceState::Unreachable);
    assert_eq!(cache.snapshot().unwrap().version(), v2);
}

#[test]
fn a_missing_or_bad_file_fails_at_start() {
    let dir = tempfile::tempdir().unwrap();
    assert!(matches!(
        RateCache::from_file(dir.path().join("none.csv"), CacheOptions::default()),
        Err(FxError::Io { .. })
    ));
    let path = dir.path().join("bad.csv");
    write(&path, "base,quote,rate\nUSD,KRW,-1\n");
    assert!(matches!(
        RateCache::from_file(&path, CacheOptions::default()),
        Err(FxError::Csv { line: 2, .. })
    ));
    let big = dir.path().join("big.csv");
    std::fs::write(&big, vec![b'#'; fx_rates::MAX_CSV_BYTES as usize + 1]).unwrap();
    assert!(matches!(
        RateCache::from_file(&big, CacheOptions::default()),
        Err(FxError::InvalidSet { .. })
    ));
}

#[tokio::test]
async fn the_watcher_reloads_when_the_file_changes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rates.csv");
    write(&path, "base,quote,rate\nUSD,KRW,1385.20\n");
    let cache = RateCache::from_file(&path, CacheOptions::default()).unwrap();
    cache.watch_file(Duration::from_millis(20)).unwrap();
    write(&path, "base,quote,rate\nUSD,KRW,1390\nUSD,JPY,150\n");
    let usd = currency("USD").unwrap();
    let jpy = currency("JPY").unwrap();
    assert!(
        eventually(Duration::from_secs(3), || cache
            .convert(100, usd, jpy)
            .is_ok())
        .await,
        "watcher did not pick up the new file: {:?}",
        cache.status()
    );
    assert_eq!(cache.convert(100, usd, jpy).unwrap().amount_minor, 150);
    assert_eq!(cache.status().loads, 2);
}

#[test]
fn watch_needs_a_runtime_and_a_file_source() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rates.csv");
    write(&path, "base,quote,rate\nUSD,KRW,1385.20\n");
    let cache = RateCache::from_file(&path, CacheOptions::default()).unwrap();
    assert!(matches!(
        cache.watch_file(Duration::from_secs(1)),
        Err(FxError::Config(_))
    ));
}
