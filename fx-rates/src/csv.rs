//! Reading the rates CSV (DESIGN.md: header `base,quote,rate`; one row per pair;
//! `USD,KRW,1385.20` means 1 USD = 1385.20 KRW at mid-market; rates are positive decimals).
//!
//! Refusals name the line: a duplicate pair, a non-positive or malformed rate, an unknown
//! currency, or an inverse pair (`USD,KRW` and `KRW,USD` both present) whose rates disagree
//! by more than their published precision explains.

use std::collections::HashMap;
use std::str::FromStr;

use rust_decimal::Decimal;

use crate::currency::currency;
use crate::error::FxError;
use crate::precision::significant_digits;
use crate::rate_set::{check_rate, Pair, RateSet, DEFAULT_PIVOT, MAX_PAIRS};

/// Largest rates file read (checked before reading it whole).
pub const MAX_CSV_BYTES: u64 = 4 * 1024 * 1024;

/// Longest rate text accepted in one cell (a 16-digit rate with point and zeros fits easily).
const MAX_RATE_TEXT: usize = 40;

// Here rather than in `rate_set.rs`, so that the CSV reader depends on the rate set and not
// the other way round.
impl RateSet {
    /// Parses a CSV rate table (header `base,quote,rate`, DESIGN.md) into a set named
    /// `version`, with the default pivot USD. Every refusal names its line.
    pub fn from_csv(text: &str, version: &str) -> Result<Self, FxError> {
        let pairs = parse_rates_csv(text)?;
        Self::new(pairs, version, currency(DEFAULT_PIVOT)?)
    }
}

/// Parses the CSV into pairs, checking every row. Blank lines and `#` comments are skipped.
pub fn parse_rates_csv(text: &str) -> Result<Vec<Pair>, FxError> {
    let err = |line: usize, reason: String| FxError::Csv { line, reason };
    // A byte-order mark from a spreadsheet export is not part of the header.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut rows = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim()))
        .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'));

    let (line, header) = rows
        .next()
        .ok_or_else(|| err(1, "empty file: expected header base,quote,rate".into()))?;
    let header: Vec<String> = header
        .split(',')
        .map(|h| h.trim().to_ascii_lowercase())
        .collect();
    if header != ["base", "quote", "rate"] {
        return Err(err(line, "header must be base,quote,rate".into()));
    }

    // (base, quote) numeric codes -> (line, rate as written)
    let mut seen: HashMap<(u16, u16), (usize, Decimal)> = HashMap::new();
    let mut pairs = Vec::new();
    for (line, row) in rows {
        if pairs.len() == MAX_PAIRS {
            return Err(err(line, format!("more than {MAX_PAIRS} pairs")));
        }
        let cells: Vec<&str> = row.split(',').map(str::trim).collect();
        let [base, quote, rate] = cells[..] else {
            return Err(err(
                line,
                format!("expected 3 cells, found {}", cells.len()),
            ));
        };
        let base = currency(base).map_err(|e| err(line, e.to_string()))?;
        let quote = currency(quote).map_err(|e| err(line, e.to_string()))?;
        if base == quote {
            return Err(err(line, format!("{base}/{quote}: base equals quote")));
        }
        let rate = parse_rate(rate).map_err(|r| err(line, format!("{base}/{quote}: {r}")))?;
        if let Some((first, _)) = seen.get(&(base.numeric, quote.numeric)) {
            return Err(err(
                line,
                format!("duplicate pair {base}/{quote} (first on line {first})"),
            ));
        }
        if let Some(&(other_line, other)) = seen.get(&(quote.numeric, base.numeric)) {
            if !inverse_consistent(rate, other) {
                return Err(err(
                    line,
                    format!(
                        "{base}/{quote} {rate} is inconsistent with {quote}/{base} {other} on \
                         line {other_line}: their product is {}, not 1 within the precision given",
                        rate.checked_mul(other)
                            .map_or_else(|| "out of range".to_string(), |p| p.to_string())
                    ),
                ));
            }
        }
        seen.insert((base.numeric, quote.numeric), (line, rate));
        pairs.push(Pair { base, quote, rate });
    }
    if pairs.is_empty() {
        return Err(err(1, "no rates after the header".into()));
    }
    Ok(pairs)
}

/// Plain decimal notation only: no sign, no exponent, no thousands separators.
fn parse_rate(text: &str) -> Result<Decimal, String> {
    if text.is_empty() || text.len() > MAX_RATE_TEXT {
        return Err(format!("rate {:?} is not a decimal", truncate(text)));
    }
    let plain = text.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && text.bytes().filter(|&b| b == b'.').count() <= 1;
    if !plain {
        return Err(if text.starts_with('-') {
            format!("rate {text} is not positive")
        } else {
            format!("rate {:?} is not a plain decimal", truncate(text))
        });
    }
    let rate = Decimal::from_str(text).map_err(|e| format!("rate {text:?}: {e}"))?;
    check_rate(rate)?;
    Ok(rate)
}

