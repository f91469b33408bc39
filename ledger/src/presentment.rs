//! Clearing (issue 24): a network's presentment (an ISO 8583:1993 1240) posted against the
//! authorization it clears, and the mark that a clearing file was imported whole.
//!
//! A presentment is an operation of the batch like an authorization. It is recorded as a
//! decision under a key derived from its acquirer reference (DE 31) and its kind, so that
//! importing it twice posts it once (the second finds the decision: a duplicate). Its
//! posting is a hold captured at once under that key (as a forced advice's is), so that
//! `balance = opening - sum(captured) + sum(adjustments)` keeps holding; the authorization's
//! hold it clears gives up what the presentment consumed, and, for a final presentment, the
//! rest is released.

use jiff::civil::Date;
use jiff::Timestamp;
use money::Currency;
use sha2::{Digest, Sha256};

use crate::{NetworkKey, Pan};

/// What DE 24 of a 1240 says the presentment is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PresentmentKind {
    /// 200: first presentment, final: what is left of the hold after it is released.
    First,
    /// 282: a partial amount (split shipment): more presentments may follow, the rest of the
    /// hold stays until they come or it expires.
    Partial,
    /// 205: second presentment (after a chargeback): unique by its DE 31 apart from the
    /// first's.
    Second,
}

impl PresentmentKind {
    /// From DE 24 (`200`, `282`, `205`).
    pub fn from_function_code(code: &str) -> Option<Self> {
        match code {
            "200" => Some(PresentmentKind::First),
            "282" => Some(PresentmentKind::Partial),
            "205" => Some(PresentmentKind::Second),
            _ => None,
        }
    }

    /// DE 24.
    pub fn function_code(self) -> &'static str {
        match self {
            PresentmentKind::First => "200",
            PresentmentKind::Partial => "282",
            PresentmentKind::Second => "205",
        }
    }
}

/// One presentment to post.
#[derive(Clone, Debug)]
pub struct Presentment {
    /// DE 31, acquirer reference data: with the kind, what makes the presentment unique.
    pub arn: String,
    /// DE 24.
    pub kind: PresentmentKind,
    /// DE 2 (hashed by the ledger, never stored).
    pub pan: Pan,
    /// DE 38 of the authorization it clears, when the acquirer has one.
    pub approval_code: Option<String>,
    /// DE 4, minor units of `currency`.
    pub amount_minor: i64,
    /// DE 49.
    pub currency: Currency,
    /// DE 26 (merchant category), for the tolerance the caller chose.
    pub mcc: Option<String>,
    /// The transaction's local date (DE 12), for the matching window.
    pub txn_date: Option<Date>,
    /// How far (days) an authorization may be from `txn_date` and still match.
    pub window_days: i64,
    /// Over-capture allowed (tips) as basis points of the hold (2000 = 20 %).
    pub over_bp: u32,
    /// The file it came in (for the record).
    pub file_id: String,
    /// Business date it is posted on.
    pub business_date: Date,
    /// When.
    pub now: Timestamp,
}

/// How a presentment was taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClearingOutcome {
    /// Cleared its authorization for the amount held (or a hold long gone: `late`).
    Matched,
    /// Less than held: a final one released the rest, a split (282) left it held.
    Partial,
    /// More than held, within the tolerance (tips).
    Over,
    /// Matched no authorization: posted to the card's account all the same.
    Forced,
    /// Posted before (same DE 31 and kind): nothing moved now.
    Duplicate,
    /// Not postable (unknown card, bad amount): nothing moved.
    Rejected,
}

impl ClearingOutcome {
    /// The word the report and the decision's record use.
    pub fn as_str(self) -> &'static str {
        match self {
            ClearingOutcome::Matched => "matched",
            ClearingOutcome::Partial => "partial",
            ClearingOutcome::Over => "over",
            ClearingOutcome::Forced => "forced",
            ClearingOutcome::Duplicate => "duplicates",
            ClearingOutcome::Rejected => "rejected",
        }
    }
}

/// What posting a presentment did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PresentmentRecord {
    /// How it was taken.
    pub outcome: ClearingOutcome,
    /// The key it is recorded under ([`Presentment::key`]).
    pub key: NetworkKey,
    /// The authorization it cleared.
    pub matched: Option<NetworkKey>,
    /// The account posted to.
    pub account_id: Option<String>,
    /// Posted to the balance, minor units of `wallet_currency`.
    pub posted_minor: i64,
    /// The wallet posted to.
    pub wallet_currency: Option<Currency>,
    /// Taken off the authorization's hold (wallet currency).
    pub consumed_minor: i64,
    /// Given back from the hold (a final partial presentment's remainder).
    pub released_minor: i64,
    /// A foreign-currency presentment: the posting at today's rate minus the same amount at
    /// the hold's rate (wallet currency; positive: the cardholder pays more than held).
    pub fx_difference_minor: Option<i64>,
    /// The authorization's hold had expired or been released before the presentment came.
    pub late: bool,
    /// Why it was rejected.
    pub reason: Option<String>,
}

impl Presentment {
    /// The key it is recorded under: DE 31 and the kind, hashed into the shape of a network
    /// key that no network message can have (its "DE 7" starts with month 99).
    pub fn key(&self) -> crate::Result<NetworkKey> {
        let tag = match self.kind {
            PresentmentKind::Second => "second",
            PresentmentKind::First | PresentmentKind::Partial => "first",
        };
        synthetic_key(&format!("presentment/{tag}/{}", self.arn), b'9')
    }
}

/// A clearing file imported whole (a row of `clearing_files`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClearingFileMark {
    /// The file's id (its header's PDS 0105).
    pub file_id: String,
    /// The number of its presentments.
    pub presentments: i64,
    /// The business date it was marked on.
    pub business_date: Date,
    /// When.
    pub at: Timestamp,
}

/// The key under which ledgers from before `clearing_files` marked a clearing file's import
/// (its "DE 7" month is 98): still honoured, never written.
pub fn clearing_file_key(file_id: &str) -> crate::Result<NetworkKey> {
    synthetic_key(&format!("clearing-file/{file_id}"), b'8')
}

/// A network key made of a SHA-256 of `name`: 11 + 6 + 8 digits from it (about 2^83
/// values), with "9" and `month` as the first digits of DE 7 (`99`, `98`: not a month).
fn synthetic_key(name: &str, month: u8) -> crate::Result<NetworkKey> {
    let digest = Sha256::digest(name.as_bytes());
    let mut n = u128::from_be_bytes(digest[..16].try_into().unwrap_or([0; 16]));
    let mut digits = [b'0'; 25];
    for d in digits.iter_mut().rev() {
        *d = b'0' + (n % 10) as u8;
        n /= 10;
    }
    // Never "0..." in the acquirer: leading zeros are stripped, keep the width fixed.
    digits[0] = b'1' + digits[0] % 9;
    let s = String::from_utf8_lossy(&digits);
    let de7 = format!("9{}{}", month as char, &s[17..25]);
    NetworkKey::new(&s[..11], &s[11..17], &de7)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_stable_and_distinct() {
        let a = clearing_file_key("F1").unwrap();
        assert_eq!(a, clearing_file_key("F1").unwrap());
        assert_ne!(a, clearing_file_key("F2").unwrap());
        assert!(a.transmission().starts_with("98"));
        assert_eq!(a.stan().len(), 6);
    }
}
