//! "DE 70, network management information code, n 3": what an 0800 asks for. Parsed once,
//! where the message is read, then matched as a type (the switch answering the network, the
//! connection signing on, echoing and signing off).

use std::fmt;

/// DE 70 of a network-management message (DESIGN.md: "0800 -> 0810: sign-on 001, sign-off
/// 002, echo 301, cutover 201 ..., others answered with a clear code").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NetworkCode {
    /// 001: the peer starts sending on this link.
    SignOn,
    /// 002: the peer stops sending on this link.
    SignOff,
    /// 201: cutover, the business date moves on to the next day.
    Cutover,
    /// 301: echo test, the link is alive.
    Echo,
    /// Any other code (answered 39=12); never sent.
    Other,
}

impl NetworkCode {
    /// The code DE 70 holds; anything but the four known codes is [`NetworkCode::Other`].
    pub fn parse(de70: &str) -> NetworkCode {
        match de70 {
            "001" => NetworkCode::SignOn,
            "002" => NetworkCode::SignOff,
            "201" => NetworkCode::Cutover,
            "301" => NetworkCode::Echo,
            _ => NetworkCode::Other,
        }
    }

    /// The three digits to send in DE 70; `None` for [`NetworkCode::Other`], which has none.
    pub const fn digits(self) -> Option<&'static str> {
        match self {
            NetworkCode::SignOn => Some("001"),
            NetworkCode::SignOff => Some("002"),
            NetworkCode::Cutover => Some("201"),
            NetworkCode::Echo => Some("301"),
            NetworkCode::Other => None,
        }
    }

    /// What it asks for, for people: "sign-on", "sign-off", "cutover", "echo" or "other".
    pub const fn name(self) -> &'static str {
        match self {
            NetworkCode::SignOn => "sign-on",
            NetworkCode::SignOff => "sign-off",
            NetworkCode::Cutover => "cutover",
            NetworkCode::Echo => "echo",
            NetworkCode::Other => "other",
        }
    }
}

/// The digits (as on the wire), or "other".
impl fmt::Display for NetworkCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.digits().unwrap_or("other"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KNOWN: [NetworkCode; 4] = [
        NetworkCode::SignOn,
        NetworkCode::SignOff,
        NetworkCode::Cutover,
        NetworkCode::Echo,
    ];

    #[test]
    fn the_four_codes_of_the_contract() {
        assert_eq!(NetworkCode::parse("001"), NetworkCode::SignOn);
        assert_eq!(NetworkCode::parse("002"), NetworkCode::SignOff);
        assert_eq!(NetworkCode::parse("201"), NetworkCode::Cutover);
        assert_eq!(NetworkCode::parse("301"), NetworkCode::Echo);
    }

    #[test]
    fn known_codes_read_back_from_their_digits() {
        for c in KNOWN {
            let digits = c.digits().expect("a known code has digits");
            assert_eq!(NetworkCode::parse(digits), c);
            assert_eq!(c.to_string(), digits);
        }
    }

    #[test]
    fn anything_else_is_other_and_has_no_digits() {
        for s in [
            "", "1", "01", "0001", "003", "101", "202", "300", "302", "999", "30A",
        ] {
            assert_eq!(NetworkCode::parse(s), NetworkCode::Other, "{s:?}");
        }
        assert_eq!(NetworkCode::Other.digits(), None);
        assert_eq!(NetworkCode::Other.to_string(), "other");
    }

    #[test]
    fn names_for_logs() {
        let names: Vec<_> = KNOWN.iter().map(|c| c.name()).collect();
        assert_eq!(names, ["sign-on", "sign-off", "cutover", "echo"]);
    }
}
