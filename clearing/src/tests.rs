use super::*;

fn sample() -> Vec<Presentment> {
    vec![
        Presentment {
            function_code: "200".into(),
            pan: "4761739001010077".into(),
            amount_minor: 10_000,
            currency: "410".into(),
            arn: "74123456789012345678901".into(),
            approval_code: Some("A1B2C3".into()),
            mcc: Some("5812".into()),
            local_date: Some((2026, 11, 25)),
        },
        Presentment {
            function_code: "282".into(),
            pan: "4761739001010077".into(),
            amount_minor: 2_500,
            currency: "KRW".into(),
            arn: "74123456789012345678902".into(),
            approval_code: None,
            mcc: None,
            local_date: None,
        },
    ]
}

fn file(layout: Layout, ps: &[Presentment]) -> Vec<u8> {
    let mut out = Vec::new();
    write_file(layout, "F-2026-11-25-001", ps, &mut out).unwrap();
    out
}

#[test]
fn every_layout_reads_back_what_was_written() {
    for layout in [Layout::Ascii, Layout::Ebcdic, Layout::JsonLines] {
        let bytes = file(layout, &sample());
        let s = check(&bytes[..]).unwrap();
        assert_eq!(s.layout, layout);
        assert_eq!(s.file_id, "F-2026-11-25-001");
        assert_eq!((s.presentments, s.total_minor), (2, 12_500));
        let got: Vec<Presentment> = Records::new(&bytes[..])
            .unwrap()
            .map(|m| m.unwrap())
            .filter(|m| kind(m) == Kind::Presentment)
            .map(|m| Presentment::from_message(&m).unwrap())
            .collect();
        assert_eq!(got, sample(), "{layout:?}");
    }
}

#[test]
fn the_ebcdic_layout_is_ebcdic_with_a_binary_bitmap() {
    let bytes = file(Layout::Ebcdic, &sample());
    // RDW, then MTI 1644 in EBCDIC, then 8 bytes of binary bitmap (bit 1: a secondary).
    assert_eq!(&bytes[4..8], &[0xF1, 0xF6, 0xF4, 0xF4]);
    assert_eq!(bytes[8] & 0x80, 0x80);
}

#[test]
fn a_trailer_that_disagrees_refuses_the_file() {
    let mut out = Vec::new();
    let l = Layout::Ascii;
    write_record(l, &header_message("F1").unwrap(), &mut out).unwrap();
    for (i, p) in sample().iter().enumerate() {
        write_record(l, &presentment_message(p, i as u64).unwrap(), &mut out).unwrap();
    }
    let mut bad_count = out.clone();
    write_record(l, &trailer_message(3, 12_500).unwrap(), &mut bad_count).unwrap();
    assert!(matches!(
        check(&bad_count[..]),
        Err(FileError::Count {
            claimed: 3,
            found: 2
        })
    ));
    let mut bad_total = out.clone();
    write_record(l, &trailer_message(2, 12_501).unwrap(), &mut bad_total).unwrap();
    assert!(matches!(
        check(&bad_total[..]),
        Err(FileError::Total { .. })
    ));
    assert!(matches!(check(&out[..]), Err(FileError::NoTrailer)));
    // Something after the trailer; a file without its header.
    let mut after = file(l, &sample());
    write_record(l, &header_message("F2").unwrap(), &mut after).unwrap();
    assert!(matches!(
        check(&after[..]),
        Err(FileError::Structure { .. })
    ));
    let mut headless = Vec::new();
    write_record(l, &trailer_message(0, 0).unwrap(), &mut headless).unwrap();
    assert!(matches!(
        check(&headless[..]),
        Err(FileError::Structure { .. })
    ));
}

#[test]
fn lengths_are_checked_before_anything_is_allocated() {
    let mut bytes = file(Layout::Ascii, &sample());
    // A record claiming 4 GiB: refused from its length alone.
    let at = bytes.len();
    bytes.extend_from_slice(&[0xFF, 0xFF, 0xFF, 0xFF]);
    bytes.extend_from_slice(b"1644");
    assert!(matches!(
        Records::new(&bytes[..]).unwrap().nth(4),
        Some(Err(FileError::Length { .. }))
    ));
    // Cut inside a record.
    let cut = &bytes[..at - 3];
    assert!(matches!(check(cut), Err(FileError::Truncated { .. })));
    // A JSON line over the limit.
    let long = format!(
        "{{\"mti\":\"1644\",\"x\":\"{}\"}}\n",
        "a".repeat(MAX_LINE_LEN)
    );
    assert!(matches!(
        check(long.as_bytes()),
        Err(FileError::Length { .. })
    ));
    assert!(matches!(
        check(&b"garbage"[..]),
        Err(FileError::Unrecognised)
    ));
    assert!(matches!(check(&b""[..]), Err(FileError::Unrecognised)));
}

#[test]
fn a_presentment_without_what_posting_needs_is_explained_without_its_pan() {
    let mut m = presentment_message(&sample()[0], 1).unwrap();
    m.remove(31);
    let e = Presentment::from_message(&m).unwrap_err();
    assert!(e.contains("DE 31"));
    let dbg = format!("{:?}", sample()[0]);
    assert!(!dbg.contains("4761739001010077"));
}

proptest::proptest! {
    #[test]
    fn garbage_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..600)) {
        let _ = check(&bytes[..]);
        let mut framed = vec![0, 0, 0, bytes.len().min(255) as u8];
        framed.extend_from_slice(b"1644");
        framed.extend_from_slice(&bytes);
        let _ = check(&framed[..]);
        if let Ok(r) = Records::new(&framed[..]) {
            for m in r.flatten() {
                let _ = Presentment::from_message(&m);
            }
        }
    }
}
