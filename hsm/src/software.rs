//! The software back end: clear keys in process memory, from `fixtures/keys.toml`. For the
//! sandbox and tests; every operation runs in this process, so its "HSM boundary" is the
//! process. `reload` re-reads the file (SIGHUP) and swaps the whole set only if it all checks.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use crate::api::{Hsm, KeyInfo, KeyVersionInfo, PinTranslation, PinVerdict};
use crate::checks::{self, KeyView, Version};
use crate::cipher::KeyOps;
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
    keys: RwLock<Arc<KeyFile>>,
}

impl SoftwareHsm {
    /// Loads and checks `path` (see [`crate::keyfile`]).
    pub fn load(path: &Path) -> Result<SoftwareHsm, HsmError> {
        let keys = KeyFile::load(path)?;
        Ok(SoftwareHsm {
            path: Some(path.to_path_buf()),
            keys: RwLock::new(Arc::new(keys)),
        })
    }

    /// Serves an already loaded key file (tests, benches); `reload` then keeps it.
    pub fn from_key_file(keys: KeyFile) -> SoftwareHsm {
        SoftwareHsm {
            path: None,
            keys: RwLock::new(Arc::new(keys)),
        }
    }

    fn view(&self) -> SoftView {
        SoftView(self.keys.read().unwrap_or_else(|p| p.into_inner()).clone())
    }
}

struct SoftView(Arc<KeyFile>);

impl KeyView for SoftView {
    fn versions(&self, name: &KeyName) -> Result<Vec<Version<'_>>, HsmError> {
        Ok(self
            .0
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
        let v = self.0.versions(&imk.at_version(version))?;
        let key = emv::card_key(&*v[0].schedule, cvn, pan, psn, atc)?;
        // One schedule for the cryptogram's MAC and the ARPC (a `Key` builds one per call:
        // five TDES/DES schedules per ARQC, as costly as the blocks they encrypt).
        Ok(Box::new(crate::cipher::Schedule::new(&key)?))
    }
}

impl Hsm for SoftwareHsm {
    fn backend(&self) -> &'static str {
        "software"
    }

    fn keys(&self) -> Vec<KeyInfo> {
        let view = self.view();
        view.0
            .names()
            .filter_map(|n| {
                let name = KeyName::new(n);
                let versions = view.0.versions(&name).ok()?;
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
        *self.keys.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(fresh);
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
