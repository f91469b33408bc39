//! Fee-free conversion at the published mid rate.
//!
//! DESIGN.md: `converted_minor = round(amount_minor / 10^e_from * rate(from->to) * 10^e_to)`,
//! "with one rounding only, at the end, half-even by default (configurable)".
//!
//! The product `amount * rate` is exact: an amount has at most 12 digits and a rate at most
//! 16 significant digits, 28 digits in all, which `rust_decimal` holds without rounding. The
//! powers of ten only move the decimal point. So the one rounding is the final one.

use std::sync::Arc;

use rust_decimal::Decimal;

use crate::currency::Currency;
use crate::de10::De10;
use crate::error::FxError;
use crate::exponents::ExponentOverrides;
use crate::rate_set::{RatePath, RateSet};
use crate::rounding::Rounding;

/// The largest amount the ISO 8583 amount fields (DE 4, DE 5, DE 6: n 12) can carry.
pub const MAX_AMOUNT_MINOR: u64 = money::MAX_AMOUNT_MINOR as u64;

/// The version reported by a same-currency conversion made without any rate set.
pub const IDENTITY_VERSION: &str = "identity";

/// How to convert: the tie-breaking rule and the network's exponents.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConvertOptions {
    /// Rounding of the final amount (default half-even).
    pub rounding: Rounding,
    /// Network exponents that differ from ISO 4217.
    pub exponents: ExponentOverrides,
}

/// The result of a conversion: the amount, and everything needed to explain it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Conversion {
    /// Converted amount in minor units of `currency` (DE 6 when billing differs).
    pub amount_minor: u64,
    /// Target currency.
    pub currency: &'static Currency,
    /// Exponent used for the target (ISO, or the network's override).
    pub exponent: u8,
    /// The amount converted, in minor units of `from`.
    pub amount_from_minor: u64,
    /// Source currency.
    pub from: &'static Currency,
    /// Exponent used for the source.
    pub exponent_from: u8,
    /// The rate actually used, full precision: 1 `from` = `rate` `currency`.
    pub rate: Decimal,
    /// How the rate was found (direct, inverse, cross, identity).
    pub path: RatePath,
    /// `rate` as DE 10 `ABBBBBBB` (informational: seven significant digits at most).
    pub de10: De10,
    /// The rate-set version the rate came from ([`IDENTITY_VERSION`] if none was needed).
    pub version: Arc<str>,
    /// The rounding applied.
    pub rounding: Rounding,
}

/// Converts `amount_minor` of `from` into `to` with the rates of `set`.
pub fn convert(
    set: &RateSet,
    amount_minor: u64,
    from: &'static Currency,
    to: &'static Currency,
    opts: &ConvertOptions,
) -> Result<Conversion, FxError> {
    let (rate, path) = set.rate(from, to)?;
    convert_at(rate, path, set.version_arc(), amount_minor, from, to, opts)
}

/// Converts at a given rate (the cache uses this for same-currency payments, which need no set).
pub(crate) fn convert_at(
    rate: Decimal,
    path: RatePath,
    version: &Arc<str>,
    amount_minor: u64,
    from: &'static Currency,
    to: &'static Currency,
    opts: &ConvertOptions,
) -> Result<Conversion, FxError> {
    if amount_minor > MAX_AMOUNT_MINOR {
        return Err(FxError::AmountOverflow {
            amount_minor: Decimal::from(amount_minor),
            currency: from.alpha,
        });
    }
    let e_from = opts.exponents.exponent(from);
    let e_to = opts.exponents.exponent(to);
    let amount_major = Decimal::from_i128_with_scale(i128::from(amount_minor), u32::from(e_from));
    let overflow = |amount_minor: Decimal| FxError::AmountOverflow {
        amount_minor,
        currency: to.alpha,
    };
    let product = amount_major
        .checked_mul(rate)
        .ok_or_else(|| overflow(Decimal::MAX))?;
    let target = shift_left(product, u32::from(e_to)).ok_or_else(|| overflow(Decimal::MAX))?;
    let rounded = opts.rounding.round(target, 0);
    if rounded > Decimal::from(MAX_AMOUNT_MINOR) {
        return Err(overflow(rounded));
    }
    // `rounded` is an integer in 0..=MAX_AMOUNT_MINOR, so the mantissa at scale 0 is the value.
    let amount_to = u64::try_from(rounded.trunc().mantissa()).map_err(|_| overflow(rounded))?;
    Ok(Conversion {
        amount_minor: amount_to,
        currency: to,
        exponent: e_to,
        amount_from_minor: amount_minor,
        from,
        exponent_from: e_from,
        rate,
        path,
        de10: De10::from_rate(rate)?,
        version: Arc::clone(version),
        rounding: opts.rounding,
    })
}