fn truncate(s: &str) -> String {
    s.chars().take(MAX_RATE_TEXT).collect()
}

/// The widest gap allowed between `a * b` and 1 for an inverse pair, whatever the precision:
/// 0.1 %. A wider gap would charge one direction more than the other, a hidden fee.
const MAX_INVERSE_GAP: Decimal = Decimal::from_parts(1, 0, 0, false, 3);

/// Two published rates `a` (X/Y) and `b` (Y/X) agree when `a * b` is 1 up to the rounding
/// each was published with (a rate given with `n` significant digits may be off by half a
/// unit in its last digit, a relative error of at most `5 * 10^-n`), and within
/// [`MAX_INVERSE_GAP`] in any case.
fn inverse_consistent(a: Decimal, b: Decimal) -> bool {
    let tolerance = |r: Decimal| Decimal::new(5, significant_digits(r));
    let allowed = tolerance(a) + tolerance(b) + tolerance(a) * tolerance(b);
    // Two 16-digit rates can multiply past Decimal's range: such a pair is surely inconsistent.
    a.checked_mul(b)
        .is_some_and(|p| (p - Decimal::ONE).abs() <= allowed.min(MAX_INVERSE_GAP))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused_line(text: &str) -> (usize, String) {
        match parse_rates_csv(text) {
            Err(FxError::Csv { line, reason }) => (line, reason),
            other => panic!("expected a CSV error, got {other:?}"),
        }
    }

    #[test]
    fn reads_the_design_example() {
        let pairs = parse_rates_csv(
            "\u{feff}base,quote,rate\r\nUSD,KRW,1385.20\r\n\n# note\nEUR,USD,1.085\n",
        )
        .unwrap();
        assert_eq!(pairs.len(), 2);
        assert_eq!(pairs[0].rate.to_string(), "1385.20");
    }

    #[test]
    fn refusals_name_the_line() {
        let (line, why) = refused_line("base,quote,rate\nUSD,KRW,1385.2\nUSD,KRW,1385.3\n");
        assert_eq!(line, 3);
        assert!(
            why.contains("duplicate pair USD/KRW (first on line 2)"),
            "{why}"
        );

        let (line, why) = refused_line("base,quote,rate\nUSD,KRW,0\n");
        assert_eq!(line, 2);
        assert!(why.contains("not positive"), "{why}");

        let (line, why) = refused_line("base,quote,rate\nUSD,KRW,-3\n");
        assert_eq!(line, 2);
        assert!(why.contains("not positive"), "{why}");

        let (line, why) = refused_line("base,quote,rate\nUSD,JPY,150\nUSD,ABC,1.5\n");
        assert_eq!(line, 3);
        assert!(why.contains("unknown currency \"ABC\""), "{why}");

        let (line, why) = refused_line("base,quote,rate\nUSD,KRW,1385.2\nKRW,USD,0.00080\n");
        assert_eq!(line, 3);
        assert!(why.contains("inconsistent with USD/KRW"), "{why}");

        assert_eq!(refused_line("base,rate\nUSD,1\n").0, 1);
        assert_eq!(refused_line("base,quote,rate\nUSD,KRW\n").0, 2);
        assert_eq!(refused_line("base,quote,rate\nUSD,KRW,1e3\n").0, 2);
        assert_eq!(refused_line("base,quote,rate\nUSD,KRW,1,385.2\n").0, 2);
        assert_eq!(refused_line("base,quote,rate\n").0, 1);
        assert_eq!(refused_line("").0, 1);
    }

    #[test]
    fn consistent_inverses_are_accepted() {
        // 1/1385.2 = 0.000721917..., published with 4 significant digits.
        parse_rates_csv("base,quote,rate\nUSD,KRW,1385.2\nKRW,USD,0.0007219\n").unwrap();
        parse_rates_csv("base,quote,rate\nEUR,USD,1.0850\nUSD,EUR,0.92166\n").unwrap();
        parse_rates_csv("base,quote,rate\nUSD,JPY,150\nJPY,USD,0.00667\n").unwrap();
    }

    #[test]
    fn coarse_inverses_are_still_held_to_a_tenth_of_a_percent() {
        // One significant digit would excuse 50 %; the cap does not.
        let (line, _) = refused_line("base,quote,rate\nUSD,KRW,1385.2\nKRW,USD,0.0008\n");
        assert_eq!(line, 3);
        let (line, _) = refused_line("base,quote,rate\nUSD,JPY,150\nJPY,USD,0.00668\n");
        assert_eq!(line, 3);
        // A product beyond Decimal's range is refused, not a panic.
        let (line, _) =
            refused_line("base,quote,rate\nUSD,JPY,9999999999999999\nJPY,USD,9999999999999999\n");
        assert_eq!(line, 3);
    }
}
