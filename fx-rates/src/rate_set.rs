//! An immutable, versioned set of published mid rates, and how a pair's rate is found.

use std::sync::Arc;

use rust_decimal::Decimal;
use sha2::{Digest, Sha256};

use crate::currency::Currency;
use crate::error::FxError;
use crate::precision::{round_significant, significant_digits, MAX_RATE_SIGNIFICANT_DIGITS};

/// Most pairs a set may hold: every pair of the ISO table both ways is ~27 000; a real
/// publication has a few hundred. A larger input is refused before it is stored.
pub const MAX_PAIRS: usize = 20_000;

/// Most distinct currencies in one set (the ISO table has fewer).
pub const MAX_CURRENCIES: usize = 200;

/// The pivot used for cross rates unless a set says otherwise (DESIGN.md: "default USD").
pub const DEFAULT_PIVOT: &str = "USD";

/// One published rate: 1 `base` = `rate` `quote` at mid-market.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pair {
    /// The currency quoted per one unit.
    pub base: &'static Currency,
    /// The currency the rate is expressed in.
    pub quote: &'static Currency,
    /// Positive, at most [`MAX_RATE_SIGNIFICANT_DIGITS`] significant digits.
    pub rate: Decimal,
}

/// How the rate of a conversion was obtained.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RatePath {
    /// The same currency: rate 1, no set needed.
    Identity,
    /// The published pair `from,to`.
    Direct,
    /// 1 / the published pair `to,from`.
    Inverse,
    /// From -> pivot -> to, each leg direct or inverse.
    Cross {
        /// The pivot currency.
        via: &'static Currency,
    },
}

impl RatePath {
    /// Short name for JSON and logs.
    pub fn name(&self) -> &'static str {
        match self {
            RatePath::Identity => "identity",
            RatePath::Direct => "direct",
            RatePath::Inverse => "inverse",
            RatePath::Cross { .. } => "cross",
        }
    }
}

/// An immutable rate set. Built once (from CSV, or from Redis), then only read; every rate a
/// conversion may need is resolved at build time so that a conversion is one table lookup.
pub struct RateSet {
    version: Arc<str>,
    pivot: &'static Currency,
    /// As published, sorted by (base, quote) alpha.
    pairs: Vec<Pair>,
    content_hash: String,
    /// Numeric code -> dense index + 1 into `matrix` rows/columns (0: not in the set).
    slot: Box<[u8; 1000]>,
    /// Row-major `n x n`: the resolved rate and its path for every ordered pair.
    matrix: Vec<Option<(Decimal, RatePath)>>,
    n: usize,
}

