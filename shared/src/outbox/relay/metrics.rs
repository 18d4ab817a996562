//! How the outbox is doing, on `/metrics`: the backlog (so a broker outage shows while
//! registration keeps working) and what the relay has published, failed and parked.

use prometheus::{Gauge, IntCounter, IntGauge, Registry};

use super::store::Stats;

pub struct RelayMetrics {
    pending: IntGauge,
    oldest_pending_age: Gauge,
    parked: IntGauge,
    pub published_total: IntCounter,
    pub failed_total: IntCounter,
    pub parked_total: IntCounter,
}

impl RelayMetrics {
    pub fn register(registry: &Registry) -> prometheus::Result<Self> {
        let metrics = Self {
            pending: IntGauge::new("chat_suite_outbox_pending", "Notification events not yet published")?,
            oldest_pending_age: Gauge::new(
                "chat_suite_outbox_oldest_pending_age_seconds",
                "Age of the oldest notification event not yet published (0 when none)",
            )?,
            parked: IntGauge::new("chat_suite_outbox_parked", "Notification events the broker refused for good")?,
            published_total: IntCounter::new("chat_suite_outbox_published_total", "Events acknowledged by the broker")?,
            failed_total: IntCounter::new(
                "chat_suite_outbox_failed_total",
                "Publish attempts that failed and will be retried",
            )?,
            parked_total: IntCounter::new("chat_suite_outbox_parked_total", "Events parked by this process")?,
        };
        registry.register(Box::new(metrics.pending.clone()))?;
        registry.register(Box::new(metrics.oldest_pending_age.clone()))?;
        registry.register(Box::new(metrics.parked.clone()))?;
        registry.register(Box::new(metrics.published_total.clone()))?;
        registry.register(Box::new(metrics.failed_total.clone()))?;
        registry.register(Box::new(metrics.parked_total.clone()))?;
        Ok(metrics)
    }

    pub fn observe(&self, stats: &Stats) {
        self.pending.set(stats.pending);
        self.parked.set(stats.parked);
        self.oldest_pending_age.set(stats.oldest_pending_age.as_secs_f64());
    }
}
