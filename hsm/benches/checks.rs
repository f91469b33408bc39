//! Each check's cost, on the software back end and (when the environment provides a token, as
//! scripts/test does) on PKCS#11 over SoftHSM2, against a baseline measured in the same run:
//! one TDES block encrypted through each back end (a one-block ISO 9797-1 algorithm 1 MAC: the
//! primitive every check is built from plus the trait's own overhead; for the token, one
//! `C_Encrypt` round trip, which every token step pays).
//!
//! ```sh
//! cargo bench -p hsm --bench checks
//! # with a token: the environment scripts/test exports (SOFTHSM2_CONF, TEST_PKCS11_MODULE,
//! # TEST_PKCS11_TOKEN, TEST_PKCS11_PIN)
//! ```

use std::collections::BTreeMap;
use std::hint::black_box;
use std::path::PathBuf;

use criterion::{criterion_group, criterion_main, Criterion};
use hex_literal::hex;
use hsm::pkcs11::{self, PinSource, Pkcs11Key, Pkcs11KeyVersion};
use hsm::{
    cvv, emv, ArpcResponse, ArqcRequest, ClearPin, Cvn, Hsm, KeyFile, KeyName, MacAlgorithm,
    PinBlockFormat, Pkcs11Config, Pkcs11Hsm, SoftwareHsm,
};

const PAN: &str = "4761739001010119";

fn keys() -> KeyFile {
    KeyFile::load(&PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures/keys.toml")).unwrap()
}

struct Inputs {
    block: Vec<u8>,
    pvv: String,
    cvv2: String,
    arqc10: ArqcRequest,
    arqc18: ArqcRequest,
    message: Vec<u8>,
}

fn inputs(keys: &KeyFile) -> Inputs {
    let soft = SoftwareHsm::from_key_file(keys.clone());
    let pin = ClearPin::new("1234").unwrap();
    let block = soft
        .encrypt_pin_block(&KeyName::new("zpk"), PinBlockFormat::Iso0, PAN, &pin)
        .unwrap();
    let pvv = soft
        .pvv_for_clear_pin(&KeyName::new("pvk"), 1, PAN, &pin)
        .unwrap();
    let cvv2 = cvv::generate(keys.key("cvk").unwrap(), PAN, "2812", "000").unwrap();
    let arqc = |cvn: Cvn, iad: &[u8], response: ArpcResponse| {
        let mut data =
            hex!("000000001500 000000000000 0840 0000008000 0840 251125 00 A1B2C3D4 5C00 0042")
                .to_vec();
        data.extend_from_slice(if cvn == Cvn::Visa10 { &iad[3..7] } else { iad });
        let card =
            emv::card_key(keys.key("imk_ac").unwrap(), cvn, PAN, "01", hex!("0042")).unwrap();
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
    };
    Inputs {
        block,
        pvv,
        cvv2,
        arqc10: arqc(
            Cvn::Visa10,
            &hex!("06010A03A00000"),
            ArpcResponse::Arc(*b"00"),
        ),
        arqc18: arqc(
            Cvn::Visa18,
            &hex!("06011203A00000"),
            ArpcResponse::Csu {
                csu: [0; 4],
                proprietary: vec![],
            },
        ),
        // About the size of an 0100 with DE 55 (the iso8583 bench's is 238 bytes).
        message: (0..240u8).collect(),
    }
}

fn checks(c: &mut Criterion, group: &str, h: &dyn Hsm, i: &Inputs) {
    let k = KeyName::new;
    let mut g = c.benchmark_group(group);
    g.bench_function("pin_verify_pvv_iso0", |b| {
        b.iter(|| {
            h.verify_pin_pvv(
                &k("zpk"),
                black_box(&i.block),
                PinBlockFormat::Iso0,
                PAN,
                &k("pvk"),
                1,
                &i.pvv,
            )
            .unwrap()
        })
    });
    g.bench_function("cvv2_verify", |b| {
        b.iter(|| {
            h.verify_cvv(&k("cvk"), PAN, "2812", "000", black_box(&i.cvv2))
                .unwrap()
        })
    });
    g.bench_function("arqc_verify_cvn10", |b| {
        b.iter(|| h.verify_arqc(&k("imk_ac"), black_box(&i.arqc10)).unwrap())
    });
    g.bench_function("arqc_verify_cvn18", |b| {
        b.iter(|| h.verify_arqc(&k("imk_ac"), black_box(&i.arqc18)).unwrap())
    });
    g.bench_function("mac3_generate_240B", |b| {
        b.iter(|| {
            h.generate_mac(&k("mak"), MacAlgorithm::DE64, black_box(&i.message))
                .unwrap()
        })
    });
    g.finish();
}

fn software(c: &mut Criterion) {
    let keys = keys();
    let i = inputs(&keys);
    let h = SoftwareHsm::from_key_file(keys);
    c.bench_function("baseline/tdes_block_software", |b| {
        // One TDES block through the back end: a one-block MAC with algorithm 1 is exactly that.
        b.iter(|| {
            h.generate_mac(
                &KeyName::new("zpk"),
                MacAlgorithm::Iso9797Alg1(hsm::Padding::Method1),
                black_box(&[0x11u8; 8]),
            )
            .unwrap()
        })
    });
    checks(c, "software", &h, &i);
}

fn token(c: &mut Criterion) {
    let (Ok(module), Ok(token), Ok(_)) = (
        std::env::var("TEST_PKCS11_MODULE"),
        std::env::var("TEST_PKCS11_TOKEN"),
        std::env::var("TEST_PKCS11_PIN"),
    ) else {
        eprintln!("no TEST_PKCS11_MODULE/TOKEN/PIN: PKCS#11 benches skipped");
        return;
    };
    let keys = keys();
    let i = inputs(&keys);
    let run = std::process::id();
    let mut map = BTreeMap::new();
    for name in keys.names() {
        let v = &keys.versions(&KeyName::new(name)).unwrap()[0];
        let current = Pkcs11KeyVersion {
            label: format!("bench{run}-{name}"),
            version: Some(v.version),
            kcv: None,
            pvki: v.pvki,
        };
        map.insert(
            name.to_string(),
            Pkcs11Key {
                current,
                previous: None,
            },
        );
    }
    let config = Pkcs11Config {
        module: module.into(),
        token,
        pin: PinSource::Env("TEST_PKCS11_PIN".into()),
        keys: map,
    };
    pkcs11::import_key_file(&config, &keys).unwrap();
    let h = Pkcs11Hsm::open(config.clone()).unwrap();
    c.bench_function("baseline/tdes_block_in_token", |b| {
        // One C_Encrypt round trip: a MAC over one block with algorithm 1 is exactly that.
        b.iter(|| {
            h.generate_mac(
                &KeyName::new("zpk"),
                MacAlgorithm::Iso9797Alg1(hsm::Padding::Method1),
                black_box(&[0x11u8; 8]),
            )
            .unwrap()
        })
    });
    checks(c, "pkcs11", &h, &i);
    pkcs11::delete_key_objects(&config).unwrap();
}

criterion_group!(benches, software, token);
criterion_main!(benches);
