//! Significant-digit arithmetic on `Decimal` rates.
//!
//! Why a limit on significant digits: an amount has at most 12 digits (the ISO 8583 amount
//! field, n 12) and a rate at most [`MAX_RATE_SIGNIFICANT_DIGITS`], so their product has at
//! most 28 digits and always fits `rust_decimal`'s 96-bit mantissa exactly. The conversion is
//! therefore an exact product followed by the one rounding DESIGN.md asks for.

use rust_decimal::{Decimal, RoundingStrategy};

/// Most significant digits a rate may carry (published, or derived as an inverse or cross).
pub const MAX_RATE_SIGNIFICANT_DIGITS: u32 = 16;

/// Number of significant digits of `d` as written (trailing zeros count: `1385.20` has 6).
pub(crate) fn significant_digits(d: Decimal) -> u32 {
    let mut m = d.mantissa().unsigned_abs();
    if m == 0 {
        return 0;
    }
    let mut n = 0;
    while m > 0 {
        n += 1;
        m /= 10;
    }
    n
}

/// Rounds a positive `d` half-even to at most `sig` significant digits, then drops trailing
/// zeros. Used for derived (inverse and cross) rates, which are not finite decimals in general.
pub(crate) fn round_significant(d: Decimal, sig: u32) -> Decimal {
    let d = d.normalize();
    let n = significant_digits(d);
    if n <= sig {
        return d;
    }
    let drop = n - sig;
    if d.scale() >= drop {
        d.round_dp_with_strategy(d.scale() - drop, RoundingStrategy::MidpointNearestEven)
            .normalize()
    } else {
        // More than `sig` integer digits: no realistic rate; keep the integer part.
        d.round_dp_with_strategy(0, RoundingStrategy::MidpointNearestEven)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn counts_and_rounds() {
        assert_eq!(significant_digits(dec!(1385.20)), 6);
        assert_eq!(significant_digits(dec!(0.0072196)), 5);
        assert_eq!(round_significant(dec!(1.23456789), 4), dec!(1.235));
        assert_eq!(round_significant(dec!(0.000123455), 4), dec!(0.0001235));
        assert_eq!(round_significant(dec!(0.00012345), 4), dec!(0.0001234)); // tie: even
        assert_eq!(round_significant(dec!(2.50), 16), dec!(2.5));
        let third = Decimal::ONE / dec!(3);
        assert_eq!(round_significant(third, 16), dec!(0.3333333333333333));
    }
}
