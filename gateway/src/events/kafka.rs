//! The Kafka clients (rdkafka on librdkafka; see the workspace's Cargo.toml for why).

use std::time::Duration;

use rdkafka::config::ClientConfig;
use rdkafka::consumer::StreamConsumer;
use rdkafka::producer::FutureProducer;

use crate::config::EventsConfig;

/// The relay's producer: idempotent (`enable.idempotence` implies `acks=all`, at most 5
/// requests in flight and retries that neither duplicate nor reorder within a partition),
/// messages given up after `ack_timeout_ms` (the relay then tries them again).
pub(crate) fn producer(bootstrap: &str, cfg: &EventsConfig) -> Result<FutureProducer, String> {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("client.id", "card-switch-relay")
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("message.timeout.ms", cfg.ack_timeout_ms.to_string())
        .set("linger.ms", "5")
        // Keyed by account: the same account always lands in the same partition.
        .set("partitioner", "murmur2_random")
        .set("log_level", "4")
        .create()
        .map_err(|e| format!("kafka producer: {e}"))
}

/// A consumer of no group (it assigns partitions itself and commits nothing) for `tail`.
pub(crate) fn consumer(bootstrap: &str) -> Result<StreamConsumer, String> {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "card-switch-tail")
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("log_level", "4")
        .create()
        .map_err(|e| format!("kafka consumer: {e}"))
}

/// How long a metadata request may take.
pub(crate) const METADATA_TIMEOUT: Duration = Duration::from_secs(10);
