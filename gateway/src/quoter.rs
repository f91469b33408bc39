//! The ledger's FX seam over `fx_rates::RateCache`: synchronous, no I/O, reads the in-process
//! snapshot. The cache itself can be replaced on SIGHUP (a new rates source) without the
//! ledger noticing: it holds this quoter, which holds the current cache.

use std::sync::Arc;

use arc_swap::ArcSwap;
use fx_rates::{FxError, RateCache};
use ledger::{Currency, Quote, QuoteError, Quoter};

/// A [`Quoter`] over the current [`RateCache`].
pub struct RateQuoter {
    cache: ArcSwap<RateCache>,
}

impl std::fmt::Debug for RateQuoter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateQuoter").finish_non_exhaustive()
    }
}

impl RateQuoter {
    /// A quoter over `cache`.
    pub fn new(cache: RateCache) -> Self {
        RateQuoter {
            cache: ArcSwap::from_pointee(cache),
        }
    }

    /// Switches to another cache (a reloaded rates source).
    pub fn replace(&self, cache: RateCache) {
        self.cache.store(Arc::new(cache));
    }

    /// The cache in use.
    pub fn cache(&self) -> Arc<RateCache> {
        self.cache.load_full()
    }
}

impl Quoter for RateQuoter {
    fn quote(&self, amount_minor: u64, from: Currency, to: Currency) -> Result<Quote, QuoteError> {
        let missing = || QuoteError::Missing {
            from: from.to_string(),
            to: to.to_string(),
        };
        let unpriced = || QuoteError::UnpricedCurrency {
            from: from.to_string(),
            to: to.to_string(),
        };
        let f = fx_rates::currency(from.as_str()).map_err(|_| unpriced())?;
        let t = fx_rates::currency(to.as_str()).map_err(|_| unpriced())?;
        match self.cache.load().convert(amount_minor, f, t) {
            Ok(c) => Ok(Quote {
                amount_minor: c.amount_minor,
                currency: to,
                rate: c.rate,
                de10: c.de10.as_str().to_owned(),
                version: c.version.to_string(),
            }),
            Err(FxError::Stale { .. }) => Err(QuoteError::Stale),
            Err(FxError::NoRate { .. }) => Err(unpriced()),
            Err(FxError::NoRates) => Err(missing()),
            Err(FxError::AmountOverflow { .. }) => Err(QuoteError::AmountOverflow),
            Err(e) => Err(QuoteError::Other(e.to_string())),
        }
    }
}
