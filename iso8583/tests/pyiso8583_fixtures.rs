//! Bytes produced by pyiso8583 (tests/data/make_pyiso8583_fixtures.py) decode to the values
//! pyiso8583 decodes, and our encoder writes the very same bytes.

use iso8583::tlv::ber;
use iso8583::{decode, OwnedMessage, Spec};
use std::path::PathBuf;

const NAMES: [&str; 3] = ["auth_0100_icc", "reversal_0400_de90", "network_0800_echo"];
const SPECS: [&str; 2] = ["iso87-binary", "iso87-ascii"];

fn data(file: &str) -> String {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(file);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn wire(name: &str, spec: &str) -> Vec<u8> {
    hex::decode(data(&format!("{name}.{spec}.hex")).trim()).unwrap()
}

#[test]
fn pyiso8583_bytes_decode_to_pyiso8583_values_and_re_encode_identically() {
    for name in NAMES {
        let expected: serde_json::Value =
            serde_json::from_str(&data(&format!("{name}.json"))).unwrap();
        for spec_name in SPECS {
            let spec = Spec::builtin(spec_name).unwrap();
            let bytes = wire(name, spec_name);
            let msg = decode(spec, &bytes).unwrap_or_else(|e| panic!("{name} {spec_name}: {e}"));
            let owned = msg.to_owned_message();
            assert_eq!(owned.to_json(spec), expected, "{name} {spec_name}");
            let from_json = OwnedMessage::from_json(spec, &expected).unwrap();
            assert_eq!(from_json, owned, "{name} {spec_name}");
            assert_eq!(from_json.encode(spec).unwrap(), bytes, "{name} {spec_name}");
        }
    }
}

#[test]
fn authorization_fields_read_as_the_gateway_reads_them() {
    for spec_name in SPECS {
        let spec = Spec::builtin(spec_name).unwrap();
        let bytes = wire("auth_0100_icc", spec_name);
        let m = decode(spec, &bytes).unwrap();
        assert_eq!(m.mti().as_str(), "0100");
        assert_eq!(m.mti().response().as_str(), "0110");
        assert_eq!(m.text(4).as_deref(), Some("000000001500"));
        assert_eq!(m.text(49).as_deref(), Some("840"));
        assert_eq!(m.text(52).as_deref(), Some("A1B2C3D4E5F60718"));
        let icc = m.bytes(55).unwrap();
        let ac = ber::find(&icc, 0x9F26).unwrap().unwrap();
        assert_eq!(hex::encode_upper(ac.value()), "C2D1E0F1A2B3C4D5");
        let amount = ber::find(&icc, 0x9F02).unwrap().unwrap();
        assert_eq!(hex::encode_upper(amount.value()), "000000001500");
        assert_eq!(ber::iter(&icc).count(), 13);
    }
}

#[test]
fn reversal_original_data_elements() {
    let spec = Spec::builtin("iso87-binary").unwrap();
    let bytes = wire("reversal_0400_de90", "iso87-binary");
    let m = decode(spec, &bytes).unwrap();
    let de90 = m.text(90).unwrap();
    // original MTI, STAN, transmission date-time, acquirer, forwarder
    assert_eq!(&de90[..4], "0100");
    assert_eq!(&de90[4..10], "000123");
    assert_eq!(&de90[10..20], "1125063015");
    assert_eq!(m.mti().response().as_str(), "0410");
}

#[test]
fn network_management_echo() {
    for spec_name in SPECS {
        let spec = Spec::builtin(spec_name).unwrap();
        let bytes = wire("network_0800_echo", spec_name);
        let m = decode(spec, &bytes).unwrap();
        assert_eq!(m.fields().collect::<Vec<_>>(), [7, 11, 70]);
        assert_eq!(m.text(70).as_deref(), Some("301"));
    }
}
