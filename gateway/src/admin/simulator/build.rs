//! The requests a network would send, in the fields the sandbox's scenarios use
//! (`fixtures/scenarios/`): DE 7/11/12/13 fresh for each, the simulator's own acquirer
//! (DE 32) and terminal, the card and the terms the caller gave.

use iso8583::OwnedMessage;
use jiff::Timestamp;
use ledger::{NetworkKey, Pan};

/// DE 32 of every simulated request: an acquirer id of the simulator's own, so that its
/// network keys never collide with a real acquirer's.
pub(crate) const SIM_ACQUIRER: &str = "999999";
/// DE 41, card acceptor terminal id, ans 8.
const SIM_TERMINAL: &str = "SIMTERM1";
/// DE 42, card acceptor id, ans 15.
const SIM_MERCHANT: &str = "SANDBOXSIMULATE";

/// A card and what is bought with it.
#[derive(Debug)]
pub(crate) struct Terms {
    pub(crate) pan: Pan,
    /// DE 14, YYMM (the card's own when the ledger knows it).
    pub(crate) expiry: Option<String>,
    /// DE 4.
    pub(crate) amount_minor: i64,
    /// DE 49, ISO 4217 numeric.
    pub(crate) currency: u16,
    /// DE 18.
    pub(crate) mcc: String,
    /// DE 19, ISO 3166 numeric.
    pub(crate) country: Option<String>,
    /// DE 22.
    pub(crate) entry_mode: String,
}

/// A request's identity: DE 32, DE 11, DE 7.
#[derive(Debug, Clone)]
pub(crate) struct Ids {
    pub(crate) stan: String,
    pub(crate) transmitted: String,
    /// DE 12 and DE 13 (the acceptor's local time; UTC here).
    local_time: String,
    local_date: String,
}

impl Ids {
    /// STAN `stan` sent at `now`.
    pub(crate) fn new(stan: u32, now: Timestamp) -> Self {
        Ids {
            stan: format!("{:06}", stan % 1_000_000),
            transmitted: now.strftime("%m%d%H%M%S").to_string(),
            local_time: now.strftime("%H%M%S").to_string(),
            local_date: now.strftime("%m%d").to_string(),
        }
    }
}

/// "DE 4, amount, transaction, n 12" zero-filled.
fn n12(v: i64) -> String {
    format!("{:012}", v.clamp(0, 999_999_999_999))
}

/// The fields every simulated request carries.
fn base(mti: &[u8; 4], ids: &Ids) -> OwnedMessage {
    // Only this file's constants come here.
    let mti = iso8583::Mti::from_digits(*mti).expect("a valid MTI constant");
    let mut m = OwnedMessage::new(mti);
    m.set(7, ids.transmitted.as_str())
        .set(11, ids.stan.as_str())
        .set(12, ids.local_time.as_str())
        .set(13, ids.local_date.as_str())
        .set(32, SIM_ACQUIRER)
        // DE 37, retrieval reference number, an 12: DDhhmm of DE 7 and the STAN.
        .set(37, format!("{}{}", &ids.transmitted[2..8], ids.stan))
        .set(41, SIM_TERMINAL)
        .set(42, SIM_MERCHANT);
    m
}

fn set_terms(m: &mut OwnedMessage, t: &Terms) {
    m.set(2, t.pan.clear_digits())
        .set(3, "000000")
        .set(4, n12(t.amount_minor))
        .set(18, t.mcc.as_str())
        .set(22, t.entry_mode.as_str())
        .set(49, format!("{:03}", t.currency));
    if let Some(e) = &t.expiry {
        m.set(14, e.as_str());
    }
    if let Some(c) = &t.country {
        m.set(19, c.as_str());
    }
}

/// 0100: an authorization request; `pin_block` goes in DE 52, `de48` (the CVV2) in DE 48.
pub(crate) fn authorization(
    ids: &Ids,
    t: &Terms,
    pin_block: Option<Vec<u8>>,
    de48: Option<String>,
) -> OwnedMessage {
    let mut m = base(b"0100", ids);
    set_terms(&mut m, t);
    if let Some(b) = pin_block {
        m.set(52, b);
    }
    if let Some(d) = de48 {
        m.set(48, d);
    }
    m
}

