//! Test card data for a key file's clear keys: what a network would send for the sandbox's
//! test cards (PIN blocks, track 2 with its CVV, CVV2, DE 55 with an ARQC), right or
//! deliberately wrong, so that a merchant (the `harness`) and the tests can exercise every
//! security code. **Sandbox and tests only**: it reads clear keys, which production keys never
//! are.

use iso8583::tlv::ber;

use crate::emv::{self, Cvn, CRYPTOGRAM_TAGS};
use crate::error::HsmError;
use crate::keyfile::KeyFile;
use crate::pinblock::PinBlockFormat;
use crate::secret::{ClearPin, KeyName};
use crate::software::SoftwareHsm;
use crate::Hsm;

/// The sandbox's key names (DESIGN.md "Cards and test data").
pub const ZPK: &str = "zpk";
/// See [`ZPK`].
pub const PVK: &str = "pvk";
/// See [`ZPK`].
pub const CVK: &str = "cvk";
/// See [`ZPK`].
pub const IMK_AC: &str = "imk_ac";
/// See [`ZPK`].
pub const MAK: &str = "mak";

/// What an EMV terminal puts in the cryptogram (the rest is fixed test data).
#[derive(Clone, Debug)]
pub struct ChipTxn {
    /// Cryptogram version.
    pub cvn: Cvn,
    /// PAN sequence number, 2 digits.
    pub psn: String,
    /// Amount, authorised (9F02), minor units.
    pub amount_minor: u64,
    /// Transaction currency (5F2A), ISO 4217 numeric.
    pub currency: u16,
    /// Application transaction counter (9F36).
    pub atc: u16,
    /// Unpredictable number (9F37).
    pub unpredictable: u32,
}

/// Builds test card data under a key file's keys.
pub struct SandboxCards {
    keys: KeyFile,
    hsm: SoftwareHsm,
}

fn bcd(n: u64, len: usize) -> Vec<u8> {
    let digits = format!("{n:0width$}", width = len * 2);
    let digits = &digits[digits.len() - len * 2..];
    digits
        .as_bytes()
        .chunks(2)
        .map(|p| ((p[0] - b'0') << 4) | (p[1] - b'0'))
        .collect()
}

impl SandboxCards {
    /// Over the keys of `keys` (the sandbox's `fixtures/keys.toml`).
    pub fn new(keys: KeyFile) -> Self {
        SandboxCards {
            hsm: SoftwareHsm::from_key_file(keys.clone()),
            keys,
        }
    }

    /// DE 52: `pin` for `pan` in `format` under `zpk`.
    pub fn pin_block(
        &self,
        pan: &str,
        pin: &str,
        format: PinBlockFormat,
    ) -> Result<Vec<u8>, HsmError> {
        self.hsm
            .encrypt_pin_block(&KeyName::new(ZPK), format, pan, &ClearPin::new(pin)?)
    }

    /// The PVV of `pin` under `pvk` (its current PVKI), as the seed stores it.
    pub fn pvv(&self, pan: &str, pin: &str) -> Result<(u8, String), HsmError> {
        let pvki = self.keys.versions(&KeyName::new(PVK))?[0]
            .pvki
            .ok_or(HsmError::Config {
                origin: PVK.into(),
                reason: "no pvki".into(),
            })?;
        let pvv =
            self.hsm
                .pvv_for_clear_pin(&KeyName::new(PVK), pvki, pan, &ClearPin::new(pin)?)?;
        Ok((pvki, pvv))
    }

    /// The CVV for `service_code` ("000" for CVV2, "999" for iCVV).
    pub fn cvv(&self, pan: &str, expiry: &str, service_code: &str) -> Result<String, HsmError> {
        crate::cvv::generate(self.keys.key(CVK)?, pan, expiry, service_code)
    }

    /// DE 35: `PAN=YYMM` + service code + PVKI + PVV + CVV + `00000`; the CVV is the iCVV
    /// when `chip` (service code 999), else the track's own. `pin` gives the PVV ("0000"
    /// without one).
    pub fn track2(
        &self,
        pan: &str,
        expiry: &str,
        service_code: &str,
        pin: Option<&str>,
        chip: bool,
    ) -> Result<String, HsmError> {
        let (pvki, pvv) = match pin {
            Some(p) => self.pvv(pan, p)?,
            None => (0, "0000".to_string()),
        };
        let sc = if chip {
            crate::cvv::ICVV_SERVICE_CODE
        } else {
            service_code
        };
        let cvv = self.cvv(pan, expiry, sc)?;
        Ok(format!("{pan}={expiry}{service_code}{pvki}{pvv}{cvv}00000"))
    }

