//! The Redis broker: targeted fan-out between replicas.
//!
//! Every user has a channel (`chat:user:<id>`); a replica subscribes to the channels of the
//! users it holds connections for, and only those, so an event between two users on one
//! replica costs the others nothing. The node tells it of every connection that arrives and
//! leaves; it counts them per user, so it knows on its own which channels it wants, whatever
//! order a user's arrivals and departures race in. Publishing goes through one queue and one task, which
//! keeps this replica's events in order and sends them in pipelined batches; while Redis is
//! away it retries, and what overflows its queue is dropped and counted (the messages are in
//! the database: receivers fill the gap when the next message of the chat or the resubscription
//! arrives). The subscription reconnects with backoff, subscribes again to every local user
//! and tells every local connection to resynchronise from the database.

use std::{
    collections::{HashMap, HashSet},
    sync::Arc,
    time::Duration,
};

use backon::{BackoffBuilder, ExponentialBuilder};
use futures_util::StreamExt;
use redis::aio::{ConnectionManager, PubSubSink};
use shared::server::Stopping;
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use super::{
    BrokerHealth,
    envelope::{self, Decoded, Outgoing},
    inbound::Inbound,
};
use crate::metrics::GatewayMetrics;

const CHANNEL_PREFIX: &str = "chat:user:";
/// Events waiting to be published while Redis is slow or away.
const PUBLISH_QUEUE: usize = 16_384;
/// Events sent to Redis in one pipelined round trip.
const PUBLISH_BATCH: usize = 256;
/// How long a new connection waits for its user's subscription before going on without it
/// (it resynchronises once the subscription is back).
const SUBSCRIBE_WAIT: Duration = Duration::from_secs(2);

fn channel(user: Uuid) -> String {
    format!("{CHANNEL_PREFIX}{user}")
}

/// A connection of the user arrived (answered once the channel is subscribed), or left.
enum Subscription {
    Arrived(Uuid, oneshot::Sender<bool>),
    Left(Uuid),
}

pub(crate) struct RedisBroker {
    node: String,
    health: BrokerHealth,
    outgoing: mpsc::Sender<(Vec<Uuid>, Arc<[u8]>)>,
    subscriptions: mpsc::UnboundedSender<Subscription>,
    metrics: Arc<GatewayMetrics>,
}

/// The broker's two tasks, started with the application.
pub(crate) struct BrokerTasks {
    client: redis::Client,
    publisher: ConnectionManager,
    outgoing: mpsc::Receiver<(Vec<Uuid>, Arc<[u8]>)>,
    subscriptions: mpsc::UnboundedReceiver<Subscription>,
    node: String,
    health: BrokerHealth,
    metrics: Arc<GatewayMetrics>,
}

impl RedisBroker {
    pub(crate) fn new(
        client: redis::Client,
        publisher: ConnectionManager,
        node: String,
        metrics: Arc<GatewayMetrics>,
    ) -> (Self, BrokerTasks) {
        let (outgoing_tx, outgoing) = mpsc::channel(PUBLISH_QUEUE);
        let (subscriptions_tx, subscriptions) = mpsc::unbounded_channel();
        let health = BrokerHealth::default();
        let broker = Self {
            node: node.clone(),
            health: health.clone(),
            outgoing: outgoing_tx,
            subscriptions: subscriptions_tx,
            metrics: metrics.clone(),
        };
        (broker, BrokerTasks { client, publisher, outgoing, subscriptions, node, health, metrics })
    }

    pub(crate) fn health(&self) -> BrokerHealth {
        self.health.clone()
    }

    /// Queues `event` for the other replicas holding connections of `users`.
    pub(crate) fn publish(&self, users: &[Uuid], event: &Outgoing) {
        let payload: Arc<[u8]> = match envelope::encode(&self.node, event) {
            Ok(bytes) => bytes.into(),
            Err(err) => {
                tracing::error!(error = %err, "cannot encode a bus event");
                return;
            }
        };
        if self.outgoing.try_send((users.to_vec(), payload)).is_err() {
            self.metrics.bus_dropped_total.inc();
        }
    }

