//! `[listener.codes]` / `[outbound.codes]`: the response codes a network expects for the
//! outcomes that networks code differently ("sandbox defaults, configurable per network").

use ledger::ResponseCode;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Response codes of one network, each a DE 39 value (two alphanumerics).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ResponseCodes {
    /// A message under a key already decided for another request (not a repeat: another
    /// card, amount, currency, processing code or message class): ISO 8583's "duplicate
    /// transmission", 94.
    #[serde(with = "code")]
    pub duplicate: ResponseCode,
    /// DE 52 did not match the card's PVV (issue 23): 55.
    #[serde(with = "code")]
    pub wrong_pin: ResponseCode,
    /// The card's PIN tries are exhausted: 75.
    #[serde(with = "code")]
    pub pin_tries_exceeded: ResponseCode,
    /// CVV, iCVV or cryptogram failure: 82.
    #[serde(with = "code")]
    pub card_authentication: ResponseCode,
    /// CVV2 mismatch: N7.
    #[serde(with = "code")]
    pub cvv2: ResponseCode,
    /// A request's MAC (DE 64/128) missing or wrong: 63, security violation.
    #[serde(with = "code")]
    pub mac: ResponseCode,
}

impl Default for ResponseCodes {
    fn default() -> Self {
        ResponseCodes {
            duplicate: ResponseCode::DUPLICATE_TRANSMISSION,
            wrong_pin: ResponseCode::INCORRECT_PIN,
            pin_tries_exceeded: ResponseCode::PIN_TRIES_EXCEEDED,
            card_authentication: ResponseCode::CARD_AUTHENTICATION_FAILED,
            cvv2: ResponseCode::CVV2_MISMATCH,
            mac: ResponseCode::SECURITY_VIOLATION,
        }
    }
}

/// A [`ResponseCode`] as its two characters in the file.
mod code {
    use super::*;

    pub(super) fn serialize<S: Serializer>(c: &ResponseCode, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(c.as_str())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<ResponseCode, D::Error> {
        let s = String::deserialize(d)?;
        ResponseCode::parse(&s).map_err(|_| {
            serde::de::Error::custom(format!("{s:?} is not a response code (two alphanumerics)"))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_default_to_the_iso_values_and_refuse_what_is_not_a_code() {
        let c: ResponseCodes = toml::from_str("").unwrap();
        assert_eq!(c.duplicate.as_str(), "94");
        let c: ResponseCodes = toml::from_str("duplicate = \"N9\"").unwrap();
        assert_eq!(c.duplicate.as_str(), "N9");
        assert!(toml::from_str::<ResponseCodes>("duplicate = \"940\"").is_err());
        assert!(toml::from_str::<ResponseCodes>("other = \"94\"").is_err());
    }
}
