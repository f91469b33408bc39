//! Properties: exactness of the one rounding, DE 10 fidelity, and no panic on any input.

use proptest::prelude::*;
use rust_decimal::Decimal;

use fx_rates::{convert, currency, parse_rates_csv, ConvertOptions, De10, RateSet, Rounding};

/// Currencies with exponents 0, 2, 3 and 4.
const CODES: [&str; 4] = ["JPY", "USD", "KWD", "CLF"];

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    /// The converted amount is the exact product rounded once, checked with integers only:
    /// rate = m / 10^s, so amount_to = round(amount * m * 10^e_to / (10^s * 10^e_from)).
    #[test]
    fn conversion_is_the_exact_product_rounded_once(
        amount in 0u64..=999_999_999_999,
        // Rates of 1 to 16 digits, evenly over the digit count (most realistic rates are short).
        m in (1u32..=16).prop_flat_map(|d| 1u64..10u64.pow(d)),
        s in 0u32..=12,
        from in 0usize..4,
        to in 0usize..4,
        half_up in any::<bool>(),
    ) {
        prop_assume!(from != to);
        let (f, t) = (currency(CODES[from]).unwrap(), currency(CODES[to]).unwrap());
        let rate = Decimal::from_i128_with_scale(i128::from(m), s);
        let csv = format!("base,quote,rate\n{},{},{}\n", f.alpha, t.alpha, rate);
        let set = RateSet::from_csv(&csv, "p").unwrap();
        let rounding = if half_up { Rounding::HalfUp } else { Rounding::HalfEven };
        let opts = ConvertOptions { rounding, ..ConvertOptions::default() };
        let num = u128::from(amount) * u128::from(m) * 10u128.pow(u32::from(t.exponent));
        let den = 10u128.pow(s + u32::from(f.exponent));
        let (q, r) = (num / den, num % den);
        let expected = if 2 * r > den || (2 * r == den && (half_up || q % 2 == 1)) { q + 1 } else { q };
        match convert(&set, amount, f, t, &opts) {
            Ok(c) => {
                prop_assert_eq!(u128::from(c.amount_minor), expected);
                prop_assert_eq!(c.rate, rate);
            }
            Err(fx_rates::FxError::AmountOverflow { .. }) => prop_assert!(expected > 999_999_999_999),
            Err(fx_rates::FxError::De10OutOfRange { .. }) => {
                prop_assert!(rate >= Decimal::from(9_999_999) || rate < Decimal::new(5, 8))
            }
            Err(e) => prop_assert!(false, "unexpected error {e}"),
        }
    }

    /// Exact ties, built on purpose (random rates almost never land on one): an odd amount of
    /// JPY at a rate of n.5 KRW (both exponent 0) ends in exactly .5.
    #[test]
    fn exact_ties_follow_the_rounding_mode(a in 0u64..400_000, n in 0u64..1_000_000, half_up in any::<bool>()) {
        let amount = 2 * a + 1;
        let rate = Decimal::new(i64::try_from(n * 10 + 5).unwrap(), 1);
        let set = RateSet::from_csv(&format!("base,quote,rate\nJPY,KRW,{rate}\n"), "t").unwrap();
        let rounding = if half_up { Rounding::HalfUp } else { Rounding::HalfEven };
        let opts = ConvertOptions { rounding, ..ConvertOptions::default() };
        let (jpy, krw) = (currency("JPY").unwrap(), currency("KRW").unwrap());
        let c = convert(&set, amount, jpy, krw, &opts).unwrap();
        let floor = amount * n + a; // amount * n.5 = amount * n + a + 0.5
        let expected = if half_up || floor % 2 == 1 { floor + 1 } else { floor };
        prop_assert_eq!(c.amount_minor, expected);
    }

    /// DE 10 states the rate to within half a unit of its last digit, and the digits used
    /// are the most that fit.
    #[test]
    fn de10_is_the_rate_to_seven_digits(
        m in (1u32..=16).prop_flat_map(|d| 1u64..10u64.pow(d)),
        s in 0u32..=20,
    ) {
        let rate = Decimal::from_i128_with_scale(i128::from(m), s);
        match De10::from_rate(rate) {
            Ok(d) => {
                let a = u32::from(d.as_bytes()[0] - b'0');
                prop_assert!(a <= 7);
                let half_unit = Decimal::new(5, a + 1);
                prop_assert!((d.rate() - rate).abs() <= half_unit, "{} vs {}", d, rate);
                prop_assert!(d.as_bytes().iter().all(u8::is_ascii_digit));
                // One more decimal would not have fitted (or A is already 7).
                if a < 7 {
                    prop_assert!(rate * Decimal::from(10i64.pow(a + 1)) >= Decimal::new(99_999_995, 1));
                }
            }
            Err(_) => prop_assert!(rate < Decimal::new(5, 8) || rate >= Decimal::new(99_999_995, 1)),
        }
    }

    /// Whatever the bytes, reading a rates file or a currency code is an answer, not a panic.
    #[test]
    fn csv_and_codes_never_panic(text in "(?s).{0,300}", code in ".{0,6}") {
        let _ = parse_rates_csv(&text);
        let _ = parse_rates_csv(&format!("base,quote,rate\n{text}"));
        let _ = currency(&code);
    }

    /// Rows built from valid parts, in any mix, either parse or are refused with a line number.
    #[test]
    fn structured_rows_parse_or_name_a_line(rows in prop::collection::vec(
        ("[A-Z]{3}|840|392|410", "[A-Z]{3}|USD|KRW|JPY", "-?[0-9]{0,20}(\\.[0-9]{0,20})?"), 0..8)
    ) {
        let mut csv = String::from("base,quote,rate\n");
        for (b, q, r) in &rows {
            csv.push_str(&format!("{b},{q},{r}\n"));
        }
        match parse_rates_csv(&csv) {
            Ok(pairs) => prop_assert_eq!(pairs.len(), rows.len()),
            Err(fx_rates::FxError::Csv { line, .. }) => prop_assert!(line >= 1 && line <= rows.len() + 1),
            Err(e) => prop_assert!(false, "untyped refusal {e}"),
        }
    }
}
