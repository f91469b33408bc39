//! EMV application cryptograms for Visa CVN 10 and CVN 18: ICC master key derivation (option
//! A), the EMV common session key, ARQC verification and the ARPC (methods 1 and 2).
//!
//! Sources (public descriptions; the test vectors in `tests/vectors.rs` cite theirs):
//!
//! - **ICC master key, option A** (EMV 4.3 Book 2, A1.4.1): Y = the rightmost 16 digits of
//!   PAN || PSN (PSN "00" when absent; left-padded with 0 when shorter), packed to 8 bytes;
//!   MK = TDES(IMK, Y) || TDES(IMK, Y XOR FF..FF), parity adjusted to odd.
//! - **Common session key** (EMV 4.3 Book 2, A1.3.1): with R = ATC || 00 00 00 00 00 00,
//!   SK = TDES(MK, ATC || F0 || 00..00) || TDES(MK, ATC || 0F || 00..00).
//! - **Visa CVN 10** (VIS "cryptogram version 10"; public descriptions: pyemv's `cvn.VisaCVN10`
//!   and its HSM-checked test, isofluent's CVN 10 calculator, AWS Payment Cryptography's "Visa
//!   specific functions"): no session key, the ARQC is ISO 9797-1 MAC algorithm 3 under the ICC
//!   master key itself over, in order, 9F02 9F03 9F1A 95 5F2A 9A 9C 9F37 82 9F36 and the CVR
//!   (4 bytes of the IAD starting at its 4th byte, its length byte 03 included), padded with
//!   zeros (padding method 1). ARPC method 1: TDES(MK, ARQC XOR (ARC || 00 x 6)); tag 91 is
//!   ARPC (8) || ARC (2).
//! - **Visa CVN 18** (VIS 1.6 "cryptogram version 18"; pyemv's `cvn.VisaCVN18` and its
//!   HSM-checked test, jPOS's EMV common session key tests): the common session key from the ATC;
//!   the same data elements, but the whole IAD (9F10) instead of the CVR, padded with 0x80
//!   then zeros (padding method 2). ARPC method 2 (EMV 4.3 Book 2, 8.2.2): the leftmost 4
//!   bytes of MAC algorithm 3 (padding method 2) under the session key over ARQC || CSU ||
//!   proprietary authentication data; tag 91 is ARPC (4) || CSU (4) || proprietary data.
//! - The CVN is read from the IAD: Visa IAD formats 0, 1 and 3 start with the length byte 06
//!   (or 07), the derivation key index, then the CVN (0A = 10, 12 = 18); format 2 and 4 IADs
//!   start with 1F and carry CVNs this crate does not verify (22 = 34, 43 = 67), per Thredd's
//!   public "Visa Cryptogram Version Number Values" table (from VIS 1.6 appendix F).

use std::fmt;

use iso8583::tlv::ber;

use crate::cipher::{adjust_parity, encrypt8, KeyOps};
use crate::digits::pan_digits;
use crate::error::HsmError;
use crate::mac::{self, MacAlgorithm, Padding};
use crate::secret::Key;

/// Most transaction data a cryptogram request may carry (the CVN 18 list with a 32-byte IAD is
/// 66 bytes); a claim above this is refused before any work.
pub const MAX_CRYPTOGRAM_DATA: usize = 256;

/// The cryptogram versions this crate verifies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Cvn {
    /// Visa CVN 10: ICC master key, padding method 1, ARPC method 1.
    Visa10,
    /// Visa CVN 18: common session key, padding method 2, ARPC method 2.
    Visa18,
}

impl Cvn {
    /// The number as the IAD carries it (10 or 18).
    pub fn number(self) -> u8 {
        match self {
            Cvn::Visa10 => 10,
            Cvn::Visa18 => 18,
        }
    }
    /// The CVN of that number, if supported.
    pub fn from_number(n: u8) -> Option<Cvn> {
        match n {
            10 => Some(Cvn::Visa10),
            18 => Some(Cvn::Visa18),
            _ => None,
        }
    }
    /// The padding method of the cryptogram's MAC.
    pub fn padding(self) -> Padding {
        match self {
            Cvn::Visa10 => Padding::Method1,
            Cvn::Visa18 => Padding::Method2,
        }
    }
    /// The CVN named by a Visa IAD (formats 0, 1, 3: `06|07, DKI, CVN, CVR..`).
    pub fn from_iad(iad: &[u8]) -> Result<Cvn, HsmError> {
        let unsupported = || HsmError::Unsupported {
            what: "issuer application data format (only Visa formats 0, 1 and 3)".into(),
        };
        if iad.len() < 7 || !(0x06..=0x07).contains(&iad[0]) {
            return Err(unsupported());
        }
        Cvn::from_number(iad[2]).ok_or_else(|| HsmError::Unsupported {
            what: format!("cryptogram version {} (only 10 and 18)", iad[2]),
        })
    }
}

