//! Private PostgreSQL and Redis servers with TLS, for the tests of the switch's own
//! connections: each on a free port in a temporary directory, with a certificate the test
//! made, stopped when dropped. PostgreSQL runs as the `postgres` user when the tests run as
//! root (initdb refuses root), as `scripts/test` and `tests/continuity/run` do.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::certs::Leaf;

/// A test that needs a server it cannot have: fails under CI, else says why it skips (the
/// caller then returns).
pub fn skip_or_fail(test: &str, why: &str) {
    if std::env::var_os("CI").is_some() {
        panic!("{test}: {why} (CI is set: a missing server is a failure)");
    }
    eprintln!("SKIP {test}: {why}");
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// Single-quoted for `sh -c`.
fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// Runs `args` (as `postgres` when root), failing with its stderr.
fn run_pg(as_postgres: bool, args: &[String]) -> Result<(), String> {
    let mut cmd = if as_postgres {
        let line = args.iter().map(|a| quote(a)).collect::<Vec<_>>().join(" ");
        let mut c = Command::new("su");
        c.args(["postgres", "-s", "/bin/sh", "-c", &line]);
        c
    } else {
        let mut c = Command::new(&args[0]);
        c.args(&args[1..]);
        c
    };
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{}: {e}", args[0]))?;
    if out.status.success() {
        Ok(())
    } else {
        let err = String::from_utf8_lossy(&out.stderr);
        let tail: String = err
            .chars()
            .skip(err.chars().count().saturating_sub(400))
            .collect();
        Err(format!("{} failed: {tail}", args[0]))
    }
}

fn chown_postgres(path: &Path) -> Result<(), String> {
    let ok = Command::new("chown")
        .args(["-R", "postgres"])
        .arg(path)
        .status()
        .map_err(|e| format!("chown: {e}"))?
        .success();
    ok.then_some(())
        .ok_or_else(|| "chown postgres failed".to_owned())
}

/// The newest PostgreSQL's `bin` directory: Debian's `/usr/lib/postgresql/N/bin`, else the
/// directory of an `initdb` on the PATH.
fn pg_bin() -> Option<PathBuf> {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").is_file().then_some((v, bin))
        })
        .collect();
    found.sort();
    if let Some((_, bin)) = found.pop() {
        return Some(bin);
    }
    std::env::var_os("PATH")
        .and_then(|paths| std::env::split_paths(&paths).find(|p| p.join("initdb").is_file()))
}

/// A private PostgreSQL: TLS on, password (SCRAM) logins over TLS only. Plain TCP connections
/// are rejected by `pg_hba.conf`, so a session that works is an encrypted one.
pub struct PrivatePostgres {
    /// Its port on 127.0.0.1.
    pub port: u16,
    /// The superuser, whose password is the one given to `start`.
    pub user: String,
    bin: PathBuf,
    as_postgres: bool,
    dir: tempfile::TempDir,
}

