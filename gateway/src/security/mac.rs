//! "DE 64 / DE 128, message authentication code, b 8": ISO 9797-1 MAC algorithm 3 (retail
//! MAC), padding method 1, over the message bytes before the MAC field, under the listener's
//! `mak` (DESIGN.md "Card security"). DE 64 is the MAC of a message with no secondary
//! bitmap; DE 128 of one with it. Either is the message's last field on the wire, so "the
//! bytes before it" are the encoded message less the field's own bytes.

use iso8583::{OwnedMessage, Spec};

/// Where a request's MAC is, if it has one where a MAC belongs.
pub(crate) struct Located<'a> {
    /// The bytes the MAC covers.
    pub(crate) data: &'a [u8],
    /// The MAC as sent.
    pub(crate) mac: Vec<u8>,
}

/// The MAC's data element for a message whose highest other field is `highest`: DE 64 when
/// it has no secondary bitmap, else DE 128.
fn mac_field(highest: u16) -> u16 {
    if highest > 64 {
        128
    } else {
        64
    }
}

/// Bytes DE `n` takes on the wire in `spec` with an 8-byte value.
fn wire_len(spec: &Spec, n: u16) -> Option<usize> {
    let f = spec.field(n)?;
    Some(f.prefix_len() + f.wire_len(8))
}

/// The MAC and the bytes it covers in the encoded request `body` (decoded as `msg`); `None`
/// when the request has no MAC where one belongs (missing, DE 64 with fields above it, not 8
/// bytes).
pub(crate) fn locate<'a>(spec: &Spec, msg: &OwnedMessage, body: &'a [u8]) -> Option<Located<'a>> {
    let highest = msg
        .fields()
        .filter(|&n| n != 64 && n != 128)
        .max()
        .unwrap_or(0);
    let n = mac_field(highest);
    let mac = msg.get(n)?;
    // DE 64 in a message with a secondary bitmap (or DE 128 without fields above 64) is not
    // where a MAC belongs.
    if mac.len() != 8 || (n == 128 && msg.has(64)) {
        return None;
    }
    let len = wire_len(spec, n)?;
    let data = body.get(..body.len().checked_sub(len)?)?;
    Some(Located {
        data,
        mac: mac.to_vec(),
    })
}

/// An answer encoded with a placeholder MAC: the MAC goes in field `n`, whose bytes start at
/// `at` (the MAC covers `bytes[..at]`).
pub(crate) struct Prepared {
    pub(crate) bytes: Vec<u8>,
    pub(crate) at: usize,
    n: u16,
}

/// Sets `resp`'s MAC field to a placeholder and returns it encoded (the caller computes the
/// MAC over the bytes before it and [`write`]s it there).
pub(crate) fn prepare(spec: &Spec, resp: &mut OwnedMessage) -> Option<Prepared> {
    resp.remove(64);
    resp.remove(128);
    let highest = resp.fields().max().unwrap_or(0);
    let n = mac_field(highest);
    resp.set(n, [0u8; 8]);
    let bytes = resp.encode(spec).ok()?;
    let len = wire_len(spec, n)?;
    let at = bytes.len().checked_sub(len)?;
    Some(Prepared { bytes, at, n })
}

/// Writes `mac` into the prepared answer as the spec encodes an 8-byte binary field.
pub(crate) fn write(spec: &Spec, p: &mut Prepared, mac: &[u8; 8]) -> bool {
    let Some(f) = spec.field(p.n) else {
        return false;
    };
    let encoded: Vec<u8> = match f.wire_len(8) {
        8 => mac.to_vec(),
        16 => hex::encode_upper(mac).into_bytes(),
        _ => return false,
    };
    let start = p.at + f.prefix_len();
    let Some(dst) = p.bytes.get_mut(start..start + encoded.len()) else {
        return false;
    };
    dst.copy_from_slice(&encoded);
    true
}