    /// A connection of `user` arrived: this replica subscribes to the user's channel (if it
    /// had not) and waits (briefly) until Redis confirms, so that nothing published after this
    /// returns is missed. False when it could not confirm.
    pub(crate) async fn arrived(&self, user: Uuid) -> bool {
        let (ack, acked) = oneshot::channel();
        if self.subscriptions.send(Subscription::Arrived(user, ack)).is_err() {
            return false;
        }
        matches!(tokio::time::timeout(SUBSCRIBE_WAIT, acked).await, Ok(Ok(true)))
    }

    /// A connection of `user` left: the channel is dropped with the user's last one.
    pub(crate) fn left(&self, user: Uuid) {
        let _ = self.subscriptions.send(Subscription::Left(user));
    }
}

impl BrokerTasks {
    /// Publishes and subscribes until the application stops; what arrives goes to `inbound`.
    pub(crate) async fn run(self, inbound: Arc<dyn Inbound>, stopping: Stopping) {
        let publisher = publish_loop(self.publisher, self.outgoing, self.metrics.clone(), stopping.clone());
        let receiver = Receiver { inbound, node: self.node, health: self.health, metrics: self.metrics };
        let subscriber = receiver.subscribe_loop(self.client, self.subscriptions, stopping);
        tokio::join!(publisher, subscriber);
    }
}

fn backoff() -> impl Iterator<Item = Duration> {
    ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(100))
        .with_max_delay(Duration::from_secs(5))
        .with_jitter()
        .without_max_times()
        .build()
}

async fn publish_loop(
    mut conn: ConnectionManager,
    mut outgoing: mpsc::Receiver<(Vec<Uuid>, Arc<[u8]>)>,
    metrics: Arc<GatewayMetrics>,
    mut stopping: Stopping,
) {
    let mut batch = Vec::with_capacity(PUBLISH_BATCH);
    loop {
        let received = tokio::select! {
            n = outgoing.recv_many(&mut batch, PUBLISH_BATCH) => n,
            () = stopping.wait() => return,
        };
        if received == 0 {
            return;
        }
        let mut pipe = redis::pipe();
        for (users, payload) in &batch {
            for user in users {
                pipe.publish(channel(*user), payload.as_ref()).ignore();
            }
        }
        let mut waits = backoff();
        loop {
            match pipe.query_async::<()>(&mut conn).await {
                Ok(()) => break,
                Err(err) => {
                    metrics.bus_publish_failures_total.inc();
                    let wait = waits.next().unwrap_or(Duration::from_secs(5));
                    tracing::warn!(error = %err, retry_in_ms = wait.as_millis() as u64, "cannot publish to Redis");
                    tokio::select! {
                        () = tokio::time::sleep(wait) => {}
                        () = stopping.wait() => return,
                    }
                }
            }
        }
        batch.clear();
    }
}

/// The subscribing side: which channels it wants, and where what arrives goes.
struct Receiver {
    inbound: Arc<dyn Inbound>,
    node: String,
    health: BrokerHealth,
    metrics: Arc<GatewayMetrics>,
}

/// Connections per user here: the channels this replica wants are the users counted.
#[derive(Default)]
struct Wanted(HashMap<Uuid, usize>);

impl Wanted {
    /// Counts an arrival; true when it is the user's first.
    fn arrive(&mut self, user: Uuid) -> bool {
        let count = self.0.entry(user).or_default();
        *count += 1;
        *count == 1
    }

    /// Counts a departure; true when it was the user's last.
    fn leave(&mut self, user: Uuid) -> bool {
        match self.0.get_mut(&user) {
            Some(count) if *count > 1 => {
                *count -= 1;
                false
            }
            Some(_) => {
                self.0.remove(&user);
                true
            }
            None => false,
        }
    }

    fn users(&self) -> Vec<Uuid> {
        self.0.keys().copied().collect()
    }
}

