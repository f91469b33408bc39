//! Money primitives shared by `fx-rates` and `ledger`, so that each is defined once.
//!
//! - Amounts are integer minor units in one type, [`i64`], with checked arithmetic where they
//!   move ([`add`], [`sub`]): a balance never wraps (the workspace also builds release with
//!   `overflow-checks = true`, so any unchecked `+` that slipped through panics, and the
//!   ledger fails that operation rather than writing a wrapped value).
//! - [`MAX_AMOUNT_MINOR`]: "DE 4, amount, transaction, n 12" carries at most 12 digits; no
//!   amount the switch takes, converts or answers may exceed it.
//! - [`Currency`]: an ISO 4217 alpha code as three bytes (no allocation, `Copy`), checked
//!   when built.
#![warn(missing_docs)]
#![warn(unreachable_pub)]
#![forbid(unsafe_code)]

use std::fmt;
use std::str::FromStr;

/// Largest amount of minor units an "n 12" amount field (DE 4, 5, 6, 95) carries.
pub const MAX_AMOUNT_MINOR: i64 = 999_999_999_999;

/// `a + b`, or `Err` on overflow.
pub fn add(a: i64, b: i64) -> Result<i64, Overflow> {
    a.checked_add(b).ok_or(Overflow)
}

/// `a - b`, or `Err` on overflow.
pub fn sub(a: i64, b: i64) -> Result<i64, Overflow> {
    a.checked_sub(b).ok_or(Overflow)
}

/// An amount computation that would overflow `i64`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("amount arithmetic overflowed")]
pub struct Overflow;

/// An ISO 4217 alpha code ("USD"): three ASCII uppercase letters.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Currency([u8; 3]);

/// Why a text is not a currency code.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("not an ISO 4217 alpha code (three letters A-Z)")]
pub struct NotACurrency;

impl Currency {
    /// `code` if it is three ASCII uppercase letters.
    pub const fn new(code: [u8; 3]) -> Result<Self, NotACurrency> {
        let mut i = 0;
        while i < 3 {
            if !code[i].is_ascii_uppercase() {
                return Err(NotACurrency);
            }
            i += 1;
        }
        Ok(Currency(code))
    }

    /// The code as text.
    pub fn as_str(&self) -> &str {
        // Only ASCII letters get in.
        std::str::from_utf8(&self.0).unwrap_or("???")
    }

    /// The three bytes.
    pub const fn bytes(&self) -> [u8; 3] {
        self.0
    }
}

/// A constant currency, checked at compile time: `currency!("USD")`.
#[macro_export]
macro_rules! currency {
    ($code:literal) => {{
        const C: $crate::Currency = match $crate::Currency::new(
            *$code.as_bytes().first_chunk::<3>().expect("three letters"),
        ) {
            Ok(c) => c,
            Err(_) => panic!("not a currency code"),
        };
        C
    }};
}

impl FromStr for Currency {
    type Err = NotACurrency;
    fn from_str(s: &str) -> Result<Self, NotACurrency> {
        let b: [u8; 3] = s.as_bytes().try_into().map_err(|_| NotACurrency)?;
        Currency::new(b)
    }
}

impl TryFrom<&str> for Currency {
    type Error = NotACurrency;
    fn try_from(s: &str) -> Result<Self, NotACurrency> {
        s.parse()
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.as_str())
    }
}

impl PartialEq<str> for Currency {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Currency {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl serde::Serialize for Currency {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for Currency {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_three_uppercase_letters() {
        assert_eq!("USD".parse::<Currency>().unwrap().as_str(), "USD");
        for bad in ["usd", "US", "USDD", "840", "U$D", "", "ÜSD"] {
            assert!(bad.parse::<Currency>().is_err(), "{bad}");
        }
        const KRW: Currency = currency!("KRW");
        assert_eq!(KRW, "KRW");
        assert_eq!(serde_json::to_string(&KRW).unwrap(), "\"KRW\"");
        assert_eq!(serde_json::from_str::<Currency>("\"JPY\"").unwrap(), "JPY");
        assert!(serde_json::from_str::<Currency>("\"jpy\"").is_err());
    }

    #[test]
    fn arithmetic_is_checked() {
        assert_eq!(add(1, 2), Ok(3));
        assert_eq!(add(i64::MAX, 1), Err(Overflow));
        assert_eq!(sub(i64::MIN, 1), Err(Overflow));
        assert!(MAX_AMOUNT_MINOR.checked_mul(9_223_372).is_some());
    }
}
