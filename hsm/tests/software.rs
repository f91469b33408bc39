//! The software back end over `fixtures/keys.toml`: every check's answers, key versions and
//! rotation, reload, KCV refusal, and that no secret reaches an error or `Debug`.

use std::path::PathBuf;

use hex_literal::hex;
use hsm::{
    cvv, emv, mac, ArpcResponse, ArqcRequest, ArqcVerdict, ClearPin, Cvn, Hsm, HsmError, KeyFile,
    KeyName, MacAlgorithm, PinBlockFormat, PinTranslation, PinVerdict, SoftwareHsm,
};

fn keys_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures/keys.toml")
}
fn sandbox() -> SoftwareHsm {
    SoftwareHsm::load(&keys_path()).unwrap()
}
fn k(n: &str) -> KeyName {
    KeyName::new(n)
}
fn pin(p: &str) -> ClearPin {
    ClearPin::new(p).unwrap()
}

const PAN: &str = "4761739001010119";

#[test]
fn the_sandbox_key_file_loads_with_its_stated_kcvs() {
    let h = sandbox();
    let names: Vec<String> = h.keys().iter().map(|i| i.name.to_string()).collect();
    assert_eq!(names, ["cvk", "imk_ac", "mak", "pvk", "zpk", "zpk_aes"]);
    assert_eq!(h.kcv(&k("cvk")).unwrap(), hex!("08D7B4"));
    let pvk = h
        .keys()
        .into_iter()
        .find(|i| i.name.as_str() == "pvk")
        .unwrap();
    assert_eq!(pvk.versions[0].pvki, Some(1));
    assert!(matches!(
        h.kcv(&k("nope")),
        Err(HsmError::UnknownKey { .. })
    ));
}

#[test]
fn pin_verification_in_every_format() {
    let h = sandbox();
    let pvv = h
        .pvv_for_clear_pin(&k("pvk"), 1, PAN, &pin("1234"))
        .unwrap();
    for (zpk, format) in [
        ("zpk", PinBlockFormat::Iso0),
        ("zpk", PinBlockFormat::Iso1),
        ("zpk", PinBlockFormat::Iso3),
        ("zpk_aes", PinBlockFormat::Iso4),
    ] {
        let good = h
            .encrypt_pin_block(&k(zpk), format, PAN, &pin("1234"))
            .unwrap();
        let wrong = h
            .encrypt_pin_block(&k(zpk), format, PAN, &pin("4321"))
            .unwrap();
        let verify = |b: &[u8]| {
            h.verify_pin_pvv(&k(zpk), b, format, PAN, &k("pvk"), 1, &pvv)
                .unwrap()
        };
        assert_eq!(verify(&good), PinVerdict::Match, "{format:?}");
        assert_eq!(verify(&wrong), PinVerdict::Mismatch, "{format:?}");
        // A block under another key is garbage, not a wrong PIN. (Format 1 has no fill to check,
        // so its garbage is caught only when the control, length or digit checks fail; and the
        // sandbox has one AES key, so format 4 is checked in tests/vectors.rs.)
        if zpk == "zpk" && format != PinBlockFormat::Iso1 {
            let garbage = h
                .encrypt_pin_block(&k("mak"), format, PAN, &pin("1234"))
                .unwrap();
            assert!(
                matches!(verify(&garbage), PinVerdict::Malformed(_)),
                "{format:?}"
            );
        }
        // Formats 0, 3 and 4 bind the PAN: the right PIN for another card does not pass.
        if format.uses_pan() {
            let r = h
                .verify_pin_pvv(
                    &k(zpk),
                    &good,
                    format,
                    "4761739001010127",
                    &k("pvk"),
                    1,
                    &pvv,
                )
                .unwrap();
            assert_ne!(r, PinVerdict::Match, "{format:?}");
        }
    }
    // The PVK is chosen by PVKI: an index the file does not hold is an error, not a mismatch.
    let b = h
        .encrypt_pin_block(&k("zpk"), PinBlockFormat::Iso0, PAN, &pin("1234"))
        .unwrap();
    let e = h
        .verify_pin_pvv(&k("zpk"), &b, PinBlockFormat::Iso0, PAN, &k("pvk"), 2, &pvv)
        .unwrap_err();
    assert!(e.to_string().contains("PVKI 2"), "{e}");
    // Wrong lengths and kinds are input errors.
    assert!(h
        .verify_pin_pvv(
            &k("zpk"),
            &b[..7],
            PinBlockFormat::Iso0,
            PAN,
            &k("pvk"),
            1,
            &pvv
        )
        .is_err());
    assert!(h
        .verify_pin_pvv(
            &k("zpk_aes"),
            &b,
            PinBlockFormat::Iso0,
            PAN,
            &k("pvk"),
            1,
            &pvv
        )
        .is_err());
}

