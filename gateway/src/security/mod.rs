//! Card security in the authorization flow (issue 23): the HSM the switch asks, with a time
//! budget, off the ledger's writer; and what one listener checks (`checks.rs`), how track 2,
//! DE 48 and the MAC field are read (`track2.rs`, `de48.rs`, `mac.rs`).
//!
//! The software back end answers in microseconds from process memory: its calls run on the
//! connection's task. A PKCS#11 token is a device behind a blocking library: its calls run on
//! tokio's blocking pool, at most [`MAX_HSM_IN_FLIGHT`] at once, and the request waits for
//! them no longer than the budget (`hsm.timeout_ms`, and never past the request's deadline).
//! An HSM that does not answer in time, or cannot (a key missing, the token gone), makes the
//! answer 91: nothing it did not verify is approved.

mod checks;
pub(crate) mod de48;
mod mac;
mod track2;

use std::sync::Arc;
use std::time::Duration;

use hsm::{Hsm, HsmError, KeyName, PinBlockFormat};
use tokio::sync::Semaphore;
use tokio::time::Instant;
use tracing::info;

pub(crate) use checks::arpc_for;

use crate::config::{HsmBackend, HsmConfig, ListenerSecurity};
use crate::error::ConfigError;

/// Most HSM calls waiting on the blocking pool at once (PKCS#11): beyond this a request is
/// answered 91 at once instead of queueing for a token that is already behind.
pub const MAX_HSM_IN_FLIGHT: usize = 64;

/// Why the HSM gave no answer.
#[derive(Debug)]
pub(crate) enum HsmFail {
    /// Not within the budget (or too many calls waiting).
    Timeout,
    /// It answered with an error that is not about the request's data (a key missing, the
    /// token failing).
    Error(HsmError),
}

impl std::fmt::Display for HsmFail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HsmFail::Timeout => f.write_str("the HSM did not answer within its time budget"),
            HsmFail::Error(e) => write!(f, "{e}"),
        }
    }
}

/// Whether an HSM error is the request's (bad input: the check fails) rather than the HSM's
/// (it cannot answer: 91).
pub(crate) fn is_input_error(e: &HsmError) -> bool {
    matches!(
        e,
        HsmError::InvalidInput { .. }
            | HsmError::PinBlock(_)
            | HsmError::IccData { .. }
            | HsmError::Unsupported { .. }
    )
}

/// The HSM as the switch uses it: a back end, where its calls run, and their time budget.
pub struct HsmService {
    hsm: Arc<dyn Hsm>,
    budget: Duration,
    /// Software: run on the caller's task. PKCS#11: on the blocking pool.
    inline: bool,
    in_flight: Arc<Semaphore>,
    pin_tries_max: u32,
}

impl std::fmt::Debug for HsmService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HsmService")
            .field("backend", &self.hsm.backend())
            .field("budget", &self.budget)
            .finish_non_exhaustive()
    }
}

impl HsmService {
    /// Opens the back end `[hsm]` names (each key's KCV is checked as it loads).
    pub fn open(c: &HsmConfig) -> Result<HsmService, ConfigError> {
        let backend = c.backend().map_err(|e| ConfigError::invalid("hsm", e))?;
        let (hsm, inline): (Arc<dyn Hsm>, bool) = match backend {
            HsmBackend::Software(path) => (
                Arc::new(
                    hsm::SoftwareHsm::load(&path)
                        .map_err(|e| ConfigError::invalid("hsm.software_keys", e.to_string()))?,
                ),
                true,
            ),
            HsmBackend::Pkcs11(path) => (
                Arc::new(
                    hsm::Pkcs11Hsm::open_file(&path)
                        .map_err(|e| ConfigError::invalid("hsm.pkcs11", e.to_string()))?,
                ),
                false,
            ),
        };
        let service = Self::new(hsm, c, inline);
        service.log_keys();
        Ok(service)
    }

    /// Serves `hsm` with `[hsm]`'s budget and limit; `inline` runs its calls on the caller's
    /// task.
    pub fn new(hsm: Arc<dyn Hsm>, c: &HsmConfig, inline: bool) -> HsmService {
        HsmService {
            hsm,
            budget: Duration::from_millis(c.timeout_ms),
            inline,
            in_flight: Arc::new(Semaphore::new(MAX_HSM_IN_FLIGHT)),
            pin_tries_max: c.pin_tries_max,
        }
    }

