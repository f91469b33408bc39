//! The event stream (issue 20) against a real Kafka-protocol broker (`TEST_KAFKA_BOOTSTRAP`,
//! given by scripts/test: a broker at 127.0.0.1:9092, else a private tansu), read back by an
//! independent consumer (kafka-python, `KAFKA_PYTHON`). Without a broker these tests fail
//! under CI and skip elsewhere.

mod common;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::services::skip_or_fail;
use common::*;
use gateway::app;
use ledger::{NetworkKey, Store};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use serde_json::Value;

/// The broker scripts/test found or started.
fn bootstrap(test: &str) -> Option<String> {
    match std::env::var("TEST_KAFKA_BOOTSTRAP") {
        Ok(b) if !b.is_empty() => Some(b),
        _ => {
            skip_or_fail(
                test,
                "no Kafka-protocol broker (TEST_KAFKA_BOOTSTRAP unset)",
            );
            None
        }
    }
}

/// A topic of this test's own, created first (brokers such as tansu create none by
/// themselves).
async fn new_topic(bootstrap: &str) -> String {
    let name = format!("card-events-test-{:08x}", rand::random::<u32>());
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .unwrap();
    let t = NewTopic::new(&name, 3, TopicReplication::Fixed(1));
    let r = admin
        .create_topics(&[t], &AdminOptions::new())
        .await
        .unwrap();
    for x in r {
        x.unwrap_or_else(|(t, e)| panic!("creating topic {t}: {e}"));
    }
    name
}

fn config_text(dir: &Path, bootstrap: &str, topic: &str) -> String {
    format!(
        "{}\n[events]\nkafka = \"{bootstrap}\"\ntopic = \"{topic}\"\nack_timeout_ms = 3000\n",
        embedded_config_text(dir)
    )
}

/// One message as the independent consumer read it.
#[derive(Debug, Clone)]
struct Read {
    key: String,
    partition: i64,
    event: Value,
}

/// The topic read from the start by kafka-python (Debian's python3-kafka: a client that
/// shares no code with the relay's librdkafka), until it has been quiet for 3 s.
fn consume(bootstrap: &str, topic: &str) -> Vec<Read> {
    const SCRIPT: &str = r#"
import json, sys
from kafka import KafkaConsumer, TopicPartition
c = KafkaConsumer(bootstrap_servers=sys.argv[1], enable_auto_commit=False,
                  consumer_timeout_ms=3000, auto_offset_reset="earliest")
parts = c.partitions_for_topic(sys.argv[2]) or set()
c.assign([TopicPartition(sys.argv[2], p) for p in sorted(parts)])
c.seek_to_beginning()
for m in c:
    print(json.dumps({"key": (m.key or b"").decode(), "partition": m.partition,
                      "offset": m.offset, "value": m.value.decode()}))
"#;
    let python = std::env::var("KAFKA_PYTHON").unwrap_or_else(|_| "/usr/bin/python3".into());
    let out = Command::new(&python)
        .args(["-c", SCRIPT, bootstrap, topic])
        .output()
        .unwrap_or_else(|e| panic!("{python}: {e}"));
    assert!(
        out.status.success(),
        "kafka-python consumer failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            Read {
                key: v["key"].as_str().unwrap().to_owned(),
                partition: v["partition"].as_i64().unwrap(),
                event: serde_json::from_str(v["value"].as_str().unwrap()).unwrap(),
            }
        })
        .collect()
}

/// Every event read is valid against the JSON Schema of its type.
fn validate(read: &[Read]) {
    common::schemas::assert_valid(read.iter().map(|r| r.event.to_string()));
}

