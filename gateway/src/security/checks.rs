//! One authorization's card security checks: what the listener requires, read from the
//! message (sans I/O), then one HSM call for all of them, then the verdicts the ledger
//! decides on ([`ledger::Security`]).
//!
//! Absent data elements follow the listener's mode: `if_present` lets an absent one pass (no
//! CVV2 in e-commerce, no DE 55 on a magstripe fallback), `required` declines it with the
//! check's code. Present but unreadable data (a track 2 of another layout, a DE 48 that is
//! no subelement list, DE 55 without the cryptogram's tags, a PIN block that does not decrypt
//! to one) fails its check: it could not be verified, so it is not approved.

use hsm::{ArpcResponse, ArqcRequest, ArqcVerdict, Cvn, Hsm, HsmError, PinVerdict};
use iso8583::OwnedMessage;
use ledger::{CardSecurity, PinPolicy, ResponseCode, Security, Store};
use tokio::time::Instant;

use super::de48::{self, Cvv2};
use super::{is_input_error, track2, HsmFail, SwitchSecurity};
use crate::config::{CheckMode, ResponseCodes};

/// The card status update a CVN 18 card gets with an approval (byte 2, bit 8 set) and with a
/// decline (nothing set): the sandbox's choice; an issuer's card profile defines its own.
pub(crate) const CSU_APPROVED: [u8; 4] = [0x00, 0x80, 0x00, 0x00];
/// See [`CSU_APPROVED`].
pub(crate) const CSU_DECLINED: [u8; 4] = [0x00; 4];

/// Why the checks gave no verdict: the answer is 91.
#[derive(Debug)]
pub(crate) enum CheckFail {
    Hsm(HsmFail),
    Ledger(ledger::LedgerError),
}

impl std::fmt::Display for CheckFail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CheckFail::Hsm(e) => write!(f, "{e}"),
            CheckFail::Ledger(e) => write!(f, "card security data unreadable: {e}"),
        }
    }
}

/// The checks' outcome for one request.
#[derive(Debug, Default)]
pub(crate) struct Checked {
    /// For the ledger.
    pub(crate) security: Security,
    /// A verified ARQC: the answer carries its ARPC in DE 55.
    pub(crate) arqc: Option<VerifiedArqc>,
}

/// An ARQC that verified, with what answering it needs.
#[derive(Debug)]
pub(crate) struct VerifiedArqc {
    req: ArqcRequest,
    key_version: u32,
    /// Tag 91 for an approval.
    tag_91_approved: Vec<u8>,
}

/// What a check found in the message.
enum Input<T> {
    /// Not checked (off, or absent and not required).
    Skip,
    /// Fails without asking the HSM (absent but required, or unreadable).
    Fail,
    Check(T),
}

struct CvvIn {
    pan: String,
    expiry: String,
    service_code: String,
    cvv: String,
}

fn mode_absent<T>(mode: CheckMode) -> Input<T> {
    match mode {
        CheckMode::Required => Input::Fail,
        _ => Input::Skip,
    }
}

/// "DE 22, point of service entry mode": 05x chip, 07x contactless chip.
fn is_chip(req: &OwnedMessage) -> bool {
    matches!(req.get_str(22).and_then(|s| s.get(..2)), Some("05" | "07"))
}

/// Tag 57 of DE 55 (track 2 equivalent data, cn: nibbles, `D` as the separator, `F` as the
/// filler) as track 2 text; `None` when absent or not of that form.
fn tag_57(req: &OwnedMessage) -> Option<String> {
    let de55 = req.get(55)?;
    let v = iso8583::tlv::ber::find(de55, 0x57).ok()??.value();
    if v.len() > track2::MAX_TRACK2_LEN.div_ceil(2) {
        return None;
    }
    let mut out = String::with_capacity(v.len() * 2);
    for b in v {
        for n in [b >> 4, b & 0x0F] {
            match n {
                0..=9 => out.push(char::from(b'0' + n)),
                0x0D => out.push('D'),
                0x0F => {}
                _ => return None,
            }
        }
    }
    Some(out)
}