    /// The back end.
    pub fn hsm(&self) -> &Arc<dyn Hsm> {
        &self.hsm
    }

    /// Logs each loaded key's name, version and KCV (a KCV identifies a key, it does not
    /// reveal it): what operators compare with the key ceremony's record.
    pub fn log_keys(&self) {
        for k in self.hsm.keys() {
            for v in &k.versions {
                info!(key = %k.name, version = v.version, kcv = %hex::encode_upper(v.kcv),
                    current = v.current, backend = self.hsm.backend(), "HSM key loaded");
            }
        }
    }

    /// Checks that every key `needed` names is loaded.
    pub fn check_keys<'a>(
        &self,
        needed: impl IntoIterator<Item = (&'a str, String)>,
    ) -> Result<(), ConfigError> {
        let keys = self.hsm.keys();
        for (name, at) in needed {
            if !keys.iter().any(|k| k.name.as_str() == name) {
                return Err(ConfigError::invalid(
                    at,
                    format!("key '{name}' is not in the HSM"),
                ));
            }
        }
        Ok(())
    }

    /// Re-reads the keys (SIGHUP): the new set replaces the old only if every key loads and
    /// every KCV matches.
    pub fn reload(&self) -> Result<(), HsmError> {
        self.hsm.reload()?;
        self.log_keys();
        Ok(())
    }

    /// Runs `f` on the HSM within the budget and before `deadline`.
    pub(crate) async fn run<T, F>(&self, deadline: Instant, f: F) -> Result<T, HsmFail>
    where
        T: Send + 'static,
        F: FnOnce(&dyn Hsm) -> Result<T, HsmError> + Send + 'static,
    {
        let until = deadline.min(Instant::now() + self.budget);
        if self.inline {
            let out = f(&*self.hsm).map_err(HsmFail::Error);
            return if Instant::now() > until {
                Err(HsmFail::Timeout)
            } else {
                out
            };
        }
        let Ok(permit) = self.in_flight.clone().try_acquire_owned() else {
            return Err(HsmFail::Timeout);
        };
        let hsm = self.hsm.clone();
        let job = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            f(&*hsm)
        });
        match tokio::time::timeout_at(until, job).await {
            Ok(Ok(r)) => r.map_err(HsmFail::Error),
            // A panic inside the back end: it did not answer.
            Ok(Err(_)) => Err(HsmFail::Timeout),
            Err(_) => Err(HsmFail::Timeout),
        }
    }
}

/// What one listener checks, with the HSM that checks it.
#[derive(Debug)]
pub struct SwitchSecurity {
    pub(crate) hsm: Arc<HsmService>,
    pub(crate) cfg: ListenerSecurity,
    /// The PIN block formats allowed, in the order tried.
    pub(crate) formats: Vec<PinBlockFormat>,
    pub(crate) keys: Keys,
}

/// The key names of a listener.
#[derive(Debug, Clone)]
pub(crate) struct Keys {
    pub(crate) zpk: KeyName,
    pub(crate) zpk_aes: KeyName,
    pub(crate) pvk: KeyName,
    pub(crate) cvk: KeyName,
    pub(crate) imk: KeyName,
    pub(crate) mak: KeyName,
}

