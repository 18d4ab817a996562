//! The outbox relay: publishes notification events to Kafka after the transaction that wrote
//! them has committed, so a broker outage never fails or slows a request and never loses an
//! event. At least once, in write order per key; consumers drop duplicates by `event_id`.
//!
//! Each round claims the oldest pending event of each key (a lease, so replicas share the
//! work and a dead replica's claims expire), publishes them concurrently, and marks the ones
//! the broker acknowledged. A failure retries the event after a capped exponential backoff,
//! holding back the events of its key behind it; an event the broker can never take (too
//! large) is parked and counted instead, so it does not block its key for ever.

mod metrics;
mod publisher;
mod store;

use std::{sync::Arc, time::Duration};

use backon::{BackoffBuilder, ExponentialBuilder};
use futures_util::future::join_all;
use sea_orm::{DatabaseBackend, DatabaseConnection};

pub use self::publisher::LocalConsumer;
use self::{
    metrics::RelayMetrics,
    publisher::{PublishError, Publisher, Sink},
    store::Store,
};
use super::{WAKEUP_CHANNEL, Wakeup};
use crate::{
    entities::notification_outbox,
    http::Metrics,
    kafka::KafkaSettings,
    server::{Application, Stopping},
};

/// Events claimed per round: one per key, so also the number of keys published at once.
const BATCH: u64 = 256;
/// The safety net when no wake-up arrives (a lost NOTIFY, a row written by hand).
const POLL: Duration = Duration::from_secs(2);
/// How often the backlog gauges are refreshed.
const STATS_EVERY: Duration = Duration::from_secs(2);

#[derive(Debug, Clone, clap::Args)]
pub struct RelaySettings {
    #[command(flatten)]
    pub kafka: KafkaSettings,

    /// How long a replica holds the events it claimed; a replica that dies holding some
    /// delays them by at most this much.
    #[arg(long, env = "OUTBOX_LEASE_SECONDS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(5..=3600))]
    pub outbox_lease_seconds: u64,
}

/// Starts the relay (when a broker is configured, or `local` takes the events) and the backlog
/// gauges (always) beside `app`.
pub fn start(
    app: &mut Application,
    settings: &RelaySettings,
    db: &DatabaseConnection,
    metrics: &Metrics,
    wakeup: &Wakeup,
    local: Option<Arc<dyn LocalConsumer>>,
) -> anyhow::Result<()> {
    let relay_metrics = Arc::new(RelayMetrics::register(metrics.registry())?);
    let store = Store::new(db.clone(), Duration::from_secs(settings.outbox_lease_seconds));
    let (stats_store, stats_metrics) = (store.clone(), relay_metrics.clone());
    app.spawn_background(move |stopping| refresh_stats(stats_store, stats_metrics, stopping));

    let sink = match (&settings.kafka.kafka_brokers, local) {
        (Some(brokers), _) => {
            tracing::info!(brokers = %brokers, topic = %settings.kafka.notifications_topic, "outbox relay started");
            Sink::Kafka(Publisher::new(brokers, &settings.kafka)?)
        }
        (None, Some(local)) => {
            tracing::info!("KAFKA_BROKERS is not set: notification events go to the notifier in this process");
            Sink::Local(local)
        }
        (None, None) => {
            tracing::warn!(
                "KAFKA_BROKERS is not set: notification events wait in the outbox until a broker is configured"
            );
            return Ok(());
        }
    };
    if db.get_database_backend() == DatabaseBackend::Postgres {
        let (db, wakeup) = (db.clone(), wakeup.clone());
        app.spawn_background(move |stopping| forward_notifications(db, wakeup, stopping));
    }
    let relay = Relay { store, sink, metrics: relay_metrics, wakeup: wakeup.clone() };
    app.spawn_background(move |stopping| relay.run(stopping));
    Ok(())
}

struct Relay {
    store: Store,
    sink: Sink,
    metrics: Arc<RelayMetrics>,
    wakeup: Wakeup,
}

impl Relay {
    async fn run(self, mut stopping: Stopping) {
        let mut topic_ready = false;
        let mut db_failures = 0u32;
        loop {
            if let (false, Sink::Kafka(publisher)) = (topic_ready, &self.sink) {
                topic_ready = publisher.ensure_topic().await;
            }
            let idle = match self.store.claim(BATCH).await {
                Ok(rows) if rows.is_empty() => POLL,
                Ok(rows) => {
                    db_failures = 0;
                    // A broker that came back empty (or a topic deleted meanwhile) needs the
                    // topic again before anything can be published.
                    match self.publish(rows).await {
                        Round::AllPublished => {}
                        Round::SomeFailed => topic_ready = false,
                        Round::NoneGotThrough => {
                            topic_ready = false;
                            if let Sink::Kafka(publisher) = &self.sink {
                                publisher.reconnect();
                            }
                        }
                    }
                    continue;
                }
                Err(err) => {
                    db_failures += 1;
                    tracing::warn!(error = %err, "outbox unreadable, retrying");
                    backoff(db_failures)
                }
            };
            tokio::select! {
                () = stopping.wait() => return,
                () = self.wakeup.woken() => {}
                () = tokio::time::sleep(idle) => {}
            }
        }
    }