/// `d * 10^k` by moving the decimal point: exact whenever the result fits.
fn shift_left(d: Decimal, k: u32) -> Option<Decimal> {
    if d.scale() >= k {
        let mut out = d;
        out.set_scale(d.scale() - k).ok()?;
        Some(out)
    } else {
        let mut out = d;
        let rest = k - out.scale();
        out.set_scale(0).ok()?;
        out.checked_mul(Decimal::from_i128_with_scale(10i128.pow(rest), 0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::currency;
    use rust_decimal_macros::dec;

    fn set(csv: &str) -> RateSet {
        RateSet::from_csv(&format!("base,quote,rate\n{csv}"), "v-test").unwrap()
    }

    fn conv(set: &RateSet, amount: u64, from: &str, to: &str, rounding: Rounding) -> Conversion {
        let opts = ConvertOptions {
            rounding,
            ..ConvertOptions::default()
        };
        convert(
            set,
            amount,
            currency(from).unwrap(),
            currency(to).unwrap(),
            &opts,
        )
        .unwrap()
    }

    #[test]
    fn design_example_usd_to_krw() {
        let s = set("USD,KRW,1385.20\n");
        // 10.00 USD * 1385.2 = 13852 KRW (exponent 0).
        let c = conv(&s, 1000, "USD", "KRW", Rounding::HalfEven);
        assert_eq!(c.amount_minor, 13852);
        assert_eq!(c.currency.alpha, "KRW");
        assert_eq!(c.rate, dec!(1385.2));
        assert_eq!(c.de10, "31385200");
        assert_eq!(&*c.version, "v-test");
        assert_eq!(c.path, RatePath::Direct);
    }

    #[test]
    fn ties_round_by_mode() {
        // 0.05 USD * 10.5 = 0.525 EUR -> 52.5 cents: a tie.
        let s = set("USD,EUR,10.5\n");
        assert_eq!(
            conv(&s, 5, "USD", "EUR", Rounding::HalfEven).amount_minor,
            52
        );
        assert_eq!(conv(&s, 5, "USD", "EUR", Rounding::HalfUp).amount_minor, 53);
        // 0.07 USD * 10.5 = 73.5 cents: half-even goes up to the even 74.
        assert_eq!(
            conv(&s, 7, "USD", "EUR", Rounding::HalfEven).amount_minor,
            74
        );
        assert_eq!(conv(&s, 7, "USD", "EUR", Rounding::HalfUp).amount_minor, 74);
        // Just above and below a tie, both modes agree.
        let s = set("USD,EUR,10.5000001\n");
        assert_eq!(
            conv(&s, 5, "USD", "EUR", Rounding::HalfEven).amount_minor,
            53
        );
        let s = set("USD,EUR,10.4999999\n");
        assert_eq!(conv(&s, 5, "USD", "EUR", Rounding::HalfUp).amount_minor, 52);
    }

    #[test]
    fn exponents_zero_two_three_four() {
        // 1 JPY (e0) = 0.025 KWD (e3) -> 10000 JPY = 250.000 KWD = 250000 fils.
        let s = set("JPY,KWD,0.025\nKWD,CLF,0.0123\nUSD,JPY,150\n");
        assert_eq!(
            conv(&s, 10_000, "JPY", "KWD", Rounding::HalfEven).amount_minor,
            250_000
        );
        // 1.234 KWD (e3) * 0.0123 = 0.0151782 CLF (e4) -> 151.782 -> 152.
        assert_eq!(
            conv(&s, 1234, "KWD", "CLF", Rounding::HalfEven).amount_minor,
            152
        );
        // 12.34 USD (e2) * 150 = 1851 JPY (e0).
        assert_eq!(
            conv(&s, 1234, "USD", "JPY", Rounding::HalfEven).amount_minor,
            1851
        );
        // 1 JPY -> 0.0066666... USD: 3 JPY -> 0.02 USD (2 cents).
        assert_eq!(
            conv(&s, 3, "JPY", "USD", Rounding::HalfEven).amount_minor,
            2
        );
    }

    #[test]
    fn network_exponent_override_changes_the_scale() {
        let s = set("USD,ISK,138.5\n");
        let opts = ConvertOptions {
            exponents: ExponentOverrides::new().with("ISK", 2).unwrap(),
            ..ConvertOptions::default()
        };
        let c = convert(
            &s,
            100,
            currency("USD").unwrap(),
            currency("ISK").unwrap(),
            &opts,
        )
        .unwrap();
        assert_eq!((c.amount_minor, c.exponent), (13_850, 2));
        // With ISO's exponent 0, 138.5 ISK is a tie.
        let iso = conv(&s, 100, "USD", "ISK", Rounding::HalfEven);
        assert_eq!((iso.amount_minor, iso.exponent), (138, 0));
        assert_eq!(
            conv(&s, 100, "USD", "ISK", Rounding::HalfUp).amount_minor,
            139
        );
    }

    #[test]
    fn inverse_and_cross() {
        let s = set("USD,KRW,1385.20\nEUR,USD,1.085\n");
        // KRW -> USD uses 1/1385.2 rounded to 16 significant digits.
        let c = conv(&s, 1_000_000, "KRW", "USD", Rounding::HalfEven);
        assert_eq!(c.path, RatePath::Inverse);
        assert_eq!(c.rate, dec!(0.0007219174126479931));
        assert_eq!(c.amount_minor, 72_192); // 721.917... USD
        assert_eq!(c.de10, "70007219");
        // EUR -> KRW through USD: 1.085 * 1385.2 = 1502.942.
        let c = conv(&s, 10_000, "EUR", "KRW", Rounding::HalfEven);
        assert_eq!(c.path.name(), "cross");
        assert_eq!(c.rate, dec!(1502.942));
        assert_eq!(c.amount_minor, 150_294); // 150294.2
        assert_eq!(c.de10, "31502942");
    }

    #[test]
    fn amounts_beyond_twelve_digits_are_errors() {
        let s = set("USD,KRW,1385.2\n");
        let usd = currency("USD").unwrap();
        let krw = currency("KRW").unwrap();
        let opts = ConvertOptions::default();
        // Input too large for the field.
        assert!(matches!(
            convert(&s, MAX_AMOUNT_MINOR + 1, usd, krw, &opts),
            Err(FxError::AmountOverflow {
                currency: "USD",
                ..
            })
        ));
        // Output too large: 999,999,999.99 USD is 1.385e12 KRW.
        assert!(matches!(
            convert(&s, MAX_AMOUNT_MINOR, usd, krw, &opts),
            Err(FxError::AmountOverflow {
                currency: "KRW",
                ..
            })
        ));
        // The largest input that still fits.
        // 721,910,000.00 USD * 1385.2 = 999,989,732,000 KRW: fits.
        let c = convert(&s, 72_191_000_000, usd, krw, &opts).unwrap();
        assert_eq!(c.amount_minor, 999_989_732_000);
        // 721,920,000.00 USD would be 1,000,003,584,000 KRW: one digit too many.
        assert!(convert(&s, 72_192_000_000, usd, krw, &opts).is_err());
        // Largest input both ways, small rate: exact product at 28 digits.
        let c = convert(&s, MAX_AMOUNT_MINOR, krw, usd, &opts).unwrap();
        // 999999999999 KRW * 0.0007219174126479931 = 721917412.64727118... USD
        assert_eq!(c.amount_minor, 72_191_741_265);
    }

    #[test]
    fn same_currency_is_identity() {
        let s = set("USD,KRW,1385.2\n");
        let c = conv(&s, 12_345, "KRW", "KRW", Rounding::HalfEven);
        assert_eq!(
            (c.amount_minor, c.rate, c.path),
            (12_345, Decimal::ONE, RatePath::Identity)
        );
        assert_eq!(c.de10, "61000000");
    }
}
