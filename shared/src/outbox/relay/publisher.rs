//! The Kafka side of the relay: an idempotent producer with `acks=all` (librdkafka keeps
//! per-partition order across its own retries), and the topic created when missing.

use std::{
    sync::{Arc, RwLock},
    time::Duration,
};

use rdkafka::{
    ClientConfig,
    admin::{AdminClient, AdminOptions, NewTopic, TopicReplication},
    client::DefaultClientContext,
    error::{KafkaError, RDKafkaErrorCode},
    message::{Header, OwnedHeaders},
    producer::{FutureProducer, FutureRecord},
};

use crate::{config::ConfigError, entities::notification_outbox, kafka::KafkaSettings};

#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// The broker (or the client, on its behalf) will never accept this record.
    #[error("rejected: {0}")]
    Rejected(String),
    /// Anything else: the broker is down, slow, electing a leader… Retry.
    #[error("failed: {0}")]
    Failed(String),
}

/// Where the relay sends events: the topic, or a consumer in this process when there is no
/// broker (`chat-suite`'s notifier on the embedded default).
pub enum Sink {
    Kafka(Publisher),
    Local(std::sync::Arc<dyn LocalConsumer>),
}

/// A consumer of the events in this process: takes a round's events (the record values) and
/// answers once it has settled them; Err leaves them all to be handed over again.
pub trait LocalConsumer: Send + Sync {
    fn consume(&self, values: Vec<serde_json::Value>) -> futures_util::future::BoxFuture<'_, Result<(), String>>;
}

pub struct Publisher {
    config: ClientConfig,
    /// Replaced after a round in which nothing got through: a producer that has lost its
    /// broker can keep stale metadata or idempotence state that a broker back from a restart
    /// no longer knows, and would time out for ever.
    producer: RwLock<Arc<FutureProducer>>,
    admin: AdminClient<DefaultClientContext>,
    topic: String,
    partitions: i32,
    replication: i32,
}

impl Publisher {
    pub fn new(brokers: &str, settings: &KafkaSettings) -> anyhow::Result<Self> {
        let config = settings.client_config(
            brokers,
            &[
                ("client.id", "chat-suite-outbox-relay"),
                ("enable.idempotence", "true"),
                ("acks", "all"),
                // A delivery that cannot complete within this is reported failed and retried
                // by the relay later, so one outage does not hold a round for ever.
                ("message.timeout.ms", "10000"),
                ("linger.ms", "1"),
                ("compression.type", "lz4"),
            ],
        );
        // librdkafka checks its settings, and reads the files they name, when a client is made.
        let refused = |e: KafkaError| ConfigError::new("KAFKA_PROPERTIES", e.to_string());
        let producer: FutureProducer = config.create().map_err(refused)?;
        let admin: AdminClient<DefaultClientContext> = config.create().map_err(refused)?;
        Ok(Self {
            config,
            producer: RwLock::new(Arc::new(producer)),
            admin,
            topic: settings.notifications_topic.clone(),
            partitions: settings.notifications_topic_partitions,
            replication: settings.notifications_topic_replication,
        })
    }

    /// Creates the topic unless it exists. False while the broker cannot be asked.
    pub async fn ensure_topic(&self) -> bool {
        let topic = NewTopic::new(&self.topic, self.partitions, TopicReplication::Fixed(self.replication));
        let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(5)));
        match self.admin.create_topics([&topic], &options).await {
            Ok(results) => results.into_iter().all(|result| match result {
                Ok(_) => {
                    tracing::info!(topic = %self.topic, partitions = self.partitions, "created the notifications topic");
                    true
                }
                Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => true,
                Err((_, code)) => {
                    tracing::warn!(topic = %self.topic, error = %code, "cannot create the notifications topic yet");
                    false
                }
            }),
            Err(err) => {
                tracing::warn!(error = %err, "cannot reach the broker to create the topic yet");
                false
            }
        }
    }

    /// Sends one event and waits for the broker's acknowledgement.
    pub async fn publish(&self, row: &notification_outbox::Model) -> Result<(), PublishError> {
        let value = serde_json::to_vec(&row.payload).map_err(|e| PublishError::Rejected(e.to_string()))?;
        let event_id = row.event_id.to_string();
        let headers = OwnedHeaders::new()
            .insert(Header { key: "event_type", value: Some(row.event_type.as_str()) })
            .insert(Header { key: "event_id", value: Some(event_id.as_str()) });
        let record = FutureRecord::to(&self.topic).key(row.key.as_str()).payload(&value).headers(headers);
        let producer = self.producer.read().map(|p| p.clone()).map_err(|e| PublishError::Failed(e.to_string()))?;
        match producer.send(record, Duration::from_secs(5)).await {
            Ok(_) => Ok(()),
            Err((err, _)) if is_permanent(&err) => Err(PublishError::Rejected(err.to_string())),
            Err((err, _)) => Err(PublishError::Failed(err.to_string())),
        }
    }
}

impl Publisher {
    /// Starts over with a new producer (see `producer`).
    pub fn reconnect(&self) {
        match self.config.create::<FutureProducer>() {
            Ok(fresh) => {
                if let Ok(mut producer) = self.producer.write() {
                    *producer = Arc::new(fresh);
                    tracing::info!("reconnected the Kafka producer");
                }
            }
            Err(err) => tracing::warn!(error = %err, "cannot create a new Kafka producer"),
        }
    }
}

fn is_permanent(err: &KafkaError) -> bool {
    matches!(
        err.rdkafka_error_code(),
        Some(
            RDKafkaErrorCode::MessageSizeTooLarge
                | RDKafkaErrorCode::InvalidMessageSize
                | RDKafkaErrorCode::InvalidMessage
                | RDKafkaErrorCode::InvalidRecord
        )
    )
}