/// "DE 90 (n42) = original MTI(4) + STAN(6) + DE 7(10) + DE 32 right-justified zero-filled
/// (11) + DE 33 (11, zeros when absent)".
pub(crate) fn de90(original_mti: &str, original: &NetworkKey) -> String {
    format!(
        "{original_mti}{}{}{:0>11}{}",
        original.stan(),
        original.transmission(),
        original.acquirer(),
        "0".repeat(11)
    )
}

/// "DE 95 (an42), replacement amounts": the amount kept (n12), the settlement amount (n12),
/// then the two fee fields (x+n8) as zeros.
fn de95(keep_minor: i64) -> String {
    let keep = n12(keep_minor);
    format!("{keep}{keep}C00000000C00000000")
}

/// What a reversal names and carries.
#[derive(Debug)]
pub(crate) struct Reversal {
    /// DE 90's MTI: the original's (`0100` unless told).
    pub(crate) original_mti: String,
    pub(crate) original: NetworkKey,
    /// DE 2, when the card is known.
    pub(crate) pan: Option<Pan>,
    /// DE 4 and DE 49 of the original, when the ledger has it.
    pub(crate) amount: Option<(i64, u16)>,
    /// DE 95: the amount kept (a partial reversal).
    pub(crate) keep_minor: Option<i64>,
}

/// 0400: reverses `r.original`.
pub(crate) fn reversal(ids: &Ids, r: &Reversal) -> OwnedMessage {
    let mut m = base(b"0400", ids);
    m.set(3, "000000")
        .set(90, de90(&r.original_mti, &r.original));
    if let Some(p) = &r.pan {
        m.set(2, p.clear_digits());
    }
    if let Some((amount, ccy)) = r.amount {
        m.set(4, n12(amount)).set(49, format!("{ccy:03}"));
    }
    if let Some(k) = r.keep_minor {
        m.set(95, de95(k));
    }
    m
}

/// 0120 (a stand-in decision), or 0220 naming `completes` in DE 90 (a completion).
pub(crate) fn advice(
    ids: &Ids,
    t: &Terms,
    response_code: &str,
    approval_code: Option<&str>,
    completes: Option<&NetworkKey>,
) -> OwnedMessage {
    let mut m = base(
        if completes.is_some() {
            b"0220"
        } else {
            b"0120"
        },
        ids,
    );
    set_terms(&mut m, t);
    m.set(39, response_code);
    if let Some(a) = approval_code {
        m.set(38, a);
    }
    if let Some(o) = completes {
        m.set(90, de90("0100", o));
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids() -> Ids {
        Ids::new(42, "2026-11-25T06:30:15Z".parse().unwrap())
    }

    fn terms() -> Terms {
        Terms {
            pan: Pan::new("4000001000000018").unwrap(),
            expiry: Some("3012".into()),
            amount_minor: 15_000,
            currency: 410,
            mcc: "5411".into(),
            country: None,
            entry_mode: "051".into(),
        }
    }

    #[test]
    fn an_authorization_carries_what_a_network_sends() {
        let m = authorization(&ids(), &terms(), None, Some("R9203640".into()));
        assert_eq!(m.mti().as_str(), "0100");
        for (n, v) in [
            (2, "4000001000000018"),
            (4, "000000015000"),
            (7, "1125063015"),
            (11, "000042"),
            (12, "063015"),
            (13, "1125"),
            (14, "3012"),
            (32, SIM_ACQUIRER),
            (48, "R9203640"),
            (49, "410"),
        ] {
            assert_eq!(m.get_str(n), Some(v), "DE {n}");
        }
        assert!(!m.has(19) && !m.has(52));
        let spec = iso8583::Spec::builtin("iso87-binary").unwrap();
        m.encode(spec).unwrap();
    }

    #[test]
    fn de90_names_the_original_as_the_switch_reads_it() {
        let k = NetworkKey::new("123456", "000001", "1125063015").unwrap();
        assert_eq!(
            de90("0100", &k),
            "010000000111250630150000012345600000000000"
        );
        let r = Reversal {
            original_mti: "0100".into(),
            original: k,
            pan: None,
            amount: Some((50_000, 410)),
            keep_minor: Some(30_000),
        };
        let m = reversal(&ids(), &r);
        assert_eq!(
            m.get_str(95),
            Some("000000030000000000030000C00000000C00000000")
        );
        assert_eq!(m.get_str(4), Some("000000050000"));
        assert!(!m.has(2));
    }
}
