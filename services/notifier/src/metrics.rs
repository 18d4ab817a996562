//! How pushing is doing, on `/metrics`: events by what became of them, pushes by platform and
//! outcome, the delay from an event to the provider's acceptance, and the retry backlog.

use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, IntGauge, Opts, Registry};

pub struct NotifierMetrics {
    /// `pushed`, `no_devices`, `ignored`, `poison`, `expired`.
    pub events: IntCounterVec,
    /// By `platform` and `outcome` (`sent`, `collapsed`, `gone`, `retry`, `rejected`, `expired`).
    pub pushes: IntCounterVec,
    /// From the event (its `occurred_at`, the message's commit) to the provider's acceptance.
    pub delay: HistogramVec,
    pub backlog: IntGauge,
}

impl NotifierMetrics {
    pub fn register(registry: &Registry) -> prometheus::Result<Self> {
        let metrics = Self {
            events: IntCounterVec::new(
                Opts::new("chat_suite_notifier_events_total", "Notification events read, by what became of them"),
                &["outcome"],
            )?,
            pushes: IntCounterVec::new(
                Opts::new("chat_suite_notifier_pushes_total", "Pushes to devices, by platform and outcome"),
                &["platform", "outcome"],
            )?,
            delay: HistogramVec::new(
                HistogramOpts::new(
                    "chat_suite_notifier_push_delay_seconds",
                    "From an event's commit to its provider's acceptance of the push",
                )
                .buckets(vec![0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0]),
                &["platform"],
            )?,
            backlog: IntGauge::new(
                "chat_suite_notifier_retry_backlog",
                "Pushes waiting for another attempt (or for a dead replica's lease to run out)",
            )?,
        };
        registry.register(Box::new(metrics.events.clone()))?;
        registry.register(Box::new(metrics.pushes.clone()))?;
        registry.register(Box::new(metrics.delay.clone()))?;
        registry.register(Box::new(metrics.backlog.clone()))?;
        Ok(metrics)
    }
}