#[test]
fn pin_translation_changes_key_and_format_inside_the_back_end() {
    let h = sandbox();
    let pvv = h
        .pvv_for_clear_pin(&k("pvk"), 1, PAN, &pin("98765"))
        .unwrap();
    let b0 = h
        .encrypt_pin_block(&k("zpk"), PinBlockFormat::Iso0, PAN, &pin("98765"))
        .unwrap();
    let PinTranslation::Block(b4) = h
        .translate_pin(
            &k("zpk"),
            PinBlockFormat::Iso0,
            &b0,
            &k("zpk_aes"),
            PinBlockFormat::Iso4,
            PAN,
        )
        .unwrap()
    else {
        panic!("translation refused")
    };
    assert_eq!(b4.len(), 16);
    assert_eq!(
        h.verify_pin_pvv(
            &k("zpk_aes"),
            &b4,
            PinBlockFormat::Iso4,
            PAN,
            &k("pvk"),
            1,
            &pvv
        )
        .unwrap(),
        PinVerdict::Match
    );
    let garbage = [0x55u8; 8];
    assert!(matches!(
        h.translate_pin(
            &k("zpk"),
            PinBlockFormat::Iso0,
            &garbage,
            &k("zpk"),
            PinBlockFormat::Iso3,
            PAN
        )
        .unwrap(),
        PinTranslation::Malformed(_)
    ));
}

#[test]
fn cvv_icvv_and_cvv2_use_their_service_codes() {
    let h = sandbox();
    assert!(h
        .verify_cvv(&k("cvk"), "4123456789012345", "8701", "101", "561")
        .unwrap());
    assert!(!h
        .verify_cvv(&k("cvk"), "4123456789012345", "8701", "101", "562")
        .unwrap());
    let keys = KeyFile::load(&keys_path()).unwrap();
    let cvk = keys.key("cvk").unwrap();
    for sc in ["201", cvv::ICVV_SERVICE_CODE, cvv::CVV2_SERVICE_CODE] {
        let code = cvv::generate(cvk, PAN, "2812", sc).unwrap();
        assert!(h.verify_cvv(&k("cvk"), PAN, "2812", sc, &code).unwrap());
    }
    let cvv2 = cvv::generate(cvk, PAN, "2812", "000").unwrap();
    let icvv = cvv::generate(cvk, PAN, "2812", "999").unwrap();
    assert_ne!(
        cvv2, icvv,
        "for this card the codes differ, so the check below means something"
    );
    assert!(!h.verify_cvv(&k("cvk"), PAN, "2812", "999", &cvv2).unwrap());
    assert!(h.verify_cvv(&k("cvk"), PAN, "2812", "000", "12x").is_err());
}

fn sandbox_arqc(cvn: Cvn, response: ArpcResponse) -> ArqcRequest {
    let keys = KeyFile::load(&keys_path()).unwrap();
    let iad: &[u8] = match cvn {
        Cvn::Visa10 => &hex!("06010A03A00000"),
        Cvn::Visa18 => &hex!("06011203A00000"),
    };
    let mut data =
        hex!("000000001500 000000000000 0840 0000008000 0840 251125 00 A1B2C3D4 5C00 0042")
            .to_vec();
    data.extend_from_slice(if cvn == Cvn::Visa10 { &iad[3..7] } else { iad });
    let card = emv::card_key(keys.key("imk_ac").unwrap(), cvn, PAN, "01", hex!("0042")).unwrap();
    let arqc = emv::generate_ac(&card, cvn, &data).unwrap();
    ArqcRequest {
        cvn,
        pan: PAN.into(),
        psn: "01".into(),
        atc: hex!("0042"),
        data,
        arqc,
        response,
    }
}

