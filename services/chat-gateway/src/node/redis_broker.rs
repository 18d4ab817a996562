//! The Redis broker: targeted fan-out between replicas.
//!
//! Every user has a channel, and so has every room (a group chat's: `partitions.rs` names
//! them); a replica subscribes to the channels of the users it holds connections for and of
//! the rooms those connections joined, and only those, so an event between two users on one
//! replica costs the others nothing, and a group's message is one publish, not one per member. On one server that is classic pub/sub over one
//! subscription; on a Redis Cluster, sharded pub/sub (a classic publish is copied to every
//! node of a cluster, a sharded one stays on the master of its slot) over one subscription
//! per partition. Publishing is `publisher.rs`, subscribing `subscriber.rs`: this joins them.

use std::{sync::Arc, time::Duration};

use futures_util::future::BoxFuture;
use shared::{readiness::Dependency, redis_conn::RedisConn, server::Stopping};
use tokio::sync::{mpsc, oneshot};

use super::{
    broker::Broker,
    envelope::{self, Outgoing},
    health::BrokerHealth,
    inbound::Inbound,
    partitions::Layout,
    publisher::{Outbound, publish_loop},
    subscriber::{Subscriber, Subscription},
    subscription_link::LinkSource,
    target::Target,
};
use crate::metrics::GatewayMetrics;

/// Events waiting to be published while Redis is slow or away.
const PUBLISH_QUEUE: usize = 16_384;
/// How long a new connection waits for its user's subscription, or a join for its room's,
/// before going on without it (it resynchronises once the subscription is back).
const SUBSCRIBE_WAIT: Duration = Duration::from_secs(2);

pub(crate) struct RedisBroker {
    node: String,
    layout: Layout,
    health: BrokerHealth,
    /// What publishes, for readiness (the tasks hold their own).
    conn: RedisConn,
    outgoing: mpsc::Sender<Outbound>,
    /// Each partition's subscriber.
    subscriptions: Vec<mpsc::UnboundedSender<Subscription>>,
    metrics: Arc<GatewayMetrics>,
}

/// The broker's tasks, started with the application.
pub(crate) struct BrokerTasks {
    source: LinkSource,
    publisher: RedisConn,
    layout: Layout,
    outgoing: mpsc::Receiver<Outbound>,
    subscriptions: Vec<mpsc::UnboundedReceiver<Subscription>>,
    node: String,
    health: BrokerHealth,
    metrics: Arc<GatewayMetrics>,
}

impl RedisBroker {
    /// Publishes on `publisher`; subscribes on links from `source`.
    pub(crate) fn new(
        source: LinkSource,
        publisher: RedisConn,
        node: String,
        metrics: Arc<GatewayMetrics>,
    ) -> (Self, BrokerTasks) {
        let layout = Layout::of(&publisher);
        let (outgoing_tx, outgoing) = mpsc::channel(PUBLISH_QUEUE);
        let (subscriptions_tx, subscriptions): (Vec<_>, Vec<_>) =
            (0..layout.partitions()).map(|_| mpsc::unbounded_channel()).unzip();
        let health = BrokerHealth::new(layout.partitions());
        let broker = Self {
            node: node.clone(),
            layout,
            health: health.clone(),
            conn: publisher.clone(),
            outgoing: outgoing_tx,
            subscriptions: subscriptions_tx,
            metrics: metrics.clone(),
        };
        let tasks = BrokerTasks { source, publisher, layout, outgoing, subscriptions, node, health, metrics };
        (broker, tasks)
    }

    pub(crate) fn health(&self) -> BrokerHealth {
        self.health.clone()
    }

    fn subscriber_of(&self, target: Target) -> &mpsc::UnboundedSender<Subscription> {
        &self.subscriptions[self.layout.partition(target)]
    }
}

impl Broker for RedisBroker {
    /// Subscribes to the user's or the room's channel (if this replica had not) and waits,
    /// briefly, until Redis confirms. The request is sent before this returns, so a `left`
    /// called after it is never applied before it.
    fn arrived(&self, target: Target) -> BoxFuture<'_, bool> {
        let (ack, acked) = oneshot::channel();
        let asked = self.subscriber_of(target).send(Subscription::Arrived(target, ack)).is_ok();
        Box::pin(async move { asked && matches!(tokio::time::timeout(SUBSCRIBE_WAIT, acked).await, Ok(Ok(true))) })
    }

    /// The channel is dropped with the user's last connection, or the room's last here.
    fn left(&self, target: Target) {
        let _ = self.subscriber_of(target).send(Subscription::Left(target));
    }

    /// Queued: an event that finds the queue full (Redis slow or away too long) is dropped
    /// and counted (see `publisher.rs` for how receivers fill the gap).
    fn publish(&self, targets: &[Target], event: &Outgoing) {
        let payload: Arc<[u8]> = match envelope::encode(&self.node, event) {
            Ok(bytes) => bytes.into(),
            Err(err) => {
                tracing::error!(error = %err, "cannot encode a bus event");
                return;
            }
        };
        if self.outgoing.try_send((targets.to_vec(), payload)).is_err() {
            self.metrics.bus_dropped_total.inc();
        }
    }

    fn dependency(&self) -> Option<Dependency> {
        Some(Dependency::Redis(self.conn.clone()))
    }
}

impl BrokerTasks {
    /// Publishes and subscribes until the application stops; what arrives goes to `inbound`.
    /// Each partition's subscriber is a task of its own, so a partition being moved or failed
    /// over holds up none of the others.
    pub(crate) async fn run(self, inbound: Arc<dyn Inbound>, stopping: Stopping) {
        let source = Arc::new(self.source);
        let mut subscribers = tokio::task::JoinSet::new();
        for (partition, requests) in self.subscriptions.into_iter().enumerate() {
            let subscriber = Subscriber {
                partition,
                layout: self.layout,
                source: source.clone(),
                inbound: inbound.clone(),
                node: self.node.clone(),
                health: self.health.partition(),
                metrics: self.metrics.clone(),
            };
            subscribers.spawn(subscriber.run(requests, stopping.clone()));
        }
        publish_loop(self.publisher, self.layout, self.outgoing, self.metrics, stopping).await;
        subscribers.join_all().await;
    }
}
