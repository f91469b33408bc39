//! The floor under the embedded writer (issue 19): how much of its CPU per authorization is
//! SQLite's own, whatever the ledger's code around it does.
//!
//! Kinds of round, alternating, each `BATCHES` batches of authorizations, each timed by the
//! CPU time (user and system, from the kernel's `schedstat`) of the one thread that writes:
//!
//! - `writer`: waves of concurrent authorizations through an embedded [`ledger::Store`]; the
//!   time is its `ledger-writer` thread's, and its batch size is what the waves made.
//! - `sql`: the statements such a batch runs, and nothing else, on rusqlite straight: `BEGIN
//!   IMMEDIATE`, `PRAGMA data_version`, per authorization the decision looked up by key and a
//!   decision and a hold inserted, per account its wallets read and written, the approval
//!   counter read and written, one outbox row and the accounts' event numbers, `COMMIT`. The
//!   rows are copies of what the writer stored (under new keys, their times moved to the
//!   batch's), in a ledger grown as the writer's was, with the same pragmas (WAL,
//!   `synchronous = FULL`). Its checkpoints are off the clock, where the store's writer,
//!   under authorizations alone, runs its own between batches and counts them: so this
//!   figure leaves out work the writer's includes.
//! - the same on ledgers whose schema differs by one change each ([`VARIANTS`]): with
//!   `synchronous = OFF` (SQLite's CPU without the fsync), with clearing's index as it was
//!   before, without the API's index of a card's decisions.
//! - `log`: the same rows appended to a file as one length-prefixed record per batch (every
//!   value tagged, integers little-endian), one `fdatasync` per batch: what an append-only
//!   log with the balances in memory would cost to make a batch durable.
//!
//! `cargo bench -p ledger --bench floor` (LEDGER_BENCH_DIR picks the disk, default the temp
//! dir; FLOOR_ROUNDS the rounds of each kind, default 5; FLOOR_CARDS the cards the
//! authorizations go to, default 64, each on an account of its own; FLOOR_BATCH the writer's
//! largest batch, default 32). Not criterion: the figure is one thread's CPU time, not the
//! wall time criterion measures.

mod common;

use std::fs::File;
use std::io::Write;
use std::sync::atomic::Ordering;
use std::time::Duration;

use common::{pans, runtime, wave, NEXT};
use rusqlite::types::Value;
use rusqlite::{params, params_from_iter, Connection, OptionalExtension};

/// Batches timed in each round.
const BATCHES: usize = 400;
/// The floor's ledgers: name, `synchronous`, and the change made to the schema (the first:
/// none).
const VARIANTS: &[(&str, &str, &str)] = &[
    ("sql", "FULL", ""),
    ("sql, synchronous OFF", "OFF", ""),
    // Clearing's index as it was: on the card first, so that each authorization on another
    // card wrote a leaf page of its own.
    (
        "sql, index on (card, counter) as before",
        "FULL",
        "DROP INDEX decisions_approval_number; \
         CREATE INDEX decisions_card_approval_number ON decisions \
         (card_id, approval_n, created_us) WHERE approval_n IS NOT NULL;",
    ),
    // Without the API's index of a card's decisions: what the one index by card left costs.
    (
        "sql, no index decisions_card",
        "FULL",
        "DROP INDEX decisions_card;",
    ),
];

/// Batches between two checkpoints of the floor's ledgers, off the clock (the store's writer
/// checkpoints after 1,000 pages of WAL, on its own clock).
const CHECKPOINT_EVERY: usize = 20;
/// Authorizations in each wave through the store, by default (`FLOOR_WAVE`): the switch's
/// 4 x 32 in flight.
const WAVE: usize = 128;

/// CPU time (user + system) of thread `tid` of this process so far.
fn cpu(tid: &str) -> Duration {
    let s = std::fs::read_to_string(format!("/proc/self/task/{tid}/schedstat")).unwrap();
    let ns: u64 = s.split_whitespace().next().unwrap().parse().unwrap();
    Duration::from_nanos(ns)
}