/// What must hold of what a topic holds, whatever happened: each message keyed by its
/// event's account, one account in one partition, a message published twice (after a crash)
/// carrying the same event, and each account's `seq` 1, 2, ... in the order of first
/// publication, without a gap. Returns the events by id.
fn check_topic(read: &[Read]) -> HashMap<String, Value> {
    let mut by_id: HashMap<String, Value> = HashMap::new();
    let mut next: HashMap<String, i64> = HashMap::new();
    let mut partition: HashMap<String, i64> = HashMap::new();
    for r in read {
        let e = &r.event;
        let account = e["data"]["account"].as_str().unwrap_or("").to_owned();
        assert_eq!(r.key, account, "message key = account");
        assert_eq!(e["subject"].as_str().unwrap_or(""), account);
        assert_eq!(
            *partition.entry(account.clone()).or_insert(r.partition),
            r.partition,
            "one account, one partition"
        );
        let id = e["id"].as_str().unwrap().to_owned();
        if let Some(before) = by_id.get(&id) {
            assert_eq!(before, e, "a re-sent event is the same event");
            continue;
        }
        let seq = next.entry(account.clone()).or_insert(0);
        *seq += 1;
        assert_eq!(
            e["data"]["seq"].as_i64(),
            Some(*seq),
            "account {account}: seq out of order or with a gap at {id}"
        );
        by_id.insert(id, e.clone());
    }
    by_id
}

/// Every event of the outbox, in commit order (read page by page).
async fn all_events(store: &Store) -> Vec<ledger::OutboxEvent> {
    let mut out: Vec<ledger::OutboxEvent> = Vec::new();
    loop {
        let after = out.last().map_or(0, |e| e.pos);
        let page = store.events_after(after, false, 1_000).await.unwrap();
        if page.is_empty() {
            return out;
        }
        out.extend(page);
    }
}

