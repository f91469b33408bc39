//! The crate's one error type.
//!
//! Display texts name keys, fields and reasons, never a value: no PIN, PIN block, key, CVV,
//! cryptogram or full PAN can reach a log line through an `HsmError` (`tests/secrets.rs`
//! checks every variant's text against the secrets it was built from).

use thiserror::Error;

/// Why a clear PIN block was refused after decryption (ISO 9564-1 format checks). Carries no
/// digit of the block: only which check failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
pub enum PinBlockError {
    /// The control field (first nibble) is not the format's (0, 1, 3 or 4).
    #[error("control field does not match the PIN block format")]
    ControlField,
    /// The PIN length nibble is outside 4..=12 (ISO 9564-1: a PIN has 4 to 12 digits).
    #[error("PIN length outside 4..=12")]
    PinLength,
    /// A PIN position holds a nibble above 9.
    #[error("PIN digit is not decimal")]
    PinDigit,
    /// A fill position holds what the format forbids (format 0: F; format 3: A..F; format 4: A).
    #[error("fill digits do not match the PIN block format")]
    Filler,
    /// The block is not 8 bytes (formats 0, 1, 3) or 16 bytes (format 4).
    #[error("PIN block has the wrong length for its format")]
    Length,
}

/// Everything that can go wrong in this crate.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum HsmError {
    /// No key of that name (or of that version) is loaded.
    #[error("unknown key '{name}'")]
    UnknownKey {
        /// The key name asked for.
        name: String,
    },
    /// The key exists but cannot do this operation (an AES key for a DES algorithm, a
    /// single-length key where a double-length one is required, ...).
    #[error("key '{name}' cannot be used here: {reason}")]
    KeyUse {
        /// The key name.
        name: String,
        /// What is wrong, in words.
        reason: &'static str,
    },
    /// An input does not have the form its algorithm requires.
    #[error("invalid {what}: {reason}")]
    InvalidInput {
        /// The input: "PAN", "PIN", "expiry", "service code", "ATC", ...
        what: &'static str,
        /// Why, in words (never the value).
        reason: &'static str,
    },
    /// A clear PIN block failed its format's checks (see [`PinBlockError`]).
    #[error("PIN block refused: {0}")]
    PinBlock(#[from] PinBlockError),
    /// The ICC data (DE 55) lacks or mis-sizes what the cryptogram needs.
    #[error("ICC data: {reason} (tag {tag:04X})")]
    IccData {
        /// The EMV tag at fault.
        tag: u32,
        /// What is wrong.
        reason: &'static str,
    },
    /// The key file (or the PKCS#11 configuration) cannot be used.
    #[error("key configuration {origin}: {reason}")]
    Config {
        /// The file or section.
        origin: String,
        /// What is wrong (names keys, never shows a value).
        reason: String,
    },
    /// A key's stated check value differs from the one computed at load.
    #[error("key '{name}' version {version}: check value does not match the key")]
    KcvMismatch {
        /// The key name.
        name: String,
        /// The version whose KCV failed.
        version: u32,
    },
    /// The operation is not available from this back end or for this cryptogram version.
    #[error("unsupported: {what}")]
    Unsupported {
        /// What was asked.
        what: String,
    },
    /// The PKCS#11 module or token failed or refused.
    #[error("PKCS#11 {op}: {reason}")]
    Pkcs11 {
        /// The operation ("login", "encrypt", "derive", "find key 'zpk'", ...).
        op: String,
        /// The module's answer (a CKR_ code name), never data.
        reason: String,
    },
}

impl HsmError {
    pub(crate) fn input(what: &'static str, reason: &'static str) -> Self {
        HsmError::InvalidInput { what, reason }
    }
}
