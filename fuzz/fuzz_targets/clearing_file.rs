//! Clearing files (issue 24): any bytes given to the checker and the record reader end in a
//! summary or an error, never a panic, and never allocate what a length claims before
//! checking it against the limit (libFuzzer's -rss_limit_mb catches that).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = clearing::check(data);
    if let Ok(records) = clearing::Records::new(data) {
        for m in records.take(64).flatten() {
            if clearing::kind(&m) == clearing::Kind::Presentment {
                let _ = clearing::Presentment::from_message(&m);
            }
        }
    }
});