#[test]
fn arqc_verification_gives_tag_91_per_cvn() {
    let h = sandbox();
    let req = sandbox_arqc(Cvn::Visa10, ArpcResponse::Arc(*b"00"));
    let ArqcVerdict::Valid {
        tag_91,
        key_version,
    } = h.verify_arqc(&k("imk_ac"), &req).unwrap()
    else {
        panic!("refused")
    };
    assert_eq!(
        (tag_91.len(), &tag_91[8..], key_version),
        (10, &b"00"[..], 1)
    );
    // After a decline the ARPC is regenerated with the new ARC.
    let mut declined = req.clone();
    declined.response = ArpcResponse::Arc(*b"51");
    let t = h.generate_arpc(&k("imk_ac"), 1, &declined).unwrap();
    assert_eq!(&t[8..], b"51");
    assert_ne!(&t[..8], &tag_91[..8]);

    let req = sandbox_arqc(
        Cvn::Visa18,
        ArpcResponse::Csu {
            csu: hex!("00820000"),
            proprietary: vec![],
        },
    );
    let ArqcVerdict::Valid { tag_91, .. } = h.verify_arqc(&k("imk_ac"), &req).unwrap() else {
        panic!("refused")
    };
    assert_eq!((tag_91.len(), &tag_91[4..]), (8, &hex!("00820000")[..]));

    let mut forged = req.clone();
    forged.arqc[7] ^= 1;
    assert_eq!(
        h.verify_arqc(&k("imk_ac"), &forged).unwrap(),
        ArqcVerdict::Invalid
    );
    let mut other_card = req;
    other_card.pan = "4761739001010127".into();
    assert_eq!(
        h.verify_arqc(&k("imk_ac"), &other_card).unwrap(),
        ArqcVerdict::Invalid
    );
}

#[test]
fn de64_macs() {
    let h = sandbox();
    let msg = b"0100\x72\x34some message bytes before DE 64";
    let m = h.generate_mac(&k("mak"), MacAlgorithm::DE64, msg).unwrap();
    let keys = KeyFile::load(&keys_path()).unwrap();
    assert_eq!(
        m,
        mac::generate(keys.key("mak").unwrap(), MacAlgorithm::DE64, msg).unwrap()
    );
    assert!(h
        .verify_mac(&k("mak"), MacAlgorithm::DE64, msg, &m)
        .unwrap());
    assert!(!h
        .verify_mac(&k("mak"), MacAlgorithm::DE64, &msg[1..], &m)
        .unwrap());
    assert!(!h
        .verify_mac(&k("cvk"), MacAlgorithm::DE64, msg, &m)
        .unwrap());
}

const ROTATING: &str = r#"
[keys.zpk]
version = 2
value = "385D25042FC20BD0D551E61FAE4C8385"
kcv = "83FFFF"
[keys.zpk.previous]
version = 1
value = "253E0EF762ADFDA2BAB92634573EA408"
kcv = "73731A"

[keys.pvk]
value = "013D6DB0A4753B86DF4C7367DA98FBC1"
kcv = "578437"
pvki = 1

[keys.cvk]
version = 2
value = "0123456789ABCDEFFEDCBA9876543210"
kcv = "08D7B4"
[keys.cvk.previous]
version = 1
value = "99999999999999998888888888888888"
kcv = "DCA506"
"#;

#[test]
fn two_versions_live_during_a_rotation() {
    let keys = KeyFile::from_toml(ROTATING, "test").unwrap();
    let old_zpk = keys.versions(&k("zpk").at_version(1)).unwrap()[0]
        .key
        .clone();
    let h = SoftwareHsm::from_key_file(keys);
    let info = h
        .keys()
        .into_iter()
        .find(|i| i.name.as_str() == "zpk")
        .unwrap();
    assert_eq!(
        info.versions
            .iter()
            .map(|v| (v.version, v.current))
            .collect::<Vec<_>>(),
        [(2, true), (1, false)]
    );
    let pvv = h
        .pvv_for_clear_pin(&k("pvk"), 1, PAN, &pin("2468"))
        .unwrap();
    // A block under the old ZPK still verifies; so does one under the new.
    let old_block =
        hsm::pinblock::encrypt_pin(&old_zpk, PinBlockFormat::Iso0, &pin("2468"), PAN).unwrap();
    let new_block = h
        .encrypt_pin_block(&k("zpk"), PinBlockFormat::Iso0, PAN, &pin("2468"))
        .unwrap();
    for b in [&old_block, &new_block] {
        assert_eq!(
            h.verify_pin_pvv(&k("zpk"), b, PinBlockFormat::Iso0, PAN, &k("pvk"), 1, &pvv)
                .unwrap(),
            PinVerdict::Match
        );
    }
    // Pinned to version 2, the old block is garbage.
    let r = h
        .verify_pin_pvv(
            &k("zpk").at_version(2),
            &old_block,
            PinBlockFormat::Iso0,
            PAN,
            &k("pvk"),
            1,
            &pvv,
        )
        .unwrap();
    assert!(matches!(r, PinVerdict::Malformed(_)));
    // CVVs under either CVK pass unpinned; pinned, only the named version does.
    assert!(h
        .verify_cvv(&k("cvk"), "2222222222222222", "3333", "111", "361")
        .unwrap());
    assert!(!h
        .verify_cvv(
            &k("cvk").at_version(2),
            "2222222222222222",
            "3333",
            "111",
            "361"
        )
        .unwrap());
    assert!(h
        .verify_cvv(
            &k("cvk").at_version(1),
            "2222222222222222",
            "3333",
            "111",
            "361"
        )
        .unwrap());
    assert!(matches!(
        h.kcv(&k("cvk").at_version(3)),
        Err(HsmError::UnknownKey { .. })
    ));
}

