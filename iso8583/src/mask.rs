//! Rendering fields for people (logs, `iso8583 describe`): the one place that decides what of
//! a card's data may be shown. PANs keep the first 6 and last 4 digits (the most PCI DSS allows
//! to be displayed); track data, PIN blocks, security data and ICC data are never shown.

use crate::spec::{ContentClass, Sensitivity, Spec};
use crate::tlv;

/// A PAN with all but the first 6 and last 4 digits replaced by `*`. Shorter values (not real
/// PANs) keep only the last 4 characters, or nothing when 4 or fewer.
pub fn mask_pan(pan: &str) -> String {
    // At one log line per message: one pass to count, one to copy, a single allocation.
    let n = pan.chars().count();
    let (head, tail) = match n {
        0..=4 => (0, 0),
        5..=12 => (0, 4),
        _ => (6, 4),
    };
    let mut out = String::with_capacity(pan.len());
    for (i, c) in pan.chars().enumerate() {
        out.push(if i < head || i >= n - tail { c } else { '*' });
    }
    out
}

/// How field `n` is rendered when no spec says otherwise (ISO 8583 numbering): DE 2 and 34
/// are PANs; DE 14 expiry, 35/36/45 track data, 52 PIN block, 53 security data and 55 ICC data
/// are secret.
pub fn default_sensitivity(n: u16) -> Sensitivity {
    match n {
        2 | 34 => Sensitivity::Pan,
        14 | 35 | 36 | 45 | 52 | 53 | 55 => Sensitivity::Secret,
        _ => Sensitivity::None,
    }
}

/// Field `n`'s logical value (as in [`crate::OwnedMessage::get`]) rendered for people according
/// to the spec's sensitivity for the field: PANs masked, secrets replaced by their length (ICC
/// data by its list of EMV tags), binary data as uppercase hex, text as is.
pub fn render(spec: &Spec, n: u16, value: &[u8]) -> String {
    let (sensitivity, binary) = match spec.field(n) {
        Some(f) => (f.sensitivity, f.class == ContentClass::B),
        None => (default_sensitivity(n), false),
    };
    match sensitivity {
        Sensitivity::Pan => mask_pan(&String::from_utf8_lossy(value)),
        Sensitivity::Secret if binary && n == 55 => render_icc(value),
        Sensitivity::Secret => format!("[masked, {} bytes]", value.len()),
        Sensitivity::None if binary => crate::codec::hex::upper(value),
        Sensitivity::None => String::from_utf8_lossy(value).into_owned(),
    }
}

/// ICC data shown as its tags and value lengths, never the values: they include the track 2
/// equivalent (57), the PAN (5A) and cryptograms.
fn render_icc(value: &[u8]) -> String {
    let mut out = String::from("[masked ICC:");
    for item in tlv::ber::iter(value) {
        match item {
            Ok(t) => out.push_str(&format!(" {}({})", t.tag_hex(), t.value().len())),
            Err(_) => {
                out.push_str(" <malformed>");
                break;
            }
        }
    }
    out.push(']');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pan_shows_first_six_and_last_four() {
        assert_eq!(mask_pan("4761739001010119"), "476173******0119");
        assert_eq!(mask_pan("5413330089010434567"), "541333*********4567");
        assert_eq!(mask_pan("1234567890123"), "123456***0123");
        assert_eq!(mask_pan("12345678"), "****5678");
        assert_eq!(mask_pan("1234"), "****");
        assert_eq!(mask_pan(""), "");
    }

    #[test]
    fn render_follows_the_spec() {
        let spec = Spec::builtin("iso87-binary").unwrap();
        assert_eq!(render(spec, 2, b"4761739001010119"), "476173******0119");
        assert_eq!(
            render(spec, 35, b"4761739001010119=22122011"),
            "[masked, 25 bytes]"
        );
        assert_eq!(render(spec, 52, &[0xA1; 8]), "[masked, 8 bytes]");
        assert_eq!(render(spec, 14, b"2212"), "[masked, 4 bytes]");
        assert_eq!(render(spec, 3, b"000000"), "000000");
        assert_eq!(render(spec, 64, &[0xAB, 0x01]), "AB01");
        let icc = hex_literal::hex!("9F2608A1B2C3D4E5F60718 5A084761739001010119");
        assert_eq!(render(spec, 55, &icc), "[masked ICC: 9F26(8) 5A(8)]");
    }
}
