//! What identifies a rates file's content: cheaply (length and mtime) and surely (hash).
//!
//! Its own module because both the cache (which keeps the fingerprint of the file it last
//! loaded) and the file source (which makes and compares fingerprints) need it; the file source
//! depends on the cache, not the other way round.

use std::time::SystemTime;

/// A file's length, modification time and content hash (hex SHA-256).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Fingerprint {
    pub(crate) len: u64,
    pub(crate) modified: Option<SystemTime>,
    pub(crate) hash: String,
}
