//! The PKCS#11 back end (`cryptoki`), tested against SoftHSM2.
//!
//! Keys live in the token as secret-key objects that are sensitive and not extractable, found
//! by label (see [`Pkcs11Config`]). DES, TDES and AES run inside the token (`CKM_DES3_ECB`,
//! `CKM_DES3_CBC`, `CKM_DES_ECB`, `CKM_AES_ECB`); the EMV card keys (ICC master key, session
//! key) are derived inside the token with `CKM_DES3_ECB_ENCRYPT_DATA` into session objects
//! that are destroyed after the check.
//!
//! **What happens in host memory** (a general-purpose PKCS#11 token has no payment commands
//! such as "verify this PIN block against this PVV", so the comparison steps run here):
//!
//! - PIN checks: the token decrypts the PIN block; the clear block and the clear PIN are then
//!   in this process's memory while the format is checked and the TSP (PVV) or validation
//!   data (IBM 3624) is built, and the token encrypts the TSP; the expected PVV/offset is
//!   compared here. All of these buffers are zeroized after use. PIN translation likewise:
//!   decrypt in the token, re-format here, encrypt in the token.
//! - CVV: the token computes the CVV chain; the expected CVV is decimalised and compared here,
//!   then wiped.
//! - ARQC/ARPC and MACs: computed in the token; the expected cryptogram or MAC (not secret by
//!   itself) is compared here.
//! - Keys: no key value ever leaves the token, derived card keys included. The import helper
//!   [`import_key_file`] is for test set-up only and puts clear test keys *into* a token.
//!
//! **Half-key objects.** ISO 9797-1 MAC algorithm 3 and the CVV chain need single DES under K1
//! alone and K2 alone. PKCS#11 cannot split a key inside the token (SoftHSM has no
//! `CKM_EXTRACT_KEY_FROM_KEY`), so a CVK or MAK must also exist as two objects labelled
//! `LABEL#L` (K1 || K1) and `LABEL#R` (K2 || K2): TDES with equal halves is single DES, which
//! works on tokens that have dropped `CKM_DES_ECB`. Derived EMV keys are derived in halves the
//! same way (data Y || Y gives K1 || K1). A payment HSM that refuses keys with equal halves
//! needs its vendor's retail-MAC mechanism instead (not implemented).
//!
//! Derived keys are not parity-adjusted inside the token (EMV option A asks for odd parity);
//! DES ignores the parity bits, so every result is the same.

mod config;
mod derive;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;

pub use config::{PinSource, Pkcs11Config, Pkcs11Key, Pkcs11KeyVersion};

use crate::api::{Hsm, KeyInfo, KeyVersionInfo, PinTranslation, PinVerdict};
use crate::checks::{self, KeyView, Version};
use crate::cipher::KeyOps;
use crate::emv::{self, ArqcRequest, ArqcVerdict, Cvn};
use crate::error::HsmError;
use crate::ibm3624::Ibm3624Params;
use crate::keyfile::KeyFile;
use crate::mac::MacAlgorithm;
use crate::pinblock::PinBlockFormat;
use crate::secret::{ClearPin, KeyKind, KeyName};

/// Sessions kept open for reuse; more are opened under load and closed when returned.
const MAX_IDLE_SESSIONS: usize = 16;

fn ck(op: impl Into<String>) -> impl FnOnce(CkError) -> HsmError {
    let op = op.into();
    move |e| HsmError::Pkcs11 {
        op,
        reason: e.to_string(),
    }
}

/// One process-wide context per module: `C_Initialize` once, and never `C_Finalize` while
/// another back end in this process still uses the module.
fn context(module: &Path) -> Result<Pkcs11, HsmError> {
    static CONTEXTS: OnceLock<Mutex<BTreeMap<PathBuf, Pkcs11>>> = OnceLock::new();
    let mut all = CONTEXTS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    if let Some(c) = all.get(module) {
        return Ok(c.clone());
    }
    let ctx = Pkcs11::new(module).map_err(ck(format!("load {}", module.display())))?;
    match ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        Ok(()) | Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
        Err(e) => return Err(ck("initialize")(e)),
    }
    all.insert(module.to_path_buf(), ctx.clone());
    Ok(ctx)
}

