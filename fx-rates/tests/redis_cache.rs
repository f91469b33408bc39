//! The Redis publication and the live snapshot, against a real Redis server.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{
    cleanup, eventually, generation_csv, generation_of, namespace, redis_url, PrivateRedis,
};
use fx_rates::{
    currency, CacheOptions, FxError, Publisher, RateCache, RateSet, RedisOptions, SourceState,
};

const RETENTION: Duration = Duration::from_secs(600);

fn set(csv: &str) -> RateSet {
    RateSet::from_csv(csv, "local").unwrap()
}

fn redis_opts(ns: &str, poll: Duration) -> RedisOptions {
    RedisOptions {
        namespace: ns.to_string(),
        poll_interval: poll,
        backoff_min: Duration::from_millis(20),
        backoff_max: Duration::from_millis(200),
        ..RedisOptions::default()
    }
}

async fn raw(url: &str) -> redis::aio::MultiplexedConnection {
    redis::Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

#[tokio::test]
async fn publish_writes_the_set_then_moves_the_pointer_and_expires_the_old_set() {
    let Some(url) = redis_url("publish").await else {
        return;
    };
    let ns = namespace("publish");
    let mut publisher = Publisher::connect(&url, &ns, RETENTION).await.unwrap();
    assert!(publisher.current().await.unwrap().is_none());

    let first = publisher
        .publish(&set("base,quote,rate\nUSD,KRW,1385.20\nEUR,USD,1.085\n"))
        .await
        .unwrap();
    assert_eq!((first.previous.as_deref(), first.pairs), (None, 2));
    let second = publisher
        .publish(&set("base,quote,rate\nUSD,KRW,1390\nEUR,USD,1.08\n"))
        .await
        .unwrap();
    assert_eq!(second.previous.as_deref(), Some(first.version.as_str()));
    assert!(second.version > first.version, "versions must increase");

    let current = fx_rates::read_current(&url, &ns).await.unwrap().unwrap();
    assert_eq!(current.version(), second.version);
    let usd = currency("USD").unwrap();
    let krw = currency("KRW").unwrap();
    assert_eq!(current.rate(usd, krw).unwrap().0.to_string(), "1390");

    // Retention: the replaced set expires, the current one does not; both stay readable now.
    let keys = publisher.keys().clone();
    let mut c = raw(&url).await;
    let old_ttl: i64 = redis::cmd("TTL")
        .arg(keys.set(&first.version))
        .query_async(&mut c)
        .await
        .unwrap();
    let cur_ttl: i64 = redis::cmd("TTL")
        .arg(keys.set(&second.version))
        .query_async(&mut c)
        .await
        .unwrap();
    assert!(
        old_ttl > 0 && old_ttl <= RETENTION.as_secs() as i64,
        "old ttl {old_ttl}"
    );
    assert_eq!(cur_ttl, -1, "the current set must not expire");
    assert!(
        keys.current().contains(&format!("{{{ns}}}")),
        "hash tag in every key"
    );
    cleanup(&url, &ns).await;
}

#[tokio::test]
async fn snapshot_refreshes_on_the_pubsub_hint() {
    let Some(url) = redis_url("pubsub").await else {
        return;
    };
    let ns = namespace("pubsub");
    let mut publisher = Publisher::connect(&url, &ns, RETENTION).await.unwrap();
    let v1 = publisher
        .publish(&set(&generation_csv(1, 5)))
        .await
        .unwrap();
    // A poll interval far longer than the test: only the notification can bring v2 in time.
    let cache = RateCache::from_redis(
        &url,
        redis_opts(&ns, Duration::from_secs(3600)),
        CacheOptions::default(),
    )
    .await
    .unwrap();
    assert!(cache.wait_loaded(Duration::from_secs(5)).await);
    assert_eq!(cache.snapshot().unwrap().version(), v1.version);
    assert_eq!(cache.status().state, SourceState::Live);

    let v2 = publisher
        .publish(&set(&generation_csv(2, 5)))
        .await
        .unwrap();
    assert!(
        eventually(Duration::from_secs(3), || {
            cache.snapshot().is_some_and(|s| s.version() == v2.version)
        })
        .await,
        "pub/sub hint did not refresh the snapshot"
    );
    assert_eq!(generation_of(&cache.snapshot().unwrap(), 5), 2);
    assert_eq!(cache.status().loads, 2);
    cleanup(&url, &ns).await;
}

#[tokio::test]
async fn snapshot_refreshes_by_polling_when_no_hint_arrives() {
    let Some(url) = redis_url("poll").await else {
        return;
    };
    let ns = namespace("poll");
    let mut publisher = Publisher::connect(&url, &ns, RETENTION).await.unwrap();
    let v1 = publisher
        .publish(&set(&generation_csv(1, 5)))
        .await
        .unwrap();
    let v2 = publisher
        .publish(&set(&generation_csv(2, 5)))
        .await
        .unwrap();
    let cache = RateCache::from_redis(
        &url,
        redis_opts(&ns, Duration::from_millis(100)),
        CacheOptions::default(),
    )
    .await
    .unwrap();
    assert!(cache.wait_loaded(Duration::from_secs(5)).await);
    assert_eq!(cache.snapshot().unwrap().version(), v2.version);

    // Move the pointer back with a bare SET: no PUBLISH, as if the hint had been lost.
    let mut c = raw(&url).await;
    let _: () = redis::cmd("SET")
        .arg(publisher.keys().current())
        .arg(&v1.version)
        .query_async(&mut c)
        .await
        .unwrap();
    assert!(
        eventually(Duration::from_secs(3), || {
            cache.snapshot().is_some_and(|s| s.version() == v1.version)
        })
        .await,
        "polling did not notice the pointer move"
    );
    assert_eq!(generation_of(&cache.snapshot().unwrap(), 5), 1);
    cleanup(&url, &ns).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readers_never_see_a_half_published_set() {
    let Some(url) = redis_url("no-torn-reads").await else {
        return;
    };
    let ns = namespace("no-torn-reads");
    const PAIRS: usize = 120;
    const GENERATIONS: u32 = 40;
    let mut publisher = Publisher::connect(&url, &ns, RETENTION).await.unwrap();
    publisher
        .publish(&set(&generation_csv(1, PAIRS)))
        .await
        .unwrap();
    let cache = RateCache::from_redis(
        &url,
        redis_opts(&ns, Duration::from_millis(5)),
        CacheOptions::default(),
    )
    .await
    .unwrap();
    assert!(cache.wait_loaded(Duration::from_secs(5)).await);

    let done = Arc::new(AtomicBool::new(false));
    // Reader 1: the in-process snapshot, read as the gateway does, as fast as it can.
    let snapshot_reader = {
        let (cache, done) = (cache.clone(), done.clone());
        std::thread::spawn(move || {
            let (mut last, mut reads) = (0, 0u64);
            while !done.load(Ordering::Relaxed) {
                let g = generation_of(&cache.snapshot().unwrap(), PAIRS);
                assert!(g >= last, "snapshot went back from {last} to {g}");
                last = g;
                reads += 1;
            }
            (last, reads)
        })
    };
    // Reader 2: straight from Redis, following the pointer like any other client would.
    let redis_reader = {
        let (url, ns, done) = (url.clone(), ns.clone(), done.clone());
        tokio::spawn(async move {
            let mut seen = 0;
            while !done.load(Ordering::Relaxed) {
                let s = fx_rates::read_current(&url, &ns).await.unwrap().unwrap();
                generation_of(&s, PAIRS);
                seen += 1;
            }
            seen
        })
    };
    for g in 2..=GENERATIONS {
        publisher
            .publish(&set(&generation_csv(g, PAIRS)))
            .await
            .unwrap();
    }
    assert!(
        eventually(Duration::from_secs(5), || {
            cache
                .snapshot()
                .is_some_and(|s| generation_of(&s, PAIRS) == GENERATIONS)
        })
        .await
    );
    done.store(true, Ordering::Relaxed);
    let (last, reads) = snapshot_reader.join().unwrap();
    let redis_reads = redis_reader.await.unwrap();
    assert!(last >= 1 && reads > 0 && redis_reads > 0);
    cleanup(&url, &ns).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_publishers_racing_both_land_and_the_pointer_only_moves_forward() {
    let Some(url) = redis_url("race").await else {
        return;
    };
    let ns = namespace("race");
    const EACH: u32 = 15;
    let mut tasks = Vec::new();
    for who in 0..2u32 {
        let (url, ns) = (url.clone(), ns.clone());
        tasks.push(tokio::spawn(async move {
            let mut p = Publisher::connect(&url, &ns, RETENTION).await.unwrap();
            let mut out = Vec::new();
            for i in 0..EACH {
                let g = 1 + who * 1000 + i;
                out.push(p.publish(&set(&generation_csv(g, 10))).await.unwrap());
            }
            out
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    assert_eq!(all.len(), 2 * EACH as usize);
    let retries: u32 = all.iter().map(|p| p.attempts - 1).sum();
    eprintln!("race: {retries} transactions lost a race and were retried");
    // Each publication replaced exactly the one before it: the previous links form one chain
    // with every version once, in increasing order.
    all.sort_by(|a, b| a.version.cmp(&b.version));
    for w in all.windows(2) {
        assert_eq!(
            w[1].previous.as_deref(),
            Some(w[0].version.as_str()),
            "chain broken"
        );
    }
    let current = fx_rates::read_current(&url, &ns).await.unwrap().unwrap();
    assert_eq!(current.version(), all.last().unwrap().version);
    // Every replaced set is still readable during its retention.
    let mut c = raw(&url).await;
    let keys = fx_rates::Keys::new(&ns).unwrap();
    for p in &all {
        let n: usize = redis::cmd("HLEN")
            .arg(keys.set(&p.version))
            .query_async(&mut c)
            .await
            .unwrap();
        assert_eq!(n, 10 + 5, "set {} incomplete", p.version);
    }
    cleanup(&url, &ns).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_stopped_and_restarted_under_a_reader() {
    let Some(mut server) = PrivateRedis::start("restart").await else {
        return;
    };
    let url = server.url();
    let ns = namespace("restart");
    let max_age = Duration::from_millis(600);
    let mut publisher = Publisher::connect(&url, &ns, RETENTION).await.unwrap();
    let v1 = publisher
        .publish(&set("base,quote,rate\nUSD,KRW,1385.20\n"))
        .await
        .unwrap();
    let cache = RateCache::from_redis(
        &url,
        redis_opts(&ns, Duration::from_millis(100)),
        CacheOptions {
            max_age: Some(max_age),
            ..CacheOptions::default()
        },
    )
    .await
    .unwrap();
    assert!(cache.wait_loaded(Duration::from_secs(5)).await);
    let usd = currency("USD").unwrap();
    let krw = currency("KRW").unwrap();
    assert_eq!(cache.convert(1000, usd, krw).unwrap().amount_minor, 13852);

    server.stop();
    // The last snapshot keeps serving at once, without waiting for Redis.
    let c = cache.convert(1000, usd, krw).unwrap();
    assert_eq!((c.amount_minor, &*c.version), (13852, v1.version.as_str()));
    assert!(
        eventually(Duration::from_secs(3), || cache.status().state
            == SourceState::Unreachable)
        .await,
        "state did not turn unreachable: {:?}",
        cache.status()
    );
    // Past the maximum age, foreign currency is refused; same currency is not affected.
    assert!(
        eventually(Duration::from_secs(3), || matches!(
            cache.convert(1000, usd, krw),
            Err(FxError::Stale { .. })
        ))
        .await
    );
    assert!(cache.status().stale);
    assert_eq!(cache.convert(5000, krw, krw).unwrap().amount_minor, 5000);

    // Back up, empty (no persistence): a new publication brings the cache back.
    server.restart().await.unwrap();
    let mut publisher = Publisher::connect(&url, &ns, RETENTION).await.unwrap();
    let v2 = publisher
        .publish(&set("base,quote,rate\nUSD,KRW,1400\n"))
        .await
        .unwrap();
    assert!(
        eventually(Duration::from_secs(5), || cache
            .snapshot()
            .is_some_and(|s| s.version() == v2.version))
        .await,
        "no reconnect: {:?}",
        cache.status()
    );
    let c = cache.convert(1000, usd, krw).unwrap();
    assert_eq!((c.amount_minor, &*c.version), (14000, v2.version.as_str()));
    let status = cache.status();
    assert_eq!(status.state, SourceState::Live);
    assert!(!status.stale);
    // Many failed reconnects and polls, but one log per state change: Starting -> Live ->
    // Unreachable -> (Starting: the restarted server is empty) -> Live.
    assert!(
        (3..=4).contains(&status.state_changes),
        "state changed {} times",
        status.state_changes
    );
    assert!(status.last_error.is_some());
}

#[tokio::test]
async fn an_empty_namespace_serves_nothing_and_says_so() {
    let Some(url) = redis_url("empty").await else {
        return;
    };
    let ns = namespace("empty");
    let cache = RateCache::from_redis(
        &url,
        redis_opts(&ns, Duration::from_millis(50)),
        CacheOptions::default(),
    )
    .await
    .unwrap();
    assert!(!cache.wait_loaded(Duration::from_millis(200)).await);
    let usd = currency("USD").unwrap();
    assert!(matches!(
        cache.convert(100, usd, currency("EUR").unwrap()),
        Err(FxError::NoRates)
    ));
    assert_eq!(cache.convert(100, usd, usd).unwrap().amount_minor, 100);
    let status = cache.status();
    assert!(status.stale && status.version.is_none());
}

#[tokio::test]
async fn bad_options_are_refused() {
    let opts = CacheOptions {
        max_age: Some(Duration::from_millis(100)),
        ..CacheOptions::default()
    };
    let r = RateCache::from_redis(
        "redis://127.0.0.1:1/",
        redis_opts("x", Duration::from_secs(1)),
        opts,
    )
    .await;
    assert!(matches!(r, Err(FxError::Config(_))));
    let r = RateCache::from_redis(
        "redis://127.0.0.1:1/",
        redis_opts("a{b", Duration::from_secs(1)),
        CacheOptions::default(),
    )
    .await;
    assert!(matches!(r, Err(FxError::Config(_))));
    assert!(RateCache::from_redis(
        "nonsense://",
        RedisOptions::default(),
        CacheOptions::default()
    )
    .await
    .is_err());
}
