//! `decode_partial` on the malformed messages of issue 25 item 6, in iso87-binary and
//! iso87-ascii (pyiso8583's `default` and `default_ascii` layouts): where the faulty field's
//! extent is known the reading goes on and finds DE 11 (so the switch can answer 30); where the
//! framing is lost nothing past the MTI is passed on, and nothing read out of step is either.

mod common;

use iso8583::fuzzing::{damaged_field, Damage};
use iso8583::{decode, decode_partial, DecodeError, OwnedMessage, Spec};

const SPECS: [&str; 2] = ["iso87-binary", "iso87-ascii"];

/// The sandbox's purchase (fixtures scenario 01) with STAN 000001.
fn purchase() -> OwnedMessage {
    OwnedMessage::new("0100".parse().unwrap())
        .with(2, "4000001000000018")
        .with(3, "000000")
        .with(4, "000000015000")
        .with(7, "1125063015")
        .with(11, "000001")
        .with(12, "063015")
        .with(13, "1125")
        .with(14, "3012")
        .with(18, "5411")
        .with(22, "051")
        .with(32, "123456")
        .with(37, "532906000001")
        .with(41, "TERM0001")
        .with(42, "MERCHANT0000001")
        .with(43, "SANDBOX COFFEE         SEOUL        KR  ")
        .with(49, "410")
}

/// An echo test: DE 70 needs the secondary bitmap.
fn echo() -> OwnedMessage {
    OwnedMessage::new("0800".parse().unwrap())
        .with(7, "1125063015")
        .with(11, "000001")
        .with(70, "301")
}

fn spec(name: &str) -> &'static Spec {
    Spec::builtin(name).unwrap()
}

/// Offset of field `n`'s value in `wire` (which decodes).
fn value_at(spec: &Spec, wire: &[u8], n: u16) -> usize {
    let m = decode(spec, wire).unwrap();
    m.raw(n).unwrap().as_ptr() as usize - wire.as_ptr() as usize
}

/// `wire` with `len` bytes at `at` replaced by `with`.
fn splice(wire: &[u8], at: usize, len: usize, with: &[u8]) -> Vec<u8> {
    [&wire[..at], with, &wire[at + len..]].concat()
}

/// `m` without field `n`.
fn without(m: &OwnedMessage, ns: &[u16]) -> OwnedMessage {
    let mut m = m.clone();
    for n in ns {
        m.remove(*n);
    }
    m
}

/// Only the MTI: nothing of the fields is passed on.
fn mti_only(m: &OwnedMessage) -> OwnedMessage {
    OwnedMessage::new(m.mti())
}

/// Sets bit 1 (secondary bitmap present) in the primary bitmap, whose first byte or hex digit
/// follows the MTI.
fn set_bit_1(spec_name: &str, wire: &mut [u8]) {
    if spec_name == "iso87-binary" {
        wire[4] |= 0x80;
    } else {
        let v = (wire[4] as char).to_digit(16).unwrap() | 8;
        wire[4] = b"0123456789ABCDEF"[v as usize];
    }
}

/// Length of a bitmap on the wire.
fn bitmap_len(spec_name: &str) -> usize {
    if spec_name == "iso87-binary" {
        8
    } else {
        16
    }
}

/// The partial reading of `wire`, checked against what `decode` says: the first fault is its
/// error, and the generic soundness checks hold.
fn partial(spec: &Spec, wire: &[u8]) -> (OwnedMessage, Vec<DecodeError>) {
    let p = decode_partial(spec, wire);
    assert_eq!(p.error(), decode(spec, wire).err());
    iso8583::fuzzing::check_partial(spec, wire, &p);
    (p.message().cloned().unwrap(), p.faults().to_vec())
}

#[test]
fn letters_in_de2_are_passed_over_and_de11_is_found() {
    for name in SPECS {
        let spec = spec(name);
        let good = purchase().encode(spec).unwrap();
        let pan = value_at(spec, &good, 2);
        let bad = splice(&good, pan + 14, 2, b"AB");
        let (m, faults) = partial(spec, &bad);
        assert_eq!(m, without(&purchase(), &[2]), "{name}");
        assert_eq!(m.get_str(11), Some("000001"));
        assert_eq!(
            faults,
            [DecodeError::InvalidContent {
                field: Some(2),
                offset: pan + 14
            }],
            "{name}"
        );
    }
}

#[test]
fn a_20_digit_pan_is_passed_over_and_de11_is_found() {
    for name in SPECS {
        let spec = spec(name);
        let good = purchase().encode(spec).unwrap();
        let pan = value_at(spec, &good, 2);
        // LL 20 and twenty digits: the bytes are all there, the length is above DE 2's 19.
        let bad = splice(&good, pan - 2, 18, b"2040000010000000180000");
        let (m, faults) = partial(spec, &bad);
        assert_eq!(m, without(&purchase(), &[2]), "{name}");
        assert_eq!(
            faults,
            [DecodeError::InvalidLength {
                field: Some(2),
                offset: pan - 2,
                len: 20,
                max: 19
            }],
            "{name}"
        );
        // Not a digit of it is passed on.
        assert!(m
            .iter()
            .all(|(_, v)| !v.windows(8).any(|w| w == b"40000010")));
    }
}