/// The ids of this process's threads named `name`.
fn threads(name: &str) -> Vec<String> {
    let mut out = Vec::new();
    for t in std::fs::read_dir("/proc/self/task").unwrap() {
        let t = t.unwrap().file_name().into_string().unwrap();
        let comm = std::fs::read_to_string(format!("/proc/self/task/{t}/comm")).unwrap();
        if comm.trim() == name {
            out.push(t);
        }
    }
    out
}

/// This thread's id.
fn me() -> String {
    std::fs::read_link("/proc/thread-self")
        .unwrap()
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

fn rows_of(conn: &Connection, sql: &str) -> Vec<Vec<Value>> {
    let mut st = conn.prepare(sql).unwrap();
    let n = st.column_count();
    st.query_map([], |r| (0..n).map(|i| r.get::<_, Value>(i)).collect())
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

fn insert_sql(conn: &Connection, table: &str) -> String {
    let n: usize = conn
        .query_row(
            &format!("SELECT count(*) FROM pragma_table_info('{table}')"),
            [],
            |r| r.get(0),
        )
        .unwrap();
    let marks: Vec<String> = (1..=n).map(|i| format!("?{i}")).collect();
    format!("INSERT INTO {table} VALUES ({})", marks.join(", "))
}

/// What the writer stored for one batch, to be written again under new keys.
struct Template {
    decisions: Vec<Vec<Value>>,
    holds: Vec<Vec<Value>>,
    accounts: Vec<String>,
    outbox: Vec<u8>,
    outbox_n: i64,
    /// Of decisions and holds: the times, moved to the batch's moment, so that each copy
    /// goes where the writer's next row would in the indexes on time.
    times: [Vec<usize>; 2],
    /// Of decisions and holds: the approval counter, moved on by one an authorization.
    counters: [Vec<usize>; 2],
    /// The newest `created_us` of the rows copied.
    newest_us: i64,
}

fn columns_named(conn: &Connection, table: &str, names: &[&str]) -> Vec<usize> {
    let mut st = conn
        .prepare(&format!(
            "SELECT cid, name FROM pragma_table_info('{table}')"
        ))
        .unwrap();
    st.query_map([], |r| Ok((r.get::<_, usize>(0)?, r.get::<_, String>(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .filter(|(_, name)| names.contains(&name.as_str()))
        .map(|(cid, _)| cid)
        .collect()
}

impl Template {
    /// The newest `size` decisions with their holds, and the outbox row with the most events.
    fn read(conn: &Connection, size: usize) -> Template {
        let decisions = rows_of(
            conn,
            &format!("SELECT * FROM decisions ORDER BY created_us DESC LIMIT {size}"),
        );
        let holds = rows_of(
            conn,
            &format!("SELECT * FROM holds ORDER BY created_us DESC LIMIT {size}"),
        );
        let mut accounts: Vec<String> = holds
            .iter()
            .map(|h| match &h[2] {
                Value::Text(a) => a.clone(),
                v => panic!("hold account {v:?}"),
            })
            .collect();
        accounts.sort();
        accounts.dedup();
        let (outbox, outbox_n) = conn
            .query_row(
                "SELECT events, n FROM outbox_batch ORDER BY n DESC LIMIT 1",
                [],
                |r| Ok((r.get::<_, Vec<u8>>(0)?, r.get(1)?)),
            )
            .unwrap();
        Template {
            decisions,
            holds,
            accounts,
            outbox,
            outbox_n,
            times: ["decisions", "holds"]
                .map(|t| columns_named(conn, t, &["created_us", "updated_us", "expires_us"])),
            counters: ["decisions", "holds"].map(|t| columns_named(conn, t, &["approval_n"])),
            newest_us: conn
                .query_row("SELECT max(created_us) FROM decisions", [], |r| r.get(0))
                .unwrap(),
        }
    }

    /// Row `i` of the batch (0: decisions, 1: holds) for authorization `n`, under its key
    /// `k` ([`key`]). `now_us`: the batch's time.
    fn row(&self, table: usize, i: usize, n: u64, k: &str, now_us: i64) -> Vec<Value> {
        let rows = [&self.decisions, &self.holds][table];
        let mut row = rows[i].clone();
        row[0] = Value::Text(k.to_owned());
        let later = now_us - self.newest_us;
        for (cols, by) in [
            (&self.times[table], later),
            (&self.counters[table], n as i64),
        ] {
            for &c in cols {
                if let Value::Integer(v) = &mut row[c] {
                    *v += by;
                }
            }
        }
        row
    }
}

/// The network key of the floor's authorization `n` (an acquirer of its own).
fn key(n: u64) -> String {
    format!("777:{:06}:{:010}", n % 1_000_000, n / 1_000_000)
}

/// The statements of one batch of `t`'s size, under keys `first..`; returns the next key.
fn sql_batch(conn: &Connection, ins: &[String; 2], t: &Template, first: u64) -> u64 {
    let mut n = first;
    let now_us = jiff::Timestamp::now().as_microsecond();
    conn.execute_batch("BEGIN IMMEDIATE").unwrap();
    let _: i64 = conn
        .prepare_cached("PRAGMA data_version")
        .unwrap()
        .query_row([], |r| r.get(0))
        .unwrap();
    let keys: Vec<String> = (0..t.decisions.len()).map(|i| key(n + i as u64)).collect();
    for k in &keys {
        let found: Option<String> = conn
            .prepare_cached("SELECT kind FROM decisions WHERE nkey = ?1")
            .unwrap()
            .query_row([k], |r| r.get(0))
            .optional()
            .unwrap();
        assert!(found.is_none(), "key {k} reused");
    }
    let mut balances = Vec::new();
    for a in &t.accounts {
        let b: (i64, i64) = conn
            .prepare_cached(
                "SELECT balance_minor, held_minor FROM wallets WHERE account_id = ?1 \
                 ORDER BY currency",
            )
            .unwrap()
            .query_row([a], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap();
        balances.push(b);
    }
    let counter: i64 = conn
        .prepare_cached("SELECT v FROM meta WHERE k = 'approval'")
        .unwrap()
        .query_row([], |r| r.get(0))
        .unwrap();
    for (i, k) in keys.iter().enumerate() {
        for (table, sql) in ins.iter().enumerate() {
            conn.prepare_cached(sql)
                .unwrap()
                .execute(params_from_iter(t.row(table, i, n, k, now_us)))
                .unwrap();
        }
        n += 1;
    }
    for (a, (bal, held)) in t.accounts.iter().zip(balances) {
        conn.prepare_cached(
            "UPDATE wallets SET balance_minor = ?3, held_minor = ?4 \
             WHERE account_id = ?1 AND currency = ?2",
        )
        .unwrap()
        .execute(params![a, "KRW", bal, held + 1])
        .unwrap();
    }
    conn.prepare_cached("UPDATE meta SET v = ?1 WHERE k = 'approval'")
        .unwrap()
        .execute([counter + keys.len() as i64])
        .unwrap();
    let pos: i64 = conn
        .prepare_cached("SELECT pos + n FROM outbox_batch ORDER BY pos DESC LIMIT 1")
        .unwrap()
        .query_row([], |r| r.get(0))
        .unwrap();
    conn.prepare_cached("INSERT INTO outbox_batch (pos, n, events) VALUES (?1, ?2, ?3)")
        .unwrap()
        .execute(params![pos, t.outbox_n, t.outbox])
        .unwrap();
    for a in &t.accounts {
        conn.prepare_cached(
            "INSERT INTO outbox_seq (account, last_seq) VALUES (?1, ?2) \
             ON CONFLICT (account) DO UPDATE SET last_seq = excluded.last_seq",
        )
        .unwrap()
        .execute(params![a, n as i64])
        .unwrap();
    }
    conn.execute_batch("COMMIT").unwrap();
    n
}

/// One value of a log record: a tag byte, then 8 bytes little-endian or a length and bytes.
fn put(buf: &mut Vec<u8>, v: &Value) {
    match v {
        Value::Null => buf.push(NULL),
        Value::Integer(i) => {
            buf.push(INTEGER);
            buf.extend_from_slice(&i.to_le_bytes());
        }
        Value::Real(_) => panic!("no REAL column in the ledger"),
        Value::Text(s) => put_bytes(buf, TEXT, s.as_bytes()),
        Value::Blob(b) => put_bytes(buf, BLOB, b),
    }
}

/// Tags of a log record's values.
const NULL: u8 = 0;
const INTEGER: u8 = 1;
const TEXT: u8 = 2;
const BLOB: u8 = 3;

/// A value of variable length: its tag, its length (`u32`, little-endian), its bytes.
fn put_bytes(buf: &mut Vec<u8>, tag: u8, bytes: &[u8]) {
    buf.push(tag);
    buf.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
    buf.extend_from_slice(bytes);
}

/// One batch of `t`'s size as one log record, appended and made durable.
fn log_batch(file: &mut File, buf: &mut Vec<u8>, t: &Template, first: u64) -> u64 {
    let mut n = first;
    let now_us = jiff::Timestamp::now().as_microsecond();
    buf.clear();
    buf.extend_from_slice(&[0; 4]);
    for i in 0..t.decisions.len() {
        let k = key(n);
        for table in 0..2 {
            t.row(table, i, n, &k, now_us)
                .iter()
                .for_each(|v| put(buf, v));
        }
        n += 1;
    }
    for a in &t.accounts {
        put_bytes(buf, TEXT, a.as_bytes());
        put(buf, &Value::Integer(n as i64));
    }
    put_bytes(buf, BLOB, &t.outbox);
    let len = (buf.len() - 4) as u32;
    buf[..4].copy_from_slice(&len.to_le_bytes());
    file.write_all(buf).unwrap();
    file.sync_data().unwrap();
    n
}

fn per_auth(d: Duration, auths: usize) -> f64 {
    d.as_secs_f64() * 1e6 / auths as f64
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// The number in environment variable `name`, or `default`.
fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let rounds = env_or("FLOOR_ROUNDS", 5);
    let wave_size = env_or("FLOOR_WAVE", WAVE);
    let rt = runtime();
    let dir = common::bench_dir();
    // `FLOOR_CARDS`: the cards the authorizations go to (default all 64, one an account; the
    // sandbox has 19 cards on 9 accounts).
    let cards = env_or("FLOOR_CARDS", common::ACCOUNTS).clamp(1, common::ACCOUNTS);
    let pans = std::sync::Arc::new(pans()[..cards].to_vec());
    // The writer's batches at most `FLOOR_BATCH` (default 32) authorizations; the floor's
    // are as large as the writer's were on average in its first timed round.
    let max_batch = env_or("FLOOR_BATCH", 32);
    let opts = || ledger::EmbeddedOptions {
        max_batch,
        ..Default::default()
    };
    let store = common::embedded_with(&rt, &dir.path().join("writer"), opts());
    let writer = threads("ledger-writer")
        .pop()
        .expect("the store's writer thread");
    let file = dir.path().join("writer/ledger.sqlite");
    let probe = Connection::open(&file).unwrap();
    let count = |table: &str| -> i64 {
        probe
            .query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
            .unwrap()
    };
    // Warm up, and leave rows to copy: every card used, the b-trees a few levels deep.
    for _ in 0..BATCHES * 2 {
        rt.block_on(wave(&store, &pans, wave_size));
    }
    let (d0, b0) = (count("decisions"), count("outbox_batch"));
    let mut writer_us = Vec::new();
    let mut sizes = Vec::new();
    let timed_writer = |writer_us: &mut Vec<f64>, sizes: &mut Vec<f64>| {
        let (d, b) = (count("decisions"), count("outbox_batch"));
        let start = cpu(&writer);
        for _ in 0..BATCHES {
            rt.block_on(wave(&store, &pans, wave_size));
        }
        let spent = cpu(&writer) - start;
        let (d2, b2) = (count("decisions"), count("outbox_batch"));
        let auths = usize::try_from(d2 - d).unwrap();
        writer_us.push(per_auth(spent, auths));
        sizes.push(auths as f64 / (b2 - b) as f64);
    };
    timed_writer(&mut writer_us, &mut sizes);
    let size = (sizes[0].round() as usize).clamp(1, max_batch);
    eprintln!(
        "writer: {} decisions in warm-up over {} transactions; timed batches of {:.1}",
        d0, b0, sizes[0]
    );

    // The floor's ledgers: grown as the writer's was, by a store of their own (a copy taken
    // with `VACUUM INTO` has every page full, and its first inserts split them).
    let copy = |name: &str, sync: &str| -> Connection {
        let other = common::embedded_with(&rt, &dir.path().join(name), opts());
        for _ in 0..BATCHES * 2 {
            rt.block_on(wave(&other, &pans, wave_size));
        }
        drop(other);
        let conn = Connection::open(dir.path().join(name).join("ledger.sqlite")).unwrap();
        conn.pragma_update(None, "journal_mode", "WAL").unwrap();
        conn.pragma_update(None, "synchronous", sync).unwrap();
        conn.pragma_update(None, "foreign_keys", "ON").unwrap();
        // Checkpoints by `timed`, off the clock.
        conn.pragma_update(None, "wal_autocheckpoint", 0).unwrap();
        conn.set_prepared_statement_cache_capacity(64);
        conn
    };
    let template = Template::read(&probe, size);
    assert_eq!(template.decisions.len(), size);
    assert_eq!(template.holds.len(), size);
    // The floor's ledgers: the schema as it is, and as it would be with one change each.
    let variants: Vec<(&str, Connection)> = VARIANTS
        .iter()
        .enumerate()
        .map(|(i, (name, sync, ddl))| {
            let conn = copy(&format!("sql-{i}"), sync);
            conn.execute_batch(ddl).unwrap();
            (*name, conn)
        })
        .collect();
    let full = &variants[0].1;
    let ins = [insert_sql(full, "decisions"), insert_sql(full, "holds")];
    let mut log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.path().join("ledger.log"))
        .unwrap();
    let mut buf = Vec::new();
    let tid = me();
    let mut sql_us = vec![Vec::new(); variants.len()];
    let mut log_us = Vec::new();
    let mut next = 0u64;
    // The clock stops for a checkpoint every `CHECKPOINT_EVERY` batches: the floor leaves
    // them out (the store's writer counts its own).
    let mut timed = |out: &mut Vec<f64>, f: &mut dyn FnMut(u64) -> u64| {
        let mut spent = Duration::ZERO;
        for _ in 0..BATCHES / CHECKPOINT_EVERY {
            for (_, conn) in &variants {
                conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")
                    .unwrap();
            }
            let start = cpu(&tid);
            for _ in 0..CHECKPOINT_EVERY {
                next = f(next);
            }
            spent += cpu(&tid) - start;
        }
        out.push(per_auth(spent, BATCHES * size));
    };
    for round in 0..rounds {
        if round > 0 {
            timed_writer(&mut writer_us, &mut sizes);
        }
        for (i, (_, conn)) in variants.iter().enumerate() {
            timed(&mut sql_us[i], &mut |n| sql_batch(conn, &ins, &template, n));
        }
        timed(&mut log_us, &mut |n| {
            log_batch(&mut log, &mut buf, &template, n)
        });
    }
    let record = buf.len();
    drop(store);
    let w = median(&mut writer_us);
    println!(
        "batches of {size} ({} accounts, {}-byte outbox row of {} events), {rounds} rounds of \
         {BATCHES} batches, CPU us per authorization of the writing thread (median):",
        template.accounts.len(),
        template.outbox.len(),
        template.outbox_n
    );
    println!(
        "  {:40} {w:7.2}   batch sizes {sizes:.1?}",
        "writer (the store)"
    );
    let names = variants.iter().map(|(name, _)| *name);
    for (name, v) in names
        .zip(sql_us.iter_mut())
        .chain([("log, fdatasync", &mut log_us)])
    {
        let m = median(v);
        println!(
            "  {name:40} {m:7.2}   {:.3}x the writer   rounds {v:.2?}",
            m / w
        );
    }
    println!(
        "  log record {record} bytes a batch; writer rounds {writer_us:.2?}; {} authorizations \
         in all through the store",
        NEXT.load(Ordering::Relaxed)
    );
}
