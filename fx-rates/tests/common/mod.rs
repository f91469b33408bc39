//! Helpers shared by the integration tests: the test Redis, unique namespaces, a private
//! redis-server for tests that stop and restart it.
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The shared test Redis, or `None` (after printing a skip line) when it cannot be reached
/// outside CI. Under CI an unreachable server fails the test.
pub async fn redis_url(test: &str) -> Option<String> {
    let url = std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379/".into());
    match ping(&url).await {
        Ok(()) => Some(url),
        Err(e) if std::env::var_os("CI").is_some() => {
            panic!("{test}: TEST_REDIS_URL {url} unreachable under CI: {e}")
        }
        Err(e) => {
            eprintln!(
                "SKIP {test}: no Redis at {url} ({e}); set TEST_REDIS_URL or run scripts/test"
            );
            None
        }
    }
}

pub async fn ping(url: &str) -> Result<(), String> {
    let client = redis::Client::open(url).map_err(|e| e.to_string())?;
    let attempt = async {
        let mut c = client.get_multiplexed_async_connection().await?;
        redis::cmd("PING").query_async::<String>(&mut c).await
    };
    match tokio::time::timeout(Duration::from_secs(1), attempt).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("timeout".into()),
    }
}

/// A namespace no other test (or crate, or run) uses.
pub fn namespace(test: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("t-{test}-{}-{nanos}", std::process::id())
}

/// Deletes every key of `namespace` (best effort, at the end of a test).
pub async fn cleanup(url: &str, namespace: &str) {
    let Ok(client) = redis::Client::open(url) else {
        return;
    };
    let Ok(mut c) = client.get_multiplexed_async_connection().await else {
        return;
    };
    let pattern = format!("fx:{{{namespace}}}:*");
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(&pattern)
        .query_async(&mut c)
        .await
        .unwrap_or_default();
    if !keys.is_empty() {
        let _: Result<(), _> = redis::cmd("DEL").arg(keys).query_async(&mut c).await;
    }
}

/// Polls `cond` every 10 ms until it holds or `within` passes.
pub async fn eventually(within: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A redis-server of our own, on a free port, with no persistence: stopping it loses its data.
pub struct PrivateRedis {
    pub port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl PrivateRedis {
    /// Starts one, or returns `None` (with a skip line; failing under CI) without the binary.
    pub async fn start(test: &str) -> Option<Self> {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        let mut me = Self {
            port,
            dir: tempfile::tempdir().expect("tempdir"),
            child: None,
        };
        match me.restart().await {
            Ok(()) => Some(me),
            Err(e) if std::env::var_os("CI").is_some() => panic!("{test}: {e}"),
            Err(e) => {
                eprintln!("SKIP {test}: cannot start a private redis-server: {e}");
                None
            }
        }
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Starts (again) on the same port.
    pub async fn restart(&mut self) -> Result<(), String> {
        let bin: PathBuf = std::env::var_os("REDIS_SERVER_BIN")
            .filter(|b| !b.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(|| "redis-server".into());
        let child = Command::new(&bin)
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("{}: {e}", bin.display()))?;
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if ping(&self.url()).await.is_ok() {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Err(format!("redis-server on port {} did not answer", self.port))
    }

    /// Kills our server (only ours: the child we started) and waits for it to exit.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A rates CSV whose every rate encodes `generation`, so a reader can tell a mixed set: `pairs`
/// rows `USD,XXX,<generation>.<row>` over the first currencies of the table.
pub fn generation_csv(generation: u32, pairs: usize) -> String {
    let mut out = String::from("base,quote,rate\n");
    for (row, c) in fx_rates::currencies()
        .iter()
        .filter(|c| c.alpha != "USD")
        .take(pairs)
        .enumerate()
    {
        out.push_str(&format!("USD,{},{generation}.{:04}\n", c.alpha, row + 1));
    }
    out
}

/// The generation a set was built from, if every rate agrees (panics on a mixed set).
pub fn generation_of(set: &fx_rates::RateSet, pairs: usize) -> u32 {
    assert_eq!(
        set.pairs().len(),
        pairs,
        "set {} is incomplete",
        set.version()
    );
    let gens: std::collections::BTreeSet<u32> = set
        .pairs()
        .iter()
        .map(|p| {
            p.rate
                .trunc()
                .to_string()
                .parse::<u32>()
                .expect("integer part")
        })
        .collect();
    assert_eq!(
        gens.len(),
        1,
        "set {} mixes generations {gens:?}",
        set.version()
    );
    *gens.iter().next().unwrap()
}
