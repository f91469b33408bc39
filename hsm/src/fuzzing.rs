//! The check behind the `hsm` fuzz target in `fuzz/`, kept in the library so that the test
//! suite (`tests/fuzz_regressions.rs`) replays every saved input through the same code. Panics
//! when a property breaks. Enabled by the `fuzzing` feature; not a stable API.
//!
//! Input: `[selector] [n] [n bytes: a PIN block] [the rest: DE 55]`. The selector picks the
//! PIN block format (bits 0-1), one of four PANs (bits 2-3), the response kind (bit 4), and
//! with bit 7 a PAN made of the input's own bytes (to exercise PAN validation).

use crate::emv::{self, ArpcResponse, ArqcRequest, ArqcVerdict};
use crate::error::HsmError;
use crate::pinblock::{self, PinBlockFormat};
use crate::secret::{ClearPin, Key};

const PANS: [&str; 4] = [
    "4761739001010119",
    "1234567890123456789",
    "12345678",
    "5413330089010012",
];
const FORMATS: [PinBlockFormat; 4] = [
    PinBlockFormat::Iso0,
    PinBlockFormat::Iso1,
    PinBlockFormat::Iso3,
    PinBlockFormat::Iso4,
];

/// Runs every check on one input.
pub fn card_security(data: &[u8]) {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let Some((&n, rest)) = rest.split_first() else {
        return;
    };
    let n = usize::from(n).min(rest.len()).min(32);
    let (block, de55) = rest.split_at(n);
    let own_pan;
    let pan = if sel & 0x80 != 0 {
        own_pan = String::from_utf8_lossy(&de55[..de55.len().min(19)]).into_owned();
        own_pan.as_str()
    } else {
        PANS[usize::from(sel >> 2) & 3]
    };
    let format = FORMATS[usize::from(sel & 3)];
    pin_blocks(format, block, pan);
    icc(pan, sel & 0x10 != 0, de55);
}

fn keys() -> (Key, Key) {
    let tdes = Key::from_hex("385D25042FC20BD0D551E61FAE4C8385", false).expect("test key");
    let aes = Key::from_hex("00112233445566778899AABBCCDDEEFF", true).expect("test key");
    (tdes, aes)
}

/// Shows nothing of the PAN in full (when it is one), nor any digit run of the block.
fn assert_clean(text: &str, pan: &str) {
    if pan.len() >= 8 && pan.bytes().all(|b| b.is_ascii_digit()) {
        assert!(!text.contains(pan), "error shows the PAN: {text}");
    }
}

fn pin_blocks(format: PinBlockFormat, block: &[u8], pan: &str) {
    // A clear block: decoding either refuses (with an error that shows no data) or yields a PIN
    // that encodes back to a block that decodes to the same PIN.
    match pinblock::decode(format, block, pan) {
        Ok(pin) => {
            assert!((4..=12).contains(&pin.len()));
            let again = pinblock::encode(format, &pin, pan).expect("a decoded PIN encodes");
            let field = if format == PinBlockFormat::Iso4 {
                &again[..]
            } else {
                &again[..8]
            };
            let back = pinblock::decode(format, field, pan).expect("re-encoded block decodes");
            assert!(back == pin, "decode(encode(pin)) != pin");
        }
        Err(e) => assert_clean(&e.to_string(), pan),
    }
    // An encrypted block: decryption never panics; a valid result round-trips through
    // encryption with the same key.
    let (tdes, aes) = keys();
    let key = if format == PinBlockFormat::Iso4 {
        &aes
    } else {
        &tdes
    };
    match pinblock::decrypt_pin(key, format, block, pan) {
        Ok(Ok(pin)) => {
            let enc = pinblock::encrypt_pin(key, format, &pin, pan).expect("encrypts");
            let dec = pinblock::decrypt_pin(key, format, &enc, pan)
                .expect("decrypts")
                .expect("well-formed");
            assert!(dec == pin, "decrypt(encrypt(pin)) != pin");
        }
        Ok(Err(_)) => {}
        Err(e) => assert_clean(&e.to_string(), pan),
    }
    let _ = ClearPin::new(&String::from_utf8_lossy(block));
}

fn icc(pan: &str, csu: bool, de55: &[u8]) {
    let response = if csu {
        ArpcResponse::Csu {
            csu: [0, 0x80, 0, 0],
            proprietary: de55.get(..3).unwrap_or(&[]).to_vec(),
        }
    } else {
        ArpcResponse::Arc(*b"00")
    };
    let req = match ArqcRequest::from_icc(pan, None, de55, response) {
        Ok(r) => r,
        Err(e) => {
            assert_clean(&e.to_string(), pan);
            if let HsmError::IccData { .. } = e {
                assert!(e.to_string().contains("tag"));
            }
            return;
        }
    };
    assert!(req.data.len() <= emv::MAX_CRYPTOGRAM_DATA);
    assert_clean(&format!("{req:?}"), pan);
    let (imk, _) = keys();
    let card = emv::card_key(&imk, req.cvn, &req.pan, &req.psn, req.atc).expect("derives");
    // The request's own cryptogram almost never verifies; the one the card would compute does,
    // and its tag 91 has the CVN's length.
    let verdict = emv::verify_with_card_key(&card, &req, 1).expect("verifies");
    let mut genuine = req.clone();
    genuine.arqc = emv::generate_ac(&card, req.cvn, &req.data).expect("computes");
    match emv::verify_with_card_key(&card, &genuine, 1).expect("verifies") {
        ArqcVerdict::Valid { tag_91, .. } => {
            let want = match &genuine.response {
                ArpcResponse::Arc(_) => 10,
                ArpcResponse::Csu { proprietary, .. } => 8 + proprietary.len(),
            };
            assert_eq!(tag_91.len(), want, "tag 91 length");
        }
        ArqcVerdict::Invalid => panic!("the card's own cryptogram was refused"),
    }
    if verdict != ArqcVerdict::Invalid {
        assert_eq!(
            req.arqc, genuine.arqc,
            "a cryptogram other than the card's verified"
        );
    }
}