    /// Publishes one event per key concurrently (or hands the round to the local consumer at
    /// once); each outcome is recorded on its own row.
    async fn publish(&self, rows: Vec<notification_outbox::Model>) -> Round {
        let outcomes = match &self.sink {
            Sink::Kafka(publisher) => join_all(rows.iter().map(|row| publisher.publish(row))).await,
            Sink::Local(local) => {
                let taken = local.consume(rows.iter().map(|row| row.payload.clone()).collect()).await;
                rows.iter().map(|_| taken.clone().map_err(PublishError::Failed)).collect()
            }
        };
        let mut delivered = Vec::new();
        for (row, outcome) in rows.iter().zip(outcomes) {
            let recorded = match outcome {
                Ok(()) => {
                    delivered.push(row.id);
                    Ok(())
                }
                Err(PublishError::Rejected(why)) => {
                    tracing::error!(event_id = %row.event_id, error = %why, "the broker refuses this event for good; parked");
                    self.metrics.parked_total.inc();
                    self.store.park(row, &why).await
                }
                Err(PublishError::Failed(why)) => {
                    let retry_in = backoff(u32::try_from(row.attempts).unwrap_or(u32::MAX).saturating_add(1));
                    tracing::warn!(event_id = %row.event_id, error = %why, retry_in_ms = retry_in.as_millis() as u64, "publish failed, will retry");
                    self.metrics.failed_total.inc();
                    self.store.retry_later(row, &why, retry_in).await
                }
            };
            if let Err(err) = recorded {
                tracing::warn!(event_id = %row.event_id, error = %err, "could not record the outcome; the lease will expire");
            }
        }
        let round = match delivered.len() {
            n if n == rows.len() => Round::AllPublished,
            0 => Round::NoneGotThrough,
            _ => Round::SomeFailed,
        };
        if delivered.is_empty() {
            return round;
        }
        match self.store.delivered(&delivered).await {
            Ok(()) => self.metrics.published_total.inc_by(delivered.len() as u64),
            // Published but not marked: they will be published again (at least once).
            Err(err) => tracing::warn!(error = %err, count = delivered.len(), "could not mark published events"),
        }
        round
    }
}

/// How a round of publishing went, which decides what the next one needs first.
enum Round {
    AllPublished,
    /// A broker back from a restart may have lost the topic: make sure of it again.
    SomeFailed,
    /// Nothing got through: also start over with a new producer.
    NoneGotThrough,
}

/// The longest wait before a retry.
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// The wait before retry number `attempt` (from 1): 500 ms doubled per attempt, at most 10 s,
/// quick after a blip, gentle during an outage. A function of the attempt, not a running
/// backoff, because an event's attempts are counted in its row, across rounds and replicas.
fn backoff(attempt: u32) -> Duration {
    let mut waits = ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(500))
        .with_factor(2.0)
        .with_max_delay(MAX_BACKOFF)
        .without_max_times()
        .build();
    // The sixth wait (500 ms doubled five times) is past the cap already, as is every later
    // one: no need to walk further for an event retried for days.
    let nth = attempt.saturating_sub(1).min(5) as usize;
    waits.nth(nth).unwrap_or(MAX_BACKOFF)
}

async fn refresh_stats(store: Store, metrics: Arc<RelayMetrics>, mut stopping: Stopping) {
    loop {
        match store.stats().await {
            Ok(stats) => metrics.observe(&stats),
            Err(err) => tracing::debug!(error = %err, "outbox stats unavailable"),
        }
        tokio::select! {
            () = stopping.wait() => return,
            () = tokio::time::sleep(STATS_EVERY) => {}
        }
    }
}

/// Turns Postgres NOTIFYs (sent by every replica's commits) into local wake-ups.
async fn forward_notifications(db: DatabaseConnection, wakeup: Wakeup, mut stopping: Stopping) {
    use sea_orm::sqlx::postgres::PgListener;
    loop {
        let listening = async {
            let mut listener = PgListener::connect_with(db.get_postgres_connection_pool()).await?;
            listener.listen(WAKEUP_CHANNEL).await?;
            loop {
                listener.recv().await?;
                wakeup.wake();
            }
        };
        let result: Result<(), sea_orm::sqlx::Error> = tokio::select! {
            () = stopping.wait() => return,
            result = listening => result,
        };
        if let Err(err) = result {
            tracing::debug!(error = %err, "outbox LISTEN lost, reconnecting");
        }
        tokio::select! {
            () = stopping.wait() => return,
            () = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        let waits: Vec<u64> = (1..=8).map(|a| backoff(a).as_millis() as u64).collect();
        assert_eq!(waits, [500, 1000, 2000, 4000, 8000, 10_000, 10_000, 10_000]);
    }
}