#[test]
fn reload_swaps_keys_only_when_the_whole_file_checks() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keys.toml");
    std::fs::write(&path, std::fs::read_to_string(keys_path()).unwrap()).unwrap();
    let h = SoftwareHsm::load(&path).unwrap();
    assert_eq!(h.kcv(&k("cvk")).unwrap(), hex!("08D7B4"));
    std::fs::write(&path, ROTATING).unwrap();
    h.reload().unwrap();
    assert_eq!(
        h.keys()
            .iter()
            .find(|i| i.name.as_str() == "cvk")
            .unwrap()
            .versions
            .len(),
        2
    );
    // A file with a wrong KCV is refused and the loaded keys keep serving.
    std::fs::write(&path, ROTATING.replace("DCA506", "DCA500")).unwrap();
    let e = h.reload().unwrap_err();
    assert_eq!(
        e.to_string(),
        "key 'cvk' version 1: check value does not match the key"
    );
    assert!(h
        .verify_cvv(&k("cvk"), "2222222222222222", "3333", "111", "361")
        .unwrap());
}

#[test]
fn no_secret_reaches_an_error_or_debug() {
    let secret_key = "99999999999999998888888888888888";
    let texts = [
        KeyFile::from_toml(&ROTATING.replace("DCA506", "000000"), "f")
            .unwrap_err()
            .to_string(),
        KeyFile::from_toml(
            &format!("[keys.x]\nvalue = \"{secret_key}Z\"\nkcv = \"000000\"\n"),
            "f",
        )
        .unwrap_err()
        .to_string(),
        KeyFile::from_toml(
            &format!("[keys.x]\nvalue = \"{secret_key}\"\nkcv = 7\n"),
            "f",
        )
        .unwrap_err()
        .to_string(),
        KeyFile::from_toml(
            &format!(
                "[keys.x]\nvalue = \"{secret_key}\"\nkcv = \"000000\"\nextra = \"{secret_key}\"\n"
            ),
            "f",
        )
        .unwrap_err()
        .to_string(),
        format!("{:?}", KeyFile::from_toml(ROTATING, "f").unwrap()),
        format!("{:?}", ClearPin::new("987654").unwrap()),
        ClearPin::new("98765x").unwrap_err().to_string(),
        format!("{:?}", sandbox_arqc(Cvn::Visa10, ArpcResponse::Arc(*b"00"))),
        sandbox()
            .verify_cvv(&k("cvk"), PAN, "2812", "000", "98765")
            .unwrap_err()
            .to_string(),
        sandbox()
            .verify_pin_pvv(
                &k("zpk"),
                &[0x55; 8],
                PinBlockFormat::Iso0,
                PAN,
                &k("pvk"),
                1,
                "98x5",
            )
            .unwrap_err()
            .to_string(),
    ];
    for t in &texts {
        for s in [
            secret_key,
            "9999999999",
            "8888888888",
            "987654",
            "98765",
            PAN,
            "5555555555",
            "FEDCBA98",
        ] {
            assert!(!t.contains(s), "{t:?} shows {s}");
        }
    }
    assert!(texts[0].contains("'cvk'"), "{}", texts[0]);
    assert!(texts[2].contains("line 3"), "{}", texts[2]);
    assert!(texts[7].contains("476173******0119"), "{}", texts[7]);
}