fn cvv_input(mode: CheckMode, req: &OwnedMessage, pan: &str) -> Input<CvvIn> {
    if !mode.on() {
        return Input::Skip;
    }
    // DE 35, else the chip's track 2 equivalent (DE 55 tag 57), whose CVV is the iCVV.
    let (t, from_chip) = match (req.get_str(35), tag_57(req)) {
        (Some(t), _) => (t.to_owned(), false),
        (None, Some(t)) => (t, true),
        (None, None) => return mode_absent(mode),
    };
    match track2::parse(&t) {
        Some(t2) if t2.pan == pan => Input::Check(CvvIn {
            pan: pan.to_owned(),
            expiry: t2.expiry.to_owned(),
            // iCVV: the chip's track 2 equivalent is computed with service code 999.
            service_code: if from_chip || is_chip(req) {
                hsm::cvv::ICVV_SERVICE_CODE.to_owned()
            } else {
                t2.service_code.to_owned()
            },
            cvv: t2.cvv.to_owned(),
        }),
        _ => Input::Fail,
    }
}

fn cvv2_input(mode: CheckMode, req: &OwnedMessage) -> Input<String> {
    if !mode.on() {
        return Input::Skip;
    }
    match req.get_str(48).map(de48::cvv2) {
        Some(Cvv2::Present(v)) => Input::Check(v.to_owned()),
        Some(Cvv2::Unreadable) => Input::Fail,
        Some(Cvv2::Absent) | None => mode_absent(mode),
    }
}

/// The response an approval gives the card, by CVN.
fn approval_response(cvn: Cvn) -> ArpcResponse {
    match cvn {
        Cvn::Visa10 => ArpcResponse::Arc(*b"00"),
        Cvn::Visa18 => ArpcResponse::Csu {
            csu: CSU_APPROVED,
            proprietary: Vec::new(),
        },
    }
}

/// The response the decision `code` gives the card, by CVN: its DE 39 as the ARC (CVN 10: a
/// partial approval's is "10"), or the approved or declined CSU (CVN 18).
fn response_for(cvn: Cvn, code: ResponseCode) -> ArpcResponse {
    match cvn {
        Cvn::Visa10 => {
            let b = code.as_str().as_bytes();
            ArpcResponse::Arc([b[0], b[1]])
        }
        Cvn::Visa18 => ArpcResponse::Csu {
            csu: if code.is_approval() {
                CSU_APPROVED
            } else {
                CSU_DECLINED
            },
            proprietary: Vec::new(),
        },
    }
}

/// The ARQC of DE 55 for `pan`; `None` when DE 55 does not hold a cryptogram this switch
/// verifies (fails the check).
pub(super) fn arqc_request(de55: &[u8], pan: &str, psn: Option<&str>) -> Option<ArqcRequest> {
    let iad = iso8583::tlv::ber::find(de55, 0x9F10).ok()??;
    let cvn = Cvn::from_iad(iad.value()).ok()?;
    ArqcRequest::from_icc(pan, psn, de55, approval_response(cvn)).ok()
}

/// Whether the cryptogram's amount (9F02, n12) and currency (5F2A, n3) are the message's
/// DE 4 and DE 49: a genuine ARQC over another amount or currency, replayed into this
/// message, verifies by itself and must not approve it.
pub(super) fn bound_to_message(de55: &[u8], req: &OwnedMessage) -> bool {
    let tag = |t: u32| iso8583::tlv::ber::find(de55, t).ok().flatten();
    let (Some(amount), Some(currency)) = (tag(0x9F02), tag(0x5F2A)) else {
        return false;
    };
    let (Some(de4), Some(de49)) = (req.get_str(4), req.get_str(49)) else {
        return false;
    };
    // 5F2A is the three digits of DE 49 after a leading zero, in two bytes.
    de49.len() == 3 && bcd_is(amount.value(), de4) && bcd_is(currency.value(), &format!("0{de49}"))
}