/// One key version's objects in the token.
#[derive(Clone, Debug)]
struct TokenVersion {
    version: u32,
    pvki: Option<u8>,
    kcv: [u8; 3],
    kind: KeyKind,
    full: ObjectHandle,
    halves: Option<(ObjectHandle, ObjectHandle)>,
}

type TokenKeys = BTreeMap<String, Vec<TokenVersion>>;

/// Keys inside a PKCS#11 token.
pub struct Pkcs11Hsm {
    ctx: Pkcs11,
    slot: Slot,
    raw: derive::RawModule,
    config: RwLock<Pkcs11Config>,
    config_path: Option<PathBuf>,
    idle: Mutex<Vec<Session>>,
    keys: RwLock<Arc<TokenKeys>>,
    next_label: AtomicU64,
}

impl Pkcs11Hsm {
    /// Opens the token of `config`, logs in, finds every key by label and checks the KCVs
    /// that the configuration states.
    pub fn open(config: Pkcs11Config) -> Result<Pkcs11Hsm, HsmError> {
        Self::open_inner(config, None)
    }

    /// As [`Pkcs11Hsm::open`] from a TOML file; `reload` re-reads it.
    pub fn open_file(path: &Path) -> Result<Pkcs11Hsm, HsmError> {
        let config = read_config(path)?;
        Self::open_inner(config, Some(path.to_path_buf()))
    }

    fn open_inner(
        config: Pkcs11Config,
        config_path: Option<PathBuf>,
    ) -> Result<Pkcs11Hsm, HsmError> {
        let ctx = context(&config.module)?;
        let slot = find_slot(&ctx, &config.token)?;
        let raw = derive::RawModule::load(&config.module)?;
        let hsm = Pkcs11Hsm {
            ctx,
            slot,
            raw,
            config: RwLock::new(config.clone()),
            config_path,
            idle: Mutex::new(Vec::new()),
            keys: RwLock::new(Arc::new(BTreeMap::new())),
            next_label: AtomicU64::new(0),
        };
        let session = hsm.session()?;
        let pin = config.read_pin()?;
        match session.login(UserType::User, Some(&AuthPin::new(pin.as_str().into()))) {
            Ok(()) | Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => {}
            Err(e) => return Err(ck("login")(e)),
        }
        let keys = resolve(&session, &config)?;
        drop(session);
        *hsm.keys.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(keys);
        Ok(hsm)
    }

    fn session(&self) -> Result<PooledSession<'_>, HsmError> {
        let idle = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let session = match idle {
            Some(s) => s,
            None => self
                .ctx
                .open_rw_session(self.slot)
                .map_err(ck("open session"))?,
        };
        Ok(PooledSession {
            session: Some(session),
            pool: &self.idle,
            poisoned: std::cell::Cell::new(false),
        })
    }

    fn view(&self) -> Result<TokenView<'_>, HsmError> {
        Ok(TokenView {
            hsm: self,
            session: self.session()?,
            keys: self.keys.read().unwrap_or_else(|p| p.into_inner()).clone(),
        })
    }

    /// Runs `f` over a view; a module failure closes the view's session instead of pooling it.
    fn with_view<R>(
        &self,
        f: impl FnOnce(&TokenView<'_>) -> Result<R, HsmError>,
    ) -> Result<R, HsmError> {
        let view = self.view()?;
        let r = f(&view);
        if let Err(HsmError::Pkcs11 { .. }) = &r {
            view.session.poisoned.set(true);
        }
        r
    }

    fn fresh_label(&self) -> String {
        let n = self.next_label.fetch_add(1, Ordering::Relaxed);
        format!("hsm-derived-{}-{n}", std::process::id())
    }
}

fn read_config(path: &Path) -> Result<Pkcs11Config, HsmError> {
    let text = std::fs::read_to_string(path).map_err(|e| HsmError::Config {
        origin: path.display().to_string(),
        reason: format!("cannot read: {}", e.kind()),
    })?;
    Pkcs11Config::from_toml(&text, &path.display().to_string())
}

