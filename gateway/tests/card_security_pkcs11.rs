//! Card security end to end with the PKCS#11 back end (SoftHSM2, the token `scripts/test`
//! sets up): the sandbox's keys imported into the token under labels unique to this run, the
//! gateway configured by label only (no clear key in its configuration), the checks run on
//! the blocking pool. Skipped without a token outside CI; fails under CI without one.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use gateway::app;
use hsm::sandbox::{ChipTxn, SandboxCards};
use hsm::{Cvn, KeyFile, KeyName, PinBlockFormat};

const PAN: &str = "4000001000001016";

fn keys_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/keys.toml")
}

fn token() -> Option<(String, String)> {
    let module = std::env::var("TEST_PKCS11_MODULE").ok();
    let token = std::env::var("TEST_PKCS11_TOKEN").ok();
    let pin = std::env::var("TEST_PKCS11_PIN").ok();
    match (module, token, pin) {
        (Some(m), Some(t), Some(_)) if !m.is_empty() => Some((m, t)),
        _ if std::env::var_os("CI").is_some() => {
            panic!("CI is set but TEST_PKCS11_MODULE / TEST_PKCS11_TOKEN / TEST_PKCS11_PIN are not")
        }
        _ => {
            eprintln!("skipping: no PKCS#11 token (scripts/test sets TEST_PKCS11_*)");
            None
        }
    }
}

/// Serialises writers of the token across test processes (SoftHSM2's file store answers
/// CKR_GENERAL_ERROR to concurrent object creation: see hsm/tests/common).
struct TokenLock(PathBuf);

impl TokenLock {
    fn take() -> TokenLock {
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
                    return TokenLock(file);
                }
                Err(_) => {
                    let holder = std::fs::read_to_string(&file).unwrap_or_default();
                    let gone = holder
                        .trim()
                        .parse::<u32>()
                        .is_ok_and(|pid| !Path::new(&format!("/proc/{pid}")).exists());
                    if gone {
                        let _ = std::fs::remove_file(&file);
                    }
                    assert!(
                        started.elapsed().as_secs() < 600,
                        "token lock held for 10 minutes"
                    );
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
            }
        }
    }
}

impl Drop for TokenLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pin_cvv2_arqc_and_mac_run_in_the_token_and_a_token_that_cannot_answer_is_91() {
    let Some((module, token)) = token() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let keys = KeyFile::load(&keys_path()).unwrap();
    let run = format!("gw{}", std::process::id());
    // The token's configuration: labels and KCVs only.
    let mut toml =
        format!("module = \"{module}\"\ntoken = \"{token}\"\npin_env = \"TEST_PKCS11_PIN\"\n");
    for name in keys.names() {
        let v = &keys.versions(&KeyName::new(name)).unwrap()[0];
        toml.push_str(&format!(
            "[keys.{name}]\nlabel = \"{run}-{name}\"\nkcv = \"{}\"\n",
            hex::encode_upper(v.kcv)
        ));
        if let Some(p) = v.pvki {
            toml.push_str(&format!("pvki = {p}\n"));
        }
    }
    let pkcs11_path = dir.path().join("pkcs11.toml");
    std::fs::write(&pkcs11_path, &toml).unwrap();
    let config = hsm::Pkcs11Config::from_toml(&toml, "test").unwrap();
    let _lock = TokenLock::take();
    hsm::pkcs11::import_key_file(&config, &keys).unwrap();
    struct Cleanup(hsm::Pkcs11Config);
    impl Drop for Cleanup {
        fn drop(&mut self) {
            let _ = hsm::pkcs11::delete_key_objects(&self.0);
        }
    }
    let _cleanup = Cleanup(config);

