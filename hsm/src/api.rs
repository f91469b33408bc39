//! The `Hsm` trait: what the switch asks of an HSM, by key name, never returning a clear PIN
//! or key.

use crate::emv::{ArqcRequest, ArqcVerdict};
use crate::error::{HsmError, PinBlockError};
use crate::ibm3624::Ibm3624Params;
use crate::mac::MacAlgorithm;
use crate::pinblock::PinBlockFormat;
use crate::secret::{ClearPin, KeyKind, KeyName};

/// The answer to a PIN check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PinVerdict {
    /// The PIN is right.
    Match,
    /// The block was a well-formed PIN block, and the PIN in it is wrong (counts as a try).
    Mismatch,
    /// The block did not decrypt to a PIN block of the stated format (wrong key, wrong format,
    /// garbage): not a wrong PIN, and not a PIN try.
    Malformed(PinBlockError),
}

/// The answer to a PIN translation. `Debug` shows the block's length, not the block.
#[derive(Clone, PartialEq, Eq)]
pub enum PinTranslation {
    /// The PIN re-encrypted under the target key in the target format.
    Block(Vec<u8>),
    /// The source block did not decrypt to a PIN block of its stated format.
    Malformed(PinBlockError),
}

impl std::fmt::Debug for PinTranslation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PinTranslation::Block(b) => write!(f, "Block({} bytes)", b.len()),
            PinTranslation::Malformed(e) => write!(f, "Malformed({e:?})"),
        }
    }
}

/// One loaded version of a key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyVersionInfo {
    /// The version number (from the configuration; 1 when not given).
    pub version: u32,
    /// Its check value (3 bytes), computed at load.
    pub kcv: [u8; 3],
    /// Whether this is the current version (the other one is the previous).
    pub current: bool,
    /// The PVK index of this version, for `pvk` keys.
    pub pvki: Option<u8>,
}

/// A key as listed by [`Hsm::keys`]: no key material.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyInfo {
    /// The key's name.
    pub name: KeyName,
    /// Its algorithm and length.
    pub kind: KeyKind,
    /// Loaded versions, current first.
    pub versions: Vec<KeyVersionInfo>,
}

/// An HSM: payment checks by key name. Synchronous (the gateway calls it from a blocking pool
/// with a deadline), object-safe, `Send + Sync`; no method returns a clear PIN or key.
pub trait Hsm: Send + Sync {
    /// "software" or "pkcs11".
    fn backend(&self) -> &'static str;

    /// The loaded keys with their versions and KCVs.
    fn keys(&self) -> Vec<KeyInfo>;

    /// The current KCV of `name` (or of the version it names).
    fn kcv(&self, name: &KeyName) -> Result<[u8; 3], HsmError>;

    /// Re-reads the keys (SIGHUP): the new set replaces the old one only if every key loads
    /// and every KCV matches; otherwise the old set keeps serving and the error says why.
    fn reload(&self) -> Result<(), HsmError>;

    /// Decrypts `block` (ISO 9564 `format`) under `zpk` and checks the PIN against `pvv`
    /// (Visa PVV under the `pvk` version whose PVKI is `pvki`). The clear PIN never leaves the
    /// back end.
    #[allow(clippy::too_many_arguments)]
    fn verify_pin_pvv(
        &self,
        zpk: &KeyName,
        block: &[u8],
        format: PinBlockFormat,
        pan: &str,
        pvk: &KeyName,
        pvki: u8,
        pvv: &str,
    ) -> Result<PinVerdict, HsmError>;

    /// As [`Hsm::verify_pin_pvv`] with an IBM 3624 offset instead of a PVV.
    #[allow(clippy::too_many_arguments)]
    fn verify_pin_ibm3624(
        &self,
        zpk: &KeyName,
        block: &[u8],
        format: PinBlockFormat,
        pan: &str,
        pvk: &KeyName,
        params: &Ibm3624Params,
        offset: &str,
    ) -> Result<PinVerdict, HsmError>;

    /// The PVV of a clear PIN. **For seeding the sandbox only** (the seed stores the PVV of
    /// `fixtures/cards.json`'s `"pin"`); nothing in the authorization path calls it.
    fn pvv_for_clear_pin(
        &self,
        pvk: &KeyName,
        pvki: u8,
        pan: &str,
        pin: &ClearPin,
    ) -> Result<String, HsmError>;

    /// Encrypts a clear PIN into a PIN block under `zpk`. **For the sandbox, the harness and
    /// tests** (building test blocks); the clear PIN goes in, only the block comes out.
    fn encrypt_pin_block(
        &self,
        zpk: &KeyName,
        format: PinBlockFormat,
        pan: &str,
        pin: &ClearPin,
    ) -> Result<Vec<u8>, HsmError>;

    /// Re-encrypts a PIN block from `from` (format `from_format`) to `to` (format `to_format`)
    /// inside the back end (ZPK to ZPK, or a format change).
    #[allow(clippy::too_many_arguments)]
    fn translate_pin(
        &self,
        from: &KeyName,
        from_format: PinBlockFormat,
        block: &[u8],
        to: &KeyName,
        to_format: PinBlockFormat,
        pan: &str,
    ) -> Result<PinTranslation, HsmError>;

    /// Whether `cvv` is the card's CVV for `service_code`: the track's code for CVV, "999" for
    /// iCVV, "000" for CVV2 (see [`crate::cvv`]).
    fn verify_cvv(
        &self,
        cvk: &KeyName,
        pan: &str,
        expiry_yymm: &str,
        service_code: &str,
        cvv: &str,
    ) -> Result<bool, HsmError>;

    /// Verifies an ARQC (Visa CVN 10 or 18) with the card key derived from `imk`; when valid,
    /// returns tag 91 for the response's DE 55 as the CVN defines it.
    fn verify_arqc(&self, imk: &KeyName, req: &ArqcRequest) -> Result<ArqcVerdict, HsmError>;

    /// Tag 91 for `req` with the `imk` version that verified it, for when the decision changed
    /// the response (ARC or CSU) after [`Hsm::verify_arqc`]. Call it only for an ARQC that
    /// verified.
    fn generate_arpc(
        &self,
        imk: &KeyName,
        key_version: u32,
        req: &ArqcRequest,
    ) -> Result<Vec<u8>, HsmError>;

    /// The 8-byte MAC of `data` under `mak`.
    fn generate_mac(
        &self,
        mak: &KeyName,
        algorithm: MacAlgorithm,
        data: &[u8],
    ) -> Result<[u8; 8], HsmError>;

    /// Whether `mac` (4 to 8 bytes, leftmost part of the MAC) is right for `data`.
    fn verify_mac(
        &self,
        mak: &KeyName,
        algorithm: MacAlgorithm,
        data: &[u8],
        mac: &[u8],
    ) -> Result<bool, HsmError>;
}