fn find_slot(ctx: &Pkcs11, token: &str) -> Result<Slot, HsmError> {
    for slot in ctx.get_slots_with_token().map_err(ck("list slots"))? {
        let info = ctx.get_token_info(slot).map_err(ck("token info"))?;
        if info.label().trim_end() == token {
            return Ok(slot);
        }
    }
    Err(HsmError::Config {
        origin: "PKCS#11".into(),
        reason: format!("no token labelled '{token}'"),
    })
}

fn find_one(session: &Session, label: &str) -> Result<Option<ObjectHandle>, HsmError> {
    let found = session
        .find_objects(&[
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::Label(label.as_bytes().to_vec()),
        ])
        .map_err(ck(format!("find '{label}'")))?;
    match found.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some(*one)),
        _ => Err(HsmError::Config {
            origin: "PKCS#11".into(),
            reason: format!("more than one key labelled '{label}'"),
        }),
    }
}

/// As [`find_one`] for a session object (`CKA_TOKEN` false), which spares the token the
/// search of its stored objects.
fn find_session_object(session: &Session, label: &str) -> Result<Option<ObjectHandle>, HsmError> {
    let found = session
        .find_objects(&[
            Attribute::Token(false),
            Attribute::Label(label.as_bytes().to_vec()),
        ])
        .map_err(ck(format!("find '{label}'")))?;
    Ok(found.first().copied())
}

fn kind_of(session: &Session, handle: ObjectHandle, label: &str) -> Result<KeyKind, HsmError> {
    let attrs = session
        .get_attributes(handle, &[AttributeType::KeyType, AttributeType::ValueLen])
        .map_err(ck(format!("attributes of '{label}'")))?;
    let mut key_type = None;
    let mut len = None;
    for a in attrs {
        match a {
            Attribute::KeyType(t) => key_type = Some(t),
            Attribute::ValueLen(l) => len = Some(u64::from(l) as usize),
            _ => {}
        }
    }
    let bad = |what: &str| HsmError::Config {
        origin: "PKCS#11".into(),
        reason: format!("key '{label}': {what}"),
    };
    match key_type {
        Some(KeyType::DES) => Ok(KeyKind::Des),
        Some(KeyType::DES2) => Ok(KeyKind::Tdes2),
        Some(KeyType::DES3) => Ok(KeyKind::Tdes3),
        Some(KeyType::AES) => len
            .and_then(KeyKind::aes_for_len)
            .ok_or_else(|| bad("AES key of unknown length")),
        _ => Err(bad("not a DES, TDES or AES key")),
    }
}

/// Finds every configured key version and checks stated KCVs.
fn resolve(session: &Session, config: &Pkcs11Config) -> Result<TokenKeys, HsmError> {
    let mut out = BTreeMap::new();
    for (name, k) in &config.keys {
        let mut versions = Vec::new();
        for v in std::iter::once(&k.current).chain(&k.previous) {
            let full = find_one(session, &v.label)?.ok_or_else(|| HsmError::Config {
                origin: "PKCS#11".into(),
                reason: format!(
                    "key '{name}': no object labelled '{}' in the token",
                    v.label
                ),
            })?;
            let kind = kind_of(session, full, &v.label)?;
            let halves = match (
                find_one(session, &format!("{}#L", v.label))?,
                find_one(session, &format!("{}#R", v.label))?,
            ) {
                (Some(l), Some(r)) => Some((l, r)),
                _ => None,
            };
            let key = TokenKey {
                session,
                kind,
                full: Some(full),
                halves,
                temporary: vec![],
            };
            let kcv = crate::kcv::kcv(&key)?;
            let version = v.version.unwrap_or(1);
            if let Some(stated) = &v.kcv {
                if !crate::ct_eq(&crate::kcv::parse(stated)?, &kcv) {
                    return Err(HsmError::KcvMismatch {
                        name: name.clone(),
                        version,
                    });
                }
            }
            versions.push(TokenVersion {
                version,
                pvki: v.pvki,
                kcv,
                kind,
                full,
                halves,
            });
        }
        out.insert(name.clone(), versions);
    }
    Ok(out)
}

