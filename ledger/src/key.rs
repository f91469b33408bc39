//! The network key that makes every ledger operation idempotent.

use std::fmt;

/// Longest DE 32 we accept: "DE 32, acquiring institution identification code, n..11, LLVAR".
pub const MAX_DE32_LEN: usize = 11;
/// "DE 11, systems trace audit number, n 6".
pub const DE11_LEN: usize = 6;
/// "DE 7, transmission date and time, n 10, MMDDhhmmss".
pub const DE7_LEN: usize = 10;

/// `(DE 32, DE 11, DE 7)` of an original request: the identity of a decision.
///
/// DE 32 is compared with leading zeros stripped, so `"000123"` and `"123"` name the same
/// acquirer (DE 90 carries it right-justified zero-filled, DE 32 itself is LLVAR).
///
/// Kept in its single-column form (`acquirer:stan:transmission`, see [`NetworkKey::as_db`]),
/// which the stores bind several times per request; the parts are slices of it.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct NetworkKey {
    db: String,
    /// Length of the acquirer, the first part of `db`.
    acquirer_len: usize,
}

impl NetworkKey {
    /// Builds a key from DE 32, DE 11 and DE 7, checking that each is numeric and of the
    /// length the field allows.
    pub fn new(de32: &str, de11: &str, de7: &str) -> crate::Result<Self> {
        check_digits("DE 32", de32, 1, MAX_DE32_LEN)?;
        check_digits("DE 11", de11, DE11_LEN, DE11_LEN)?;
        check_digits("DE 7", de7, DE7_LEN, DE7_LEN)?;
        let stripped = de32.trim_start_matches('0');
        let acquirer = if stripped.is_empty() { "0" } else { stripped };
        let mut db = String::with_capacity(acquirer.len() + DE11_LEN + DE7_LEN + 2);
        for (i, part) in [acquirer, de11, de7].into_iter().enumerate() {
            if i > 0 {
                db.push(':');
            }
            db.push_str(part);
        }
        Ok(NetworkKey {
            db,
            acquirer_len: acquirer.len(),
        })
    }

    /// DE 32 with leading zeros stripped.
    pub fn acquirer(&self) -> &str {
        &self.db[..self.acquirer_len]
    }

    /// DE 11.
    pub fn stan(&self) -> &str {
        let start = self.acquirer_len + 1;
        &self.db[start..start + DE11_LEN]
    }

    /// DE 7.
    pub fn transmission(&self) -> &str {
        &self.db[self.acquirer_len + DE11_LEN + 2..]
    }

    /// The single-column form kept in the stores: `acquirer:stan:transmission`.
    pub fn as_db(&self) -> String {
        self.db.clone()
    }

    /// [`NetworkKey::as_db`] without a copy.
    pub fn db_str(&self) -> &str {
        &self.db
    }

    /// Parses the single-column form written by [`NetworkKey::as_db`].
    pub fn from_db(s: &str) -> crate::Result<Self> {
        let mut parts = s.split(':');
        match (parts.next(), parts.next(), parts.next(), parts.next()) {
            (Some(a), Some(b), Some(c), None) => NetworkKey::new(a, b, c)
                .map_err(|_| crate::LedgerError::corrupt("decisions", "bad network key")),
            _ => Err(crate::LedgerError::corrupt("decisions", "bad network key")),
        }
    }
}

/// By acquirer, then STAN, then transmission time (as the three parts, not as the joined
/// text, where `12:` would sort after `123`).
impl Ord for NetworkKey {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.acquirer(), self.stan(), self.transmission()).cmp(&(
            other.acquirer(),
            other.stan(),
            other.transmission(),
        ))
    }
}

impl PartialOrd for NetworkKey {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

fn check_digits(field: &'static str, s: &str, min: usize, max: usize) -> crate::Result<()> {
    if s.len() < min || s.len() > max || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(crate::LedgerError::invalid(
            field,
            format!("expected {min}..={max} digits, got {} characters", s.len()),
        ));
    }
    Ok(())
}

impl fmt::Display for NetworkKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{}/{}",
            self.acquirer(),
            self.stan(),
            self.transmission()
        )
    }
}

impl fmt::Debug for NetworkKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NetworkKey({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn de32_leading_zeros_are_not_significant() {
        let a = NetworkKey::new("00012345", "000001", "1125063000").unwrap();
        let b = NetworkKey::new("12345", "000001", "1125063000").unwrap();
        assert_eq!(a, b);
        assert_eq!(a.as_db(), "12345:000001:1125063000");
        assert_eq!(NetworkKey::from_db(&a.as_db()).unwrap(), a);
        assert_eq!(
            (a.acquirer(), a.stan(), a.transmission(), a.db_str()),
            ("12345", "000001", "1125063000", "12345:000001:1125063000")
        );
        let zero = NetworkKey::new("000", "123456", "0101000000").unwrap();
        assert_eq!((zero.acquirer(), zero.stan()), ("0", "123456"));
        assert_eq!(zero.transmission(), "0101000000");
        // Ordered by the parts: acquirer 12 before 123 (as text, "12:" sorts after "123").
        let short = NetworkKey::new("12", "999999", "1125063000").unwrap();
        let long = NetworkKey::new("123", "000000", "1125063000").unwrap();
        assert!(short < long);
    }

    #[test]
    fn malformed_fields_are_refused() {
        assert!(NetworkKey::new("12a", "000001", "1125063000").is_err());
        assert!(NetworkKey::new("1", "0001", "1125063000").is_err());
        assert!(NetworkKey::new("1", "000001", "11250630").is_err());
        assert!(NetworkKey::new("123456789012", "000001", "1125063000").is_err());
        assert!(NetworkKey::from_db("1:2").is_err());
    }
}