/// What the issuer answers the card with, by CVN: the ARC (CVN 10, ARPC method 1) or the card
/// status update and optional proprietary data (CVN 18, ARPC method 2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ArpcResponse {
    /// Authorisation response code, 2 bytes (usually DE 39 in ASCII: "00" = 30 30).
    Arc([u8; 2]),
    /// Card status update (4 bytes) and 0 to 8 bytes of proprietary authentication data.
    Csu {
        /// The CSU.
        csu: [u8; 4],
        /// Proprietary authentication data (0..=8 bytes).
        proprietary: Vec<u8>,
    },
}

/// An ARQC to verify: everything the issuer's side needs, already taken from the message.
#[derive(Clone, PartialEq, Eq)]
pub struct ArqcRequest {
    /// The cryptogram version.
    pub cvn: Cvn,
    /// The application PAN (5A or DE 2).
    pub pan: String,
    /// PAN sequence number, 2 digits ("00" when the card has none).
    pub psn: String,
    /// Application transaction counter (9F36).
    pub atc: [u8; 2],
    /// The data the cryptogram covers, in the CVN's order, unpadded.
    pub data: Vec<u8>,
    /// The cryptogram (9F26).
    pub arqc: [u8; 8],
    /// What to answer the card (ARC for CVN 10, CSU for CVN 18).
    pub response: ArpcResponse,
}

impl fmt::Debug for ArqcRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ArqcRequest")
            .field("cvn", &self.cvn)
            .field("pan", &crate::digits::mask_pan(&self.pan))
            .field("atc", &hex::encode_upper(self.atc))
            .field("data_len", &self.data.len())
            .finish_non_exhaustive()
    }
}

/// The answer to an ARQC check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ArqcVerdict {
    /// The cryptogram is the card's. `tag_91` is the issuer authentication data for the
    /// response's DE 55 (ARPC || ARC for CVN 10, ARPC || CSU [|| data] for CVN 18).
    Valid {
        /// Value of tag 91.
        tag_91: Vec<u8>,
        /// Version of the issuer master key that verified it.
        key_version: u32,
    },
    /// The cryptogram does not match (wrong key, altered data, cloned card...): decline.
    Invalid,
}

/// The 8-byte option A input Y for `pan` and `psn` (2 digits).
pub fn option_a_input(pan: &str, psn: &str) -> Result<[u8; 8], HsmError> {
    let mut digits = pan_digits(pan)?.to_vec();
    digits.extend_from_slice(
        &crate::digits::decimal(psn, 2, "PSN")?
            .iter()
            .map(|d| d + b'0')
            .collect::<Vec<_>>(),
    );
    let tail = &digits[digits.len().saturating_sub(16)..];
    let mut text = vec![b'0'; 16 - tail.len()];
    text.extend_from_slice(tail);
    let mut y = [0u8; 8];
    crate::digits::pack(&text, &mut y);
    Ok(y)
}

/// The two 8-byte inputs of the common session key for `atc`: (ATC F0 00.., ATC 0F 00..).
pub fn session_key_inputs(atc: [u8; 2]) -> ([u8; 8], [u8; 8]) {
    let mut l = [0u8; 8];
    let mut r = [0u8; 8];
    l[..2].copy_from_slice(&atc);
    r[..2].copy_from_slice(&atc);
    l[2] = 0xF0;
    r[2] = 0x0F;
    (l, r)
}

fn derive_pair(key: &dyn KeyOps, left: [u8; 8], right: [u8; 8]) -> Result<Key, HsmError> {
    let mut l = left;
    let mut r = right;
    encrypt8(key, &mut l)?;
    encrypt8(key, &mut r)?;
    let mut out = zeroize::Zeroizing::new([0u8; 16]);
    out[..8].copy_from_slice(&l);
    out[8..].copy_from_slice(&r);
    zeroize::Zeroize::zeroize(&mut l);
    zeroize::Zeroize::zeroize(&mut r);
    adjust_parity(&mut out[..]);
    Key::des(&out[..])
}

/// ICC master key by option A from the issuer master key (a clear key: software back end,
/// sandbox tools and tests; the PKCS#11 back end derives it inside the token).
pub fn derive_icc_mk_a(imk: &dyn KeyOps, pan: &str, psn: &str) -> Result<Key, HsmError> {
    let y = option_a_input(pan, psn)?;
    let mut y2 = y;
    y2.iter_mut().for_each(|b| *b ^= 0xFF);
    derive_pair(imk, y, y2)
}

