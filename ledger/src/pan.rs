//! The clear PAN, held only long enough to hash it, and the keyed hash that is stored.

use std::fmt;

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// "DE 2, primary account number, n..19, LLVAR"; ISO/IEC 7812 numbers are at least 12 digits
/// long in practice (8 digits of IIN plus an account number and check digit).
pub const MIN_PAN_LEN: usize = 12;
/// Upper limit of DE 2.
pub const MAX_PAN_LEN: usize = 19;
/// Shortest HMAC key we accept: RFC 2104 advises at least the hash output length.
pub const MIN_PAN_KEY_LEN: usize = 32;
/// Environment variable holding the PAN key (hex or text) when the config does not.
pub const PAN_KEY_ENV: &str = "LEDGER_PAN_KEY";

/// A clear PAN. Its `Debug` shows only the first 6 and last 4 digits, and it has no
/// `Display`, so it cannot end up in a log line by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct Pan(String);

impl Pan {
    /// Checks that `digits` looks like a PAN (12..=19 ASCII digits). The error never
    /// contains the digits themselves.
    pub fn new(digits: &str) -> crate::Result<Self> {
        if digits.len() < MIN_PAN_LEN
            || digits.len() > MAX_PAN_LEN
            || !digits.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(crate::LedgerError::invalid(
                "DE 2",
                format!(
                    "expected {MIN_PAN_LEN}..={MAX_PAN_LEN} digits, got {} characters",
                    digits.len()
                ),
            ));
        }
        Ok(Pan(digits.to_owned()))
    }

    /// The last four digits, which the ledger stores beside the hash.
    pub fn last4(&self) -> &str {
        &self.0[self.0.len() - 4..]
    }

    /// First 6 + last 4, for people.
    pub fn masked(&self) -> String {
        let n = self.0.len();
        format!("{}{}{}", &self.0[..6], "*".repeat(n - 10), &self.0[n - 4..])
    }

    /// The clear digits: for hashing inside this crate only, never for people.
    pub(crate) fn digits(&self) -> &str {
        &self.0
    }

    /// The clear digits, for the HSM (PIN blocks, PVVs and CVVs are computed with the PAN):
    /// never for a log line, an error or an event.
    pub fn clear_digits(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Pan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Pan({})", self.masked())
    }
}

/// HMAC-SHA256 of the PAN under a secret key: the card's identity at rest.
///
/// A plain hash of a PAN can be reversed by enumerating the few billion account numbers of
/// an IIN; a keyed hash cannot without the key.
#[derive(Clone)]
pub struct PanHasher {
    mac: Hmac<Sha256>,
}

impl PanHasher {
    /// A hasher over `key` (at least [`MIN_PAN_KEY_LEN`] bytes).
    pub fn new(key: &[u8]) -> crate::Result<Self> {
        if key.len() < MIN_PAN_KEY_LEN {
            return Err(crate::LedgerError::PanKey(format!(
                "key is {} bytes, at least {MIN_PAN_KEY_LEN} required",
                key.len()
            )));
        }
        let mac = Hmac::<Sha256>::new_from_slice(key)
            .map_err(|e| crate::LedgerError::PanKey(e.to_string()))?;
        Ok(PanHasher { mac })
    }

    /// A hasher whose key comes from the `LEDGER_PAN_KEY` environment variable: 64 hex
    /// digits are decoded, anything else is used as bytes.
    pub fn from_env() -> crate::Result<Self> {
        let v = std::env::var(PAN_KEY_ENV)
            .map_err(|_| crate::LedgerError::PanKey(format!("{PAN_KEY_ENV} is not set")))?;
        Self::from_config_str(&v)
    }

    /// Same decoding as [`PanHasher::from_env`], for a key read from a config file.
    pub fn from_config_str(v: &str) -> crate::Result<Self> {
        match hex::decode(v) {
            Ok(bytes) if bytes.len() >= MIN_PAN_KEY_LEN => Self::new(&bytes),
            _ => Self::new(v.as_bytes()),
        }
    }

    /// Lowercase hex of HMAC-SHA256(key, PAN).
    pub fn hash(&self, pan: &Pan) -> String {
        let mut mac = self.mac.clone();
        mac.update(pan.digits().as_bytes());
        // By hand: `hex::encode` went through an iterator of chars, one push each, on the
        // writer thread at every authorization.
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut text = String::with_capacity(64);
        for b in mac.finalize().into_bytes() {
            text.push(char::from(DIGITS[usize::from(b >> 4)]));
            text.push(char::from(DIGITS[usize::from(b & 0x0f)]));
        }
        text
    }
}

impl fmt::Debug for PanHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PanHasher(<key>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_full_pan() {
        let pan = Pan::new("4761739001010010").unwrap();
        let shown = format!("{pan:?}");
        assert_eq!(shown, "Pan(476173******0010)");
        assert!(!shown.contains("4761739001010010"));
    }

    #[test]
    fn bad_pan_error_does_not_echo_it() {
        let err = Pan::new("47617390010100x0").unwrap_err().to_string();
        assert!(!err.contains("4761739"), "{err}");
    }

    #[test]
    fn hash_is_keyed() {
        let pan = Pan::new("4761739001010010").unwrap();
        let a = PanHasher::new(&[1u8; 32]).unwrap().hash(&pan);
        let b = PanHasher::new(&[2u8; 32]).unwrap().hash(&pan);
        assert_ne!(a, b);
        assert_eq!(a.len(), 64);
        assert!(PanHasher::new(b"short").is_err());
        // RFC 2104 HMAC-SHA256, lowercase hex (Python's hmac module gives the same).
        assert_eq!(
            PanHasher::new(&[b'k'; 32]).unwrap().hash(&pan),
            "2ec249349dcb4d7be8a2c7422ea3da67b2bd5e4e51cb4dc2a516fe2b405057b1"
        );
    }
}
