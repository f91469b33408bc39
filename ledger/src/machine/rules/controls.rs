//! Spend controls in the authorization rule (the types and their checks are in
//! `crate::controls`): what a card's controls refuse, what an approval adds to its counters,
//! and what a release gives back.

use super::State;
use crate::controls::VELOCITY;
use crate::decide;
use crate::machine::Ctx;
use crate::{
    AuthRequest, CardRecord, Controls, Counted, Hold, LedgerError, ResponseCode, Result, Spend,
};

/// What the controls let through, for counting once the funds decision approves.
pub(super) struct Limits {
    /// The requested amount in the home currency, when a limit needed it.
    home_minor: Option<i64>,
    /// The counters read (and added to on approval).
    periods: Vec<String>,
}

impl Limits {
    /// The approved amount in the home currency: the billing amount of a conversion, the
    /// held amount when the home wallet paid in its own currency, else the requested home
    /// amount scaled to the approved part.
    pub(super) fn approved_home(
        &self,
        amount_minor: i64,
        approved_minor: i64,
        billing_home: Option<i64>,
        home_wallet_held: Option<i64>,
    ) -> Result<i64> {
        if let Some(b) = billing_home.or(home_wallet_held) {
            return Ok(b);
        }
        let Some(home) = self.home_minor else {
            return Ok(0);
        };
        if approved_minor >= amount_minor || amount_minor <= 0 {
            return Ok(home);
        }
        let scaled = i128::from(home) * i128::from(approved_minor) / i128::from(amount_minor);
        i64::try_from(scaled).map_err(|_| LedgerError::invalid("amount", "arithmetic overflow"))
    }
}

/// The controls' answer for `r` on `card`: the limits to count on approval, or the refusal
/// (57, 61, 65, or the code of a conversion that failed: a limit that cannot be checked is
/// not passed). `Err` only for a counter the batch did not load.
pub(super) fn check(
    st: &State<'_>,
    ctx: &Ctx,
    r: &AuthRequest,
    card: &CardRecord,
    c: &Controls,
    cash: bool,
) -> Result<std::result::Result<Limits, ResponseCode>> {
    if let Some(refusal) = c.forbids(&r.merchant) {
        return Ok(Err(refusal.code));
    }
    let home_minor = if c.limits_amount(cash) {
        match decide::home_amount(
            r.amount_minor,
            r.currency,
            card.home_currency,
            ctx.quoter.as_ref(),
        ) {
            Ok(v) => Some(v),
            Err(code) => return Ok(Err(code)),
        }
    } else {
        None
    };
    let periods = c.periods(r.business_date, cash);
    let counters = periods
        .iter()
        .map(|p| st.spend(&card.id, p))
        .collect::<Result<Vec<Spend>>>()?;
    let total = |p: &str| {
        counters
            .iter()
            .find(|s| s.period == p)
            .map_or(0, |s| s.total_minor)
    };
    if let Some(home) = home_minor {
        if let Some(refusal) = c.amount_refusal(home, r.business_date, cash, &total) {
            return Ok(Err(refusal.code));
        }
    }
    if let Some(v) = counters.iter().find(|s| s.period == VELOCITY) {
        if let Some(refusal) = c.velocity_refusal(&v.recent_us, r.now) {
            return Ok(Err(refusal.code));
        }
    }
    Ok(Ok(Limits {
        home_minor,
        periods,
    }))
}

/// Adds an approval of `home` (home currency) to the card's counters; what the hold must
/// remember to give it back, if anything was added to an amount counter.
pub(super) fn count(
    st: &mut State<'_>,
    r: &AuthRequest,
    card: &CardRecord,
    c: &Controls,
    l: &Limits,
    home: i64,
) -> Result<Option<Counted>> {
    let mut amount_periods = Vec::new();
    for p in &l.periods {
        let mut s = st.spend(&card.id, p)?;
        if p == VELOCITY {
            s.recent_us.push(r.now.as_microsecond());
            s.recent_us.sort_unstable();
            let keep = c.velocity_memory();
            if s.recent_us.len() > keep {
                s.recent_us.drain(..s.recent_us.len() - keep);
            }
        } else {
            s.total_minor = super::plus(s.total_minor, home)?;
            amount_periods.push(p.clone());
        }
        s.count = super::plus(s.count, 1)?;
        st.put_spend(s);
    }
    Ok((home > 0 && !amount_periods.is_empty()).then(|| Counted {
        card_id: card.id.clone(),
        minor: home,
        periods: amount_periods,
    }))
}

/// A hold of which `before` (held or captured, minor units of its wallet) goes down to
/// `keep`: gives the released share of what it counted back to its periods (a full
/// release also takes its approval off their counts).
pub(super) fn give_back(st: &mut State<'_>, h: &mut Hold, before: i64, keep: i64) -> Result<()> {
    let Some(c) = h.counted.as_mut() else {
        return Ok(());
    };
    let stays = if before <= 0 || keep <= 0 {
        0
    } else {
        let s = i128::from(c.minor) * i128::from(keep.min(before)) / i128::from(before);
        i64::try_from(s).map_err(|_| LedgerError::invalid("amount", "arithmetic overflow"))?
    };
    let given = super::minus(c.minor, stays)?;
    if given <= 0 {
        return Ok(());
    }
    for p in &c.periods {
        let mut s = st.spend(&c.card_id, p)?;
        s.total_minor = super::minus(s.total_minor, given)?.max(0);
        if stays == 0 {
            s.count = super::minus(s.count, 1)?.max(0);
        }
        st.put_spend(s);
    }
    c.minor = stays;
    Ok(())
}