    /// DE 55 with a valid ARQC for `txn` on `pan` (tags 9F02 9F03 9F1A 95 5F2A 9A 9C 9F37
    /// 82 9F36 9F10 9F26 5F34).
    pub fn icc_data(&self, pan: &str, txn: &ChipTxn) -> Result<Vec<u8>, HsmError> {
        // Visa IAD format 0: length 06, derivation key index 01, CVN, CVR (03 A0 00 00).
        let iad = [0x06, 0x01, txn.cvn.number(), 0x03, 0xA0, 0x00, 0x00];
        let atc = txn.atc.to_be_bytes();
        let values: [Vec<u8>; 10] = [
            bcd(txn.amount_minor, 6),
            bcd(0, 6),
            bcd(410, 2),
            vec![0x00; 5],
            bcd(u64::from(txn.currency), 2),
            bcd(261125, 3),
            vec![0x00],
            txn.unpredictable.to_be_bytes().to_vec(),
            vec![0x39, 0x00],
            atc.to_vec(),
        ];
        let mut data = Vec::new();
        let mut out = Vec::new();
        let tlv = |e| HsmError::input("ICC data", e);
        for ((tag, len), v) in CRYPTOGRAM_TAGS.iter().zip(&values) {
            debug_assert_eq!(*len, v.len());
            data.extend_from_slice(v);
            let t = tag_bytes(*tag);
            ber::write(&t, v, &mut out).map_err(|_| tlv("tag too long"))?;
        }
        match txn.cvn {
            Cvn::Visa10 => data.extend_from_slice(&iad[3..7]),
            Cvn::Visa18 => data.extend_from_slice(&iad),
        }
        let card = emv::card_key(self.keys.key(IMK_AC)?, txn.cvn, pan, &txn.psn, atc)?;
        let arqc = emv::generate_ac(&card, txn.cvn, &data)?;
        ber::write(&[0x9F, 0x10], &iad, &mut out).map_err(|_| tlv("IAD"))?;
        ber::write(&[0x9F, 0x26], &arqc, &mut out).map_err(|_| tlv("ARQC"))?;
        let psn = crate::digits::decimal(&txn.psn, 2, "PSN")?;
        ber::write(&[0x5F, 0x34], &[(psn[0] << 4) | psn[1]], &mut out).map_err(|_| tlv("PSN"))?;
        Ok(out)
    }

    /// DE 64/128 over `data` under `mak` (ISO 9797-1 algorithm 3, padding 1).
    pub fn mac(&self, data: &[u8]) -> Result<[u8; 8], HsmError> {
        self.hsm
            .generate_mac(&KeyName::new(MAK), crate::MacAlgorithm::DE64, data)
    }
}

/// DE 48 carrying `cvv2`: transaction category `R` (retail), then subelement 92 (length, value):
/// DESIGN.md "Card security".
pub fn de48_with_cvv2(cvv2: &str) -> String {
    format!("R92{:02}{cvv2}", cvv2.len())
}

fn tag_bytes(tag: u32) -> Vec<u8> {
    if tag > 0xFF {
        vec![(tag >> 8) as u8, tag as u8]
    } else {
        vec![tag as u8]
    }
}

/// `de55` with its ARQC (9F26) altered: a cryptogram that must fail.
pub fn corrupt_arqc(de55: &[u8]) -> Vec<u8> {
    let mut out = de55.to_vec();
    if let Some(i) = out.windows(3).position(|w| w == [0x9F, 0x26, 0x08]) {
        out[i + 3] ^= 0x01;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cards() -> SandboxCards {
        let keys = KeyFile::load(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/keys.toml"),
        )
        .unwrap();
        SandboxCards::new(keys)
    }

    #[test]
    fn what_it_builds_verifies_and_its_corruptions_do_not() {
        let c = cards();
        let pan = "4000001000000018";
        let h = &c.hsm;
        let block = c.pin_block(pan, "1234", PinBlockFormat::Iso0).unwrap();
        let (pvki, pvv) = c.pvv(pan, "1234").unwrap();
        let v = h
            .verify_pin_pvv(
                &KeyName::new(ZPK),
                &block,
                PinBlockFormat::Iso0,
                pan,
                &KeyName::new(PVK),
                pvki,
                &pvv,
            )
            .unwrap();
        assert_eq!(v, crate::PinVerdict::Match);
        let cvv2 = c.cvv(pan, "3012", "000").unwrap();
        assert!(h
            .verify_cvv(&KeyName::new(CVK), pan, "3012", "000", &cvv2)
            .unwrap());
        let t2 = c.track2(pan, "3012", "201", Some("1234"), true).unwrap();
        assert_eq!(t2.len(), 16 + 1 + 4 + 3 + 1 + 4 + 3 + 5);
        for cvn in [Cvn::Visa10, Cvn::Visa18] {
            let txn = ChipTxn {
                cvn,
                psn: "01".into(),
                amount_minor: 15_000,
                currency: 410,
                atc: 7,
                unpredictable: 0x1234_5678,
            };
            let de55 = c.icc_data(pan, &txn).unwrap();
            let ok = crate::ArqcRequest::from_icc(
                pan,
                None,
                &de55,
                match cvn {
                    Cvn::Visa10 => crate::ArpcResponse::Arc(*b"00"),
                    Cvn::Visa18 => crate::ArpcResponse::Csu {
                        csu: [0; 4],
                        proprietary: vec![],
                    },
                },
            )
            .unwrap();
            assert!(matches!(
                h.verify_arqc(&KeyName::new(IMK_AC), &ok).unwrap(),
                crate::ArqcVerdict::Valid { .. }
            ));
            let mut bad = ok.clone();
            bad.arqc =
                crate::ArqcRequest::from_icc(pan, None, &corrupt_arqc(&de55), ok.response.clone())
                    .unwrap()
                    .arqc;
            assert_eq!(
                h.verify_arqc(&KeyName::new(IMK_AC), &bad).unwrap(),
                crate::ArqcVerdict::Invalid
            );
        }
    }
}
