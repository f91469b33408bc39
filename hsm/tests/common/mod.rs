//! Both back ends over the same keys: the software one from key-file text, and, when the
//! environment provides a token (scripts/test sets up SoftHSM2), the PKCS#11 one with the same
//! keys imported under labels unique to this test.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, MutexGuard};

use hsm::pkcs11::{self, PinSource, Pkcs11Key, Pkcs11KeyVersion};
use hsm::{Hsm, KeyFile, KeyName, Pkcs11Config, Pkcs11Hsm, SoftwareHsm};

/// The token the environment names, or None (and a printed reason) outside CI. With CI set, a
/// missing token fails the test: the PKCS#11 back end must not pass by being skipped.
pub fn token() -> Option<(PathBuf, String)> {
    let module = std::env::var("TEST_PKCS11_MODULE").ok();
    let token = std::env::var("TEST_PKCS11_TOKEN").ok();
    let pin = std::env::var("TEST_PKCS11_PIN").ok();
    match (module, token, pin) {
        (Some(m), Some(t), Some(_)) if !m.is_empty() => Some((PathBuf::from(m), t)),
        _ if std::env::var_os("CI").is_some() => {
            panic!("CI is set but TEST_PKCS11_MODULE / TEST_PKCS11_TOKEN / TEST_PKCS11_PIN are not: scripts/test sets up a SoftHSM2 token")
        }
        _ => {
            eprintln!("skipping the PKCS#11 back end: TEST_PKCS11_MODULE/TOKEN/PIN not set (scripts/test sets them)");
            None
        }
    }
}

static SEQ: AtomicU32 = AtomicU32::new(0);

/// Labels for every key version of `keys`, unique to this process and call.
pub fn config_for(keys: &KeyFile, module: PathBuf, token: String, with_kcv: bool) -> Pkcs11Config {
    let run = format!(
        "t{}-{}-{}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed),
        nanos()
    );
    let mut out = BTreeMap::new();
    for name in keys.names() {
        let versions = keys.versions(&KeyName::new(name)).unwrap();
        let make = |i: usize| {
            let v = &versions[i];
            Pkcs11KeyVersion {
                label: format!("{run}-{name}-v{}", v.version),
                version: Some(v.version),
                kcv: with_kcv.then(|| hex::encode_upper(v.kcv)),
                pvki: v.pvki,
            }
        };
        out.insert(
            name.to_string(),
            Pkcs11Key {
                current: make(0),
                previous: (versions.len() > 1).then(|| make(1)),
            },
        );
    }
    Pkcs11Config {
        module,
        token,
        pin: PinSource::Env("TEST_PKCS11_PIN".into()),
        keys: out,
    }
}

fn nanos() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

/// Held by every test for as long as it uses the token, across threads and processes
/// (nextest runs each test in its own process). SoftHSM2's file store answered
/// CKR_GENERAL_ERROR to `C_CreateObject` and even `C_GetTokenInfo` while another thread or
/// process was writing the same token (the test set-up's import), about one run in two under
/// `--test-threads 4`; the switch itself creates only session objects, which
/// `concurrent_checks_on_one_back_end` exercises from many threads at once.
pub struct TokenLock {
    _in_process: MutexGuard<'static, ()>,
    file: PathBuf,
}

impl Drop for TokenLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.file);
    }
}

pub fn token_lock() -> TokenLock {
    static LOCK: Mutex<()> = Mutex::new(());
    let in_process = LOCK.lock().unwrap_or_else(|p| p.into_inner());
    let dir = std::env::var_os("SOFTHSM2_CONF")
        .and_then(|c| PathBuf::from(c).parent().map(PathBuf::from))
        .unwrap_or_else(std::env::temp_dir);
    let file = dir.join("hsm-tests.token-lock");
    let started = std::time::Instant::now();
    loop {
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&file)
        {
            Ok(mut f) => {
                use std::io::Write;
                let _ = write!(f, "{}", std::process::id());
                return TokenLock {
                    _in_process: in_process,
                    file,
                };
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                // A holder that died leaves its file: its PID no longer exists.
                let holder = std::fs::read_to_string(&file).unwrap_or_default();
                let gone = holder
                    .trim()
                    .parse::<u32>()
                    .is_ok_and(|pid| !PathBuf::from(format!("/proc/{pid}")).exists());
                if gone {
                    let _ = std::fs::remove_file(&file);
                }
                assert!(
                    started.elapsed().as_secs() < 600,
                    "token lock {} held for 10 minutes",
                    file.display()
                );
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Err(e) => panic!("cannot create the token lock {}: {e}", file.display()),
        }
    }
}

/// A PKCS#11 back end over `keys` imported into the test token; objects destroyed on drop.
pub struct TokenBackend {
    pub hsm: Pkcs11Hsm,
    pub config: Pkcs11Config,
    _lock: TokenLock,
}

impl Drop for TokenBackend {
    fn drop(&mut self) {
        let _ = pkcs11::delete_key_objects(&self.config);
    }
}

pub fn token_backend(keys: &KeyFile) -> Option<TokenBackend> {
    let (module, token) = token()?;
    let lock = token_lock();
    let config = config_for(keys, module, token, true);
    let n = pkcs11::import_key_file(&config, keys).unwrap();
    assert!(n >= keys.names().count(), "imported {n} keys");
    let hsm = Pkcs11Hsm::open(config.clone()).unwrap();
    Some(TokenBackend {
        hsm,
        config,
        _lock: lock,
    })
}

/// Runs `check` on the software back end and, when available, on the PKCS#11 one.
pub fn on_both(keys_toml: &str, check: impl Fn(&dyn Hsm)) {
    let keys = KeyFile::from_toml(keys_toml, "test keys").unwrap();
    check(&SoftwareHsm::from_key_file(keys.clone()));
    if let Some(t) = token_backend(&keys) {
        check(&t.hsm);
    }
}
