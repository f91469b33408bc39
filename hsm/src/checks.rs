//! The `Hsm` operations written once over a back end's view of its keys, so that the software
//! and PKCS#11 back ends differ only in where the key operations run.
//!
//! Version policy ("Key versions" in the crate docs): a `KeyName` with a version uses that
//! version only. Otherwise: ZPKs are tried current first, the previous one only when the
//! current one decrypts to a malformed block; the PVK version is the one whose PVKI the caller
//! gives; CVKs, MAKs and IMKs are tried current, then previous; generation uses the current key.

use crate::api::{PinTranslation, PinVerdict};
use crate::cipher::KeyOps;
use crate::emv::{self, ArqcRequest, ArqcVerdict, Cvn};
use crate::error::{HsmError, PinBlockError};
use crate::ibm3624::{self, Ibm3624Params};
use crate::mac::{self, MacAlgorithm};
use crate::pinblock::{self, PinBlockFormat};
use crate::pvv;
use crate::secret::{ClearPin, KeyName};
use crate::{cvv, digits};

/// One loaded version of a key, as a back end lends it for one call.
pub(crate) struct Version<'a> {
    pub version: u32,
    pub pvki: Option<u8>,
    pub key: Box<dyn KeyOps + 'a>,
}

/// A back end's keys for the duration of one call.
pub(crate) trait KeyView {
    /// The versions of `name` in trial order: the named version alone, else current then
    /// previous. `UnknownKey` when there is none.
    fn versions(&self, name: &KeyName) -> Result<Vec<Version<'_>>, HsmError>;
    /// The card's cryptogram key (ICC master key for CVN 10, session key for CVN 18) derived
    /// from version `version` of `imk`.
    fn card_key(
        &self,
        imk: &KeyName,
        version: u32,
        cvn: Cvn,
        pan: &str,
        psn: &str,
        atc: [u8; 2],
    ) -> Result<Box<dyn KeyOps + '_>, HsmError>;
}

/// Puts the key's name into errors raised where the name was not known.
pub(crate) fn named(name: &KeyName) -> impl Fn(HsmError) -> HsmError + '_ {
    move |e| match e {
        HsmError::KeyUse { name: n, reason } if n.is_empty() => HsmError::KeyUse {
            name: name.to_string(),
            reason,
        },
        other => other,
    }
}

fn current<'a>(view: &'a dyn KeyView, name: &KeyName) -> Result<Version<'a>, HsmError> {
    let mut v = view.versions(name)?;
    Ok(v.swap_remove(0))
}