/// The EMV common session key for `atc` from an ICC master key.
pub fn derive_common_session_key(mk: &dyn KeyOps, atc: [u8; 2]) -> Result<Key, HsmError> {
    let (l, r) = session_key_inputs(atc);
    derive_pair(mk, l, r)
}

/// The card's cryptogram key for `cvn` from the issuer master key (clear keys).
pub fn card_key(
    imk: &dyn KeyOps,
    cvn: Cvn,
    pan: &str,
    psn: &str,
    atc: [u8; 2],
) -> Result<Key, HsmError> {
    let mk = derive_icc_mk_a(imk, pan, psn)?;
    match cvn {
        Cvn::Visa10 => Ok(mk),
        // One TDES schedule for both halves of the session key.
        Cvn::Visa18 => derive_common_session_key(&crate::cipher::Schedule::new(&mk)?, atc),
    }
}

/// The application cryptogram (ARQC, TC or AAC) of `data` under the card's key.
pub fn generate_ac(card_key: &dyn KeyOps, cvn: Cvn, data: &[u8]) -> Result<[u8; 8], HsmError> {
    if data.len() > MAX_CRYPTOGRAM_DATA {
        return Err(HsmError::input(
            "cryptogram data",
            "longer than MAX_CRYPTOGRAM_DATA",
        ));
    }
    mac::generate(card_key, MacAlgorithm::Iso9797Alg3(cvn.padding()), data)
}

/// ARPC method 1: TDES(key, ARQC XOR (ARC || 00 x 6)).
pub fn arpc_method1(key: &dyn KeyOps, arqc: [u8; 8], arc: [u8; 2]) -> Result<[u8; 8], HsmError> {
    let mut b = arqc;
    b[0] ^= arc[0];
    b[1] ^= arc[1];
    encrypt8(key, &mut b)?;
    Ok(b)
}

/// ARPC method 2: leftmost 4 bytes of MAC algorithm 3 (padding method 2) over
/// ARQC || CSU || proprietary data.
pub fn arpc_method2(
    key: &dyn KeyOps,
    arqc: [u8; 8],
    csu: [u8; 4],
    proprietary: &[u8],
) -> Result<[u8; 4], HsmError> {
    if proprietary.len() > 8 {
        return Err(HsmError::input(
            "proprietary authentication data",
            "at most 8 bytes",
        ));
    }
    let mut data = arqc.to_vec();
    data.extend_from_slice(&csu);
    data.extend_from_slice(proprietary);
    let m = mac::generate(key, MacAlgorithm::Iso9797Alg3(Padding::Method2), &data)?;
    Ok([m[0], m[1], m[2], m[3]])
}

/// Tag 91 for `req.response` under the card's key (the ARPC method its CVN defines).
pub fn issuer_authentication_data(
    card_key: &dyn KeyOps,
    req: &ArqcRequest,
) -> Result<Vec<u8>, HsmError> {
    match (req.cvn, &req.response) {
        (Cvn::Visa10, ArpcResponse::Arc(arc)) => {
            let mut out = arpc_method1(card_key, req.arqc, *arc)?.to_vec();
            out.extend_from_slice(arc);
            Ok(out)
        }
        (Cvn::Visa18, ArpcResponse::Csu { csu, proprietary }) => {
            let mut out = arpc_method2(card_key, req.arqc, *csu, proprietary)?.to_vec();
            out.extend_from_slice(csu);
            out.extend_from_slice(proprietary);
            Ok(out)
        }
        (Cvn::Visa10, _) => Err(HsmError::input(
            "ARPC response",
            "CVN 10 answers with an ARC (method 1)",
        )),
        (Cvn::Visa18, _) => Err(HsmError::input(
            "ARPC response",
            "CVN 18 answers with a CSU (method 2)",
        )),
    }
}

/// Verifies `req.arqc` under the card's key and, when it matches, computes tag 91.
pub fn verify_with_card_key(
    card_key: &dyn KeyOps,
    req: &ArqcRequest,
    key_version: u32,
) -> Result<ArqcVerdict, HsmError> {
    let expected = generate_ac(card_key, req.cvn, &req.data)?;
    if !crate::ct_eq(&expected, &req.arqc) {
        return Ok(ArqcVerdict::Invalid);
    }
    Ok(ArqcVerdict::Valid {
        tag_91: issuer_authentication_data(card_key, req)?,
        key_version,
    })
}

