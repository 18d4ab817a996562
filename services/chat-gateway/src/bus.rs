//! The Redis side of the hub: targeted fan-out between replicas.
//!
//! Every user has a channel (`chat:user:<id>`); a replica subscribes to the channels of the
//! users it holds connections for, and only those, so an event between two users on one
//! replica costs the others nothing. Publishing goes through one queue and one task, which
//! keeps this replica's events in order and sends them in pipelined batches; while Redis is
//! away it retries, and what overflows its queue is dropped and counted (the messages are in
//! the database: receivers fill the gap when the next message of the chat or the resubscription
//! arrives). The subscription reconnects with backoff, subscribes again to every local user
//! and tells every local connection to resynchronise from the database.

use std::{
    collections::HashSet,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use backon::{BackoffBuilder, ExponentialBuilder};
use futures_util::StreamExt;
use redis::aio::{ConnectionManager, PubSubSink};
use serde::{Deserialize, Serialize};
use shared::server::Stopping;
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use crate::{hub::Hub, metrics::GatewayMetrics, protocol::Outgoing};

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

#[derive(Serialize, Deserialize)]
struct Envelope<'a> {
    /// The replica that published it, which has delivered it locally already.
    origin: std::borrow::Cow<'a, str>,
    event: Outgoing,
}

enum Subscription {
    Subscribe(Uuid, oneshot::Sender<bool>),
    Unsubscribe(Uuid),
}

pub struct RedisBus {
    node: String,
    /// Whether the subscription is up: while it is not, callers do not wait on Redis.
    up: AtomicBool,
    outgoing: mpsc::Sender<(Vec<Uuid>, Arc<[u8]>)>,
    subscriptions: mpsc::UnboundedSender<Subscription>,
    metrics: Arc<GatewayMetrics>,
}

/// The bus's two tasks, started once the hub exists.
pub struct BusTasks {
    client: redis::Client,
    publisher: ConnectionManager,
    outgoing: mpsc::Receiver<(Vec<Uuid>, Arc<[u8]>)>,
    subscriptions: mpsc::UnboundedReceiver<Subscription>,
}

impl RedisBus {
    pub fn new(
        client: redis::Client,
        publisher: ConnectionManager,
        node: String,
        metrics: Arc<GatewayMetrics>,
    ) -> (Arc<Self>, BusTasks) {
        let (outgoing_tx, outgoing) = mpsc::channel(PUBLISH_QUEUE);
        let (subscriptions_tx, subscriptions) = mpsc::unbounded_channel();
        let bus = Arc::new(Self {
            node,
            up: AtomicBool::new(false),
            outgoing: outgoing_tx,
            subscriptions: subscriptions_tx,
            metrics,
        });
        (bus, BusTasks { client, publisher, outgoing, subscriptions })
    }

