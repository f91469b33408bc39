//! Card security inside an HSM boundary: PIN blocks, PVV and IBM 3624 PIN checks, CVV / iCVV /
//! CVV2, EMV ARQC/ARPC for Visa CVN 10 and 18, ISO 9797-1 MACs and key check values, behind
//! one [`Hsm`] trait with two back ends.
//!
//! # Layers
//!
//! - **Sans-IO algorithms** (one concept per module): [`pinblock`] (ISO 9564-1 formats 0, 1, 3,
//!   4), [`pvv`] (Visa PVV), [`ibm3624`] (IBM 3624 offset), [`cvv`], [`emv`] (option A, common
//!   session key, ARQC, ARPC methods 1 and 2, DE 55 input), [`mac`] (ISO 9797-1 algorithms 1
//!   and 3, padding methods 1 and 2), [`kcv`]. Pure functions over bytes, written over the
//!   [`KeyOps`] trait, so each runs over a clear [`Key`] or over a key inside a token. Each
//!   module's docs quote the standard or the public description it follows; `tests/vectors.rs`
//!   holds at least three cited test vectors per algorithm.
//! - **[`Hsm`]**: what the switch asks, by [`KeyName`]; it never returns a clear PIN or key.
//! - **Back ends**: [`SoftwareHsm`] (keys from `fixtures/keys.toml`, for the sandbox and tests)
//!   and [`Pkcs11Hsm`] (keys inside a PKCS#11 token, found by label; tested against SoftHSM2).
//!
//! # Example
//!
//! ```
//! use hsm::{Hsm, KeyFile, KeyName, SoftwareHsm};
//!
//! // The widely published CVV example (DESIGN.md, issue 23).
//! let keys = KeyFile::from_toml(
//!     "[keys.cvk]\nvalue = \"0123456789ABCDEFFEDCBA9876543210\"\nkcv = \"08D7B4\"\n",
//!     "example",
//! )?;
//! let hsm: Box<dyn Hsm> = Box::new(SoftwareHsm::from_key_file(keys));
//! assert!(hsm.verify_cvv(&KeyName::new("cvk"), "4123456789012345", "8701", "101", "561")?);
//! # Ok::<(), hsm::HsmError>(())
//! ```
//!
//! # Key versions
//!
//! Each key name has a current version and may have a previous one (a rotation in progress;
//! `reload` swaps them without a restart). A [`KeyName`] pinned to a version
//! (`KeyName::new("cvk").at_version(1)`) uses that version only. Otherwise:
//!
//! - ZPK: the current key decrypts; the previous one is tried only if the current one yields a
//!   malformed block (a well-formed block with a wrong PIN is not retried, so a rotation does
//!   not give a PIN guess two chances).
//! - PVK: the version whose `pvki` is the one the caller gives (Visa's own way of rotating PVKs:
//!   the PVKI on the card names the key).
//! - CVK, MAK, IMK: current, then previous. During a CVK rotation this doubles the chance of a
//!   guessed CVV2 matching (2 in 1000); pin the version when the card record knows it.
//! - Anything generated (PIN blocks, PVVs for seeding, MACs) uses the current version; an ARPC
//!   uses the IMK version that verified the ARQC.
//!
//! # Secrets
//!
//! [`Key`] and [`ClearPin`] wipe their memory on drop and show nothing in `Debug`; clear PIN
//! blocks are `Zeroizing`. [`HsmError`]'s texts name keys and fields, never a PIN, PIN block,
//! key, CVV or full PAN. Comparisons of expected and given values are constant-time.

#![deny(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

mod api;
mod checks;
pub mod cipher;
pub mod cvv;
mod digits;
pub mod emv;
mod error;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
pub mod ibm3624;
pub mod kcv;
pub mod keyfile;
pub mod mac;
pub mod pinblock;
pub mod pkcs11;
pub mod pvv;
pub mod sandbox;
mod secret;
mod software;

pub use api::{Hsm, KeyInfo, KeyVersionInfo, PinTranslation, PinVerdict};
pub use cipher::KeyOps;
pub use digits::mask_pan;
pub use emv::{ArpcResponse, ArqcRequest, ArqcVerdict, Cvn};
pub use error::{HsmError, PinBlockError};
pub use ibm3624::Ibm3624Params;
pub use keyfile::KeyFile;
pub use mac::{MacAlgorithm, Padding};
pub use pinblock::PinBlockFormat;
pub use pkcs11::{Pkcs11Config, Pkcs11Hsm};
pub use secret::{ClearPin, Key, KeyKind, KeyName};
pub use software::SoftwareHsm;

/// Constant-time equality of two byte strings (false when lengths differ).
pub(crate) fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}