/// A session borrowed from the pool, returned on drop unless an operation on it failed in the
/// module (then it is closed: a session of a token that went away is not worth keeping).
struct PooledSession<'a> {
    session: Option<Session>,
    pool: &'a Mutex<Vec<Session>>,
    poisoned: std::cell::Cell<bool>,
}

impl std::ops::Deref for PooledSession<'_> {
    type Target = Session;
    fn deref(&self) -> &Session {
        self.session.as_ref().expect("present until drop")
    }
}

impl Drop for PooledSession<'_> {
    fn drop(&mut self) {
        if let Some(s) = self.session.take() {
            if self.poisoned.get() {
                return;
            }
            let mut idle = self.pool.lock().unwrap_or_else(|p| p.into_inner());
            if idle.len() < MAX_IDLE_SESSIONS {
                idle.push(s);
            }
        }
    }
}

/// A key inside the token, used through one session. Temporary (derived) objects are
/// destroyed on drop.
struct TokenKey<'s> {
    session: &'s Session,
    kind: KeyKind,
    full: Option<ObjectHandle>,
    halves: Option<(ObjectHandle, ObjectHandle)>,
    temporary: Vec<ObjectHandle>,
}

impl Drop for TokenKey<'_> {
    fn drop(&mut self) {
        for h in self.temporary.drain(..) {
            let _ = self.session.destroy_object(h);
        }
    }
}

const NO_HALVES: &str = "no half-key objects ('LABEL#L', 'LABEL#R') in the token: CVV and ISO 9797-1 MAC algorithm 3 need them";

impl TokenKey<'_> {
    fn run(
        &self,
        mechanism: &Mechanism<'_>,
        key: ObjectHandle,
        data: &mut [u8],
        encrypt: bool,
    ) -> Result<(), HsmError> {
        let out = if encrypt {
            self.session
                .encrypt(mechanism, key, data)
                .map_err(ck("encrypt"))?
        } else {
            self.session
                .decrypt(mechanism, key, data)
                .map_err(ck("decrypt"))?
        };
        if out.len() != data.len() {
            return Err(HsmError::Pkcs11 {
                op: "encrypt".into(),
                reason: "unexpected output length".into(),
            });
        }
        data.copy_from_slice(&out);
        let mut out = out;
        zeroize::Zeroize::zeroize(&mut out);
        Ok(())
    }

    fn halves(&self) -> Result<(ObjectHandle, ObjectHandle), HsmError> {
        self.halves.ok_or(HsmError::KeyUse {
            name: String::new(),
            reason: NO_HALVES,
        })
    }

    fn whole(&self, data: &mut [u8], encrypt: bool) -> Result<(), HsmError> {
        if !data.len().is_multiple_of(self.kind.block_len()) {
            return Err(HsmError::input(
                "cipher input",
                "not a whole number of blocks",
            ));
        }
        match (self.full, self.kind) {
            (Some(k), kind) if kind.is_aes() => self.run(&Mechanism::AesEcb, k, data, encrypt),
            (Some(k), KeyKind::Des) => self.run(&Mechanism::DesEcb, k, data, encrypt),
            (Some(k), _) => self.run(&Mechanism::Des3Ecb, k, data, encrypt),
            (None, _) => {
                // Derived keys exist only as halves: TDES-EDE2 from single-DES steps.
                let (l, r) = self.halves()?;
                let (first, second) = if encrypt {
                    (true, false)
                } else {
                    (false, true)
                };
                for block in data.chunks_exact_mut(8) {
                    self.run(&Mechanism::Des3Ecb, l, block, first)?;
                    self.run(&Mechanism::Des3Ecb, r, block, second)?;
                    self.run(&Mechanism::Des3Ecb, l, block, first)?;
                }
                Ok(())
            }
        }
    }
}

