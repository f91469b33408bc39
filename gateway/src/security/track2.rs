//! "DE 35, track 2 data, z..37, LLVAR": `PAN` `=` (or `D`) `YYMM` service code (3), then
//! discretionary data that, on this issuer's cards, starts with PVKI (1) + PVV (4) + CVV (3)
//! (DESIGN.md "Card security").

/// What the CVV check needs from track 2. No `Debug` of the values: the CVV is a card
/// security code.
pub(crate) struct Track2<'a> {
    pub(crate) pan: &'a str,
    pub(crate) expiry: &'a str,
    pub(crate) service_code: &'a str,
    pub(crate) cvv: &'a str,
}

/// Longest track 2 a network may send ("z..37").
pub(crate) const MAX_TRACK2_LEN: usize = 37;

/// Reads track 2; `None` when it does not have the layout above (then the CVV cannot be
/// checked, which fails the check).
pub(crate) fn parse(t: &str) -> Option<Track2<'_>> {
    if t.len() > MAX_TRACK2_LEN || !t.is_ascii() {
        return None;
    }
    let sep = t.find(['=', 'D', 'd'])?;
    let (pan, rest) = (&t[..sep], &t[sep + 1..]);
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if pan.is_empty() || !digits(pan) {
        return None;
    }
    // YYMM (4) + service code (3) + PVKI (1) + PVV (4) + CVV (3).
    let expiry = rest.get(0..4)?;
    let service_code = rest.get(4..7)?;
    let cvv = rest.get(12..15)?;
    if !digits(expiry) || !digits(service_code) || !digits(cvv) {
        return None;
    }
    Some(Track2 {
        pan,
        expiry,
        service_code,
        cvv,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_pan_expiry_service_code_and_cvv() {
        let t = parse("4123456789012345=87011011234556100000").unwrap();
        assert_eq!(t.pan, "4123456789012345");
        assert_eq!(t.expiry, "8701");
        assert_eq!(t.service_code, "101");
        assert_eq!(t.cvv, "561");
        let d = parse("4123456789012345D87011011234556100").unwrap();
        assert_eq!(d.cvv, "561");
    }

    #[test]
    fn refuses_what_is_not_that_layout() {
        for bad in [
            "",
            "4123456789012345",
            "=8701101123456100",
            "4123456789012345=870110112345",
            "41234567890123x5=87011011234556100",
            "4123456789012345=8701101123455610000000000000000000000",
        ] {
            assert!(parse(bad).is_none(), "{bad}");
        }
    }
}
