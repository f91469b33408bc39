//! Building responses: the echoed fields, DE 15, and what an outcome adds.
//!
//! Shared contract: "The response echoes 2, 3, 4, 7, 11, 12, 13, 15 (business date), 32, 37,
//! 41, 42, 49 when present in the request, plus 39 and what the outcome adds (38, 6, 10, 51,
//! 54)."

use iso8583::OwnedMessage;
use jiff::civil::Date;
use ledger::{BalanceAnswer, Decision, ResponseCode};

use super::fields::{currency_numeric, n12};
use crate::business_date::BusinessDate;

/// Fields copied from a request to its response when present.
const ECHOED: [u16; 12] = [2, 3, 4, 7, 11, 12, 13, 32, 37, 41, 42, 49];

/// One DE 54 block: account type (2) + amount type (2) + currency (3) + sign (1) + n12.
const DE54_BLOCK_LEN: usize = 20;

/// The response to `req`: its response MTI, the echoed fields, DE 15 and DE 39.
pub(crate) fn respond(req: &OwnedMessage, business_date: Date, code: ResponseCode) -> OwnedMessage {
    let mut resp = OwnedMessage::new(req.mti().response());
    if let Some(h) = req.header() {
        resp.set_header(h.to_vec());
    }
    for n in ECHOED {
        if let Some(v) = req.get(n) {
            resp.set(n, v);
        }
    }
    resp.set(15, BusinessDate::mmdd(business_date));
    resp.set(39, code.as_str());
    resp
}

/// Adds what a recorded decision shows: DE 38 for approvals, the approved amount for a
/// partial approval, and DE 6 / DE 10 / DE 51 when the home wallet paid through a conversion.
pub(crate) fn apply_decision(resp: &mut OwnedMessage, d: &Decision) {
    resp.set(39, d.response_code.as_str());
    if let Some(code) = &d.approval_code {
        resp.set(38, code.as_str());
    }
    if d.response_code == ResponseCode::PARTIAL_APPROVAL {
        resp.set(4, n12(d.approved_minor));
    }
    if let Some(b) = d.billing.as_ref().filter(|_| d.response_code.is_approval()) {
        resp.set(6, n12(b.amount_minor));
        resp.set(10, b.de10.as_str());
        if let Some(num) = currency_numeric(b.currency) {
            resp.set(51, num);
        }
    }
}

/// DE 54 for a balance inquiry: "one 20-char block per wallet: account type "00", amount
/// type "02" (available), currency numeric (3), "C" or "D", 12-digit minor units; the home
/// wallet first, then the others ordered by alpha code". At most `max_len / 20` blocks.
pub(crate) fn de54(answer: &BalanceAnswer, max_len: usize) -> String {
    let mut out = String::new();
    for w in answer.wallets.iter().take(max_len / DE54_BLOCK_LEN) {
        let Some(num) = currency_numeric(w.currency) else {
            continue;
        };
        let avail = w.available_minor();
        let sign = if avail < 0 { 'D' } else { 'C' };
        out.push_str("0002");
        out.push_str(&num);
        out.push(sign);
        out.push_str(&n12(avail.saturating_abs()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use ledger::Wallet;

    fn wallet(ccy: &str, balance: i64, held: i64) -> Wallet {
        Wallet {
            account_id: "A-1".into(),
            currency: ccy.parse().unwrap(),
            balance_minor: balance,
            held_minor: held,
            overdraft_minor: 0,
            opening_minor: balance,
        }
    }

    #[test]
    fn echoes_listed_fields_only_and_adds_de15() {
        let mut req = OwnedMessage::new("0101".parse().unwrap());
        req.set(2, "4761739001010010")
            .set(11, "000001")
            .set(14, "2912")
            .set(52, vec![1u8; 8]);
        let r = respond(&req, Date::constant(2026, 3, 9), ResponseCode::APPROVED);
        assert_eq!(r.mti().as_str(), "0110");
        assert_eq!(r.get_str(2), Some("4761739001010010"));
        assert_eq!(r.get_str(15), Some("0309"));
        assert_eq!(r.get_str(39), Some("00"));
        assert!(
            !r.has(14) && !r.has(52),
            "expiry and PIN block are not echoed"
        );
    }

    #[test]
    fn de54_home_first_with_signs() {
        let answer = BalanceAnswer {
            response_code: ResponseCode::APPROVED,
            home_currency: Some(money::currency!("KRW")),
            wallets: vec![wallet("KRW", 1_500_000, 500_000), wallet("USD", 100, 250)],
        };
        assert_eq!(
            de54(&answer, 240),
            "0002410C0000010000000002840D000000000150"
        );
        assert_eq!(de54(&answer, 39).len(), 20, "limited by the field's size");
    }
}