impl KeyOps for TokenKey<'_> {
    fn kind(&self) -> KeyKind {
        self.kind
    }
    fn encrypt(&self, data: &mut [u8]) -> Result<(), HsmError> {
        self.whole(data, true)
    }
    fn decrypt(&self, data: &mut [u8]) -> Result<(), HsmError> {
        self.whole(data, false)
    }
    fn encrypt_k1(&self, block: &mut [u8; 8]) -> Result<(), HsmError> {
        crate::cipher::require_des(self.kind, "single DES needs a DES-family key")?;
        if self.kind == KeyKind::Des {
            return self.whole(block, true);
        }
        let (l, _) = self.halves()?;
        self.run(&Mechanism::Des3Ecb, l, block, true)
    }
    fn decrypt_k2(&self, block: &mut [u8; 8]) -> Result<(), HsmError> {
        crate::cipher::require_des(self.kind, "single DES needs a DES-family key")?;
        if self.kind == KeyKind::Des {
            return self.whole(block, false);
        }
        let (_, r) = self.halves()?;
        self.run(&Mechanism::Des3Ecb, r, block, false)
    }
    fn cbc_mac_k1(&self, data: &[u8]) -> Result<[u8; 8], HsmError> {
        crate::cipher::require_des(self.kind, "single DES needs a DES-family key")?;
        if data.is_empty() || !data.len().is_multiple_of(8) {
            return Err(HsmError::input("MAC input", "not a whole number of blocks"));
        }
        let (l, _) = self.halves()?;
        // One CBC call in the token (zero IV); the MAC is the last ciphertext block.
        let mut out = self
            .session
            .encrypt(&Mechanism::Des3Cbc([0; 8]), l, data)
            .map_err(ck("encrypt"))?;
        let mut last = [0u8; 8];
        last.copy_from_slice(&out[out.len() - 8..]);
        zeroize::Zeroize::zeroize(&mut out);
        Ok(last)
    }
}

struct TokenView<'h> {
    hsm: &'h Pkcs11Hsm,
    session: PooledSession<'h>,
    keys: Arc<TokenKeys>,
}

impl TokenView<'_> {
    fn find(&self, name: &KeyName) -> Result<Vec<&TokenVersion>, HsmError> {
        let all = self
            .keys
            .get(name.as_str())
            .ok_or_else(|| HsmError::UnknownKey {
                name: name.to_string(),
            })?;
        let picked: Vec<&TokenVersion> = all
            .iter()
            .filter(|v| name.version().is_none_or(|w| v.version == w))
            .collect();
        if picked.is_empty() {
            return Err(HsmError::UnknownKey {
                name: name.to_string(),
            });
        }
        Ok(picked)
    }

    fn derive(&self, base: ObjectHandle, data: [u8; 16]) -> Result<ObjectHandle, HsmError> {
        let label = self.hsm.fresh_label();
        self.hsm
            .raw
            .derive_des2(self.session.handle(), base.handle(), &data, &label)?;
        find_session_object(&self.session, &label)?.ok_or_else(|| HsmError::Pkcs11 {
            op: "derive".into(),
            reason: "derived key not found".into(),
        })
    }

    /// Derives (L || L, R || R) for the key TDES(base, left) || TDES(base, right).
    fn derive_halves(
        &self,
        base: ObjectHandle,
        left: [u8; 8],
        right: [u8; 8],
    ) -> Result<(ObjectHandle, ObjectHandle), HsmError> {
        let twice = |b: [u8; 8]| {
            let mut d = [0u8; 16];
            d[..8].copy_from_slice(&b);
            d[8..].copy_from_slice(&b);
            d
        };
        let l = self.derive(base, twice(left))?;
        match self.derive(base, twice(right)) {
            Ok(r) => Ok((l, r)),
            Err(e) => {
                let _ = self.session.destroy_object(l);
                Err(e)
            }
        }
    }
}