/// Whether packed BCD `bcd` holds exactly the decimal digits of `digits`.
fn bcd_is(bcd: &[u8], digits: &str) -> bool {
    let d = digits.as_bytes();
    d.len() == bcd.len() * 2
        && bcd.iter().zip(d.chunks(2)).all(|(b, pair)| {
            pair.iter().all(u8::is_ascii_digit)
                && b >> 4 == pair[0] - b'0'
                && b & 0x0F == pair[1] - b'0'
        })
}

/// The HSM's findings, before they become verdicts.
struct Found {
    pin: ledger::PinVerdict,
    cvv: Option<bool>,
    cvv2: Option<bool>,
    arqc: Option<Option<(u32, Vec<u8>)>>,
}

/// DE 52 in the first allowed format of its length in which it decrypts to a well-formed
/// block (formats 0, 1, 3 under `zpk`, 4 under `zpk_aes`): its verdict; `Unverifiable` when
/// it is well formed in none. A block's control field makes it well formed in one format at
/// most, so trying several gives a wrong PIN no second chance.
fn verify_pin(
    h: &dyn Hsm,
    keys: &super::Keys,
    formats: &[hsm::PinBlockFormat],
    block: &[u8],
    pan: &str,
    pvki: u8,
    pvv: &str,
) -> Result<ledger::PinVerdict, HsmError> {
    for &f in formats.iter().filter(|f| f.len() == block.len()) {
        let zpk = if f == hsm::PinBlockFormat::Iso4 {
            &keys.zpk_aes
        } else {
            &keys.zpk
        };
        match h.verify_pin_pvv(zpk, block, f, pan, &keys.pvk, pvki, pvv) {
            Ok(PinVerdict::Match) => return Ok(ledger::PinVerdict::Match),
            Ok(PinVerdict::Mismatch) => return Ok(ledger::PinVerdict::Mismatch),
            Ok(PinVerdict::Malformed(_)) => {}
            Err(e) if is_input_error(&e) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(ledger::PinVerdict::Unverifiable)
}

/// Whether a check failed: unreadable or required-and-absent, or the HSM said no.
fn failed<T>(i: &Input<T>, ok: Option<bool>) -> bool {
    matches!(i, Input::Fail) || ok == Some(false)
}

/// One check's HSM call: an input error fails the check, any other error is the HSM's.
fn or_failed(r: Result<bool, HsmError>) -> Result<bool, HsmError> {
    match r {
        Err(e) if is_input_error(&e) => Ok(false),
        other => other,
    }
}

impl SwitchSecurity {
    /// Runs the listener's checks on `req` (whose DE 2 is `pan`).
    pub(crate) async fn check(
        &self,
        store: &Store,
        req: &OwnedMessage,
        pan: &ledger::Pan,
        pan_digits: &str,
        codes: &ResponseCodes,
        deadline: Instant,
    ) -> Result<Checked, CheckFail> {
        let c = &self.cfg;
        let pin: Input<Vec<u8>> = match (c.pin.on(), req.get(52)) {
            (false, _) => Input::Skip,
            (true, Some(b)) => Input::Check(b.to_vec()),
            (true, None) => mode_absent(c.pin),
        };
        let cvv = cvv_input(c.cvv, req, pan_digits);
        let cvv2 = cvv2_input(c.cvv2, req);
        let de55 = if c.arqc.on() { req.get(55) } else { None };
        let arqc_missing = c.arqc == CheckMode::Required && de55.is_none();
        let nothing = matches!(pin, Input::Skip)
            && matches!(cvv, Input::Skip)
            && matches!(cvv2, Input::Skip)
            && de55.is_none()
            && !arqc_missing;
        if nothing {
            return Ok(Checked::default());
        }
        // The card's PVV, expiry and PSN; an unknown card is the ledger's 14 to answer.
        let Some(card) = store
            .card_security_cached(pan)
            .await
            .map_err(CheckFail::Ledger)?
        else {
            return Ok(Checked::default());
        };
        let expiry = req
            .get_str(14)
            .map(str::to_owned)
            .unwrap_or_else(|| card.expiry.clone());
        let arqc = match de55 {
            None if arqc_missing => Input::Fail,
            None => Input::Skip,
            Some(b) => match arqc_request(b, pan_digits, req.get_str(23).or(card.psn.as_deref())) {
                Some(r) if bound_to_message(b, req) => Input::Check(r),
                Some(_) | None => Input::Fail,
            },
        };
        let found = self
            .ask_hsm(
                pin, &cvv, &cvv2, &arqc, pan_digits, &expiry, &card, deadline,
            )
            .await
            .map_err(CheckFail::Hsm)?;
        let arqc_ok = match &found.arqc {
            Some(Some(_)) => Some(true),
            Some(None) => Some(false),
            None => None,
        };
        let refusal = if failed(&cvv, found.cvv) || failed(&arqc, arqc_ok) {
            Some(codes.card_authentication)
        } else if failed(&cvv2, found.cvv2) {
            Some(codes.cvv2)
        } else {
            None
        };
        let verified = match (arqc, found.arqc) {
            (Input::Check(req), Some(Some((key_version, tag_91)))) => Some(VerifiedArqc {
                req,
                key_version,
                tag_91_approved: tag_91,
            }),
            _ => None,
        };
        // Only a counter the cryptogram proved goes to the ledger's replay window: an
        // unverified one could be anything, and must move nothing.
        let atc = verified.as_ref().map(|v| u16::from_be_bytes(v.req.atc));
        // The card application the cryptogram was verified for (its counter's own).
        let atc_psn = verified
            .as_ref()
            .and_then(|v| v.req.psn.parse::<u8>().ok())
            .unwrap_or(0);
        Ok(Checked {
            security: Security {
                pin: found.pin,
                pin_policy: PinPolicy {
                    tries_max: self.pin_tries_max(),
                    wrong_code: codes.wrong_pin,
                    exceeded_code: codes.pin_tries_exceeded,
                },
                refusal,
                atc,
                atc_psn,
                card_check_code: codes.card_authentication,
            },
            arqc: verified,
        })
    }

    /// Every check that needs the HSM, in one call (one trip to the blocking pool for a
    /// PKCS#11 token).
    #[allow(clippy::too_many_arguments)]
    async fn ask_hsm(
        &self,
        pin: Input<Vec<u8>>,
        cvv: &Input<CvvIn>,
        cvv2: &Input<String>,
        arqc: &Input<ArqcRequest>,
        pan: &str,
        expiry: &str,
        card: &CardSecurity,
        deadline: Instant,
    ) -> Result<Found, HsmFail> {
        let keys = self.keys.clone();
        let formats = self.formats.clone();
        let pan = pan.to_owned();
        let expiry = expiry.to_owned();
        let pvv = card.pvv.clone().zip(card.pvki);
        let cvv = match cvv {
            Input::Check(c) => Some((
                c.pan.clone(),
                c.expiry.clone(),
                c.service_code.clone(),
                c.cvv.clone(),
            )),
            _ => None,
        };
        let cvv2 = match cvv2 {
            Input::Check(v) => Some(v.clone()),
            _ => None,
        };
        let arqc = match arqc {
            Input::Check(r) => Some(r.clone()),
            _ => None,
        };
        let pin_presented = match pin {
            Input::Check(b) => Some(Some(b)),
            Input::Fail => Some(None),
            Input::Skip => None,
        };
        self.hsm
            .run(deadline, move |h: &dyn Hsm| {
                let pin = match pin_presented {
                    None => ledger::PinVerdict::NotChecked,
                    // Required and absent: a PIN that cannot be verified.
                    Some(None) => ledger::PinVerdict::Unverifiable,
                    Some(Some(block)) => match &pvv {
                        None => ledger::PinVerdict::Unverifiable,
                        Some((pvv, pvki)) => {
                            verify_pin(h, &keys, &formats, &block, &pan, *pvki, pvv)?
                        }
                    },
                };
                let cvv = cvv
                    .map(|(p, e, sc, v)| or_failed(h.verify_cvv(&keys.cvk, &p, &e, &sc, &v)))
                    .transpose()?;
                let cvv2 = cvv2
                    .map(|v| {
                        or_failed(h.verify_cvv(
                            &keys.cvk,
                            &pan,
                            &expiry,
                            hsm::cvv::CVV2_SERVICE_CODE,
                            &v,
                        ))
                    })
                    .transpose()?;
                let arqc = match arqc {
                    None => None,
                    Some(r) => match h.verify_arqc(&keys.imk, &r) {
                        Ok(ArqcVerdict::Valid {
                            tag_91,
                            key_version,
                        }) => Some(Some((key_version, tag_91))),
                        Ok(ArqcVerdict::Invalid) => Some(None),
                        Err(e) if is_input_error(&e) => Some(None),
                        Err(e) => return Err(e),
                    },
                };
                Ok(Found {
                    pin,
                    cvv,
                    cvv2,
                    arqc,
                })
            })
            .await
    }
}

/// DE 55 of the answer to a verified ARQC: tag 91 as the CVN defines it, for the decision's
/// code (an approval's was computed with the verification; any other's, a partial approval's
/// ARC "10" or a decline's, is generated now with the IMK version that verified).
/// `None` when the HSM cannot make it (the answer then goes without it: the card declines
/// offline, which is safe).
pub(crate) async fn arpc_for(
    sec: &SwitchSecurity,
    v: VerifiedArqc,
    code: ResponseCode,
    deadline: Instant,
) -> Option<Vec<u8>> {
    let response = response_for(v.req.cvn, code);
    let tag_91 = if response == v.req.response {
        v.tag_91_approved
    } else {
        let mut req = v.req;
        req.response = response;
        let (imk, version) = (sec.keys.imk.clone(), v.key_version);
        sec.hsm
            .run(deadline, move |h| h.generate_arpc(&imk, version, &req))
            .await
            .ok()?
    };
    let len = u8::try_from(tag_91.len()).ok().filter(|&l| l < 0x80)?;
    let mut de55 = vec![0x91, len];
    de55.extend_from_slice(&tag_91);
    Some(de55)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(de4: &str, de49: &str) -> OwnedMessage {
        OwnedMessage::new("0100".parse().unwrap())
            .with(4, de4)
            .with(49, de49)
    }

    /// 9F02 = 000000012345, 5F2A = 0840, and a 9F36 between them.
    const DE55: &[u8] = &[
        0x9F, 0x02, 0x06, 0x00, 0x00, 0x00, 0x01, 0x23, 0x45, 0x9F, 0x36, 0x02, 0x00, 0x07, 0x5F,
        0x2A, 0x02, 0x08, 0x40,
    ];

    #[test]
    fn a_cryptogram_is_bound_to_the_amount_and_currency_of_its_message() {
        assert!(bound_to_message(DE55, &message("000000012345", "840")));
        // Another amount, another currency: a cryptogram replayed into another message.
        assert!(!bound_to_message(DE55, &message("000000012346", "840")));
        assert!(!bound_to_message(DE55, &message("000000012345", "410")));
        assert!(!bound_to_message(DE55, &message("000000012345", "84")));
        // Without the tags or the fields, nothing binds it.
        assert!(!bound_to_message(
            &DE55[..12],
            &message("000000012345", "840")
        ));
        assert!(!bound_to_message(
            DE55,
            &OwnedMessage::new("0100".parse().unwrap()).with(4, "000000012345")
        ));
        // Hex digits are not decimal ones.
        let mut odd = DE55.to_vec();
        odd[8] = 0x4A;
        assert!(!bound_to_message(&odd, &message("00000001234:", "840")));
    }
}