/// The data elements a Visa CVN 10/18 cryptogram covers, in order, with their lengths.
pub const CRYPTOGRAM_TAGS: [(u32, usize); 10] = [
    (0x9F02, 6), // amount, authorised
    (0x9F03, 6), // amount, other
    (0x9F1A, 2), // terminal country code
    (0x95, 5),   // terminal verification results
    (0x5F2A, 2), // transaction currency code
    (0x9A, 3),   // transaction date
    (0x9C, 1),   // transaction type
    (0x9F37, 4), // unpredictable number
    (0x82, 2),   // application interchange profile
    (0x9F36, 2), // application transaction counter
];

fn tag(de55: &[u8], t: u32) -> Result<Option<&[u8]>, HsmError> {
    ber::find(de55, t)
        .map(|o| o.map(|tlv| tlv.value()))
        .map_err(|_| HsmError::IccData {
            tag: t,
            reason: "malformed BER-TLV",
        })
}

fn fixed(de55: &[u8], t: u32, len: usize) -> Result<&[u8], HsmError> {
    let v = tag(de55, t)?.ok_or(HsmError::IccData {
        tag: t,
        reason: "missing",
    })?;
    if v.len() != len {
        return Err(HsmError::IccData {
            tag: t,
            reason: "wrong length",
        });
    }
    Ok(v)
}

impl ArqcRequest {
    /// Builds the request from DE 55 (BER-TLV) for `pan`. The PSN comes from `psn` (DE 23's
    /// last two digits) when given, else tag 5F34, else "00". The CVN is read from the IAD;
    /// `response` must suit it (ARC for CVN 10, CSU for CVN 18).
    pub fn from_icc(
        pan: &str,
        psn: Option<&str>,
        de55: &[u8],
        response: ArpcResponse,
    ) -> Result<ArqcRequest, HsmError> {
        pan_digits(pan)?;
        let iad = tag(de55, 0x9F10)?.ok_or(HsmError::IccData {
            tag: 0x9F10,
            reason: "missing",
        })?;
        if iad.len() > 32 {
            return Err(HsmError::IccData {
                tag: 0x9F10,
                reason: "longer than 32 bytes",
            });
        }
        let cvn = Cvn::from_iad(iad)?;
        let mut data = Vec::with_capacity(40 + iad.len());
        for (t, len) in CRYPTOGRAM_TAGS {
            data.extend_from_slice(fixed(de55, t, len)?);
        }
        match cvn {
            Cvn::Visa10 => data.extend_from_slice(&iad[3..7]),
            Cvn::Visa18 => data.extend_from_slice(iad),
        }
        let arqc: [u8; 8] = fixed(de55, 0x9F26, 8)?.try_into().expect("8 bytes");
        let atc: [u8; 2] = fixed(de55, 0x9F36, 2)?.try_into().expect("2 bytes");
        let psn = match psn {
            Some(p) => {
                let d = p.get(p.len().saturating_sub(2)..).unwrap_or("");
                crate::digits::decimal(d, 2, "PSN")?;
                d.to_string()
            }
            None => match tag(de55, 0x5F34)? {
                Some([b]) if b >> 4 < 10 && b & 0x0F < 10 => format!("{b:02X}"),
                Some(_) => {
                    return Err(HsmError::IccData {
                        tag: 0x5F34,
                        reason: "not one BCD byte",
                    })
                }
                None => "00".to_string(),
            },
        };
        let req = ArqcRequest {
            cvn,
            pan: pan.to_string(),
            psn,
            atc,
            data,
            arqc,
            response,
        };
        req.check()?;
        Ok(req)
    }

    /// Checks the request's own consistency (lengths, response kind).
    pub fn check(&self) -> Result<(), HsmError> {
        pan_digits(&self.pan)?;
        crate::digits::decimal(&self.psn, 2, "PSN")?;
        if self.data.len() > MAX_CRYPTOGRAM_DATA {
            return Err(HsmError::input(
                "cryptogram data",
                "longer than MAX_CRYPTOGRAM_DATA",
            ));
        }
        match (&self.cvn, &self.response) {
            (Cvn::Visa10, ArpcResponse::Arc(_)) => Ok(()),
            (Cvn::Visa18, ArpcResponse::Csu { proprietary, .. }) if proprietary.len() <= 8 => {
                Ok(())
            }
            (Cvn::Visa18, ArpcResponse::Csu { .. }) => Err(HsmError::input(
                "proprietary authentication data",
                "at most 8 bytes",
            )),
            (Cvn::Visa10, _) => Err(HsmError::input(
                "ARPC response",
                "CVN 10 answers with an ARC (method 1)",
            )),
            (Cvn::Visa18, _) => Err(HsmError::input(
                "ARPC response",
                "CVN 18 answers with a CSU (method 2)",
            )),
        }
    }
}