impl KeyView for TokenView<'_> {
    fn versions(&self, name: &KeyName) -> Result<Vec<Version<'_>>, HsmError> {
        Ok(self
            .find(name)?
            .into_iter()
            .map(|v| Version {
                version: v.version,
                pvki: v.pvki,
                key: Box::new(TokenKey {
                    session: &self.session,
                    kind: v.kind,
                    full: Some(v.full),
                    halves: v.halves,
                    temporary: vec![],
                }) as Box<dyn KeyOps + '_>,
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
        let base = self.find(&imk.at_version(version))?[0];
        if base.kind != KeyKind::Tdes2 {
            return Err(HsmError::KeyUse {
                name: String::new(),
                reason: "an issuer master key is double-length TDES",
            });
        }
        let y = emv::option_a_input(pan, psn)?;
        let mut y2 = y;
        y2.iter_mut().for_each(|b| *b ^= 0xFF);
        let (l, r) = match cvn {
            Cvn::Visa10 => self.derive_halves(base.full, y, y2)?,
            Cvn::Visa18 => {
                let mut yy = [0u8; 16];
                yy[..8].copy_from_slice(&y);
                yy[8..].copy_from_slice(&y2);
                let mk = self.derive(base.full, yy)?;
                let (f1, f2) = emv::session_key_inputs(atc);
                let halves = self.derive_halves(mk, f1, f2);
                let _ = self.session.destroy_object(mk);
                halves?
            }
        };
        Ok(Box::new(TokenKey {
            session: &self.session,
            kind: KeyKind::Tdes2,
            full: None,
            halves: Some((l, r)),
            temporary: vec![l, r],
        }))
    }
}

impl Hsm for Pkcs11Hsm {
    fn backend(&self) -> &'static str {
        "pkcs11"
    }

    fn keys(&self) -> Vec<KeyInfo> {
        let keys = self.keys.read().unwrap_or_else(|p| p.into_inner()).clone();
        keys.iter()
            .map(|(name, versions)| KeyInfo {
                name: KeyName::new(name),
                kind: versions[0].kind,
                versions: versions
                    .iter()
                    .enumerate()
                    .map(|(i, v)| KeyVersionInfo {
                        version: v.version,
                        kcv: v.kcv,
                        current: i == 0,
                        pvki: v.pvki,
                    })
                    .collect(),
            })
            .collect()
    }

    fn kcv(&self, name: &KeyName) -> Result<[u8; 3], HsmError> {
        self.with_view(|v| checks::kcv(v, name))
    }

    fn reload(&self) -> Result<(), HsmError> {
        let config = match &self.config_path {
            Some(p) => read_config(p)?,
            None => self
                .config
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
        };
        let session = self.session()?;
        // Log in again: a token that restarted since `open` has forgotten the login.
        let pin = config.read_pin()?;
        match session.login(UserType::User, Some(&AuthPin::new(pin.as_str().into()))) {
            Ok(()) | Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => {}
            Err(e) => return Err(ck("login")(e)),
        }
        let keys = resolve(&session, &config)?;
        *self.keys.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(keys);
        *self.config.write().unwrap_or_else(|p| p.into_inner()) = config;
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
        self.with_view(|v| checks::verify_pin_pvv(v, zpk, block, format, pan, pvk, pvki, pvv))
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
        self.with_view(|v| {
            checks::verify_pin_ibm3624(v, zpk, block, format, pan, pvk, params, offset)
        })
    }

    fn pvv_for_clear_pin(
        &self,
        pvk: &KeyName,
        pvki: u8,
        pan: &str,
        pin: &ClearPin,
    ) -> Result<String, HsmError> {
        self.with_view(|v| checks::pvv_for_clear_pin(v, pvk, pvki, pan, pin))
    }

    fn encrypt_pin_block(
        &self,
        zpk: &KeyName,
        format: PinBlockFormat,
        pan: &str,
        pin: &ClearPin,
    ) -> Result<Vec<u8>, HsmError> {
        self.with_view(|v| checks::encrypt_pin_block(v, zpk, format, pan, pin))
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
        self.with_view(|v| checks::translate_pin(v, from, from_format, block, to, to_format, pan))
    }

    fn verify_cvv(
        &self,
        cvk: &KeyName,
        pan: &str,
        expiry_yymm: &str,
        service_code: &str,
        cvv: &str,
    ) -> Result<bool, HsmError> {
        self.with_view(|v| checks::verify_cvv(v, cvk, pan, expiry_yymm, service_code, cvv))
    }

    fn verify_arqc(&self, imk: &KeyName, req: &ArqcRequest) -> Result<ArqcVerdict, HsmError> {
        self.with_view(|v| checks::verify_arqc(v, imk, req))
    }

    fn generate_arpc(
        &self,
        imk: &KeyName,
        key_version: u32,
        req: &ArqcRequest,
    ) -> Result<Vec<u8>, HsmError> {
        self.with_view(|v| checks::generate_arpc(v, imk, key_version, req))
    }

    fn generate_mac(
        &self,
        mak: &KeyName,
        algorithm: MacAlgorithm,
        data: &[u8],
    ) -> Result<[u8; 8], HsmError> {
        self.with_view(|v| checks::generate_mac(v, mak, algorithm, data))
    }

    fn verify_mac(
        &self,
        mak: &KeyName,
        algorithm: MacAlgorithm,
        data: &[u8],
        mac: &[u8],
    ) -> Result<bool, HsmError> {
        self.with_view(|v| checks::verify_mac(v, mak, algorithm, data, mac))
    }
}

