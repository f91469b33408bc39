//! `[hsm]` and `[listener.security]` (issue 23): which HSM holds the keys, and which card
//! security checks a listener requires.
//!
//! ```toml
//! [hsm]
//! software_keys = "fixtures/keys.toml"   # the sandbox: clear test keys (KCVs checked)
//! # pkcs11 = "/etc/switch/pkcs11.toml"   # production: keys by label in a PKCS#11 token
//! timeout_ms = 250                       # an HSM slower than this: 91
//! pin_tries_max = 3                      # wrong PINs in a row that block PIN use
//!
//! [[listener]]
//! # ...
//! [listener.security]
//! pin = "if_present"       # DE 52 against the card's PVV
//! cvv = "if_present"       # DE 35: CVV with its service code, iCVV (999) for chip (DE 22 05x/07x)
//! cvv2 = "if_present"      # DE 48 tag 92 (service code 000)
//! arqc = "if_present"      # DE 55: Visa CVN 10/18, ARPC back in the answer's tag 91
//! mac = false              # DE 64/128 required on requests, written on answers
//! pin_block_formats = [0]  # ISO 9564 formats DE 52 may be in: 0, 1, 3 (8 bytes, zpk), 4 (16, zpk_aes)
//! zpk = "zpk"              # key names (defaults shown)
//! ```
//!
//! A check is `off` (not looked at), `if_present` (verified when its data element is there;
//! its absence passes: e-commerce without CVV2, magstripe fallback without DE 55) or
//! `required` (absent: declined with the check's code).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// The default time budget of one request's HSM calls.
pub const DEFAULT_HSM_TIMEOUT_MS: u64 = 250;

/// `[hsm]`: exactly one back end, with its time budget and the PIN try limit.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HsmConfig {
    /// The software back end's key file (`fixtures/keys.toml`): for the sandbox and tests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub software_keys: Option<PathBuf>,
    /// The PKCS#11 back end's configuration file (module, token, PIN source, key labels).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pkcs11: Option<PathBuf>,
    /// How long one request's HSM work may take before it is answered 91.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// Wrong PINs in a row that block PIN use until an operator resets the counter.
    #[serde(default = "default_pin_tries_max")]
    pub pin_tries_max: u32,
}

fn default_timeout_ms() -> u64 {
    DEFAULT_HSM_TIMEOUT_MS
}

fn default_pin_tries_max() -> u32 {
    ledger::DEFAULT_PIN_TRIES_MAX
}

/// Which back end `[hsm]` names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HsmBackend {
    /// `software_keys`.
    Software(PathBuf),
    /// `pkcs11`.
    Pkcs11(PathBuf),
}

impl HsmConfig {
    /// The one back end named, or why not.
    pub fn backend(&self) -> Result<HsmBackend, String> {
        match (&self.software_keys, &self.pkcs11) {
            (Some(p), None) => Ok(HsmBackend::Software(p.clone())),
            (None, Some(p)) => Ok(HsmBackend::Pkcs11(p.clone())),
            _ => Err("exactly one of software_keys and pkcs11".into()),
        }
    }
}

/// How a listener treats one check.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckMode {
    /// Not looked at.
    #[default]
    Off,
    /// Verified when its data element is present; absent passes.
    IfPresent,
    /// Verified; absent is declined with the check's code.
    Required,
}

impl CheckMode {
    /// Whether the check runs at all.
    pub fn on(self) -> bool {
        self != CheckMode::Off
    }
}

/// `[listener.security]`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ListenerSecurity {
    /// DE 52 against the card's PVV.
    pub pin: CheckMode,
    /// DE 35's CVV (iCVV for chip).
    pub cvv: CheckMode,
    /// DE 48 tag 92.
    pub cvv2: CheckMode,
    /// DE 55's ARQC.
    pub arqc: CheckMode,
    /// DE 64/128 on requests (required) and answers.
    pub mac: bool,
    /// ISO 9564-1 formats DE 52 may be in (0, 1, 3 under `zpk`; 4 under `zpk_aes`). A block
    /// is tried in each allowed format of its length: its control field makes it well formed
    /// in one at most, so allowing several gives a PIN guess no second chance.
    pub pin_block_formats: Vec<u8>,
    /// Key names in the HSM: the PIN block key (TDES: formats 0, 1, 3).
    pub zpk: String,
    /// The AES PIN block key (format 4).
    pub zpk_aes: String,
    /// PIN verification key (its versions carry the PVKI).
    pub pvk: String,
    /// Card verification key (CVK A || CVK B).
    pub cvk: String,
    /// Issuer master key for application cryptograms.
    pub imk: String,
    /// Message authentication key.
    pub mak: String,
}

impl Default for ListenerSecurity {
    fn default() -> Self {
        ListenerSecurity {
            pin: CheckMode::Off,
            cvv: CheckMode::Off,
            cvv2: CheckMode::Off,
            arqc: CheckMode::Off,
            mac: false,
            pin_block_formats: vec![0],
            zpk: "zpk".into(),
            zpk_aes: "zpk_aes".into(),
            pvk: "pvk".into(),
            cvk: "cvk".into(),
            imk: "imk_ac".into(),
            mak: "mak".into(),
        }
    }
}

impl ListenerSecurity {
    /// Whether anything is checked (an HSM is then needed).
    pub fn any(&self) -> bool {
        self.pin.on() || self.cvv.on() || self.cvv2.on() || self.arqc.on() || self.mac
    }

    /// The key names the enabled checks use.
    pub fn key_names(&self) -> Vec<&str> {
        let mut v = Vec::new();
        if self.pin.on() {
            if self.pin_block_formats.iter().any(|&f| f != 4) {
                v.push(self.zpk.as_str());
            }
            if self.pin_block_formats.contains(&4) {
                v.push(self.zpk_aes.as_str());
            }
            v.push(self.pvk.as_str());
        }
        if self.cvv.on() || self.cvv2.on() {
            v.push(self.cvk.as_str());
        }
        if self.arqc.on() {
            v.push(self.imk.as_str());
        }
        if self.mac {
            v.push(self.mak.as_str());
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_default_off_and_modes_parse() {
        let s: ListenerSecurity = toml::from_str("").unwrap();
        assert!(!s.any());
        let s: ListenerSecurity =
            toml::from_str("pin = \"required\"\ncvv2 = \"if_present\"\nmac = true").unwrap();
        assert_eq!(s.pin, CheckMode::Required);
        assert_eq!(s.cvv2, CheckMode::IfPresent);
        assert_eq!(s.key_names(), vec!["zpk", "pvk", "cvk", "mak"]);
        let s: ListenerSecurity =
            toml::from_str("pin = \"if_present\"\npin_block_formats = [3, 4]").unwrap();
        assert_eq!(s.key_names(), vec!["zpk", "zpk_aes", "pvk"]);
        assert!(toml::from_str::<ListenerSecurity>("pin = \"sometimes\"").is_err());
        assert!(toml::from_str::<ListenerSecurity>("pni = \"off\"").is_err());
    }

    #[test]
    fn exactly_one_backend() {
        let h: HsmConfig = toml::from_str("software_keys = \"k.toml\"").unwrap();
        assert_eq!(h.backend().unwrap(), HsmBackend::Software("k.toml".into()));
        assert_eq!(h.timeout_ms, DEFAULT_HSM_TIMEOUT_MS);
        let both: HsmConfig = toml::from_str("software_keys = \"a\"\npkcs11 = \"b\"").unwrap();
        assert!(both.backend().is_err());
        let none: HsmConfig = toml::from_str("timeout_ms = 5").unwrap();
        assert!(none.backend().is_err());
    }
}
