//! What makes a message under a network key already decided a true repeat.
//!
//! A network repeats a request (0101, 0121, 0401, 0421, or the same MTI again) with the same
//! key `(DE 32, DE 11, DE 7)` *and* the same transaction: the same card, processing code,
//! amount, currency and message class. A message that reuses a key for anything else is not
//! a repeat; answering it from the stored decision would approve it with no hold behind it.
//! So every decision stores a fingerprint of its request, and a later message under its key
//! is answered from the record only when its fingerprint is the same; otherwise it is a
//! duplicate transmission (39=94 by default), recorded in `duplicates`, and moves nothing.
//!
//! The ledger folds in what each operation reads of its request (amount, currency, expiry,
//! original, ...) and the card, by its keyed hash (so that a stored fingerprint cannot be
//! reversed to a PAN by enumeration); the gateway adds, as [`Terms`], the data elements only
//! it sees (the MTI class, the whole DE 3, the terminal and merchant). 128 bits of SHA-256
//! are kept.

use sha2::{Digest, Sha256};

/// The data elements that define a request, as the gateway read them (no PAN: the ledger
/// adds the card itself), framed one after another. The ledger hashes them once, with the
/// rest of the fingerprint (a digest here as well would hash every request twice).
/// [`Terms::default`] (nothing folded in) is for callers that have no message, such as tests
/// and benches: two such requests differ only by what the ledger reads of them.
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct Terms(Vec<u8>);

impl std::fmt::Debug for Terms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Terms({} bytes)", self.0.len())
    }
}

/// Typical framed terms: class, five elements of a few bytes to fifteen.
const TERMS_CAPACITY: usize = 128;

/// Folds data elements into [`Terms`], one call per element in a fixed order.
pub struct TermsBuilder(Vec<u8>);

impl Terms {
    /// Starts the terms of a request of message class `class` (the MTI with its repeat flag
    /// cleared, e.g. `"0100"`: a 0200 under a 0100's key is another request).
    pub fn builder(class: &str) -> TermsBuilder {
        let mut v = Vec::with_capacity(TERMS_CAPACITY);
        v.extend_from_slice(b"terms/v1\0");
        v.extend_from_slice(&(class.len() as u64).to_be_bytes());
        v.extend_from_slice(class.as_bytes());
        TermsBuilder(v)
    }
}

impl TermsBuilder {
    /// Folds in data element `n`, present with `value` or absent (`None`): an element that
    /// appears, disappears or changes makes other terms. Each element is framed by its
    /// number and length, so no two different sequences fold to the same bytes.
    pub fn field(mut self, n: u16, value: Option<&[u8]>) -> Self {
        self.0.extend_from_slice(&n.to_be_bytes());
        match value {
            None => self.0.push(0),
            Some(v) => {
                self.0.push(1);
                self.0.extend_from_slice(&(v.len() as u64).to_be_bytes());
                self.0.extend_from_slice(v);
            }
        }
        self
    }

    /// The terms.
    pub fn finish(self) -> Terms {
        Terms(self.0)
    }
}

/// Hex length of a stored fingerprint (128 bits).
pub(crate) const FINGERPRINT_HEX_LEN: usize = 32;

/// The fingerprint stored with a decision: what the operation itself reads of its request
/// (amount, currency, original, ...: folded in by the ledger, so that a caller with no
/// message and [`Terms::default`] is still protected), the card's keyed hash when the request
/// names a card, and the gateway's terms; 128 bits of SHA-256, in hex.
pub(crate) struct Fingerprint(Sha256);

impl Fingerprint {
    /// Starts the fingerprint of an operation named `op`.
    pub(crate) fn new(op: &str, pan_hash: Option<&str>, terms: &Terms) -> Self {
        let mut h = Sha256::new();
        h.update(b"fingerprint/v1\0");
        h.update(op.as_bytes());
        h.update((terms.0.len() as u64).to_be_bytes());
        h.update(&terms.0);
        Fingerprint(h).text(pan_hash)
    }

    /// Folds in an integer.
    pub(crate) fn int(mut self, v: i64) -> Self {
        self.0.update(v.to_be_bytes());
        self
    }

    /// Folds in an optional text, framed (absent, empty and shifted values differ).
    pub(crate) fn text(mut self, v: Option<&str>) -> Self {
        match v {
            None => self.0.update([0]),
            Some(v) => {
                self.0.update([1]);
                self.0.update((v.len() as u64).to_be_bytes());
                self.0.update(v.as_bytes());
            }
        }
        self
    }

    /// The hex digest.
    pub(crate) fn finish(self) -> String {
        let d = self.0.finalize();
        hex::encode(&d[..FINGERPRINT_HEX_LEN / 2])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth(amount: &[u8]) -> Terms {
        Terms::builder("0100")
            .field(3, Some(b"000000"))
            .field(4, Some(amount))
            .field(49, Some(b"840"))
            .finish()
    }

    #[test]
    fn the_same_elements_give_the_same_terms_and_any_change_other_terms() {
        assert_eq!(auth(b"000000001000"), auth(b"000000001000"));
        assert_ne!(auth(b"000000001000"), auth(b"000000001001"));
        let class = Terms::builder("0200")
            .field(3, Some(b"000000"))
            .field(4, Some(b"000000001000"))
            .field(49, Some(b"840"))
            .finish();
        assert_ne!(auth(b"000000001000"), class);
    }

    #[test]
    fn absent_empty_and_shifted_elements_are_told_apart() {
        let absent = Terms::builder("0100").field(38, None).finish();
        let empty = Terms::builder("0100").field(38, Some(b"")).finish();
        assert_ne!(absent, empty);
        // The same bytes split differently between two elements.
        let a = Terms::builder("0100")
            .field(41, Some(b"AB"))
            .field(42, Some(b"C"))
            .finish();
        let b = Terms::builder("0100")
            .field(41, Some(b"A"))
            .field(42, Some(b"BC"))
            .finish();
        assert_ne!(a, b);
    }

    #[test]
    fn the_card_the_terms_and_the_operation_are_part_of_the_fingerprint() {
        let t = auth(b"000000001000");
        let fp = |op, pan, terms: &Terms, amount| {
            Fingerprint::new(op, pan, terms)
                .int(amount)
                .text(Some("USD"))
                .finish()
        };
        let a = fp("auth", Some("aa"), &t, 1000);
        assert_eq!(a.len(), FINGERPRINT_HEX_LEN);
        assert_eq!(a, fp("auth", Some("aa"), &t, 1000));
        assert_ne!(a, fp("auth", Some("ab"), &t, 1000));
        assert_ne!(a, fp("auth", None, &t, 1000));
        assert_ne!(a, fp("advice", Some("aa"), &t, 1000));
        assert_ne!(a, fp("auth", Some("aa"), &Terms::default(), 1000));
        // What the ledger folds in itself counts even when the terms are the default.
        let d = Terms::default();
        assert_ne!(
            fp("auth", Some("aa"), &d, 1000),
            fp("auth", Some("aa"), &d, 1001)
        );
    }
}