/// **Test set-up only**: creates in the token of `config`, for every key name of `config`
/// that `keys` also has, the token objects the back end expects: the key (sensitive, not
/// extractable, label from the configuration) and, for double-length keys, its `#L` / `#R`
/// halves. Versions are matched by number. Objects whose label already exists are left alone.
/// Returns how many keys were created. Production keys are generated or imported under the
/// HSM's own key ceremony, never from a clear file.
pub fn import_key_file(config: &Pkcs11Config, keys: &KeyFile) -> Result<usize, HsmError> {
    let _one_at_a_time = token_writes();
    let ctx = context(&config.module)?;
    let slot = find_slot(&ctx, &config.token)?;
    let session = ctx.open_rw_session(slot).map_err(ck("open session"))?;
    let pin = config.read_pin()?;
    match session.login(UserType::User, Some(&AuthPin::new(pin.as_str().into()))) {
        Ok(()) | Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => {}
        Err(e) => return Err(ck("login")(e)),
    }
    let mut created = 0;
    for (name, k) in &config.keys {
        for v in std::iter::once(&k.current).chain(&k.previous) {
            let Ok(versions) =
                keys.versions(&KeyName::new(name).at_version(v.version.unwrap_or(1)))
            else {
                continue;
            };
            let key = &versions[0].key;
            if find_one(&session, &v.label)?.is_some() {
                continue;
            }
            let bytes = key.expose_for_import();
            create(&session, &v.label, key.kind(), bytes)?;
            if key.kind() == KeyKind::Tdes2 {
                let mut half = zeroize::Zeroizing::new([0u8; 16]);
                for (suffix, part) in [("#L", &bytes[..8]), ("#R", &bytes[8..16])] {
                    half[..8].copy_from_slice(part);
                    half[8..].copy_from_slice(part);
                    create(
                        &session,
                        &format!("{}{suffix}", v.label),
                        KeyKind::Tdes2,
                        &half[..],
                    )?;
                }
            }
            created += 1;
        }
    }
    Ok(created)
}

/// Serialises token-object creation and deletion within this process: SoftHSM2's file store
/// answered CKR_GENERAL_ERROR to concurrent `C_CreateObject` calls from two threads here.
fn token_writes() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|p| p.into_inner())
}

fn create(
    session: &Session,
    label: &str,
    kind: KeyKind,
    value: &[u8],
) -> Result<ObjectHandle, HsmError> {
    let key_type = match kind {
        KeyKind::Des => KeyType::DES,
        KeyKind::Tdes2 => KeyType::DES2,
        KeyKind::Tdes3 => KeyType::DES3,
        _ => KeyType::AES,
    };
    let mut template = vec![
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(key_type),
        Attribute::Token(true),
        Attribute::Private(true),
        Attribute::Sensitive(true),
        Attribute::Extractable(false),
        Attribute::Encrypt(true),
        Attribute::Decrypt(true),
        Attribute::Derive(true),
        Attribute::Label(label.as_bytes().to_vec()),
        Attribute::Value(value.to_vec()),
    ];
    // SoftHSM2's file store answered CKR_GENERAL_ERROR here now and then while another process
    // or thread wrote the same token (test set-up only: the switch never creates token
    // objects), so a general error is retried a few times, unless the object exists after all.
    let mut attempt = 0u64;
    let r = loop {
        match session.create_object(&template) {
            Err(CkError::Pkcs11(RvError::GeneralError, _)) if attempt < 20 => {
                if let Some(h) = find_one(session, label)? {
                    break Ok(h);
                }
                attempt += 1;
                std::thread::sleep(std::time::Duration::from_millis(
                    10 * attempt + u64::from(std::process::id() % 7),
                ));
            }
            other => break other.map_err(ck(format!("create '{label}'"))),
        }
    };
    if let Some(Attribute::Value(v)) = template.last_mut() {
        zeroize::Zeroize::zeroize(v);
    }
    r
}

