//! Shared test data, also compiled into the codec bench and bench/peers (`#[path]`).

use iso8583::{Mti, OwnedMessage, Spec, VersionRule};

/// A realistic authorization request: 15 fields including track 2, a PIN block and ICC data,
/// valid in every built-in spec (1993 specs get MTI 1100).
pub fn auth_request(spec: &Spec) -> OwnedMessage {
    let mti = if spec.version() == VersionRule::Iso1993 {
        "1100"
    } else {
        "0100"
    };
    let icc = hex::decode(
        "9F02060000000015009F03060000000000009F1A0208405F2A020840950500000080009A03251125\
         9C01009F3704A1B2C3D49F2608C2D1E0F1A2B3C4D59F270180",
    )
    .unwrap();
    OwnedMessage::new(mti.parse::<Mti>().unwrap())
        .with(2, "4761739001010119")
        .with(3, "000000")
        .with(4, "000000001500")
        .with(7, "1125063015")
        .with(11, "000123")
        .with(14, "2812")
        .with(18, "5411")
        .with(32, "12345678901")
        .with(35, "4761739001010119=28122011143804400000")
        .with(37, "532914000123")
        .with(41, "TERM0001")
        .with(42, "MERCHANT0000001")
        .with(49, "840")
        .with(52, hex::decode("A1B2C3D4E5F60718").unwrap())
        .with(55, icc)
}

/// What the switch answers with (gateway's `respond`, which this crate cannot call): the
/// request's response MTI, the fields a network expects echoed, then `extra`.
#[allow(dead_code)] // bench/peers compiles this file too and answers nothing
pub fn respond(req: &OwnedMessage, extra: &[(u16, &str)]) -> OwnedMessage {
    let mut resp = OwnedMessage::new(req.mti().response());
    for n in [2, 3, 4, 7, 11, 12, 13, 32, 37, 41, 42, 49] {
        if let Some(v) = req.get(n) {
            resp.set(n, v);
        }
    }
    for &(n, v) in extra {
        resp.set(n, v);
    }
    resp
}