/// Decrypts with the ZPK versions in order; the first that yields a well-formed block wins.
fn open_block(
    view: &dyn KeyView,
    zpk: &KeyName,
    block: &[u8],
    format: PinBlockFormat,
    pan: &str,
) -> Result<Result<ClearPin, PinBlockError>, HsmError> {
    let mut first_error = None;
    for v in view.versions(zpk)? {
        match pinblock::decrypt_pin(&*v.key, format, block, pan).map_err(named(zpk))? {
            Ok(pin) => return Ok(Ok(pin)),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    Ok(Err(first_error.unwrap_or(PinBlockError::Length)))
}

fn pvk_for_pvki<'a>(
    view: &'a dyn KeyView,
    pvk: &KeyName,
    pvki: u8,
) -> Result<Version<'a>, HsmError> {
    view.versions(pvk)?
        .into_iter()
        .find(|v| v.pvki == Some(pvki))
        .ok_or_else(|| HsmError::UnknownKey {
            name: format!("{pvk} (PVKI {pvki})"),
        })
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn verify_pin_pvv(
    view: &dyn KeyView,
    zpk: &KeyName,
    block: &[u8],
    format: PinBlockFormat,
    pan: &str,
    pvk: &KeyName,
    pvki: u8,
    pvv_digits: &str,
) -> Result<PinVerdict, HsmError> {
    digits::decimal(pvv_digits, 4, "PVV")?;
    let key = pvk_for_pvki(view, pvk, pvki)?;
    let pin = match open_block(view, zpk, block, format, pan)? {
        Ok(pin) => pin,
        Err(e) => return Ok(PinVerdict::Malformed(e)),
    };
    let ok = pvv::verify(&*key.key, pan, pvki, &pin, pvv_digits).map_err(named(pvk))?;
    Ok(if ok {
        PinVerdict::Match
    } else {
        PinVerdict::Mismatch
    })
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn verify_pin_ibm3624(
    view: &dyn KeyView,
    zpk: &KeyName,
    block: &[u8],
    format: PinBlockFormat,
    pan: &str,
    pvk: &KeyName,
    params: &Ibm3624Params,
    offset: &str,
) -> Result<PinVerdict, HsmError> {
    let key = current(view, pvk)?;
    let pin = match open_block(view, zpk, block, format, pan)? {
        Ok(pin) => pin,
        Err(e) => return Ok(PinVerdict::Malformed(e)),
    };
    let ok = ibm3624::verify(&*key.key, params, &pin, offset).map_err(named(pvk))?;
    Ok(if ok {
        PinVerdict::Match
    } else {
        PinVerdict::Mismatch
    })
}

pub(crate) fn pvv_for_clear_pin(
    view: &dyn KeyView,
    pvk: &KeyName,
    pvki: u8,
    pan: &str,
    pin: &ClearPin,
) -> Result<String, HsmError> {
    let key = pvk_for_pvki(view, pvk, pvki)?;
    pvv::generate(&*key.key, pan, pvki, pin).map_err(named(pvk))
}

pub(crate) fn encrypt_pin_block(
    view: &dyn KeyView,
    zpk: &KeyName,
    format: PinBlockFormat,
    pan: &str,
    pin: &ClearPin,
) -> Result<Vec<u8>, HsmError> {
    let key = current(view, zpk)?;
    pinblock::encrypt_pin(&*key.key, format, pin, pan).map_err(named(zpk))
}

pub(crate) fn translate_pin(
    view: &dyn KeyView,
    from: &KeyName,
    from_format: PinBlockFormat,
    block: &[u8],
    to: &KeyName,
    to_format: PinBlockFormat,
    pan: &str,
) -> Result<PinTranslation, HsmError> {
    let target = current(view, to)?;
    let pin = match open_block(view, from, block, from_format, pan)? {
        Ok(pin) => pin,
        Err(e) => return Ok(PinTranslation::Malformed(e)),
    };
    let out = pinblock::encrypt_pin(&*target.key, to_format, &pin, pan).map_err(named(to))?;
    Ok(PinTranslation::Block(out))
}

pub(crate) fn verify_cvv(
    view: &dyn KeyView,
    cvk: &KeyName,
    pan: &str,
    expiry_yymm: &str,
    service_code: &str,
    cvv_digits: &str,
) -> Result<bool, HsmError> {
    for v in view.versions(cvk)? {
        if cvv::verify(&*v.key, pan, expiry_yymm, service_code, cvv_digits).map_err(named(cvk))? {
            return Ok(true);
        }
    }
    Ok(false)
}

pub(crate) fn verify_arqc(
    view: &dyn KeyView,
    imk: &KeyName,
    req: &ArqcRequest,
) -> Result<ArqcVerdict, HsmError> {
    req.check()?;
    for v in view.versions(imk)? {
        let card = view
            .card_key(imk, v.version, req.cvn, &req.pan, &req.psn, req.atc)
            .map_err(named(imk))?;
        let verdict = emv::verify_with_card_key(&*card, req, v.version).map_err(named(imk))?;
        if verdict != ArqcVerdict::Invalid {
            return Ok(verdict);
        }
    }
    Ok(ArqcVerdict::Invalid)
}

pub(crate) fn generate_arpc(
    view: &dyn KeyView,
    imk: &KeyName,
    version: u32,
    req: &ArqcRequest,
) -> Result<Vec<u8>, HsmError> {
    req.check()?;
    let card = view
        .card_key(imk, version, req.cvn, &req.pan, &req.psn, req.atc)
        .map_err(named(imk))?;
    emv::issuer_authentication_data(&*card, req).map_err(named(imk))
}

pub(crate) fn generate_mac(
    view: &dyn KeyView,
    mak: &KeyName,
    algorithm: MacAlgorithm,
    data: &[u8],
) -> Result<[u8; 8], HsmError> {
    let key = current(view, mak)?;
    mac::generate(&*key.key, algorithm, data).map_err(named(mak))
}

pub(crate) fn verify_mac(
    view: &dyn KeyView,
    mak: &KeyName,
    algorithm: MacAlgorithm,
    data: &[u8],
    mac_bytes: &[u8],
) -> Result<bool, HsmError> {
    for v in view.versions(mak)? {
        if mac::verify(&*v.key, algorithm, data, mac_bytes).map_err(named(mak))? {
            return Ok(true);
        }
    }
    Ok(false)
}

pub(crate) fn kcv(view: &dyn KeyView, name: &KeyName) -> Result<[u8; 3], HsmError> {
    let key = current(view, name)?;
    crate::kcv::kcv(&*key.key).map_err(named(name))
}
