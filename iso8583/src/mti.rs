//! The message type indicator: four digits, version / class / function / origin.
//!
//! ISO 8583 reads "0100" as version 0 (1987; 1 is 1993, 2 is 2003), class 1 (authorization),
//! function 0 (request; 1 response, 2 advice, 3 advice response, 4 notification, ...) and
//! origin 0 (acquirer; 1 acquirer repeat, 2 issuer, 3 issuer repeat, 4 other, 5 other repeat).

use std::fmt;
use std::str::FromStr;

/// A message type indicator; always four ASCII digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Mti([u8; 4]);

/// The MTI text is not four decimal digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("an MTI is four decimal digits")]
pub struct InvalidMti;

impl Mti {
    /// Placeholder for a message whose MTI was not read; never returned by `decode`.
    pub(crate) const ZERO: Mti = Mti(*b"0000");

    /// An MTI from four ASCII digits; `None` when any byte is not a digit.
    pub fn from_digits(digits: [u8; 4]) -> Option<Mti> {
        digits.iter().all(u8::is_ascii_digit).then_some(Mti(digits))
    }

    /// The four digits as text, e.g. `"0100"`.
    pub fn as_str(&self) -> &str {
        // Invariant: four ASCII digits (checked by every constructor).
        std::str::from_utf8(&self.0).unwrap_or("????")
    }

    /// The four ASCII digits.
    pub fn digits(&self) -> [u8; 4] {
        self.0
    }

    /// Version digit: 0 = 1987, 1 = 1993, 2 = 2003, 8 national, 9 private.
    pub fn version(&self) -> u8 {
        self.0[0] - b'0'
    }

    /// Message class digit: 1 authorization, 2 financial, 4 reversal, 8 network management ...
    pub fn class(&self) -> u8 {
        self.0[1] - b'0'
    }

    /// Function digit: 0 request, 1 response, 2 advice, 3 advice response, 4 notification ...
    pub fn function(&self) -> u8 {
        self.0[2] - b'0'
    }

    /// Origin digit: 0 acquirer, 1 acquirer repeat, 2 issuer, 3 issuer repeat, 4 other ...
    pub fn origin(&self) -> u8 {
        self.0[3] - b'0'
    }

    /// Whether this is a repeat (origin 1, 3 or 5): a retransmission of a message whose answer
    /// may have been lost.
    pub fn is_repeat(&self) -> bool {
        matches!(self.origin(), 1 | 3 | 5)
    }

    /// Whether the function digit marks a response or acknowledgement (odd function).
    pub fn is_response(&self) -> bool {
        self.function() % 2 == 1
    }

    /// The same MTI with the repeat flag cleared: 0101 -> 0100, 0421 -> 0420.
    pub fn original(&self) -> Mti {
        let mut d = self.0;
        if self.is_repeat() {
            d[3] -= 1;
        }
        Mti(d)
    }

    /// The MTI of the answer: function 0 -> 1, 2 -> 3, 4 -> 5, 6 -> 7, repeat flag cleared
    /// (0100/0101 -> 0110, 0120/0121 -> 0130, 0400/0401 -> 0410, 0800 -> 0810,
    /// 1804 -> 1814). A response's MTI is returned unchanged.
    pub fn response(&self) -> Mti {
        if self.is_response() {
            return *self;
        }
        let mut d = self.original().0;
        d[2] += 1;
        Mti(d)
    }
}

impl FromStr for Mti {
    type Err = InvalidMti;

    fn from_str(s: &str) -> Result<Mti, InvalidMti> {
        let digits: [u8; 4] = s.as_bytes().try_into().map_err(|_| InvalidMti)?;
        Mti::from_digits(digits).ok_or(InvalidMti)
    }
}

impl fmt::Display for Mti {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Mti {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Mti({})", self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(s: &str) -> Mti {
        s.parse().unwrap()
    }

    #[test]
    fn responses() {
        for (req, resp) in [
            ("0100", "0110"),
            ("0101", "0110"),
            ("0120", "0130"),
            ("0121", "0130"),
            ("0200", "0210"),
            ("0400", "0410"),
            ("0401", "0410"),
            ("0420", "0430"),
            ("0421", "0430"),
            ("0800", "0810"),
            ("1100", "1110"),
            ("1804", "1814"),
            ("0110", "0110"),
        ] {
            assert_eq!(m(req).response(), m(resp), "{req}");
        }
    }

    #[test]
    fn repeats_and_parts() {
        assert!(m("0101").is_repeat());
        assert!(m("0421").is_repeat());
        assert!(!m("0420").is_repeat());
        assert_eq!(m("0401").original(), m("0400"));
        let x = m("1420");
        assert_eq!(
            (x.version(), x.class(), x.function(), x.origin()),
            (1, 4, 2, 0)
        );
    }

    #[test]
    fn parse_rejects_non_digits() {
        assert!("010".parse::<Mti>().is_err());
        assert!("01000".parse::<Mti>().is_err());
        assert!("01a0".parse::<Mti>().is_err());
        assert_eq!(m("0800").to_string(), "0800");
    }
}
