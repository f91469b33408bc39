//! "DE 39, response code, an 2".

use std::fmt;

/// A DE 39 value. The constants are the codes this switch decides; advices may carry any
/// two-character code the network chose, which is kept as given.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ResponseCode([u8; 2]);

impl ResponseCode {
    /// 00 approved.
    pub const APPROVED: ResponseCode = ResponseCode(*b"00");
    /// 05 do not honour (a program's hook cut the amount for an acquirer that takes no
    /// partial approval).
    pub const DO_NOT_HONOUR: ResponseCode = ResponseCode(*b"05");
    /// 10 partial approval (only when the request allows it).
    pub const PARTIAL_APPROVAL: ResponseCode = ResponseCode(*b"10");
    /// 12 invalid transaction (also: the late original of a remembered reversal).
    pub const INVALID_TRANSACTION: ResponseCode = ResponseCode(*b"12");
    /// 13 invalid amount (zero or missing for purchase/cash).
    pub const INVALID_AMOUNT: ResponseCode = ResponseCode(*b"13");
    /// 14 unknown card.
    pub const UNKNOWN_CARD: ResponseCode = ResponseCode(*b"14");
    /// 30 format error.
    pub const FORMAT_ERROR: ResponseCode = ResponseCode(*b"30");
    /// 41 lost card.
    pub const LOST_CARD: ResponseCode = ResponseCode(*b"41");
    /// 43 stolen card.
    pub const STOLEN_CARD: ResponseCode = ResponseCode(*b"43");
    /// 51 insufficient funds.
    pub const INSUFFICIENT_FUNDS: ResponseCode = ResponseCode(*b"51");
    /// 54 expired card or DE 14 mismatch.
    pub const EXPIRED_CARD: ResponseCode = ResponseCode(*b"54");
    /// 57 transaction not permitted to the cardholder (a spend control: MCC, country,
    /// channel).
    pub const NOT_PERMITTED: ResponseCode = ResponseCode(*b"57");
    /// 61 exceeds an amount limit (a spend control: per transaction, daily, monthly, cash).
    pub const AMOUNT_LIMIT: ResponseCode = ResponseCode(*b"61");
    /// 62 restricted card (blocked, closed).
    pub const RESTRICTED_CARD: ResponseCode = ResponseCode(*b"62");
    /// 65 exceeds a frequency limit (a spend control: velocity).
    pub const FREQUENCY_LIMIT: ResponseCode = ResponseCode(*b"65");
    /// 94 duplicate transmission: a key already decided, reused for another request.
    pub const DUPLICATE_TRANSMISSION: ResponseCode = ResponseCode(*b"94");
    /// 91 issuer unavailable (deadline missed, rates stale or missing).
    pub const ISSUER_UNAVAILABLE: ResponseCode = ResponseCode(*b"91");
    /// 55 incorrect PIN (DE 52 did not match the card's PVV).
    pub const INCORRECT_PIN: ResponseCode = ResponseCode(*b"55");
    /// 63 security violation (a DE 64/128 MAC that does not verify).
    pub const SECURITY_VIOLATION: ResponseCode = ResponseCode(*b"63");
    /// 75 allowable number of PIN tries exceeded.
    pub const PIN_TRIES_EXCEEDED: ResponseCode = ResponseCode(*b"75");
    /// 82 CVV, iCVV or cryptogram (ARQC) failure: the card is not proven genuine.
    pub const CARD_AUTHENTICATION_FAILED: ResponseCode = ResponseCode(*b"82");
    /// N7 CVV2 mismatch (Visa's code for a wrong DE 48 tag 92).
    pub const CVV2_MISMATCH: ResponseCode = ResponseCode(*b"N7");

    /// Parses two ASCII alphanumerics.
    pub fn parse(s: &str) -> crate::Result<Self> {
        let b = s.as_bytes();
        if b.len() != 2 || !b.iter().all(|c| c.is_ascii_alphanumeric()) {
            return Err(crate::LedgerError::invalid(
                "DE 39",
                "expected two alphanumerics",
            ));
        }
        Ok(ResponseCode([b[0], b[1]]))
    }

    /// The two characters.
    pub fn as_str(&self) -> &str {
        // Only ASCII alphanumerics get in (constants and `parse`).
        std::str::from_utf8(&self.0).unwrap_or("??")
    }

    /// 00 or 10: the request was approved (in full or in part) and holds funds.
    pub fn is_approval(&self) -> bool {
        *self == Self::APPROVED || *self == Self::PARTIAL_APPROVAL
    }
}

impl fmt::Display for ResponseCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for ResponseCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ResponseCode({})", self.as_str())
    }
}
