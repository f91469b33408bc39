//! The software back end: clear keys in process memory, from `fixtures/keys.toml`. For the
//! sandbox and tests; every operation runs in this process, so its "HSM boundary" is the
//! process. `reload` re-reads the file (SIGHUP) and swaps the whole set only if it all checks.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use crate::api::{Hsm, KeyInfo, KeyVersionInfo, PinTranslation, PinVerdict};
use crate::checks::{self, KeyView, Version};
use crate::cipher::{KeyOps, Schedule};
use crate::emv::{self, ArqcRequest, ArqcVerdict, Cvn};
use crate::error::HsmError;
use crate::ibm3624::Ibm3624Params;
use crate::keyfile::KeyFile;
use crate::mac::MacAlgorithm;
use crate::pinblock::PinBlockFormat;
use crate::secret::{ClearPin, KeyName};

/// Keys in memory, loaded from a key file.
pub struct SoftwareHsm {
    path: Option<PathBuf>,
    keys: RwLock<Arc<Loaded>>,
}

/// Most ICC master keys [`Loaded`] keeps; past it the cache starts again empty.
const MAX_CARD_KEYS: usize = 10_000;

/// A card key's place in [`Loaded`]: IMK name, version, EMV option A input.
type CardKeyId = (String, u32, [u8; 8]);

/// A key file and the ICC master keys derived from its issuer master keys, which go with it
/// when a reload replaces it.
struct Loaded {
    keys: KeyFile,
    /// By IMK name, version and card (its EMV option A input): a card's cryptograms then cost their
    /// session key, MAC and ARPC, not also the master key's two TDES blocks and schedule
    /// (about a fifth of a CVN 18 ARQC's DES, docs/PERFORMANCE.md). Derived keys stay in this
    /// process's memory like the keys they come from: this back end's boundary is the process.
    card_keys: Mutex<HashMap<CardKeyId, Arc<Schedule>>>,
}

impl Loaded {
    fn new(keys: KeyFile) -> Arc<Loaded> {
        Arc::new(Loaded {
            keys,
            card_keys: Mutex::new(HashMap::new()),
        })
    }

    /// The ICC master key of `pan`/`psn` under `imk` version `version` (EMV option A).
    fn master_key(
        &self,
        imk: &KeyName,
        version: u32,
        pan: &str,
        psn: &str,
    ) -> Result<Arc<Schedule>, HsmError> {
        let id = (
            imk.as_str().to_owned(),
            version,
            emv::option_a_input(pan, psn)?,
        );
        let cached = self
            .card_keys
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&id)
            .cloned();
        if let Some(k) = cached {
            return Ok(k);
        }
        let v = self.keys.versions(&imk.at_version(version))?;
        let mk = Arc::new(Schedule::new(&emv::derive_icc_mk_a(
            &*v[0].schedule,
            pan,
            psn,
        )?)?);
        let mut keys = self.card_keys.lock().unwrap_or_else(|p| p.into_inner());
        if keys.len() >= MAX_CARD_KEYS {
            keys.clear();
        }
        keys.insert(id, mk.clone());
        Ok(mk)
    }
}

impl SoftwareHsm {
    /// Loads and checks `path` (see [`crate::keyfile`]).
    pub fn load(path: &Path) -> Result<SoftwareHsm, HsmError> {
        let keys = KeyFile::load(path)?;
        Ok(SoftwareHsm {
            path: Some(path.to_path_buf()),
            keys: RwLock::new(Loaded::new(keys)),
        })
    }

    /// Serves an already loaded key file (tests, benches); `reload` then keeps it.
    pub fn from_key_file(keys: KeyFile) -> SoftwareHsm {
        SoftwareHsm {
            path: None,
            keys: RwLock::new(Loaded::new(keys)),
        }
    }

    fn view(&self) -> SoftView {
        SoftView(self.keys.read().unwrap_or_else(|p| p.into_inner()).clone())
    }
}

struct SoftView(Arc<Loaded>);

impl KeyView for SoftView {
    fn versions(&self, name: &KeyName) -> Result<Vec<Version<'_>>, HsmError> {
        Ok(self
            .0
            .keys
            .versions(name)?
            .into_iter()
            .map(|k| Version {
                version: k.version,
                pvki: k.pvki,
                key: Box::new(&*k.schedule) as Box<dyn KeyOps + '_>,
            })
            .collect())
    }

    fn card_key(
        &self,
        imk: &KeyName,
        version: u32,
        cvn: Cvn,
        pan: &str,
        psn: &str,
        atc: [u8; 2],
    ) -> Result<Box<dyn KeyOps + '_>, HsmError> {
        let mk = self.0.master_key(imk, version, pan, psn)?;
        match cvn {
            Cvn::Visa10 => Ok(Box::new(mk)),
            // One schedule for the cryptogram's MAC and the ARPC (a `Key` builds one per
            // call: five TDES/DES schedules per ARQC, as costly as the blocks they encrypt).
            Cvn::Visa18 => Ok(Box::new(Schedule::new(&emv::derive_common_session_key(
                &*mk, atc,
            )?)?)),
        }
    }
}