impl PrivatePostgres {
    /// Starts one serving `server` (certificate and key), `user`'s password `password`.
    pub fn start(server: &Leaf, password: &str) -> Result<Self, String> {
        let bin = pg_bin().ok_or("no PostgreSQL (initdb) installed")?;
        let as_postgres = is_root();
        let user = if as_postgres {
            "postgres".to_owned()
        } else {
            std::env::var("USER").unwrap_or_else(|_| "postgres".into())
        };
        let dir = tempfile::Builder::new()
            .prefix("pg-tls-")
            .tempdir()
            .map_err(|e| e.to_string())?;
        let d = dir.path();
        std::fs::copy(&server.cert, d.join("server.pem")).map_err(|e| e.to_string())?;
        std::fs::copy(&server.key, d.join("server.key")).map_err(|e| e.to_string())?;
        std::fs::write(d.join("pw"), password).map_err(|e| e.to_string())?;
        use std::os::unix::fs::PermissionsExt;
        // PostgreSQL refuses a key others can read.
        std::fs::set_permissions(d.join("server.key"), std::fs::Permissions::from_mode(0o600))
            .map_err(|e| e.to_string())?;
        if as_postgres {
            chown_postgres(d)?;
        }
        let s = |p: &Path| p.to_string_lossy().into_owned();
        let data = d.join("data");
        run_pg(
            as_postgres,
            &[
                s(&bin.join("initdb")),
                "-D".into(),
                s(&data),
                "-U".into(),
                user.clone(),
                "--auth-local=trust".into(),
                "--auth-host=scram-sha-256".into(),
                format!("--pwfile={}", s(&d.join("pw"))),
            ],
        )?;
        std::fs::write(
            data.join("pg_hba.conf"),
            "local all all trust\n\
             hostssl all all 127.0.0.1/32 scram-sha-256\n\
             hostnossl all all 127.0.0.1/32 reject\n",
        )
        .map_err(|e| e.to_string())?;
        let port = free_port();
        let opts = format!(
            "-p {port} -k {dir} -c listen_addresses=127.0.0.1 -c ssl=on \
             -c ssl_cert_file={dir}/server.pem -c ssl_key_file={dir}/server.key -c fsync=off",
            dir = s(d)
        );
        let pg = PrivatePostgres {
            port,
            user,
            bin,
            as_postgres,
            dir,
        };
        run_pg(
            as_postgres,
            &[
                s(&pg.bin.join("pg_ctl")),
                "-D".into(),
                s(&data),
                "-l".into(),
                s(&pg.dir.path().join("log")),
                "-w".into(),
                "-t".into(),
                "30".into(),
                "-o".into(),
                opts,
                "start".into(),
            ],
        )
        .map_err(|e| {
            let log = std::fs::read_to_string(pg.dir.path().join("log")).unwrap_or_default();
            format!("{e}; server log: {log}")
        })?;
        Ok(pg)
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let s = |p: &Path| p.to_string_lossy().into_owned();
        let _ = run_pg(
            self.as_postgres,
            &[
                s(&self.bin.join("pg_ctl")),
                "-D".into(),
                s(&self.dir.path().join("data")),
                "-m".into(),
                "immediate".into(),
                "stop".into(),
            ],
        );
    }
}

/// A private `redis-server` listening with TLS only (`--port 0`), asking for a password.
pub struct PrivateRedis {
    /// Its TLS port on 127.0.0.1.
    pub port: u16,
    child: Child,
    _dir: tempfile::TempDir,
}

impl PrivateRedis {
    /// Starts one serving `server` (certificate and key); clients need no certificate.
    pub fn start(server: &Leaf, ca: &Path, password: &str) -> Result<Self, String> {
        let bin = std::env::var_os("REDIS_SERVER_BIN")
            .map(PathBuf::from)
            .or_else(|| {
                std::env::var_os("PATH").and_then(|paths| {
                    std::env::split_paths(&paths)
                        .map(|p| p.join("redis-server"))
                        .find(|p| p.is_file())
                })
            })
            .ok_or("no redis-server (REDIS_SERVER_BIN or PATH)")?;
        let dir = tempfile::Builder::new()
            .prefix("redis-tls-")
            .tempdir()
            .map_err(|e| e.to_string())?;
        let port = free_port();
        let log = std::fs::File::create(dir.path().join("log")).map_err(|e| e.to_string())?;
        let child = Command::new(&bin)
            .args(["--port", "0", "--tls-port", &port.to_string()])
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .arg("--tls-cert-file")
            .arg(&server.cert)
            .arg("--tls-key-file")
            .arg(&server.key)
            .arg("--tls-ca-cert-file")
            .arg(ca)
            .args(["--tls-auth-clients", "no", "--requirepass", password])
            .arg("--dir")
            .arg(dir.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log)
            .spawn()
            .map_err(|e| format!("{}: {e}", bin.display()))?;
        let mut redis = PrivateRedis {
            port,
            child,
            _dir: dir,
        };
        let until = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = redis.child.try_wait() {
                let log =
                    std::fs::read_to_string(redis._dir.path().join("log")).unwrap_or_default();
                // Debian's build has TLS; one without it says so here.
                return Err(format!("redis-server exited ({status}): {log}"));
            }
            if Instant::now() > until {
                return Err("redis-server did not listen within 10 s".into());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(redis)
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