impl SwitchSecurity {
    /// The checks of `cfg` on `hsm`; `None` when the listener checks nothing. `at` names the
    /// listener's section in errors.
    pub fn new(
        hsm: Option<&Arc<HsmService>>,
        cfg: &ListenerSecurity,
        at: &str,
    ) -> Result<Option<SwitchSecurity>, ConfigError> {
        if !cfg.any() {
            return Ok(None);
        }
        let hsm = hsm.ok_or_else(|| ConfigError::invalid(at, "checks need an [hsm] section"))?;
        hsm.check_keys(
            cfg.key_names()
                .into_iter()
                .map(|n| (n, format!("{at}.security"))),
        )?;
        let formats = cfg
            .pin_block_formats
            .iter()
            .map(|&f| {
                PinBlockFormat::from_control(f).ok_or_else(|| {
                    ConfigError::invalid(format!("{at}.security.pin_block_formats"), "0, 1, 3 or 4")
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Some(SwitchSecurity {
            hsm: hsm.clone(),
            formats,
            keys: Keys {
                zpk: KeyName::new(&cfg.zpk),
                zpk_aes: KeyName::new(&cfg.zpk_aes),
                pvk: KeyName::new(&cfg.pvk),
                cvk: KeyName::new(&cfg.cvk),
                imk: KeyName::new(&cfg.imk),
                mak: KeyName::new(&cfg.mak),
            },
            cfg: cfg.clone(),
        }))
    }

    /// Whether requests and answers carry MACs.
    pub(crate) fn macs(&self) -> bool {
        self.cfg.mac
    }

    /// Whether `req`'s MAC is right: `Ok(false)` when it is missing, misplaced or wrong.
    pub(crate) async fn verify_mac(
        &self,
        spec: &iso8583::Spec,
        req: &iso8583::OwnedMessage,
        body: &[u8],
        deadline: Instant,
    ) -> Result<bool, HsmFail> {
        let Some(loc) = mac::locate(spec, req, body) else {
            return Ok(false);
        };
        let (data, given, mak) = (loc.data.to_vec(), loc.mac, self.keys.mak.clone());
        self.hsm
            .run(deadline, move |h| {
                h.verify_mac(&mak, hsm::MacAlgorithm::DE64, &data, &given)
            })
            .await
    }

    /// `resp` encoded with its MAC (DE 64, or DE 128 when it has a secondary bitmap).
    pub(crate) async fn sign(
        &self,
        spec: &iso8583::Spec,
        mut resp: iso8583::OwnedMessage,
        deadline: Instant,
    ) -> Result<Vec<u8>, HsmFail> {
        let Some(mut p) = mac::prepare(spec, &mut resp) else {
            return Err(HsmFail::Error(HsmError::Unsupported {
                what: "a MAC field in this spec".into(),
            }));
        };
        let (data, mak) = (p.bytes[..p.at].to_vec(), self.keys.mak.clone());
        let m = self
            .hsm
            .run(deadline, move |h| {
                h.generate_mac(&mak, hsm::MacAlgorithm::DE64, &data)
            })
            .await?;
        if !mac::write(spec, &mut p, &m) {
            return Err(HsmFail::Error(HsmError::Unsupported {
                what: "a MAC field in this spec".into(),
            }));
        }
        Ok(p.bytes)
    }

    pub(crate) fn pin_tries_max(&self) -> u32 {
        self.hsm.pin_tries_max
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hsm::{ArqcRequest, ArqcVerdict, Ibm3624Params, KeyInfo, MacAlgorithm, PinTranslation};

    /// The sandbox's software HSM behind a delay: an HSM that answers, late.
    struct Late(hsm::SoftwareHsm, Duration);

    impl Hsm for Late {
        fn backend(&self) -> &'static str {
            "late"
        }
        fn keys(&self) -> Vec<KeyInfo> {
            self.0.keys()
        }
        fn kcv(&self, n: &KeyName) -> Result<[u8; 3], HsmError> {
            self.0.kcv(n)
        }
        fn reload(&self) -> Result<(), HsmError> {
            self.0.reload()
        }
        fn verify_pin_pvv(
            &self,
            z: &KeyName,
            b: &[u8],
            f: PinBlockFormat,
            p: &str,
            k: &KeyName,
            i: u8,
            v: &str,
        ) -> Result<hsm::PinVerdict, HsmError> {
            std::thread::sleep(self.1);
            self.0.verify_pin_pvv(z, b, f, p, k, i, v)
        }
        fn verify_pin_ibm3624(
            &self,
            z: &KeyName,
            b: &[u8],
            f: PinBlockFormat,
            p: &str,
            k: &KeyName,
            q: &Ibm3624Params,
            o: &str,
        ) -> Result<hsm::PinVerdict, HsmError> {
            self.0.verify_pin_ibm3624(z, b, f, p, k, q, o)
        }
        fn pvv_for_clear_pin(
            &self,
            k: &KeyName,
            i: u8,
            p: &str,
            pin: &hsm::ClearPin,
        ) -> Result<String, HsmError> {
            self.0.pvv_for_clear_pin(k, i, p, pin)
        }
        fn encrypt_pin_block(
            &self,
            z: &KeyName,
            f: PinBlockFormat,
            p: &str,
            pin: &hsm::ClearPin,
        ) -> Result<Vec<u8>, HsmError> {
            self.0.encrypt_pin_block(z, f, p, pin)
        }
        fn translate_pin(
            &self,
            a: &KeyName,
            af: PinBlockFormat,
            b: &[u8],
            t: &KeyName,
            tf: PinBlockFormat,
            p: &str,
        ) -> Result<PinTranslation, HsmError> {
            self.0.translate_pin(a, af, b, t, tf, p)
        }
        fn verify_cvv(
            &self,
            k: &KeyName,
            p: &str,
            e: &str,
            s: &str,
            c: &str,
        ) -> Result<bool, HsmError> {
            std::thread::sleep(self.1);
            self.0.verify_cvv(k, p, e, s, c)
        }
        fn verify_arqc(&self, k: &KeyName, r: &ArqcRequest) -> Result<ArqcVerdict, HsmError> {
            self.0.verify_arqc(k, r)
        }
        fn generate_arpc(&self, k: &KeyName, v: u32, r: &ArqcRequest) -> Result<Vec<u8>, HsmError> {
            self.0.generate_arpc(k, v, r)
        }
        fn generate_mac(
            &self,
            k: &KeyName,
            a: MacAlgorithm,
            d: &[u8],
        ) -> Result<[u8; 8], HsmError> {
            self.0.generate_mac(k, a, d)
        }
        fn verify_mac(
            &self,
            k: &KeyName,
            a: MacAlgorithm,
            d: &[u8],
            m: &[u8],
        ) -> Result<bool, HsmError> {
            self.0.verify_mac(k, a, d, m)
        }
    }

    fn config(timeout_ms: u64) -> HsmConfig {
        HsmConfig {
            software_keys: None,
            pkcs11: None,
            timeout_ms,
            pin_tries_max: 3,
        }
    }

    fn sandbox() -> hsm::SoftwareHsm {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/keys.toml");
        hsm::SoftwareHsm::load(&path).unwrap()
    }

    fn cvv_check(h: &dyn Hsm) -> Result<bool, HsmError> {
        h.verify_cvv(
            &KeyName::new("cvk"),
            "4123456789012345",
            "8701",
            "101",
            "561",
        )
    }

    #[tokio::test]
    async fn an_hsm_slower_than_its_budget_is_a_timeout_not_an_answer() {
        let slow = HsmService::new(
            Arc::new(Late(sandbox(), Duration::from_millis(300))),
            &config(50),
            false,
        );
        let far = Instant::now() + Duration::from_secs(5);
        let started = Instant::now();
        assert!(matches!(
            slow.run(far, cvv_check).await,
            Err(HsmFail::Timeout)
        ));
        assert!(
            started.elapsed() < Duration::from_millis(250),
            "did not wait for it"
        );
        // The request's own deadline bounds the budget too.
        let soon = Instant::now() + Duration::from_millis(10);
        let generous = HsmService::new(
            Arc::new(Late(sandbox(), Duration::from_millis(300))),
            &config(5_000),
            false,
        );
        assert!(matches!(
            generous.run(soon, cvv_check).await,
            Err(HsmFail::Timeout)
        ));
        // In time, on the blocking pool and inline, it answers.
        let quick = HsmService::new(Arc::new(sandbox()), &config(1_000), false);
        assert!(quick.run(far, cvv_check).await.unwrap());
        let inline = HsmService::new(Arc::new(sandbox()), &config(1_000), true);
        assert!(inline.run(far, cvv_check).await.unwrap());
    }

    #[tokio::test]
    async fn a_missing_key_is_the_hsms_failure_and_bad_input_the_requests() {
        let h = HsmService::new(Arc::new(sandbox()), &config(1_000), true);
        let far = Instant::now() + Duration::from_secs(5);
        match h
            .run(far, |h| {
                h.verify_cvv(
                    &KeyName::new("nope"),
                    "4123456789012345",
                    "8701",
                    "101",
                    "561",
                )
            })
            .await
        {
            Err(HsmFail::Error(e)) => assert!(!is_input_error(&e)),
            other => panic!("expected an HSM error, got {other:?}"),
        }
        let e = h
            .run(far, |h| {
                h.verify_cvv(
                    &KeyName::new("cvk"),
                    "4123456789012345",
                    "8701",
                    "101",
                    "5x1",
                )
            })
            .await
            .unwrap_err();
        assert!(matches!(e, HsmFail::Error(ref e) if is_input_error(e)));
    }

    proptest::proptest! {
        /// What the checks read from the network never panics, whatever it holds.
        #[test]
        fn reading_track_2_de_48_and_de_55_never_panics(
            t in "\\PC{0,60}",
            b in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300),
        ) {
            let _ = track2::parse(&t);
            let _ = de48::cvv2(&t);
            let _ = checks::arqc_request(&b, "4000001000000125", Some("001"));
            let _ = checks::arqc_request(&b, &t, None);
        }
    }
}
