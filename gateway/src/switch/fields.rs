//! Reading the data elements the flows need, with the shared contracts' formats.
//!
//! Every reader returns a typed value or a [`FieldFault`] naming the data element: a fault on
//! a required element is a format error (39=30), never a panic.

use iso8583::OwnedMessage;
use ledger::{Currency, Merchant, NetworkKey, Terms};

/// A required data element that is missing or malformed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FieldFault(pub(crate) u16);

impl std::fmt::Display for FieldFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DE {} missing or malformed", self.0)
    }
}

/// Text of DE `n`, when present and UTF-8.
pub(crate) fn text(msg: &OwnedMessage, n: u16) -> Option<&str> {
    msg.get_str(n)
}

/// Text of a required DE `n`.
pub(crate) fn required(msg: &OwnedMessage, n: u16) -> Result<&str, FieldFault> {
    text(msg, n).filter(|s| !s.is_empty()).ok_or(FieldFault(n))
}

/// Data elements that a true repeat carries unchanged besides those the ledger reads itself
/// (card, DE 4, DE 49, DE 14, DE 90, DE 95): "a repeat must match its original on the fields
/// that define the transaction". The whole processing code (the ledger sees only purchase or
/// cash), the merchant category, the retrieval reference, the terminal and the merchant.
pub(crate) const AUTHORIZATION_TERMS: [u16; 5] = [3, 18, 37, 41, 42];
/// An advice's: as an authorization's.
pub(crate) const ADVICE_TERMS: [u16; 5] = AUTHORIZATION_TERMS;
/// A reversal's: the ledger reads only DE 90 and DE 95 (and the card when DE 2 is there).
pub(crate) const REVERSAL_TERMS: [u16; 4] = [3, 4, 37, 49];

/// The [`Terms`] of `msg`: its message class (the MTI with the repeat flag cleared, so that
/// a 0101 is the same request as its 0100 and a 0200 is not) and the data elements listed.
pub(crate) fn terms(msg: &OwnedMessage, elements: &[u16]) -> Terms {
    elements
        .iter()
        .fold(Terms::builder(msg.mti().original().as_str()), |b, &n| {
            b.field(n, msg.get(n))
        })
        .finish()
}

/// Where and how the card is used, for the spend controls: DE 18 (MCC), the country (DE 19,
/// else DE 43's), the channel (DE 22's PAN entry mode, DE 25's condition code). Values that
/// do not read as their format are left out (the controls then cannot match them), never a
/// format error: an authorization does not need them.
pub(crate) fn merchant(msg: &OwnedMessage) -> Merchant {
    let digits = |n: u16, len: usize| {
        text(msg, n)
            .filter(|s| s.len() == len && s.bytes().all(|b| b.is_ascii_digit()))
            .map(str::to_owned)
    };
    let mcc = digits(18, 4);
    let country = digits(19, 3).or_else(|| text(msg, 43).and_then(de43_country));
    // "DE 22, point of service entry mode, n 3": its first two digits say how the PAN was
    // read: 07 contactless chip, 91 contactless magnetic stripe, 81 e-commerce.
    let entry = text(msg, 22).and_then(|s| s.get(..2)).unwrap_or("");
    // "DE 25, point of service condition code, n 2": 59 e-commerce.
    let condition = text(msg, 25).unwrap_or("");
    Merchant {
        atm: mcc.as_deref() == Some("6011"),
        mcc,
        country,
        ecommerce: entry == "81" || condition == "59",
        contactless: entry == "07" || entry == "91",
    }
}

/// The ISO 3166 numeric code of the country at the end of "DE 43, card acceptor name/
/// location, ans 40": three letters (alpha-3, as Mastercard places it) or, after a space,
/// two (alpha-2, as Visa's last two positions).
fn de43_country(de43: &str) -> Option<String> {
    let t = de43.trim_end();
    let b = t.as_bytes();
    let alpha = |s: &[u8]| s.iter().all(u8::is_ascii_alphabetic);
    let numeric = |c: isocountry::CountryCode| format!("{:03}", c.numeric_id());
    if b.len() >= 4 && b[b.len() - 3] == b' ' && alpha(&b[b.len() - 2..]) {
        let a2 = t[t.len() - 2..].to_ascii_uppercase();
        return isocountry::CountryCode::for_alpha2(&a2).ok().map(numeric);
    }
    if b.len() >= 3 && alpha(&b[b.len() - 3..]) {
        let a3 = t[t.len() - 3..].to_ascii_uppercase();
        if let Ok(c) = isocountry::CountryCode::for_alpha3(&a3) {
            return Some(numeric(c));
        }
    }
    if b.len() >= 2 && alpha(&b[b.len() - 2..]) {
        let a2 = t[t.len() - 2..].to_ascii_uppercase();
        return isocountry::CountryCode::for_alpha2(&a2).ok().map(numeric);
    }
    None
}

