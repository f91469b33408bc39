//! `gateway events tail`: the events as JSON lines, from the outbox, or from the topic when a
//! broker is configured.

use std::io::Write;
use std::time::{Duration, Instant};

use ledger::Store;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::{Message, Offset, TopicPartitionList};

use super::{kafka, position_of, with_position};
use crate::config::EventsConfig;

/// Page size of outbox reads.
const PAGE: usize = 1_000;
/// How often `--follow` looks for new events.
const POLL: Duration = Duration::from_millis(200);
/// How long one wait for a message from the broker lasts before the end is checked again.
const RECV_WAIT: Duration = Duration::from_millis(250);
/// How long the topic must be quiet before a `tail` without `--follow` ends.
const QUIET_END: Duration = Duration::from_secs(3);

/// Prints the outbox's events from position `from` (1: the first kept), each a CloudEvent
/// with its position as `outboxpos`; with `follow`, goes on as events are committed.
pub async fn outbox(
    store: &Store,
    from: i64,
    follow: bool,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let mut after = from.saturating_sub(1).max(0);
    loop {
        let page = store.events_after(after, false, PAGE).await?;
        for e in &page {
            if writeln!(out, "{}", with_position(&e.body, e.pos)).is_err() {
                return Ok(()); // a closed pipe: the reader has what it wanted
            }
            after = e.pos;
        }
        let _ = out.flush();
        if page.len() < PAGE {
            if !follow {
                return Ok(());
            }
            tokio::time::sleep(POLL).await;
        }
    }
}

/// Prints the topic's events whose `outboxpos` is at least `from`, from the start of every
/// partition; without `follow`, stops once the topic has been quiet for [`QUIET_END`] (the
/// end by watermarks is not used: some Kafka-protocol brokers report them late).
pub async fn topic(
    cfg: &EventsConfig,
    bootstrap: &str,
    from: i64,
    follow: bool,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let consumer: StreamConsumer = kafka::consumer(bootstrap).map_err(anyhow::Error::msg)?;
    let md = consumer
        .fetch_metadata(Some(&cfg.topic), kafka::METADATA_TIMEOUT)
        .map_err(|e| anyhow::anyhow!("kafka metadata: {e}"))?;
    let t = md
        .topics()
        .iter()
        .find(|t| t.name() == cfg.topic)
        .ok_or_else(|| anyhow::anyhow!("topic {} not found", cfg.topic))?;
    if let Some(e) = t.error() {
        anyhow::bail!("topic {}: {e:?}", cfg.topic);
    }
    let mut tpl = TopicPartitionList::new();
    for p in t.partitions() {
        tpl.add_partition_offset(&cfg.topic, p.id(), Offset::Beginning)?;
    }
    consumer.assign(&tpl)?;
    let mut last = Instant::now();
    loop {
        let m = match tokio::time::timeout(RECV_WAIT, consumer.recv()).await {
            Err(_) => {
                if !follow && last.elapsed() >= QUIET_END {
                    return Ok(());
                }
                continue;
            }
            Ok(Err(e)) => anyhow::bail!("kafka: {e}"),
            Ok(Ok(m)) => m,
        };
        last = Instant::now();
        let Some(payload) = m.payload() else { continue };
        if position_of(payload).is_some_and(|p| p < from) {
            continue;
        }
        let line = String::from_utf8_lossy(payload);
        if writeln!(out, "{line}").is_err() {
            return Ok(());
        }
        let _ = out.flush();
    }
}