impl RateSet {
    /// Builds a set from pairs. Checks what the CSV reader checks, without line numbers
    /// (a set read back from Redis passes through here too).
    pub fn new(
        mut pairs: Vec<Pair>,
        version: &str,
        pivot: &'static Currency,
    ) -> Result<Self, FxError> {
        let invalid = |reason: String| FxError::InvalidSet {
            version: version.to_string(),
            reason,
        };
        if version.is_empty() || version.len() > 128 {
            return Err(invalid("version must be 1..=128 characters".into()));
        }
        if pairs.is_empty() {
            return Err(invalid("no rates".into()));
        }
        if pairs.len() > MAX_PAIRS {
            return Err(invalid(format!("more than {MAX_PAIRS} pairs")));
        }
        for p in &mut pairs {
            check_rate(p.rate).map_err(|r| invalid(format!("{}/{}: {r}", p.base, p.quote)))?;
            if p.base == p.quote {
                return Err(invalid(format!(
                    "{}/{}: base equals quote",
                    p.base, p.quote
                )));
            }
            p.rate = p.rate.normalize();
        }
        pairs.sort_by(|a, b| (a.base.alpha, a.quote.alpha).cmp(&(b.base.alpha, b.quote.alpha)));
        if let Some(w) = pairs
            .windows(2)
            .find(|w| w[0].base == w[1].base && w[0].quote == w[1].quote)
        {
            return Err(invalid(format!(
                "duplicate pair {}/{}",
                w[0].base, w[0].quote
            )));
        }

        let mut slot = Box::new([0u8; 1000]);
        let mut members: Vec<&'static Currency> = Vec::new();
        for c in pairs.iter().flat_map(|p| [p.base, p.quote]).chain([pivot]) {
            if slot[usize::from(c.numeric)] == 0 {
                if members.len() == MAX_CURRENCIES {
                    return Err(invalid(format!("more than {MAX_CURRENCIES} currencies")));
                }
                members.push(c);
                slot[usize::from(c.numeric)] = members.len() as u8;
            }
        }
        let n = members.len();
        let mut matrix = vec![None; n * n];
        let idx = |c: &Currency| usize::from(slot[usize::from(c.numeric)]) - 1;
        for p in &pairs {
            matrix[idx(p.base) * n + idx(p.quote)] = Some((p.rate, RatePath::Direct));
        }
        for p in &pairs {
            let back = &mut matrix[idx(p.quote) * n + idx(p.base)];
            if back.is_none() {
                let inverse = round_significant(Decimal::ONE / p.rate, MAX_RATE_SIGNIFICANT_DIGITS);
                *back = Some((inverse, RatePath::Inverse));
            }
        }
        let p = idx(pivot);
        for (i, j) in (0..n).flat_map(|i| (0..n).map(move |j| (i, j))) {
            if i == j || i == p || j == p || matrix[i * n + j].is_some() {
                continue;
            }
            if let (Some((a, _)), Some((b, _))) = (matrix[i * n + p], matrix[p * n + j]) {
                let cross = a.checked_mul(b).ok_or_else(|| {
                    invalid(format!(
                        "cross rate {}/{} overflows",
                        members[i], members[j]
                    ))
                })?;
                let cross = round_significant(cross, MAX_RATE_SIGNIFICANT_DIGITS);
                matrix[i * n + j] = Some((cross, RatePath::Cross { via: pivot }));
            }
        }
        let content_hash = content_hash(&pairs, pivot);
        Ok(Self {
            version: Arc::from(version),
            pivot,
            pairs,
            content_hash,
            slot,
            matrix,
            n,
        })
    }

    /// The version this set was published under.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The version, cheap to clone into a [`crate::Conversion`].
    pub fn version_arc(&self) -> &Arc<str> {
        &self.version
    }

    /// The pivot currency of cross rates.
    pub fn pivot(&self) -> &'static Currency {
        self.pivot
    }

    /// The published pairs, sorted by base then quote.
    pub fn pairs(&self) -> &[Pair] {
        &self.pairs
    }

    /// SHA-256 (hex) of the set's canonical content (pivot and sorted pairs), independent of
    /// the version: two sets with the same rates have the same hash.
    pub fn content_hash(&self) -> &str {
        &self.content_hash
    }

    /// The rate from `from` to `to` (1 `from` = rate `to`) and how it was found: the published
    /// pair, else its inverse, else a cross through the pivot. Inverse and cross rates are
    /// rounded half-even to 16 significant digits once, when the set is built; that rounded
    /// rate is the one used and reported.
    #[inline]
    pub fn rate(
        &self,
        from: &'static Currency,
        to: &'static Currency,
    ) -> Result<(Decimal, RatePath), FxError> {
        if from == to {
            return Ok((Decimal::ONE, RatePath::Identity));
        }
        let i = self.slot[usize::from(from.numeric)];
        let j = self.slot[usize::from(to.numeric)];
        if i != 0 && j != 0 {
            if let Some(found) = self.matrix[(usize::from(i) - 1) * self.n + usize::from(j) - 1] {
                return Ok(found);
            }
        }
        Err(FxError::NoRate {
            from: from.alpha,
            to: to.alpha,
            pivot: self.pivot.alpha,
            version: self.version.to_string(),
        })
    }

    /// Renders the set as CSV (header `base,quote,rate`), the format it can be read back from.
    pub fn to_csv(&self) -> String {
        let mut out = String::from("base,quote,rate\n");
        for p in &self.pairs {
            out.push_str(&format!("{},{},{}\n", p.base, p.quote, p.rate));
        }
        out
    }
}