/// "Network key of an original: (DE 32, DE 11, DE 7); DE 32 compared with leading zeros
/// stripped."
pub(crate) fn network_key(msg: &OwnedMessage) -> Result<NetworkKey, FieldFault> {
    let de32 = required(msg, 32)?;
    let de11 = required(msg, 11)?;
    let de7 = required(msg, 7)?;
    // "DE 7, transmission date and time, n 10, MMDDhhmmss": networks key by it.
    if !iso8583::datetime::is_mmddhhmmss(de7) {
        return Err(FieldFault(7));
    }
    NetworkKey::new(de32, de11, de7).map_err(|_| {
        // Which one is at fault: the first that is not all digits of the right size.
        if de11.len() != 6 {
            FieldFault(11)
        } else if de7.len() != 10 {
            FieldFault(7)
        } else {
            FieldFault(32)
        }
    })
}

/// The original named by "DE 90 (n42) = original MTI(4) + STAN(6) + DE 7(10) + DE 32
/// right-justified zero-filled (11) + DE 33 (11, zeros when absent)".
pub(crate) fn original_key(msg: &OwnedMessage) -> Result<Option<NetworkKey>, FieldFault> {
    let Some(de90) = text(msg, 90) else {
        return Ok(None);
    };
    if de90.len() != 42 || !de90.bytes().all(|b| b.is_ascii_digit()) {
        return Err(FieldFault(90));
    }
    let (stan, de7, de32) = (&de90[4..10], &de90[10..20], &de90[20..31]);
    if !iso8583::datetime::is_mmddhhmmss(de7) {
        return Err(FieldFault(90));
    }
    NetworkKey::new(de32, stan, de7)
        .map(Some)
        .map_err(|_| FieldFault(90))
}

/// "DE 95 (an42) = actual transaction amount n12 + ...": the amount a partial reversal keeps.
pub(crate) fn replacement_amount(msg: &OwnedMessage) -> Result<Option<i64>, FieldFault> {
    let Some(de95) = text(msg, 95) else {
        return Ok(None);
    };
    let actual = de95.get(..12).ok_or(FieldFault(95))?;
    parse_amount(actual).map(Some).ok_or(FieldFault(95))
}

/// DE 4 "n12 in minor units"; `Ok(None)` when absent.
pub(crate) fn amount(msg: &OwnedMessage, n: u16) -> Result<Option<i64>, FieldFault> {
    match text(msg, n) {
        None => Ok(None),
        Some(s) => parse_amount(s).map(Some).ok_or(FieldFault(n)),
    }
}

fn parse_amount(s: &str) -> Option<i64> {
    if s.is_empty() || s.len() > 12 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// "DE 49, currency code, transaction, n 3" (numeric ISO 4217) as the currency the ledger
/// keeps; a code the ISO table does not list is a format error.
pub(crate) fn currency_alpha(msg: &OwnedMessage, n: u16) -> Result<Currency, FieldFault> {
    let code = required(msg, n)?;
    fx_rates::currency(code)
        .ok()
        .and_then(|c| c.alpha.parse().ok())
        .ok_or(FieldFault(n))
}

/// The ISO 4217 numeric code (three digits) of an alpha code, for DE 51 and DE 54.
pub(crate) fn currency_numeric(alpha: Currency) -> Option<String> {
    fx_rates::currency(alpha.as_str())
        .ok()
        .map(|c| format!("{:03}", c.numeric))
}

/// A zero-filled n12 amount.
pub(crate) fn n12(v: i64) -> String {
    format!("{:012}", v.clamp(0, 999_999_999_999))
}

/// DE 3 positions 1-2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Processing {
    /// `00xxxx`.
    Purchase,
    /// `01xxxx`.
    Cash,
    /// `31xxxx`.
    BalanceInquiry,
    /// Anything else (39=12).
    Other,
}

/// "DE 3 processing code: `00xxxx` purchase, `01xxxx` cash, `31xxxx` balance inquiry;
/// anything else -> 39=12."
pub(crate) fn processing(msg: &OwnedMessage) -> Result<Processing, FieldFault> {
    let de3 = required(msg, 3)?;
    if de3.len() != 6 || !de3.bytes().all(|b| b.is_ascii_digit()) {
        return Err(FieldFault(3));
    }
    Ok(match &de3[..2] {
        "00" => Processing::Purchase,
        "01" => Processing::Cash,
        "31" => Processing::BalanceInquiry,
        _ => Processing::Other,
    })
}

