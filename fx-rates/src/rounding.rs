//! How the single rounding at the end of a conversion breaks ties.

use rust_decimal::{Decimal, RoundingStrategy};

use crate::error::FxError;

/// Rounding of the converted amount to the target currency's minor unit.
///
/// DESIGN.md: "one rounding only, at the end, half-even by default (configurable)".
/// Half-even (banker's rounding) does not drift upwards over many conversions; half-up is
/// what a customer computing by hand expects, and some networks require it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Rounding {
    /// Ties go to the even neighbour: 2.5 -> 2, 3.5 -> 4.
    #[default]
    HalfEven,
    /// Ties go away from zero: 2.5 -> 3 (amounts are never negative here).
    HalfUp,
}

impl Rounding {
    /// Rounds `value` to `dp` decimal places with this rule.
    pub fn round(self, value: Decimal, dp: u32) -> Decimal {
        value.round_dp_with_strategy(dp, self.strategy())
    }

    fn strategy(self) -> RoundingStrategy {
        match self {
            Rounding::HalfEven => RoundingStrategy::MidpointNearestEven,
            Rounding::HalfUp => RoundingStrategy::MidpointAwayFromZero,
        }
    }

    /// The name used in configuration and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Rounding::HalfEven => "half-even",
            Rounding::HalfUp => "half-up",
        }
    }
}

impl std::str::FromStr for Rounding {
    type Err = FxError;

    fn from_str(s: &str) -> Result<Self, FxError> {
        match s.to_ascii_lowercase().replace('_', "-").as_str() {
            "half-even" | "bankers" => Ok(Rounding::HalfEven),
            "half-up" => Ok(Rounding::HalfUp),
            other => Err(FxError::Config(format!(
                "rounding {other:?}: expected half-even or half-up"
            ))),
        }
    }
}

impl std::fmt::Display for Rounding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn ties_follow_the_mode() {
        assert_eq!(Rounding::HalfEven.round(dec!(2.5), 0), dec!(2));
        assert_eq!(Rounding::HalfEven.round(dec!(3.5), 0), dec!(4));
        assert_eq!(Rounding::HalfUp.round(dec!(2.5), 0), dec!(3));
        assert_eq!(Rounding::HalfUp.round(dec!(3.5), 0), dec!(4));
        // Not a tie: both modes go to the nearest.
        assert_eq!(Rounding::HalfEven.round(dec!(2.5000001), 0), dec!(3));
        assert_eq!(Rounding::HalfUp.round(dec!(2.4999999), 0), dec!(2));
    }

    #[test]
    fn names_parse() {
        assert_eq!("half-up".parse::<Rounding>().unwrap(), Rounding::HalfUp);
        assert_eq!("HALF_EVEN".parse::<Rounding>().unwrap(), Rounding::HalfEven);
        assert!("up".parse::<Rounding>().is_err());
    }
}
