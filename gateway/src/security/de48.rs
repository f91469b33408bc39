//! "DE 48, additional data, private, ans..999, LLLVAR" as this switch reads it: one
//! transaction-category character, then subelements of tag (2 digits) + length (2 digits) +
//! value; tag `92` holds the 3-digit CVV2 (DESIGN.md "Card security").

/// The subelement holding the CVV2.
pub(crate) const CVV2_TAG: &str = "92";

/// What DE 48 says about CVV2.
#[derive(PartialEq, Eq)]
pub(crate) enum Cvv2<'a> {
    /// No tag 92.
    Absent,
    /// Tag 92's value (3 digits are expected; anything else fails the check).
    Present(&'a str),
    /// DE 48 is not a list of subelements: the CVV2 cannot be read (fails the check).
    Unreadable,
}

/// Finds tag 92 in `de48`.
pub(crate) fn cvv2(de48: &str) -> Cvv2<'_> {
    if !de48.is_ascii() {
        return Cvv2::Unreadable;
    }
    let mut rest = match de48.get(1..) {
        Some(r) => r,
        None => return Cvv2::Absent,
    };
    while !rest.is_empty() {
        let (Some(tag), Some(len)) = (rest.get(0..2), rest.get(2..4)) else {
            return Cvv2::Unreadable;
        };
        let Ok(len) = len.parse::<usize>() else {
            return Cvv2::Unreadable;
        };
        let Some(value) = rest.get(4..4 + len) else {
            return Cvv2::Unreadable;
        };
        if tag == CVV2_TAG {
            return Cvv2::Present(value);
        }
        rest = &rest[4 + len..];
    }
    Cvv2::Absent
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_tag_92_among_others() {
        assert!(cvv2("R9203123") == Cvv2::Present("123"));
        assert!(cvv2("R0102AB9203456") == Cvv2::Present("456"));
        assert!(cvv2(&hsm::sandbox::de48_with_cvv2("789")) == Cvv2::Present("789"));
        assert!(cvv2("R0102AB") == Cvv2::Absent);
        assert!(cvv2("R") == Cvv2::Absent);
        assert!(cvv2("") == Cvv2::Absent);
    }

    #[test]
    fn malformed_lists_are_unreadable_not_absent() {
        assert!(cvv2("R92") == Cvv2::Unreadable);
        assert!(cvv2("R92XX123") == Cvv2::Unreadable);
        assert!(cvv2("R9209123") == Cvv2::Unreadable);
        assert!(cvv2("R9203é12") == Cvv2::Unreadable);
    }
}