impl std::fmt::Debug for RateSet {
    /// Short on purpose: the resolved matrix holds up to 40 000 entries.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateSet")
            .field("version", &self.version)
            .field("pivot", &self.pivot.alpha)
            .field("pairs", &self.pairs.len())
            .field("currencies", &self.n)
            .finish()
    }
}

/// A published rate must be positive and carry at most 16 significant digits (so that every
/// conversion product is exact; see [`crate::precision`]).
pub(crate) fn check_rate(rate: Decimal) -> Result<(), String> {
    if rate <= Decimal::ZERO {
        return Err(format!("rate {rate} is not positive"));
    }
    if significant_digits(rate.normalize()) > MAX_RATE_SIGNIFICANT_DIGITS {
        return Err(format!(
            "rate {rate} has more than {MAX_RATE_SIGNIFICANT_DIGITS} significant digits"
        ));
    }
    Ok(())
}

fn content_hash(pairs: &[Pair], pivot: &Currency) -> String {
    let mut h = Sha256::new();
    h.update(b"pivot=");
    h.update(pivot.alpha.as_bytes());
    h.update(b"\n");
    for p in pairs {
        h.update(format!("{},{},{}\n", p.base, p.quote, p.rate).as_bytes());
    }
    hex::encode(h.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::currency;
    use rust_decimal_macros::dec;

    const CSV: &str = "base,quote,rate\nUSD,KRW,1385.20\nUSD,JPY,150.25\nEUR,USD,1.0850\n";

    #[test]
    fn direct_inverse_and_cross() {
        let set = RateSet::from_csv(CSV, "v1").unwrap();
        let c = |s| currency(s).unwrap();
        assert_eq!(
            set.rate(c("USD"), c("KRW")).unwrap(),
            (dec!(1385.2), RatePath::Direct)
        );
        let (inv, path) = set.rate(c("KRW"), c("USD")).unwrap();
        assert_eq!(path, RatePath::Inverse);
        assert_eq!(inv, dec!(0.0007219174126479931)); // 1/1385.2 = 0.000721917412647993069...
        let (cross, path) = set.rate(c("EUR"), c("KRW")).unwrap();
        assert_eq!(path, RatePath::Cross { via: c("USD") });
        assert_eq!(cross, dec!(1502.942));
        let (cross, _) = set.rate(c("JPY"), c("EUR")).unwrap();
        // 1 JPY = (1/150.25) USD = (1/150.25) * (1/1.085) EUR, each leg rounded to 16 digits.
        assert_eq!(cross, dec!(0.006134169625125558)); // 0.0061341696251255584762...
        assert_eq!(set.rate(c("KRW"), c("KRW")).unwrap().1, RatePath::Identity);
        assert!(matches!(
            set.rate(c("GBP"), c("KRW")),
            Err(FxError::NoRate { .. })
        ));
    }

    #[test]
    fn content_hash_ignores_version_and_order() {
        let a = RateSet::from_csv(CSV, "v1").unwrap();
        let b = RateSet::from_csv(
            "base,quote,rate\nEUR,USD,1.085\nUSD,JPY,150.25\nUSD,KRW,1385.2\n",
            "v2",
        )
        .unwrap();
        assert_eq!(a.content_hash(), b.content_hash());
        assert_eq!(
            RateSet::from_csv(&a.to_csv(), "v3").unwrap().content_hash(),
            a.content_hash()
        );
    }

    #[test]
    fn new_refuses_bad_sets() {
        let c = |s| currency(s).unwrap();
        let p = |b, q, r| Pair {
            base: c(b),
            quote: c(q),
            rate: r,
        };
        let usd = c("USD");
        assert!(RateSet::new(vec![], "v", usd).is_err());
        assert!(RateSet::new(vec![p("USD", "USD", dec!(1))], "v", usd).is_err());
        assert!(RateSet::new(vec![p("USD", "KRW", dec!(0))], "v", usd).is_err());
        assert!(RateSet::new(
            vec![p("USD", "KRW", dec!(1385)), p("USD", "KRW", dec!(1386))],
            "v",
            usd
        )
        .is_err());
        assert!(RateSet::new(vec![p("USD", "KRW", dec!(1.23456789012345678))], "v", usd).is_err());
    }
}
