//! The DE 10 / DE 9 rate format `ABBBBBBB`.
//!
//! ISO 8583:1987 DE 10, "conversion rate, cardholder billing", n 8: the leftmost digit is the
//! number of positions of the decimal separator counted from the right, the other seven are
//! the rate. DESIGN.md: "A is the count of decimal places, BBBBBBB the most significant digits
//! that fit". ISO allows A up to 9, but card networks' specifications limit it to 0..7 (seven
//! digits all after the separator), so this crate writes A in 0..=[`DE10_MAX_DECIMALS`].
//!
//! The rate is rounded half-up (away from zero) to the seven digits that fit, as a person
//! reading the field would: 1385.2 -> `31385200`; 0.0072196 -> `70072196`; 1 -> `61000000`.
//! DE 10 is informational: the conversion itself always uses the full-precision rate.

use rust_decimal::{Decimal, RoundingStrategy};

use crate::error::FxError;

/// The largest decimal indicator written (networks accept 0..7).
pub const DE10_MAX_DECIMALS: u32 = 7;

/// Seven digits: the largest BBBBBBB.
const DE10_MAX_DIGITS_VALUE: i64 = 9_999_999;

/// A rate rendered as DE 10 `ABBBBBBB`: eight ASCII digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct De10([u8; 8]);

impl De10 {
    /// Renders `rate` with as many significant digits as fit (the largest A whose rounded
    /// BBBBBBB still has seven digits). Refuses rates that would show as zero (below
    /// 0.00000005) or that need more than seven integer digits.
    pub fn from_rate(rate: Decimal) -> Result<Self, FxError> {
        if rate <= Decimal::ZERO {
            return Err(FxError::De10OutOfRange { rate });
        }
        let integer_digits = digits_before_point(rate);
        // Start from the A that leaves room for the integer part; rounding may carry into an
        // eighth digit (9.9999999 -> 10.000000), in which case one fewer decimal is used.
        let first = DE10_MAX_DECIMALS.min(7u32.saturating_sub(integer_digits));
        for a in (0..=first).rev() {
            let b = rate.round_dp_with_strategy(a, RoundingStrategy::MidpointAwayFromZero);
            let units = b.mantissa() * 10i128.pow(a - b.scale().min(a));
            if units > i128::from(DE10_MAX_DIGITS_VALUE) {
                continue;
            }
            if units == 0 {
                break;
            }
            let mut out = [b'0'; 8];
            out[0] = b'0' + a as u8;
            let mut v = units;
            for slot in out[1..].iter_mut().rev() {
                *slot = b'0' + (v % 10) as u8;
                v /= 10;
            }
            return Ok(De10(out));
        }
        Err(FxError::De10OutOfRange { rate })
    }

    /// The eight digits as text.
    pub fn as_str(&self) -> &str {
        // Only ASCII digits are ever written into the array.
        std::str::from_utf8(&self.0).unwrap_or("00000000")
    }

    /// The eight digits as bytes, ready for an ISO 8583 field.
    pub fn as_bytes(&self) -> &[u8; 8] {
        &self.0
    }

    /// The rate the field states (BBBBBBB * 10^-A).
    pub fn rate(&self) -> Decimal {
        let a = u32::from(self.0[0] - b'0');
        let b = self.0[1..]
            .iter()
            .fold(0i64, |acc, d| acc * 10 + i64::from(d - b'0'));
        Decimal::new(b, a)
    }
}

/// Number of digits before the decimal point (0 for rates below 1).
fn digits_before_point(rate: Decimal) -> u32 {
    let mut int = rate.trunc().mantissa();
    let mut n = 0;
    while int > 0 {
        n += 1;
        int /= 10;
    }
    n
}

impl std::ops::Deref for De10 {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl std::fmt::Display for De10 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::fmt::Debug for De10 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "De10({})", self.as_str())
    }
}

impl PartialEq<&str> for De10 {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl serde::Serialize for De10 {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn de10(r: Decimal) -> String {
        De10::from_rate(r).unwrap().to_string()
    }

    #[test]
    fn issue_examples() {
        // 1385.2 has four integer digits, so three decimals fit: 1385.200.
        assert_eq!(de10(dec!(1385.2)), "31385200");
        assert_eq!(de10(dec!(1385.20)), "31385200");
        // 0.0072196: A is capped at 7, so 0.0072196 -> 0072196.
        assert_eq!(de10(dec!(0.0072196)), "70072196");
    }

    #[test]
    fn common_shapes() {
        assert_eq!(de10(dec!(1)), "61000000");
        assert_eq!(de10(dec!(0.92)), "79200000");
        assert_eq!(de10(dec!(9999999)), "09999999");
        assert_eq!(de10(dec!(150.123456789)), "41501235");
        // Rounding half-up at the seventh digit.
        assert_eq!(de10(dec!(1.23456785)), "61234568");
        // Rounding that carries into an eighth digit drops one decimal.
        assert_eq!(de10(dec!(9.99999999)), "51000000");
        // Smallest representable rates.
        assert_eq!(de10(dec!(0.00000005)), "70000001");
    }

    #[test]
    fn round_trips_to_the_stated_rate() {
        let d = De10::from_rate(dec!(1385.2)).unwrap();
        assert_eq!(d.rate(), dec!(1385.2));
        assert_eq!(
            De10::from_rate(dec!(0.0072196)).unwrap().rate(),
            dec!(0.0072196)
        );
    }

    #[test]
    fn out_of_range_rates_are_errors() {
        for r in [
            dec!(0),
            dec!(-1),
            dec!(0.00000004),
            dec!(10000000),
            dec!(9999999.5),
        ] {
            assert!(
                matches!(De10::from_rate(r), Err(FxError::De10OutOfRange { .. })),
                "{r}"
            );
        }
    }
}