    /// Whether Redis answered last time we looked (the subscription is up).
    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }

    /// Queues `event` for the other replicas holding connections of `users`.
    pub fn publish(&self, users: &[Uuid], event: &Outgoing) {
        let envelope = Envelope { origin: self.node.as_str().into(), event: event.clone() };
        let payload: Arc<[u8]> = match serde_json::to_vec(&envelope) {
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

    /// Subscribes this replica to `user`'s channel; waits (briefly) until Redis confirms, so
    /// that nothing published after this returns is missed.
    pub async fn subscribe(&self, user: Uuid) -> bool {
        let (ack, acked) = oneshot::channel();
        if self.subscriptions.send(Subscription::Subscribe(user, ack)).is_err() {
            return false;
        }
        matches!(tokio::time::timeout(SUBSCRIBE_WAIT, acked).await, Ok(Ok(true)))
    }

    /// Drops the subscription unless the user has connected here again meanwhile.
    pub fn unsubscribe(&self, user: Uuid) {
        let _ = self.subscriptions.send(Subscription::Unsubscribe(user));
    }
}

impl BusTasks {
    pub async fn run(self, hub: Arc<Hub>, metrics: Arc<GatewayMetrics>, stopping: Stopping) {
        let publisher = publish_loop(self.publisher, self.outgoing, metrics.clone(), stopping.clone());
        let subscriber = subscribe_loop(self.client, self.subscriptions, hub, metrics, stopping);
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

async fn subscribe_loop(
    client: redis::Client,
    mut requests: mpsc::UnboundedReceiver<Subscription>,
    hub: Arc<Hub>,
    metrics: Arc<GatewayMetrics>,
    mut stopping: Stopping,
) {
    let mut waits = backoff();
    let mut lost_once = false;
    loop {
        match connect(&client, &hub).await {
            Ok((sink, mut stream, mut subscribed)) => {
                waits = backoff();
                set_up(&hub, true);
                if lost_once {
                    tracing::info!("Redis subscription restored; connections resynchronise");
                    hub.resync_all();
                }
                let mut sink = sink;
                loop {
                    tokio::select! {
                        message = stream.next() => match message {
                            Some(message) => dispatch(&hub, &metrics, &message),
                            None => break,
                        },
                        Some(request) = requests.recv() => {
                            if !apply(&mut sink, &hub, &mut subscribed, request).await {
                                break;
                            }
                        }
                        () = stopping.wait() => return,
                    }
                }
                set_up(&hub, false);
                tracing::warn!("Redis subscription lost; reconnecting");
            }
            Err(err) => tracing::warn!(error = %err, "cannot subscribe to Redis; retrying"),
        }
        lost_once = true;
        metrics.bus_reconnects_total.inc();
        let wait = waits.next().unwrap_or(Duration::from_secs(5));
        let sleep = tokio::time::sleep(wait);
        tokio::pin!(sleep);
        // While away, refuse subscriptions at once: the connections go on and resync later.
        loop {
            tokio::select! {
                () = &mut sleep => break,
                Some(request) = requests.recv() => {
                    if let Subscription::Subscribe(_, ack) = request {
                        let _ = ack.send(false);
                    }
                }
                () = stopping.wait() => return,
            }
        }
    }
}

fn set_up(hub: &Hub, up: bool) {
    if let Some(bus) = hub.bus() {
        bus.up.store(up, Ordering::Relaxed);
    }
}

/// A fresh subscription with every local user's channel.
async fn connect(
    client: &redis::Client,
    hub: &Hub,
) -> redis::RedisResult<(PubSubSink, redis::aio::PubSubStream, HashSet<Uuid>)> {
    let pubsub = tokio::time::timeout(Duration::from_secs(3), client.get_async_pubsub())
        .await
        .map_err(|_| redis::RedisError::from(std::io::Error::from(std::io::ErrorKind::TimedOut)))??;
    let (mut sink, stream) = pubsub.split();
    let users = hub.local_users();
    for chunk in users.chunks(1000) {
        let channels: Vec<String> = chunk.iter().map(|u| channel(*u)).collect();
        sink.subscribe(channels).await?;
    }
    Ok((sink, stream, users.into_iter().collect()))
}

/// Applies one (un)subscription against what the hub holds now, so that requests racing each
/// other still leave the subscription matching the connections. False when Redis is gone.
/// `subscribed` is what this connection to Redis has confirmed, so a user's later
/// connections are answered without a round trip.
async fn apply(sink: &mut PubSubSink, hub: &Hub, subscribed: &mut HashSet<Uuid>, request: Subscription) -> bool {
    match request {
        Subscription::Subscribe(user, ack) => {
            let ok = subscribed.contains(&user) || !hub.is_local(user) || sink.subscribe(channel(user)).await.is_ok();
            if ok && hub.is_local(user) {
                subscribed.insert(user);
            }
            let _ = ack.send(ok);
            ok
        }
        Subscription::Unsubscribe(user) => {
            if hub.is_local(user) {
                return true;
            }
            subscribed.remove(&user);
            sink.unsubscribe(channel(user)).await.is_ok()
        }
    }
}

fn dispatch(hub: &Hub, metrics: &GatewayMetrics, message: &redis::Msg) {
    let Some(user) = message.get_channel_name().strip_prefix(CHANNEL_PREFIX).and_then(|id| Uuid::parse_str(id).ok())
    else {
        return;
    };
    match serde_json::from_slice::<Envelope<'_>>(message.get_payload_bytes()) {
        Ok(envelope) if envelope.origin == hub.node() => {}
        Ok(envelope) => {
            metrics.bus_received_total.inc();
            hub.deliver_local(user, &Arc::new(envelope.event), None);
        }
        Err(err) => tracing::warn!(error = %err, "unreadable bus event"),
    }
}