#[test]
fn non_numeric_de4_and_de7_are_passed_over_and_de11_is_found() {
    for name in SPECS {
        let spec = spec(name);
        let good = purchase().encode(spec).unwrap();
        for (n, with) in [(4u16, &b"00000001500O"[..]), (7, b"1125 63015")] {
            let at = value_at(spec, &good, n);
            let bad = splice(&good, at, with.len(), with);
            let (m, faults) = partial(spec, &bad);
            assert_eq!(m, without(&purchase(), &[n]), "{name} DE {n}");
            assert_eq!(m.get_str(11), Some("000001"));
            assert_eq!(faults.len(), 1);
            assert_eq!(faults[0].field(), Some(n));
        }
    }
}

#[test]
fn every_fault_before_de11_is_listed_and_de11_is_still_found() {
    for name in SPECS {
        let spec = spec(name);
        let good = purchase().encode(spec).unwrap();
        let (pan, de4, de7) = (
            value_at(spec, &good, 2),
            value_at(spec, &good, 4),
            value_at(spec, &good, 7),
        );
        let mut bad = good.clone();
        bad[pan + 3] = b'X';
        bad[de4] = b'-';
        bad[de7 + 9] = b'?';
        let (m, faults) = partial(spec, &bad);
        assert_eq!(m, without(&purchase(), &[2, 4, 7]), "{name}");
        let listed: Vec<_> = faults.iter().map(|e| (e.field(), e.offset())).collect();
        assert_eq!(
            listed,
            [(Some(2), pan + 3), (Some(4), de4), (Some(7), de7 + 9)]
        );
    }
}

#[test]
fn an_unreadable_ll_prefix_loses_the_framing() {
    for name in SPECS {
        let spec = spec(name);
        let good = purchase().encode(spec).unwrap();
        let pan = value_at(spec, &good, 2);
        for prefix in [b"1A", b" 6", b"+6"] {
            let bad = splice(&good, pan - 2, 2, prefix);
            let (m, faults) = partial(spec, &bad);
            assert_eq!(m, mti_only(&purchase()), "{name}");
            assert_eq!(
                faults,
                [DecodeError::InvalidLengthPrefix {
                    field: Some(2),
                    offset: pan - 2
                }]
            );
        }
    }
}

#[test]
fn a_length_above_the_maximum_that_runs_past_the_input_loses_the_framing() {
    for name in SPECS {
        let spec = spec(name);
        // An echo-sized 0100: DE 2 with LL 99 and 30 bytes after it.
        let m = OwnedMessage::new("0100".parse().unwrap())
            .with(2, "4000001000000018")
            .with(11, "000001");
        let good = m.encode(spec).unwrap();
        let pan = value_at(spec, &good, 2);
        let bad = splice(&good, pan - 2, 2, b"99");
        let (p, faults) = partial(spec, &bad);
        assert_eq!(p, mti_only(&m), "{name}");
        assert_eq!(faults.len(), 1);
        assert!(matches!(
            faults[0],
            DecodeError::InvalidLength { len: 99, .. }
        ));
    }
}

#[test]
fn a_wrong_length_puts_the_reading_out_of_step_and_nothing_is_passed_on() {
    for name in SPECS {
        let spec = spec(name);
        let good = purchase().encode(spec).unwrap();
        let pan = value_at(spec, &good, 2);
        // "99": above the maximum but within the input, so its bytes are passed over, and the
        // reading lands inside DE 11. "17", "00": within the maximum, not the PAN's length.
        // Each reading goes on past faults and then loses the framing: out of step, so not a
        // field of it is kept (DE 11 included: it would be read from the wrong bytes).
        for prefix in [b"99", b"17", b"00"] {
            let bad = splice(&good, pan - 2, 2, prefix);
            let (m, faults) = partial(spec, &bad);
            assert_eq!(m, mti_only(&purchase()), "{name} LL {prefix:?}");
            assert!(faults.len() >= 2, "{name} LL {prefix:?}: {faults:?}");
        }
    }
}

/// What the rules cannot tell: LL "15" for a 16-digit PAN puts every later field one byte
/// early, each still within its class, until the input ends inside the last field. That is a
/// message cut short as far as the bytes show, and the fields before the cut are kept (the
/// contract for a message cut short after DE 11, which the switch answers 30): here they are
/// read out of step. A sender whose lengths are wrong without breaking any class cannot be
/// caught by the decoder.
#[test]
fn a_reading_out_of_step_that_only_fails_at_the_end_reads_as_a_message_cut_short() {
    for name in SPECS {
        let spec = spec(name);
        let good = purchase().encode(spec).unwrap();
        let pan = value_at(spec, &good, 2);
        let bad = splice(&good, pan - 2, 2, b"15");
        let (m, faults) = partial(spec, &bad);
        assert!(matches!(
            faults[..],
            [DecodeError::Truncated {
                field: Some(49),
                ..
            }]
        ));
        assert_ne!(m.get_str(11), Some("000001"), "{name}: read out of step");
    }
}

