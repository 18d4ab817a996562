//! The gateway on `/metrics`: connections, messages, and how the bus between replicas is doing.

use prometheus::{Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, Opts, Registry};

pub struct GatewayMetrics {
    pub connections: IntGauge,
    /// The most connections this replica holds (`WS_MAX_CONNECTIONS` or its open-file budget).
    pub connection_capacity: IntGauge,
    pub refused_full: IntCounter,
    pub messages_total: IntCounter,
    pub offline_pushes_total: IntCounter,
    pub slow_readers_total: IntCounter,
    pub overloaded_total: IntCounter,
    /// From reading a message's frame to its commit: the part of a message's latency that
    /// Socket.IO-like relays do not have.
    pub store_seconds: Histogram,
    pub batches_total: IntCounter,
    pub closes_total: IntCounterVec,
    pub bus_received_total: IntCounter,
    pub bus_dropped_total: IntCounter,
    pub bus_publish_failures_total: IntCounter,
    pub bus_reconnects_total: IntCounter,
    /// Rooms (group chats) with a connection here: with Redis, each one channel subscribed.
    pub rooms_subscribed: IntGauge,
}

impl GatewayMetrics {
    pub fn new() -> prometheus::Result<Self> {
        Ok(Self {
            connections: IntGauge::new("chat_suite_ws_connections", "Open WebSocket connections on this replica")?,
            connection_capacity: IntGauge::new(
                "chat_suite_ws_connection_capacity",
                "Connections this replica holds at most: WS_MAX_CONNECTIONS, or what its open-file limit allows",
            )?,
            refused_full: IntCounter::new(
                "chat_suite_ws_refused_full_total",
                "Connections refused with `replica_full`: the replica held as many as it can",
            )?,
            messages_total: IntCounter::new("chat_suite_ws_messages_total", "Messages stored by this replica")?,
            offline_pushes_total: IntCounter::new(
                "chat_suite_ws_offline_pushes_total",
                "message.created events written for recipients with no live connection",
            )?,
            slow_readers_total: IntCounter::new(
                "chat_suite_ws_slow_readers_total",
                "Connections cut off because their send queue overflowed",
            )?,
            overloaded_total: IntCounter::new(
                "chat_suite_ws_overloaded_total",
                "Messages refused with `overloaded`: the writers were too far behind to store them",
            )?,
            store_seconds: Histogram::with_opts(
                HistogramOpts::new(
                    "chat_suite_ws_store_seconds",
                    "From reading a message's frame to its commit (waiting for the batch included)",
                )
                .buckets(vec![
                    0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0,
                ]),
            )?,
            batches_total: IntCounter::new(
                "chat_suite_ws_batches_total",
                "Batches the writer stored, each in one transaction when none fails (messages per batch: messages_total / batches_total)",
            )?,
            closes_total: IntCounterVec::new(
                Opts::new("chat_suite_ws_closes_total", "Connections closed by the server, by reason"),
                &["reason"],
            )?,
            bus_received_total: IntCounter::new(
                "chat_suite_bus_received_total",
                "Events received from other replicas",
            )?,
            bus_dropped_total: IntCounter::new(
                "chat_suite_bus_dropped_total",
                "Events not published because the publish queue was full (Redis away too long)",
            )?,
            bus_publish_failures_total: IntCounter::new(
                "chat_suite_bus_publish_failures_total",
                "Publish round trips to Redis that failed and were retried",
            )?,
            bus_reconnects_total: IntCounter::new(
                "chat_suite_bus_reconnects_total",
                "Times the Redis subscription was lost (or could not be made) and retried",
            )?,
            rooms_subscribed: IntGauge::new(
                "chat_suite_rooms_subscribed",
                "Rooms (group chats) with a connection on this replica, each a channel it subscribes to with Redis",
            )?,
        })
    }

    /// Shows them on a service's `/metrics`.
    pub fn register(&self, registry: &Registry) -> prometheus::Result<()> {
        let metrics = self;
        registry.register(Box::new(metrics.connections.clone()))?;
        registry.register(Box::new(metrics.connection_capacity.clone()))?;
        registry.register(Box::new(metrics.refused_full.clone()))?;
        registry.register(Box::new(metrics.messages_total.clone()))?;
        registry.register(Box::new(metrics.offline_pushes_total.clone()))?;
        registry.register(Box::new(metrics.slow_readers_total.clone()))?;
        registry.register(Box::new(metrics.overloaded_total.clone()))?;
        registry.register(Box::new(metrics.store_seconds.clone()))?;
        registry.register(Box::new(metrics.batches_total.clone()))?;
        registry.register(Box::new(metrics.closes_total.clone()))?;
        registry.register(Box::new(metrics.bus_received_total.clone()))?;
        registry.register(Box::new(metrics.bus_dropped_total.clone()))?;
        registry.register(Box::new(metrics.bus_publish_failures_total.clone()))?;
        registry.register(Box::new(metrics.bus_reconnects_total.clone()))?;
        registry.register(Box::new(metrics.rooms_subscribed.clone()))?;
        Ok(())
    }
}