/// Waits (`limit` at most) until the ledger's outbox has nothing unpublished.
async fn drained(store: &Store, limit: Duration) {
    let until = Instant::now() + limit;
    loop {
        let n = store.events_pending().await.unwrap();
        if n == 0 {
            return;
        }
        assert!(Instant::now() < until, "{n} events still unpublished");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_reach_the_topic_in_order_keyed_by_account_with_stable_ids() {
    let Some(b) = bootstrap("events_reach_the_topic") else {
        return;
    };
    let topic = new_topic(&b).await;
    let dir = tempfile::tempdir().unwrap();
    let gw = app::start(parse_config(&config_text(dir.path(), &b, &topic)))
        .await
        .unwrap();
    let mut c = Client::connect(gw.addr()).await;
    let mut sent = Vec::new();
    for (i, pan) in [PAN_OK, PAN_USD_HOME, PAN_KRW_ONLY, PAN_LOST, PAN_UNKNOWN]
        .iter()
        .cycle()
        .take(40)
        .enumerate()
    {
        let s = stan();
        let req = purchase(pan, 100 + i as u64, "410", &s);
        let r = c.call(&req).await;
        // A repeat (0101) gets the stored answer and writes no second event.
        if i % 7 == 0 {
            let mut again = req.clone();
            again.set_mti("0101".parse().unwrap());
            assert_eq!(de39(&c.call(&again).await), de39(&r));
        }
        sent.push((s, de39(&r).to_owned()));
    }
    // A reversal of the first: the hold released, the reversal recorded.
    let mut rev = request("0400", PAN_OK, "000000", 100, "410", &stan());
    rev.set(90, de90("0100", &sent[0].0));
    assert_eq!(de39(&c.call(&rev).await), "00");
    // An advice, a completion of the second (approved) purchase, a cutover: one event each.
    let adv = request("0120", PAN_KRW_ONLY, "000000", 2_500, "410", &stan()).with(39, "00");
    assert_eq!(de39(&c.call(&adv).await), "00");
    assert_eq!(sent[1].1, "00");
    let completion = request("0220", PAN_USD_HOME, "000000", 50, "410", &stan())
        .with(90, de90("0100", &sent[1].0));
    assert_eq!(de39(&c.call(&completion).await), "00");
    assert_eq!(de39(&c.call(&network("201", &stan())).await), "00");
    // An operator's adjustment and a card's change: one event each, on their account.
    let store = gw.core().store();
    let now = jiff::Timestamp::now();
    store
        .adjust(ledger::Adjustment {
            account_id: "A-1001".into(),
            currency: "KRW".parse().unwrap(),
            amount_minor: -1_500,
            idempotency_key: "events-test-1".into(),
            reason: "goodwill".into(),
            actor: "test".into(),
            at: now,
        })
        .await
        .unwrap();
    let card = store
        .card_by_pan(&ledger::Pan::new(PAN_OK).unwrap())
        .await
        .unwrap()
        .expect("the card");
    store
        .change_card(ledger::CardChange {
            card_id: card.id.clone(),
            status: Some(ledger::CardStatus::Blocked),
            controls: None,
            actor: "test".into(),
            at: now,
        })
        .await
        .unwrap();
    drained(store, Duration::from_secs(30)).await;
    let outbox = all_events(store).await;
    gw.drain().await;

    let read = consume(&b, &topic);
    validate(&read);
    let on_topic = check_topic(&read);
    // Every event of the outbox once on the topic with its id, nothing else.
    assert_eq!(read.len(), outbox.len(), "published once each");
    let ids: HashSet<&str> = outbox.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(
        on_topic.keys().map(String::as_str).collect::<HashSet<_>>(),
        ids
    );
    for e in &outbox {
        let t = &on_topic[&e.id];
        assert_eq!(t["outboxpos"].as_i64(), Some(e.pos));
        assert_eq!(t["type"], e.kind.as_str());
        assert_eq!(t["data"]["seq"].as_i64(), Some(e.seq));
    }
    // One decision event per request, under its key; the reversal's two.
    for (s, code) in &sent {
        let key = NetworkKey::new(ACQUIRER, s, DE7).unwrap();
        let kind = if code == "00" {
            "authorization.approved"
        } else {
            "authorization.declined"
        };
        let e = &on_topic[&format!("{kind}/{}", key.db_str())];
        assert_eq!(e["data"]["response_code"], code.as_str());
        assert_eq!(e["data"]["network_key"]["stan"], s.as_str());
    }
    assert_eq!(outbox.len(), sent.len() + 7);
    let kinds: HashSet<&str> = outbox.iter().map(|e| e.kind.as_str()).collect();
    for k in [
        "authorization.approved",
        "authorization.declined",
        "hold.released",
        "hold.captured",
        "reversal.recorded",
        "advice.recorded",
        "business_date.changed",
        "account.adjusted",
        "card.updated",
    ] {
        assert!(kinds.contains(k), "no {k} event");
    }
    assert!(on_topic
        .values()
        .any(|e| e["type"] == "hold.released" && e["data"]["network_key"]["stan"] == sent[0].0));
    // No PAN anywhere, the masked form where a card is named.
    for r in &read {
        let text = r.event.to_string();
        for pan in [PAN_OK, PAN_USD_HOME, PAN_KRW_ONLY, PAN_LOST, PAN_UNKNOWN] {
            assert!(!text.contains(pan));
        }
    }
    let approved = on_topic
        .values()
        .find(|e| e["type"] == "authorization.approved" && e["subject"] == "A-1001")
        .unwrap();
    assert_eq!(approved["data"]["pan_masked"], "476173******0010");
    let updated = on_topic
        .values()
        .find(|e| e["type"] == "card.updated")
        .unwrap();
    assert_eq!(updated["data"]["card_id"], card.id.as_str());
    assert_eq!(updated["data"]["pan_masked"], "476173******0010");
    let adjusted = &on_topic["account.adjusted/A-1001/events-test-1"];
    assert_eq!(
        adjusted["data"]["wallet_amount"],
        serde_json::json!({"minor": -1_500, "currency": "KRW"})
    );
}

/// The real binary on one ledger file, with the relay's broker.
fn gateway_bin(cfg: &Path, listen: std::net::SocketAddr, admin: std::net::SocketAddr) -> Child {
    serve(cfg, listen, admin, Stdio::null())
}

/// Purchases from `tasks` connections until `stop`; returns each STAN sent (answered or not).
fn load(
    listen: std::net::SocketAddr,
    tasks: usize,
    stop: Arc<AtomicBool>,
) -> Vec<tokio::task::JoinHandle<Vec<String>>> {
    (0..tasks)
        .map(|t| {
            let stop = stop.clone();
            tokio::spawn(async move {
                let mut sent = Vec::new();
                let pans = [PAN_OK, PAN_USD_HOME, PAN_KRW_ONLY];
                'outer: while !stop.load(Ordering::Relaxed) {
                    let Ok(stream) = tokio::net::TcpStream::connect(listen).await else {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    };
                    let mut c = Client { stream };
                    while !stop.load(Ordering::Relaxed) {
                        let s = stan();
                        sent.push(s.clone());
                        let req = purchase(pans[(t + sent.len()) % 3], 1, "410", &s);
                        c.send(&req).await;
                        match tokio::time::timeout(Duration::from_secs(5), c.recv_raw()).await {
                            Ok(Some(_)) => {}
                            _ => continue 'outer, // the gateway went away
                        }
                    }
                }
                sent
            })
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_under_load_then_restart_loses_no_event() {
    let Some(b) = bootstrap("kill_9_under_load") else {
        return;
    };
    let topic = new_topic(&b).await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("gateway.toml");
    std::fs::write(&cfg, config_text(dir.path(), &b, &topic)).unwrap();
    let (listen, admin) = (free_addr(), free_addr());
    let mut gw = gateway_bin(&cfg, listen, admin);
    wait_ready(admin).await;
    let stop = Arc::new(AtomicBool::new(false));
    let tasks = load(listen, 4, stop.clone());
    tokio::time::sleep(Duration::from_millis(1500)).await;
    gw.kill().unwrap(); // SIGKILL
    gw.wait().unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut gw = gateway_bin(&cfg, listen, admin);
    wait_ready(admin).await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    stop.store(true, Ordering::Relaxed);
    let mut sent = Vec::new();
    for t in tasks {
        sent.extend(t.await.unwrap());
    }
    // Until the relay has published everything, then stop the gateway.
    let until = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, m) = http_get(admin, "/metrics").await;
        if m.lines().any(|l| l == "gateway_events_outbox_pending 0") {
            break;
        }
        assert!(Instant::now() < until, "the outbox did not drain");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    terminate(&gw);
    gw.wait().unwrap();

    let store = app::open_ledger(&parse_config(&config_text(dir.path(), &b, &topic)))
        .await
        .unwrap();
    assert!(store.events_after(0, true, 10).await.unwrap().is_empty());
    let outbox = all_events(&store).await;
    let read = consume(&b, &topic);
    validate(&read);
    let on_topic = check_topic(&read);
    // Every decision the ledger kept has its event on the topic, once by id.
    let mut decided = 0;
    for s in &sent {
        let key = NetworkKey::new(ACQUIRER, s, DE7).unwrap();
        if let Some(d) = store.decision(&key).await.unwrap() {
            decided += 1;
            let kind = if d.response_code.is_approval() {
                "authorization.approved"
            } else {
                "authorization.declined"
            };
            assert!(
                on_topic.contains_key(&format!("{kind}/{}", key.db_str())),
                "decision {key} has no event on the topic"
            );
        }
    }
    assert!(decided > 10, "the load made {decided} decisions");
    assert_eq!(
        on_topic.len(),
        outbox.len(),
        "distinct ids = the outbox's events"
    );
}

/// A private tansu on a free port with its memory engine, and the topic created.
struct Broker {
    child: Child,
    bin: PathBuf,
    port: u16,
}

impl Broker {
    fn bin() -> Option<PathBuf> {
        if let Ok(b) = std::env::var("TANSU_BIN") {
            return Some(b.into());
        }
        let home = std::env::var("HOME").unwrap_or_default();
        [PathBuf::from(home).join(".cargo/bin/tansu")]
            .into_iter()
            .find(|p| p.exists())
    }

    fn start(bin: &Path, port: u16) -> Child {
        let url = format!("tcp://127.0.0.1:{port}");
        Command::new(bin)
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
            ])
            .args(["--storage-engine", "memory://tansu/"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    }

    fn new(bin: PathBuf) -> Broker {
        let port = free_addr().port();
        let child = Broker::start(&bin, port);
        Broker::wait(port);
        Broker { child, bin, port }
    }

    fn wait(port: u16) {
        let until = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < until, "tansu did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Started again on the same port (empty: the memory engine keeps nothing).
    fn restart(&mut self) {
        self.child = Broker::start(&self.bin, self.port);
        Broker::wait(self.port);
    }

    fn create(&self, topic: &str) {
        let st = Command::new(&self.bin)
            .args(["topic", "create", "--broker"])
            .arg(format!("tcp://{}", self.addr()))
            .args(["--partitions", "3", topic])
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(st.success(), "tansu topic create");
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `n` purchases one after another on `c`, each approved; their answer times.
async fn timed(c: &mut Client, n: usize) -> Vec<Duration> {
    let pans = [PAN_OK, PAN_USD_HOME, PAN_KRW_ONLY];
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let r = purchase(pans[i % 3], 1, "410", &stan());
        let t = Instant::now();
        let resp = c.call(&r).await;
        assert_eq!(de39(&resp), "00");
        out.push(t.elapsed());
    }
    out
}

/// p99 of `v` (sorted in place).
fn p99(v: &mut [Duration]) -> Duration {
    v.sort();
    v[(v.len() * 99 / 100).min(v.len() - 1)]
}

/// How long the broker is down under load in the outage test.
const OUTAGE: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_outage_slows_no_authorization_and_the_events_drain_after() {
    let Some(bin) = Broker::bin() else {
        skip_or_fail(
            "a_broker_outage",
            "no tansu binary (TANSU_BIN, ~/.cargo/bin/tansu)",
        );
        return;
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter("gateway::events=debug,warn")
        .with_test_writer()
        .try_init();
    let mut broker = Broker::new(bin);
    let topic = "card-events";
    broker.create(topic);
    let dir = tempfile::tempdir().unwrap();
    let gw = app::start(parse_config(&config_text(
        dir.path(),
        &broker.addr(),
        topic,
    )))
    .await
    .unwrap();
    let mut c = Client::connect(gw.addr()).await;
    let mut before = timed(&mut c, 200).await;
    drained(gw.core().store(), Duration::from_secs(30)).await;
    broker.stop();
    // The outage (the issue's 30 s): authorizations all along, answered as fast as before.
    let outage = Instant::now();
    let mut during = Vec::new();
    while outage.elapsed() < OUTAGE {
        during.extend(timed(&mut c, 50).await);
    }
    let pending = gw.core().store().events_pending().await.unwrap();
    assert!(
        pending as usize >= during.len(),
        "the events wait in the outbox"
    );
    let (p_before, p_during) = (p99(&mut before), p99(&mut during));
    assert!(
        p_during <= p_before * 3 + Duration::from_millis(20),
        "p99 {p_during:?} during the outage, {p_before:?} before"
    );
    // Back (empty), with its topic: everything drains, in order per account.
    broker.restart();
    broker.create(topic);
    drained(gw.core().store(), Duration::from_secs(120)).await;
    let outbox = all_events(gw.core().store()).await;
    gw.drain().await;
    let read = consume(&broker.addr(), topic);
    let on_topic = check_topic_from(&read);
    // The events that waited: the last `pending` ones of the outbox (and those after).
    assert!(outbox.len() >= pending as usize);
    let waited = &outbox[outbox.len() - pending as usize..];
    for e in waited {
        assert!(
            on_topic.contains(&e.id),
            "{} published after the outage",
            e.id
        );
    }
}

/// [`check_topic`] for a topic that starts mid-stream (a broker that lost what it had): each
/// account's `seq` goes up by one from its first message on. Returns the ids.
fn check_topic_from(read: &[Read]) -> HashSet<String> {
    let mut ids = HashSet::new();
    let mut last: HashMap<String, i64> = HashMap::new();
    for r in read {
        let e = &r.event;
        let id = e["id"].as_str().unwrap().to_owned();
        if !ids.insert(id.clone()) {
            continue;
        }
        let account = r.key.clone();
        let seq = e["data"]["seq"].as_i64().unwrap();
        if let Some(prev) = last.insert(account.clone(), seq) {
            assert_eq!(seq, prev + 1, "account {account}: gap or disorder at {id}");
        }
    }
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_on_one_postgres_publish_each_event_once() {
    let Some(b) = bootstrap("two_instances_on_one_postgres") else {
        return;
    };
    let pg_url = std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let admin = match tokio_postgres::connect(&pg_url, tokio_postgres::NoTls).await {
        Ok((client, conn)) => {
            tokio::spawn(conn);
            client
        }
        Err(e) => return skip_or_fail("two_instances_on_one_postgres", &format!("{e}")),
    };
    let topic = new_topic(&b).await;
    let schema = format!("gw_events_{:08x}", rand::random::<u32>());
    let text = format!(
        r#"
[admin]
address = "127.0.0.1:0"
[log]
level = "warn"
[ledger]
postgres = "{pg_url}"
schema = "{schema}"
seed = "{cards}"
pan_key = "gateway-integration-test-pan-key-0123456789"
[rates]
file = "{rates}"
[[listener]]
name = "test"
address = "127.0.0.1:0"
[events]
kafka = "{b}"
topic = "{topic}"
"#,
        cards = data("cards.json").display(),
        rates = data("rates.csv").display(),
    );
    let a = app::start(parse_config(&text)).await.unwrap();
    let bb = app::start(parse_config(&text)).await.unwrap();
    // Both instances decide at once, on the same accounts.
    let send = |addr, n: usize| async move {
        let mut c = Client::connect(addr).await;
        let pans = [PAN_OK, PAN_USD_HOME, PAN_KRW_ONLY];
        for i in 0..n {
            let r = c.call(&purchase(pans[i % 3], 1, "410", &stan())).await;
            assert_eq!(de39(&r), "00");
        }
    };
    tokio::join!(send(a.addr(), 150), send(bb.addr(), 150));
    drained(a.core().store(), Duration::from_secs(30)).await;
    // One of them stops: the other publishes what comes next (after the lease lapses, if
    // the one that stopped held it).
    a.drain().await;
    send(bb.addr(), 60).await;
    drained(
        bb.core().store(),
        Duration::from_secs(30) + gateway::events::LEASE,
    )
    .await;
    let outbox = all_events(bb.core().store()).await;
    bb.drain().await;
    let _ = admin
        .batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
        .await;

    let read = consume(&b, &topic);
    let on_topic = check_topic(&read);
    assert_eq!(outbox.len(), 360);
    assert_eq!(
        read.len(),
        outbox.len(),
        "each event published once between the two"
    );
    for e in &outbox {
        assert!(on_topic.contains_key(&e.id));
    }
}

/// A broker that never answers: authorizations go on, `/readyz` stays ready with a warning
/// once the outbox passes its bound, and the metric says so. No broker needed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outbox_past_its_bound_warns_and_declines_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let dead = free_addr();
    let text = format!(
        "{}\n[events]\nkafka = \"{dead}\"\noutbox_bound = 2\nack_timeout_ms = 500\n",
        embedded_config_text(dir.path())
    );
    let gw = app::start(parse_config(&text)).await.unwrap();
    let mut c = Client::connect(gw.addr()).await;
    for _ in 0..5 {
        let r = c.call(&purchase(PAN_OK, 100, "410", &stan())).await;
        assert_eq!(de39(&r), "00");
    }
    let until = Instant::now() + Duration::from_secs(20);
    loop {
        let (status, body) = http_get(gw.admin, "/readyz").await;
        assert_eq!(status, 200, "still ready: {body}");
        if body.contains("warning: events outbox holds 5 unpublished events (bound 2)") {
            break;
        }
        assert!(Instant::now() < until, "no warning: {body}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (_, m) = http_get(gw.admin, "/metrics").await;
    assert!(
        m.lines().any(|l| l == "gateway_events_outbox_over_bound 1"),
        "{m}"
    );
    assert!(
        m.lines().any(|l| l == "gateway_events_outbox_pending 5"),
        "{m}"
    );
    assert_eq!(gw.core().store().events_pending().await.unwrap(), 5);
    gw.drain().await;
}