#[test]
fn a_missing_secondary_bitmap_passes_nothing_on() {
    for name in SPECS {
        let spec = spec(name);
        let bm = bitmap_len(name);
        // Bit 1 set, no secondary bitmap sent: what follows is read as one (any 8 bytes are a
        // binary bitmap, and these 16 digits are hex), so every field is read out of step.
        // Before this rule, binary gave DE 11 "000106" and ASCII "125411": a 30 with the
        // wrong STAN (and a wrong DE 2, 4 and 7 echoed).
        let mut bad = purchase().encode(spec).unwrap();
        set_bit_1(name, &mut bad);
        let (m, faults) = partial(spec, &bad);
        assert_eq!(m, mti_only(&purchase()), "{name}: {faults:?}");
        // DE 70 announced in a secondary bitmap that is not sent: DE 7 and 11 are taken for
        // the bitmap, and the reading runs past the input.
        let good = echo().encode(spec).unwrap();
        let bad = splice(&good, 4 + bm, bm, b"");
        let (m, faults) = partial(spec, &bad);
        assert_eq!(m, mti_only(&echo()), "{name}: {faults:?}");
        assert!(matches!(faults[..], [DecodeError::Truncated { .. }]));
        // Too short to hold it.
        let bad = &good[..4 + bm + bm / 2];
        let (m, faults) = partial(spec, bad);
        assert_eq!(m, mti_only(&echo()), "{name}");
        assert_eq!(
            faults,
            [DecodeError::Truncated {
                field: Some(1),
                offset: 4 + bm,
                needed: bm / 2
            }]
        );
    }
    // In ASCII, 16 characters that are not all hex are not a bitmap: a damaged one, or no
    // bitmap and field data in its place. Either way the fields' positions are unknown.
    let ascii = spec("iso87-ascii");
    let good = echo().encode(ascii).unwrap();
    let bad = splice(&good, 20, 16, b"04000000000000Z0");
    let (m, faults) = partial(ascii, &bad);
    assert_eq!(m, mti_only(&echo()));
    assert_eq!(
        faults,
        [DecodeError::InvalidBitmap {
            field: Some(1),
            offset: 34
        }]
    );
}

#[test]
fn with_a_secondary_bitmap_a_reading_that_holds_together_is_kept() {
    for name in SPECS {
        let spec = spec(name);
        let good = echo().encode(spec).unwrap();
        let de7 = value_at(spec, &good, 7);
        let bad = splice(&good, de7, 4, b"11XX");
        let (m, faults) = partial(spec, &bad);
        assert_eq!(m, without(&echo(), &[7]), "{name}");
        assert_eq!(
            faults,
            [DecodeError::InvalidContent {
                field: Some(7),
                offset: de7 + 2
            }]
        );
    }
}

#[test]
fn bytes_left_over_after_a_fault_are_a_reading_out_of_step() {
    for name in SPECS {
        let spec = spec(name);
        let good = purchase().encode(spec).unwrap();
        let pan = value_at(spec, &good, 2);
        // With no other fault, bytes left over keep what was read (it is answered 30).
        let mut padded = good.clone();
        padded.extend_from_slice(b"xx");
        let (m, faults) = partial(spec, &padded);
        assert_eq!(m, purchase());
        assert!(matches!(
            faults[..],
            [DecodeError::TrailingBytes { count: 2, .. }]
        ));
        // After a fault passed over, they say the reading did not hold together.
        let mut bad = splice(&good, pan, 1, b"Z");
        bad.extend_from_slice(b"xx");
        let (m, faults) = partial(spec, &bad);
        assert_eq!(m, mti_only(&purchase()), "{name}");
        assert_eq!(faults.len(), 2);
    }
}

/// Every field of two realistic requests, damaged in each way its definition allows, in every
/// built-in spec: each time, the other fields come back as they were, with one fault. (The
/// `round_trip` fuzz target runs the same check on drawn messages.)
#[test]
fn any_one_damaged_field_leaves_every_other_field_readable() {
    for name in Spec::builtin_names() {
        let spec = Spec::builtin(name).unwrap();
        for m in [common::auth_request(spec), purchase()] {
            if spec.version() != iso8583::VersionRule::Iso1987 && m.mti().as_str() == "0100" {
                continue;
            }
            let wire = m.encode(spec).unwrap();
            let fields = m.fields().count();
            let (mut content, mut too_long) = (0, 0);
            for i in 0..fields {
                for at in [0, 5] {
                    content +=
                        usize::from(damaged_field(spec, &wire, i, Damage::Content, at, false));
                }
                for extra in [false, true] {
                    too_long +=
                        usize::from(damaged_field(spec, &wire, i, Damage::TooLong, 0, extra));
                }
            }
            eprintln!(
                "{name} {}: {content} content, {too_long} too long of {fields}",
                m.mti()
            );
            // Every field but the binary ones has a class to break (twice); DE 2, 32 and 35
            // have room above their maximum in every built-in spec.
            assert!(content >= 2 * (fields - 2), "{name}: {content} of {fields}");
            assert!(too_long >= 4, "{name}: {too_long}");
        }
    }
}