/// Whether the acquirer accepts a partial approval: DE 60 present with `1` as its first
/// character (our convention, documented in ARCHITECTURE.md; networks differ).
pub(crate) fn allows_partial(msg: &OwnedMessage) -> bool {
    text(msg, 60).is_some_and(|s| s.starts_with('1'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(fields: &[(u16, &str)]) -> OwnedMessage {
        let mut m = OwnedMessage::new("0400".parse().unwrap());
        for (n, v) in fields {
            m.set(*n, *v);
        }
        m
    }

    #[test]
    fn the_merchant_is_read_from_de_18_19_22_25_and_43() {
        let m = merchant(&msg(&[(18, "6011"), (19, "410"), (22, "071")]));
        assert_eq!(m.mcc.as_deref(), Some("6011"));
        assert!(m.atm && m.contactless && !m.ecommerce);
        assert_eq!(m.country.as_deref(), Some("410"));
        let online = merchant(&msg(&[
            (22, "812"),
            (43, "SHOP                     SEOUL        KR"),
        ]));
        assert!(online.ecommerce);
        assert_eq!(online.country.as_deref(), Some("410"), "Visa's alpha-2");
        let mc = merchant(&msg(&[
            (25, "59"),
            (43, "SHOP                   PYONGYANG    PRK"),
        ]));
        assert!(mc.ecommerce);
        assert_eq!(mc.country.as_deref(), Some("408"), "Mastercard's alpha-3");
        // Unreadable values are left out, never guessed.
        let odd = merchant(&msg(&[(18, "60X1"), (19, "41"), (43, "NOWHERE 12")]));
        assert_eq!((odd.mcc, odd.country), (None, None));
        assert_eq!(merchant(&msg(&[])), ledger::Merchant::default());
    }

    #[test]
    fn a_repeat_flag_keeps_the_terms_and_the_class_or_an_element_changes_them() {
        let mut m = msg(&[(3, "000000"), (41, "TERM0001")]);
        m.set_mti("0100".parse().unwrap());
        let t = terms(&m, &AUTHORIZATION_TERMS);
        m.set_mti("0101".parse().unwrap());
        assert_eq!(terms(&m, &AUTHORIZATION_TERMS), t);
        m.set_mti("0200".parse().unwrap());
        assert_ne!(terms(&m, &AUTHORIZATION_TERMS), t);
        m.set_mti("0100".parse().unwrap());
        m.set(41, "TERM0002");
        assert_ne!(terms(&m, &AUTHORIZATION_TERMS), t);
        m.remove(41);
        assert_ne!(terms(&m, &AUTHORIZATION_TERMS), t);
    }

    #[test]
    fn de90_names_the_original() {
        let m = msg(&[(90, "010000012311250630150000001234500000000000")]);
        let k = original_key(&m).unwrap().unwrap();
        assert_eq!(k, NetworkKey::new("12345", "000123", "1125063015").unwrap());
        assert_eq!(
            original_key(&msg(&[(90, "0100")])).unwrap_err(),
            FieldFault(90)
        );
        assert_eq!(original_key(&msg(&[])).unwrap(), None);
    }

    #[test]
    fn de7_must_be_a_time() {
        let mut m = msg(&[(32, "12345"), (11, "000001"), (7, "1325063015")]);
        assert_eq!(network_key(&m).unwrap_err(), FieldFault(7));
        m.set(7, "1125063015");
        assert!(network_key(&m).is_ok());
        let bad90 = msg(&[(90, "010000012313250630150000001234500000000000")]);
        assert_eq!(original_key(&bad90).unwrap_err(), FieldFault(90));
    }

    #[test]
    fn de95_gives_the_amount_kept() {
        let m = msg(&[(95, "000000000500000000000500C00000000C00000000")]);
        assert_eq!(replacement_amount(&m).unwrap(), Some(500));
        assert!(replacement_amount(&msg(&[(95, "12x")])).is_err());
    }

    #[test]
    fn processing_codes() {
        assert_eq!(
            processing(&msg(&[(3, "000000")])).unwrap(),
            Processing::Purchase
        );
        assert_eq!(
            processing(&msg(&[(3, "011000")])).unwrap(),
            Processing::Cash
        );
        assert_eq!(
            processing(&msg(&[(3, "310000")])).unwrap(),
            Processing::BalanceInquiry
        );
        assert_eq!(
            processing(&msg(&[(3, "200000")])).unwrap(),
            Processing::Other
        );
        assert_eq!(processing(&msg(&[])).unwrap_err(), FieldFault(3));
    }

    #[test]
    fn currencies_and_amounts() {
        let m = msg(&[(49, "840"), (4, "000000001000")]);
        assert_eq!(currency_alpha(&m, 49).unwrap(), "USD");
        assert_eq!(
            currency_alpha(&msg(&[(49, "999")]), 49),
            Err(FieldFault(49))
        );
        assert_eq!(amount(&m, 4).unwrap(), Some(1000));
        assert_eq!(
            currency_numeric("KRW".parse().unwrap()).as_deref(),
            Some("410")
        );
        assert_eq!(n12(1385), "000000001385");
    }
}