/// **Test clean-up only**: destroys the token objects of every label in `config` (and their
/// `#L` / `#R` halves). Returns how many objects were destroyed.
pub fn delete_key_objects(config: &Pkcs11Config) -> Result<usize, HsmError> {
    let _one_at_a_time = token_writes();
    let ctx = context(&config.module)?;
    let slot = find_slot(&ctx, &config.token)?;
    let session = ctx.open_rw_session(slot).map_err(ck("open session"))?;
    let pin = config.read_pin()?;
    match session.login(UserType::User, Some(&AuthPin::new(pin.as_str().into()))) {
        Ok(()) | Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => {}
        Err(e) => return Err(ck("login")(e)),
    }
    let mut n = 0;
    for k in config.keys.values() {
        for v in std::iter::once(&k.current).chain(&k.previous) {
            for label in [
                v.label.clone(),
                format!("{}#L", v.label),
                format!("{}#R", v.label),
            ] {
                if let Some(h) = find_one(&session, &label)? {
                    session
                        .destroy_object(h)
                        .map_err(ck(format!("destroy '{label}'")))?;
                    n += 1;
                }
            }
        }
    }
    Ok(n)
}

/// What [`describe_objects`] reports of one token object: no value, only its protection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectProtection {
    /// The object's label.
    pub label: String,
    /// CKA_SENSITIVE.
    pub sensitive: bool,
    /// CKA_EXTRACTABLE.
    pub extractable: bool,
    /// Whether the token handed out CKA_VALUE when asked (it must not).
    pub value_readable: bool,
}

/// **Tests and audits**: the protection attributes of every object `config` names (halves
/// included), and whether the token would give out its value.
pub fn describe_objects(config: &Pkcs11Config) -> Result<Vec<ObjectProtection>, HsmError> {
    let ctx = context(&config.module)?;
    let slot = find_slot(&ctx, &config.token)?;
    let session = ctx.open_rw_session(slot).map_err(ck("open session"))?;
    let pin = config.read_pin()?;
    match session.login(UserType::User, Some(&AuthPin::new(pin.as_str().into()))) {
        Ok(()) | Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => {}
        Err(e) => return Err(ck("login")(e)),
    }
    let mut out = Vec::new();
    for k in config.keys.values() {
        for v in std::iter::once(&k.current).chain(&k.previous) {
            for label in [
                v.label.clone(),
                format!("{}#L", v.label),
                format!("{}#R", v.label),
            ] {
                let Some(h) = find_one(&session, &label)? else {
                    continue;
                };
                let attrs = session
                    .get_attributes(h, &[AttributeType::Sensitive, AttributeType::Extractable])
                    .map_err(ck(format!("attributes of '{label}'")))?;
                let flag = |t: AttributeType| {
                    attrs.iter().any(|a| {
                        matches!(
                            (a, t),
                            (Attribute::Sensitive(true), AttributeType::Sensitive)
                                | (Attribute::Extractable(true), AttributeType::Extractable)
                        )
                    })
                };
                let value_readable = matches!(
                    session.get_attributes(h, &[AttributeType::Value]),
                    Ok(v) if v.iter().any(|a| matches!(a, Attribute::Value(x) if !x.is_empty()))
                );
                out.push(ObjectProtection {
                    sensitive: flag(AttributeType::Sensitive),
                    extractable: flag(AttributeType::Extractable),
                    value_readable,
                    label,
                });
            }
        }
    }
    Ok(out)
}
