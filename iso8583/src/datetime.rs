//! Content checks of the date and time data elements, which the field classes (`n 10`,
//! `n 4`) do not make: a value of the right digits can still be no date.

/// "DE 7, transmission date and time, n 10, MMDDhhmmss" (UTC): a real month, a day that month
/// can have (29 February included: the year is not sent), hours 00-23, minutes and seconds
/// 00-59.
pub fn is_mmddhhmmss(v: &str) -> bool {
    // Digits first: slicing a string of other characters could split one.
    v.len() == 10 && v.bytes().all(|b| b.is_ascii_digit()) && is_mmdd(&v[..4]) && is_hhmmss(&v[4..])
}

/// "DE 13, date, local transaction, n 4, MMDD" (and DE 15, 16, 17): a real month and a day
/// that month can have.
pub fn is_mmdd(v: &str) -> bool {
    let Some([month, day]) = pairs(v) else {
        return false;
    };
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 => 29,
        _ => return false,
    };
    (1..=days).contains(&day)
}

/// "DE 12, time, local transaction, n 6, hhmmss": hours 00-23, minutes and seconds 00-59.
pub fn is_hhmmss(v: &str) -> bool {
    matches!(pairs(v), Some([h, m, s]) if h < 24 && m < 60 && s < 60)
}

/// `v` as two-digit numbers, when it is exactly `N` pairs of ASCII digits.
fn pairs<const N: usize>(v: &str) -> Option<[u8; N]> {
    let b = v.as_bytes();
    if b.len() != 2 * N || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut out = [0u8; N];
    for (i, o) in out.iter_mut().enumerate() {
        *o = (b[2 * i] - b'0') * 10 + (b[2 * i + 1] - b'0');
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_times_pass_and_impossible_ones_do_not() {
        for ok in ["1125063015", "0229235959", "0101000000", "1231235959"] {
            assert!(is_mmddhhmmss(ok), "{ok}");
        }
        for bad in [
            "1325063015",   // month 13
            "0025063015",   // month 0
            "1132063015",   // day 32
            "0230120000",   // 30 February
            "0431120000",   // 31 April
            "1100063015",   // day 0
            "1125250000",   // hour 25
            "1125066000",   // minute 60
            "1125060060",   // second 60
            "112506301",    // 9 digits
            "11250630A5",   // not a digit
            "１１25063015", // not ASCII
            "ab€defghi",    // ten bytes, a character across byte 4
        ] {
            assert!(!is_mmddhhmmss(bad), "{bad}");
        }
        assert!(is_mmdd("0229") && !is_mmdd("0230") && !is_mmdd("12"));
        assert!(is_hhmmss("235959") && !is_hhmmss("240000"));
    }
}
