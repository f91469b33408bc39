//! The encoder: logical values to wire bytes in any spec, bitmaps derived from the fields
//! present. Values are checked against their field's length and class, so what it writes always
//! decodes back to the same message.

use crate::bitmap::Bitmaps;
use crate::codec::{bcd, charset, ebcdic, hex, prefix};
use crate::error::EncodeError;
use crate::limits::MAX_MESSAGE_LEN;
use crate::owned::OwnedMessage;
use crate::spec::{BitmapEncoding, DataEncoding, FieldSpec, LengthType, MtiEncoding, Spec};

// The encoding methods of `OwnedMessage` live here, with the encoder, so that the message
// model does not depend on the encoder (and the encoder depends on the model only).
impl OwnedMessage {
    /// Encodes the message in `spec`.
    pub fn encode(&self, spec: &Spec) -> Result<Vec<u8>, EncodeError> {
        let mut out = Vec::with_capacity(self.encoded_len_hint());
        self.encode_into(spec, &mut out)?;
        Ok(out)
    }

    /// Appends the encoded message to `out` (on error `out` is left as it was).
    pub fn encode_into(&self, spec: &Spec, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let start = out.len();
        let result = encode_message(self, spec, out);
        if result.is_err() {
            out.truncate(start);
        }
        result
    }
}

fn encode_message(msg: &OwnedMessage, spec: &Spec, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    let start = out.len();
    write_header(msg, spec, out)?;
    write_mti(msg, spec, out)?;
    let mut bits = Bitmaps::default();
    for n in msg.fields() {
        if spec.field(n).is_none() {
            return Err(EncodeError::UndefinedField {
                field: n,
                spec: spec.name().to_string(),
            });
        }
        bits.set(n);
    }
    let tertiary = spec.has_tertiary_bitmap() && bits.0[2] != 0;
    if tertiary {
        bits.set(65);
    }
    if bits.0[1] != 0 {
        bits.set(1);
    }
    let enc = spec.bitmap_encoding();
    write_bitmap(enc, bits.0[0], out);
    if bits.has(1) {
        write_bitmap(enc, bits.0[1], out);
    }
    let mut tertiary_pending = tertiary;
    for (n, value) in msg.iter() {
        if tertiary_pending && n > 65 {
            // Field 65's place on the wire: after 64, before 66.
            write_bitmap(enc, bits.0[2], out);
            tertiary_pending = false;
        }
        if let Some(f) = spec.field(n) {
            write_field(f, value, out)?;
        }
    }
    let len = out.len() - start;
    if len > MAX_MESSAGE_LEN {
        return Err(EncodeError::MessageTooLong {
            len,
            max: MAX_MESSAGE_LEN,
        });
    }
    Ok(())
}

fn write_header(msg: &OwnedMessage, spec: &Spec, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    let expected = spec.header().map_or(0, |h| h.length);
    let given = msg.header().unwrap_or_default();
    if given.len() != expected {
        return Err(EncodeError::InvalidHeader {
            len: given.len(),
            expected,
        });
    }
    out.extend_from_slice(given);
    Ok(())
}

fn write_mti(msg: &OwnedMessage, spec: &Spec, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    let d = msg.mti().digits();
    if !spec.version().allows(d[0]) {
        return Err(EncodeError::InvalidMti {
            mti: msg.mti().to_string(),
            spec: spec.name().to_string(),
        });
    }
    match spec.mti_encoding() {
        MtiEncoding::Ascii => out.extend_from_slice(&d),
        MtiEncoding::Ebcdic => out.extend(d.iter().map(|&c| ebcdic::from_ascii(c))),
        MtiEncoding::Bcd => bcd::pack_into(&d, crate::spec::Padding::Left, 0, out),
    }
    Ok(())
}

fn write_bitmap(enc: BitmapEncoding, word: u64, out: &mut Vec<u8>) {
    match enc {
        BitmapEncoding::Binary => out.extend_from_slice(&word.to_be_bytes()),
        BitmapEncoding::HexAscii => hex::encode_upper_into(&word.to_be_bytes(), out),
        BitmapEncoding::HexEbcdic => {
            let at = out.len();
            hex::encode_upper_into(&word.to_be_bytes(), out);
            for b in &mut out[at..] {
                *b = ebcdic::from_ascii(*b);
            }
        }
    }
}

fn write_field(f: &FieldSpec, value: &[u8], out: &mut Vec<u8>) -> Result<(), EncodeError> {
    let len = value.len();
    let max = usize::from(f.max);
    let fixed = f.length == LengthType::Fixed;
    if (fixed && len != max) || len > max {
        return Err(EncodeError::InvalidLength {
            field: f.number,
            len,
            rule: if fixed {
                format!("exactly {max}")
            } else {
                format!("at most {max}")
            },
        });
    }
    if let Some(position) = charset::first_invalid(f.class, value) {
        return Err(EncodeError::InvalidContent {
            field: f.number,
            position,
        });
    }
    if !fixed {
        prefix::write(f.prefix, f.prefix_len(), f.prefix_value(len), out);
    }
    match f.data {
        DataEncoding::Ascii | DataEncoding::Binary => out.extend_from_slice(value),
        DataEncoding::Ebcdic => out.extend(value.iter().map(|&c| ebcdic::from_ascii(c))),
        DataEncoding::Bcd => bcd::pack_into(value, f.pad, f.filler, out),
        DataEncoding::HexAscii => hex::encode_upper_into(value, out),
    }
    Ok(())
}