    let seed = dir.path().join("cards.json");
    std::fs::write(
        &seed,
        format!(
            r#"{{"accounts":[{{"id":"A-P","home_currency":"KRW","balances":{{"KRW":"100000000"}}}}],
"cards":[{{"id":"C-P","pan":"{PAN}","expiry":"3012","account":"A-P","status":"active","pin":"1234","psn":"01"}}]}}"#
        ),
    )
    .unwrap();
    assert!(
        !toml.contains("385D2504"),
        "no clear key in the configuration"
    );
    let text = embedded_config_text(dir.path())
        .replace(&data("cards.json").display().to_string(), &seed.display().to_string())
        + &format!(
            "[listener.security]\npin = \"if_present\"\ncvv2 = \"if_present\"\narqc = \"if_present\"\n\
             [[listener]]\nname = \"mac\"\naddress = \"127.0.0.1:0\"\n[listener.security]\nmac = true\n\
             [hsm]\npkcs11 = \"{}\"\ntimeout_ms = 10000\n",
            pkcs11_path.display()
        );
    let gw = app::start(parse_config(&text))
        .await
        .expect("gateway starts");
    let cards = SandboxCards::new(keys);
    let mut c = Client::connect(gw.addr()).await;
    let block = |pin| cards.pin_block(PAN, pin, PinBlockFormat::Iso0).unwrap();
    let m = purchase(PAN, 100, "410", &stan()).with(52, block("1234"));
    assert_eq!(de39(&c.call(&m).await), "00");
    let m = purchase(PAN, 100, "410", &stan()).with(52, block("4321"));
    assert_eq!(de39(&c.call(&m).await), "55");
    let cvv2 = cards.cvv(PAN, "3012", "000").unwrap();
    let m = purchase(PAN, 100, "410", &stan()).with(48, hsm::sandbox::de48_with_cvv2(&cvv2));
    assert_eq!(de39(&c.call(&m).await), "00");
    let txn = ChipTxn {
        cvn: Cvn::Visa10,
        psn: "01".into(),
        amount_minor: 100,
        currency: 410,
        atc: 9,
        unpredictable: 3,
    };
    let de55 = cards.icc_data(PAN, &txn).unwrap();
    let r = c
        .call(
            &purchase(PAN, 100, "410", &stan())
                .with(22, "051")
                .with(55, &de55),
        )
        .await;
    assert_eq!(de39(&r), "00");
    assert_eq!(r.get(55).map(|v| v[..2].to_vec()), Some(vec![0x91, 0x0A]));
    // The MAC listener: a request MACed under the token's mak is answered, MACed.
    let mac_addr = gw.listeners.iter().find(|(n, _)| n == "mac").unwrap().1;
    let mut mc = Client::connect(mac_addr).await;
    let mut body = purchase(PAN, 100, "410", &stan())
        .with(64, [0u8; 8])
        .encode(spec())
        .unwrap();
    let n = body.len();
    let mac = cards.mac(&body[..n - 8]).unwrap();
    body[n - 8..].copy_from_slice(&mac);
    mc.send_raw(&body).await;
    let answer = mc.recv_raw().await.unwrap();
    let k = answer.len();
    assert_eq!(cards.mac(&answer[..k - 8]).unwrap(), answer[k - 8..]);
    assert_eq!(
        de39(&iso8583::decode(spec(), &answer).unwrap().to_owned_message()),
        "00"
    );
    // The token loses the keys under the running switch (an HSM that cannot answer): 91,
    // never an approval, and nothing recorded (a retransmission is checked afresh).
    hsm::pkcs11::delete_key_objects(&_cleanup.0).unwrap();
    let m = purchase(PAN, 100, "410", &stan())
        .with(52, block("1234"))
        .with(48, hsm::sandbox::de48_with_cvv2(&cvv2));
    let r = c.call(&m).await;
    assert_eq!(de39(&r), "91");
    assert!(!r.has(38));
    let key = ledger::NetworkKey::new(ACQUIRER, m.get_str(11).unwrap(), DE7).unwrap();
    assert!(gw.core().store().decision(&key).await.unwrap().is_none());
    // A purchase without card security data is still decided (nothing to verify).
    assert_eq!(
        de39(&c.call(&purchase(PAN, 100, "410", &stan())).await),
        "00"
    );
    gw.drain().await;
}