impl Receiver {
    async fn subscribe_loop(
        self,
        client: redis::Client,
        mut requests: mpsc::UnboundedReceiver<Subscription>,
        mut stopping: Stopping,
    ) {
        let mut wanted = Wanted::default();
        let mut waits = backoff();
        let mut lost_once = false;
        loop {
            match connect(&client, &wanted).await {
                Ok((mut sink, mut stream, mut subscribed)) => {
                    waits = backoff();
                    self.health.set(true);
                    if lost_once {
                        tracing::info!("Redis subscription restored; connections resynchronise");
                        self.inbound.resync();
                    }
                    loop {
                        tokio::select! {
                            message = stream.next() => match message {
                                Some(message) => self.dispatch(&message),
                                None => break,
                            },
                            Some(request) = requests.recv() => {
                                if !apply(&mut sink, &mut wanted, &mut subscribed, request).await {
                                    break;
                                }
                            }
                            () = stopping.wait() => return,
                        }
                    }
                    self.health.set(false);
                    tracing::warn!("Redis subscription lost; reconnecting");
                }
                Err(err) => tracing::warn!(error = %err, "cannot subscribe to Redis; retrying"),
            }
            lost_once = true;
            self.metrics.bus_reconnects_total.inc();
            let wait = waits.next().unwrap_or(Duration::from_secs(5));
            let sleep = tokio::time::sleep(wait);
            tokio::pin!(sleep);
            // While away, arrivals are counted and answered at once: the connections go on and
            // resynchronise once the subscription is back.
            loop {
                tokio::select! {
                    () = &mut sleep => break,
                    Some(request) = requests.recv() => match request {
                        Subscription::Arrived(user, ack) => {
                            wanted.arrive(user);
                            let _ = ack.send(false);
                        }
                        Subscription::Left(user) => {
                            wanted.leave(user);
                        }
                    },
                    () = stopping.wait() => return,
                }
            }
        }
    }

    fn dispatch(&self, message: &redis::Msg) {
        let Some(user) =
            message.get_channel_name().strip_prefix(CHANNEL_PREFIX).and_then(|id| Uuid::parse_str(id).ok())
        else {
            return;
        };
        match envelope::decode(message.get_payload_bytes(), &self.node) {
            Ok(Decoded::Own) => {}
            Ok(Decoded::Event(event)) => {
                self.metrics.bus_received_total.inc();
                self.inbound.deliver(user, Arc::new(event));
            }
            Ok(Decoded::Newer(version)) => {
                tracing::warn!(version, "bus envelope of a newer release; the user's connections resynchronise");
                self.inbound.resync_user(user);
            }
            Err(err) => tracing::warn!(error = %err, "unreadable bus event"),
        }
    }
}

/// A fresh subscription with the channel of every user wanted.
async fn connect(
    client: &redis::Client,
    wanted: &Wanted,
) -> redis::RedisResult<(PubSubSink, redis::aio::PubSubStream, HashSet<Uuid>)> {
    let pubsub = tokio::time::timeout(Duration::from_secs(3), client.get_async_pubsub())
        .await
        .map_err(|_| redis::RedisError::from(std::io::Error::from(std::io::ErrorKind::TimedOut)))??;
    let (mut sink, stream) = pubsub.split();
    let users = wanted.users();
    for chunk in users.chunks(1000) {
        let channels: Vec<String> = chunk.iter().map(|u| channel(*u)).collect();
        sink.subscribe(channels).await?;
    }
    Ok((sink, stream, users.into_iter().collect()))
}

/// Applies one arrival or departure. `subscribed` is what this connection to Redis has
/// confirmed, so a user's later connections are answered without a round trip. False when
/// Redis is gone.
async fn apply(
    sink: &mut PubSubSink,
    wanted: &mut Wanted,
    subscribed: &mut HashSet<Uuid>,
    request: Subscription,
) -> bool {
    match request {
        Subscription::Arrived(user, ack) => {
            wanted.arrive(user);
            let ok = subscribed.contains(&user) || sink.subscribe(channel(user)).await.is_ok();
            if ok {
                subscribed.insert(user);
            }
            let _ = ack.send(ok);
            ok
        }
        Subscription::Left(user) => {
            if !wanted.leave(user) {
                return true;
            }
            subscribed.remove(&user);
            sink.unsubscribe(channel(user)).await.is_ok()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A user's connections arrive and leave in any interleaving: the channel is wanted while
    /// one is left, and only then.
    #[test]
    fn a_channel_is_wanted_while_a_connection_of_its_user_is() {
        let (mut wanted, user) = (Wanted::default(), Uuid::new_v4());
        assert!(wanted.arrive(user));
        assert!(!wanted.arrive(user));
        assert!(!wanted.leave(user));
        assert_eq!(wanted.users(), [user]);
        assert!(wanted.leave(user));
        assert!(wanted.users().is_empty());
        assert!(!wanted.leave(user), "a departure never counted below zero");
        assert!(wanted.arrive(user));
    }
}
