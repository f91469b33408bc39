//! Per-network minor-unit exponents that differ from ISO 4217.
//!
//! Networks do not always clear in ISO's minor unit: some treat ISK or HUF amounts with a
//! different number of decimals than ISO lists, or clear CLP with 2. The bank's configuration
//! states these per network; the conversion then scales with the network's exponent.

use std::collections::BTreeMap;

use crate::currency::Currency;
use crate::error::FxError;

/// The largest exponent accepted: ISO's largest is 4 (CLF, UYW); more would only be a typo.
pub const MAX_EXPONENT: u8 = 6;

/// Exponent overrides for one network, keyed by numeric code. Empty means "ISO everywhere".
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExponentOverrides {
    by_numeric: BTreeMap<u16, u8>,
}

impl ExponentOverrides {
    /// No overrides: ISO 4217 exponents everywhere.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an override (`code` alpha or numeric).
    pub fn with(mut self, code: &str, exponent: u8) -> Result<Self, FxError> {
        self.set(code, exponent)?;
        Ok(self)
    }

    /// Sets an override (`code` alpha or numeric).
    pub fn set(&mut self, code: &str, exponent: u8) -> Result<(), FxError> {
        let c = crate::currency(code)?;
        if exponent > MAX_EXPONENT {
            return Err(FxError::Config(format!(
                "exponent {exponent} for {} exceeds the limit {MAX_EXPONENT}",
                c.alpha
            )));
        }
        self.by_numeric.insert(c.numeric, exponent);
        Ok(())
    }

    /// Builds overrides from a configuration map such as `{ "ISK" = 2, "CLP" = 2 }`.
    pub fn from_map<'a>(map: impl IntoIterator<Item = (&'a str, u8)>) -> Result<Self, FxError> {
        let mut o = Self::new();
        for (code, exponent) in map {
            o.set(code, exponent)?;
        }
        Ok(o)
    }

    /// The exponent to use for `c` on this network.
    #[inline]
    pub fn exponent(&self, c: &Currency) -> u8 {
        if self.by_numeric.is_empty() {
            return c.exponent;
        }
        self.by_numeric
            .get(&c.numeric)
            .copied()
            .unwrap_or(c.exponent)
    }

    /// True when no override is set.
    pub fn is_empty(&self) -> bool {
        self.by_numeric.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::currency;

    #[test]
    fn overrides_apply_only_where_set() {
        let o = ExponentOverrides::from_map([("ISK", 2), ("152", 2)]).unwrap();
        assert_eq!(o.exponent(currency("ISK").unwrap()), 2);
        assert_eq!(o.exponent(currency("CLP").unwrap()), 2);
        assert_eq!(o.exponent(currency("JPY").unwrap()), 0);
        assert_eq!(
            ExponentOverrides::new().exponent(currency("ISK").unwrap()),
            0
        );
    }

    #[test]
    fn bad_overrides_are_refused() {
        assert!(ExponentOverrides::new().with("ZZZ", 2).is_err());
        assert!(ExponentOverrides::new().with("USD", 9).is_err());
    }
}
