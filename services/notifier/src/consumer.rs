//! The topic's consumer: reads notification events in batches, hands them to the dispatcher,
//! and commits a batch's offsets once the dispatcher has settled every push of it. A replica
//! that dies before committing leaves its events to be read again (by itself or by the
//! replica the partitions move to), and the claims in `push_deliveries` keep those from
//! pushing twice. Replicas share the partitions as one consumer group (`NOTIFIER_GROUP_ID`).

use std::{sync::Arc, time::Duration};

use futures_util::FutureExt;
use rdkafka::{
    Message, Offset, TopicPartitionList,
    consumer::{CommitMode, Consumer, StreamConsumer},
    error::KafkaError,
};
use shared::{config::ConfigError, kafka::KafkaSettings, server::Stopping};

use crate::dispatch::Dispatcher;

/// Events read into one batch at most.
const BATCH: usize = 500;

pub struct EventConsumer {
    consumer: StreamConsumer,
    dispatcher: Arc<Dispatcher>,
}

impl EventConsumer {
    pub fn new(
        brokers: &str,
        kafka: &KafkaSettings,
        group_id: &str,
        instance_id: Option<&str>,
        dispatcher: Arc<Dispatcher>,
    ) -> anyhow::Result<Self> {
        let mut config = kafka.client_config(
            brokers,
            &[
                ("group.id", group_id),
                ("client.id", "chat-suite-notifier"),
                // Offsets are committed by hand, after the batch's pushes are settled.
                ("enable.auto.commit", "false"),
                ("enable.auto.offset.store", "false"),
                // A new group starts at the oldest event; events older than PUSH_TTL_SECONDS
                // push nothing, so a first start does not replay history onto phones.
                ("auto.offset.reset", "earliest"),
                // The relay creates the topic: see it soon after it does.
                ("topic.metadata.refresh.interval.ms", "5000"),
                ("session.timeout.ms", "10000"),
                ("heartbeat.interval.ms", "1000"),
                // Also the rebalance timeout: how long a join waits for a member that vanished
                // (a replica SIGKILLed) on a broker that waits for it, rather than 5 minutes. A
                // batch taking longer (the database down) leaves the group and joins again;
                // what it had read is read again, and its claims keep it from pushing twice.
                ("max.poll.interval.ms", "30000"),
                // An empty fetch waits this long for new events. Kafka answers a waiting fetch
                // as soon as one arrives; a broker that does not (tansu) holds every event for
                // the whole wait: 500 ms, librdkafka's default, was the benchmark's p50.
                ("fetch.wait.max.ms", "100"),
            ],
        );
        if let Some(instance) = instance_id {
            config.set("group.instance.id", instance);
        }
        let refused = |e: KafkaError| ConfigError::new("KAFKA_PROPERTIES", e.to_string());
        let consumer: StreamConsumer = config.create().map_err(refused)?;
        consumer.subscribe(&[&kafka.notifications_topic]).map_err(refused)?;
        Ok(Self { consumer, dispatcher })
    }

    pub async fn run(self, mut stopping: Stopping) {
        loop {
            let first = tokio::select! {
                () = stopping.wait() => return,
                first = self.consumer.recv() => first,
            };
            let mut batch = vec![first];
            // What librdkafka has already fetched joins the batch; nothing more is waited for.
            while batch.len() < BATCH {
                match self.consumer.recv().now_or_never() {
                    Some(next) => batch.push(next),
                    None => break,
                }
            }
            let mut positions = TopicPartitionList::new();
            let mut events = Vec::with_capacity(batch.len());
            for received in &batch {
                match received {
                    Ok(message) => {
                        // The offset after each message read: what a restart resumes from.
                        let _ = positions.add_partition_offset(
                            message.topic(),
                            message.partition(),
                            Offset::Offset(message.offset() + 1),
                        );
                        events.extend(self.dispatcher.read(message.payload().unwrap_or_default(), || {
                            format!("partition {} offset {}", message.partition(), message.offset())
                        }));
                    }
                    Err(err) => tracing::warn!(error = %err, "reading the notifications topic failed; continuing"),
                }
            }
            // Until the database takes the claims, the same events again: nothing is lost,
            // and what was claimed before the failure is not pushed twice.
            let mut failures = 0u32;
            while let Err(err) = self.dispatcher.dispatch(events.clone()).await {
                failures += 1;
                tracing::warn!(error = %err, "pushing a batch failed on the database; retrying it");
                tokio::select! {
                    () = stopping.wait() => return,
                    () = tokio::time::sleep(Duration::from_millis(200 * u64::from(failures.min(25)))) => {}
                }
            }
            if positions.count() > 0
                && let Err(err) = self.consumer.commit(&positions, CommitMode::Async)
            {
                // The next commit covers these offsets too; a restart meanwhile reads the
                // batch again, and its claims keep it from pushing twice.
                tracing::warn!(error = %err, "committing offsets failed");
            }
        }
    }
}