impl Hsm for SoftwareHsm {
    fn backend(&self) -> &'static str {
        "software"
    }

    fn keys(&self) -> Vec<KeyInfo> {
        let view = self.view();
        view.0
            .keys
            .names()
            .filter_map(|n| {
                let name = KeyName::new(n);
                let versions = view.0.keys.versions(&name).ok()?;
                Some(KeyInfo {
                    kind: versions[0].key.kind(),
                    versions: versions
                        .iter()
                        .enumerate()
                        .map(|(i, k)| KeyVersionInfo {
                            version: k.version,
                            kcv: k.kcv,
                            current: i == 0,
                            pvki: k.pvki,
                        })
                        .collect(),
                    name,
                })
            })
            .collect()
    }

    fn kcv(&self, name: &KeyName) -> Result<[u8; 3], HsmError> {
        checks::kcv(&self.view(), name)
    }

    fn reload(&self) -> Result<(), HsmError> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        let fresh = KeyFile::load(path)?;
        *self.keys.write().unwrap_or_else(|p| p.into_inner()) = Loaded::new(fresh);
        Ok(())
    }

    fn verify_pin_pvv(
        &self,
        zpk: &KeyName,
        block: &[u8],
        format: PinBlockFormat,
        pan: &str,
        pvk: &KeyName,
        pvki: u8,
        pvv: &str,
    ) -> Result<PinVerdict, HsmError> {
        checks::verify_pin_pvv(&self.view(), zpk, block, format, pan, pvk, pvki, pvv)
    }

    fn verify_pin_ibm3624(
        &self,
        zpk: &KeyName,
        block: &[u8],
        format: PinBlockFormat,
        pan: &str,
        pvk: &KeyName,
        params: &Ibm3624Params,
        offset: &str,
    ) -> Result<PinVerdict, HsmError> {
        checks::verify_pin_ibm3624(&self.view(), zpk, block, format, pan, pvk, params, offset)
    }

    fn pvv_for_clear_pin(
        &self,
        pvk: &KeyName,
        pvki: u8,
        pan: &str,
        pin: &ClearPin,
    ) -> Result<String, HsmError> {
        checks::pvv_for_clear_pin(&self.view(), pvk, pvki, pan, pin)
    }

    fn encrypt_pin_block(
        &self,
        zpk: &KeyName,
        format: PinBlockFormat,
        pan: &str,
        pin: &ClearPin,
    ) -> Result<Vec<u8>, HsmError> {
        checks::encrypt_pin_block(&self.view(), zpk, format, pan, pin)
    }

    fn translate_pin(
        &self,
        from: &KeyName,
        from_format: PinBlockFormat,
        block: &[u8],
        to: &KeyName,
        to_format: PinBlockFormat,
        pan: &str,
    ) -> Result<PinTranslation, HsmError> {
        checks::translate_pin(&self.view(), from, from_format, block, to, to_format, pan)
    }

    fn verify_cvv(
        &self,
        cvk: &KeyName,
        pan: &str,
        expiry_yymm: &str,
        service_code: &str,
        cvv: &str,
    ) -> Result<bool, HsmError> {
        checks::verify_cvv(&self.view(), cvk, pan, expiry_yymm, service_code, cvv)
    }

    fn verify_arqc(&self, imk: &KeyName, req: &ArqcRequest) -> Result<ArqcVerdict, HsmError> {
        checks::verify_arqc(&self.view(), imk, req)
    }

    fn generate_arpc(
        &self,
        imk: &KeyName,
        key_version: u32,
        req: &ArqcRequest,
    ) -> Result<Vec<u8>, HsmError> {
        checks::generate_arpc(&self.view(), imk, key_version, req)
    }

    fn generate_mac(
        &self,
        mak: &KeyName,
        algorithm: MacAlgorithm,
        data: &[u8],
    ) -> Result<[u8; 8], HsmError> {
        checks::generate_mac(&self.view(), mak, algorithm, data)
    }

    fn verify_mac(
        &self,
        mak: &KeyName,
        algorithm: MacAlgorithm,
        data: &[u8],
        mac: &[u8],
    ) -> Result<bool, HsmError> {
        checks::verify_mac(&self.view(), mak, algorithm, data, mac)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loaded() -> Arc<Loaded> {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/keys.toml");
        Loaded::new(KeyFile::load(&path).unwrap())
    }

    /// What `key` makes of one block: two keys are the same key when they agree on it.
    fn of_block(key: &dyn KeyOps) -> [u8; 8] {
        let mut b = *b"\x01\x23\x45\x67\x89\xAB\xCD\xEF";
        key.encrypt(&mut b).unwrap();
        b
    }

    #[test]
    fn card_keys_from_the_cache_are_the_ones_derived_and_the_cache_is_bounded() {
        let l = loaded();
        let imk = KeyName::new("imk_ac");
        let v = l.keys.versions(&imk).unwrap()[0].version;
        let view = SoftView(l.clone());
        let pan = "4761739001010119";
        for cvn in [Cvn::Visa10, Cvn::Visa18] {
            let fresh = emv::card_key(
                &*l.keys.versions(&imk.at_version(v)).unwrap()[0].schedule,
                cvn,
                pan,
                "01",
                [0x00, 0x2A],
            )
            .unwrap();
            // The first call derives and keeps the master key, the second takes it kept.
            for _ in 0..2 {
                let k = view
                    .card_key(&imk, v, cvn, pan, "01", [0x00, 0x2A])
                    .unwrap();
                assert_eq!(of_block(&*k), of_block(&fresh), "{cvn:?}");
            }
        }
        assert_eq!(l.card_keys.lock().unwrap().len(), 1);
        // Another PSN is another card key.
        let k = view
            .card_key(&imk, v, Cvn::Visa10, pan, "02", [0, 1])
            .unwrap();
        let first = view
            .card_key(&imk, v, Cvn::Visa10, pan, "01", [0, 1])
            .unwrap();
        assert_ne!(of_block(&*k), of_block(&*first));
        for i in 0..MAX_CARD_KEYS {
            let pan = format!("47617390{i:08}");
            l.master_key(&imk, v, &pan, "01").unwrap();
        }
        assert!(l.card_keys.lock().unwrap().len() <= MAX_CARD_KEYS);
    }
}
