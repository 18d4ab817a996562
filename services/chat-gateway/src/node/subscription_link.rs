//! One subscription connection to Redis, as the subscriber of a partition uses it: classic
//! pub/sub on one server; on a cluster, sharded pub/sub on the master that holds the
//! partition's slot.
//!
//! redis-rs's cluster connection subscribes too, but it cannot be trusted with a cluster that
//! changes: it resubscribes with one `SSUBSCRIBE` of channels from several slots (refused:
//! `CROSSSLOT`, and the error is dropped), and it takes the server's own `sunsubscribe` after
//! a slot moved for the answer to whatever command is in flight, so the channel is never
//! subscribed again. Here a partition has a plain RESP3 connection to the master of its slot;
//! every `SSUBSCRIBE` names one channel (one confirmation each, so answers never shift); and
//! anything that says the connection no longer holds the partition (a `sunsubscribe` the
//! subscriber did not ask for, a disconnection, a probe unanswered) ends the link: the
//! subscriber opens a new one where the slot is now, and the partition's connections read
//! what they missed from the database.

use std::{collections::HashMap, time::Duration};

use futures_util::StreamExt;
use redis::{
    AsyncConnectionConfig, ConnectionAddr, ConnectionInfo, IntoConnectionInfo, ProtocolVersion, PushInfo, PushKind,
    RedisResult, Value,
    aio::{MultiplexedConnection, PubSubSink, PubSubStream},
};
use shared::{
    redis_conn::{RedisConn, RedisTarget, RedisUrl},
    redis_tls::RedisTls,
};
use tokio::sync::mpsc;

/// How long opening a link and each of its commands may take.
const TIMEOUT: Duration = Duration::from_secs(3);
/// Silence on a sharded link after which the master is asked whether it is still there.
const PROBE_AFTER: Duration = Duration::from_secs(5);
/// Channels per subscribing round trip.
const CHUNK: usize = 1000;

/// Where links are opened.
pub(crate) enum LinkSource {
    Server(redis::Client),
    Cluster {
        /// Asked where each slot is served.
        conn: RedisConn,
        /// A seed node's settings (credentials, TLS or not), for connecting to any node.
        template: ConnectionInfo,
        /// The CA and client certificate of a TLS cluster's nodes.
        tls: RedisTls,
    },
}

impl LinkSource {
    pub(crate) fn new(target: &RedisTarget, conn: &RedisConn) -> RedisResult<Self> {
        let seed = target.url.nodes()[0];
        Ok(match target.url {
            RedisUrl::Server(_) => Self::Server(target.tls.client(seed)?),
            RedisUrl::Cluster(_) => {
                Self::Cluster { conn: conn.clone(), template: seed.into_connection_info()?, tls: target.tls.clone() }
            }
        })
    }

    /// A link subscribed to `channels`, which are all of one partition (of `slot`).
    pub(crate) async fn open(&self, slot: u16, channels: &[String]) -> RedisResult<SubscriptionLink> {
        match self {
            Self::Server(client) => {
                let pubsub =
                    tokio::time::timeout(TIMEOUT, client.get_async_pubsub()).await.map_err(|_| timed_out())??;
                let (mut sink, stream) = pubsub.split();
                for chunk in channels.chunks(CHUNK) {
                    sink.subscribe(chunk).await?;
                }
                Ok(SubscriptionLink::Classic { sink, stream })
            }
            Self::Cluster { conn, template, tls } => {
                let (host, port) = master_of(conn, slot).await?;
                let settings = template.redis_settings().clone().set_protocol(ProtocolVersion::RESP3);
                // The master over TLS when the seed was: the cluster's nodes all speak it.
                let addr = match template.addr() {
                    ConnectionAddr::TcpTls { .. } => {
                        ConnectionAddr::TcpTls { host, port, insecure: false, tls_params: None }
                    }
                    _ => ConnectionAddr::Tcp(host, port),
                };
                let client = tls.client(template.clone().set_addr(addr).set_redis_settings(settings))?;
                let (pushes_tx, pushes) = mpsc::unbounded_channel();
                let config = AsyncConnectionConfig::new()
                    .set_connection_timeout(Some(TIMEOUT))
                    .set_response_timeout(Some(TIMEOUT))
                    .set_push_sender(pushes_tx);
                let conn = client.get_multiplexed_async_connection_with_config(&config).await?;
                let mut link = ShardLink { conn, pushes, own_unsubscribes: HashMap::new() };
                for chunk in channels.chunks(CHUNK) {
                    link.subscribe(chunk).await?;
                }
                Ok(SubscriptionLink::Sharded(link))
            }
        }
    }
}

/// What a link hears.
pub(crate) enum Heard {
    Message {
        channel: String,
        payload: Vec<u8>,
    },
    /// The link no longer holds its channels; why, for the log.
    Lost(&'static str),
}

pub(crate) enum SubscriptionLink {
    Classic { sink: PubSubSink, stream: PubSubStream },
    Sharded(ShardLink),
}

impl SubscriptionLink {
    pub(crate) async fn subscribe(&mut self, channel: &str) -> RedisResult<()> {
        match self {
            Self::Classic { sink, .. } => sink.subscribe(channel).await,
            Self::Sharded(link) => link.subscribe(&[channel.to_owned()]).await,
        }
    }

    pub(crate) async fn unsubscribe(&mut self, channel: &str) -> RedisResult<()> {
        match self {
            Self::Classic { sink, .. } => sink.unsubscribe(channel).await,
            Self::Sharded(link) => link.unsubscribe(channel).await,
        }
    }

    /// The next message, or the end of the link. Cancel-safe: nothing heard is lost when the
    /// caller stops waiting to subscribe someone.
    pub(crate) async fn next(&mut self) -> Heard {
        match self {
            Self::Classic { stream, .. } => match stream.next().await {
                Some(message) => Heard::Message {
                    channel: message.get_channel_name().to_owned(),
                    payload: message.get_payload_bytes().to_vec(),
                },
                None => Heard::Lost("the connection closed"),
            },
            Self::Sharded(link) => link.next().await,
        }
    }
}

pub(crate) struct ShardLink {
    conn: MultiplexedConnection,
    pushes: mpsc::UnboundedReceiver<PushInfo>,
    /// This link's own `SUNSUBSCRIBE`s not confirmed yet, per channel: a confirmation beyond
    /// them is the server's (the slot moved away).
    own_unsubscribes: HashMap<String, usize>,
}

impl ShardLink {
    async fn subscribe(&mut self, channels: &[String]) -> RedisResult<()> {
        let mut pipe = redis::pipe();
        for channel in channels {
            pipe.cmd("SSUBSCRIBE").arg(channel).ignore();
        }
        pipe.query_async::<()>(&mut self.conn).await
    }

    async fn unsubscribe(&mut self, channel: &str) -> RedisResult<()> {
        *self.own_unsubscribes.entry(channel.to_owned()).or_default() += 1;
        redis::cmd("SUNSUBSCRIBE").arg(channel).query_async::<()>(&mut self.conn).await
    }

    async fn next(&mut self) -> Heard {
        loop {
            let push = tokio::select! {
                push = self.pushes.recv() => push,
                () = tokio::time::sleep(PROBE_AFTER) => {
                    match redis::cmd("PING").query_async::<Value>(&mut self.conn).await {
                        Ok(_) => continue,
                        Err(_) => return Heard::Lost("the master did not answer a probe"),
                    }
                }
            };
            let Some(PushInfo { kind, data }) = push else { return Heard::Lost("the connection closed") };
            match kind {
                PushKind::SMessage => {
                    let mut data = data.into_iter();
                    if let (Some(Value::BulkString(channel)), Some(Value::BulkString(payload))) =
                        (data.next(), data.next())
                    {
                        return Heard::Message { channel: String::from_utf8_lossy(&channel).into_owned(), payload };
                    }
                }
                PushKind::SUnsubscribe => {
                    let channel = match data.first() {
                        Some(Value::BulkString(channel)) => String::from_utf8_lossy(channel).into_owned(),
                        _ => String::new(),
                    };
                    match self.own_unsubscribes.get_mut(&channel) {
                        Some(pending) if *pending > 1 => *pending -= 1,
                        Some(_) => {
                            self.own_unsubscribes.remove(&channel);
                        }
                        None => return Heard::Lost("the server unsubscribed a channel (its slot moved)"),
                    }
                }
                PushKind::Disconnection => return Heard::Lost("the connection closed"),
                _ => {}
            }
        }
    }
}

/// The host and port of the master serving `slot`, as the cluster says now.
async fn master_of(conn: &RedisConn, slot: u16) -> RedisResult<(String, u16)> {
    let mut conn = conn.clone();
    let ranges: Vec<Value> = redis::cmd("CLUSTER").arg("SLOTS").query_async(&mut conn).await?;
    let slot = i64::from(slot);
    for range in ranges {
        let Value::Array(range) = range else { continue };
        let (Some(Value::Int(start)), Some(Value::Int(end)), Some(Value::Array(master))) =
            (range.first(), range.get(1), range.get(2))
        else {
            continue;
        };
        if !(*start..=*end).contains(&slot) {
            continue;
        }
        if let (Some(Value::BulkString(host)), Some(Value::Int(port))) = (master.first(), master.get(1))
            && !host.is_empty()
            && let Ok(port) = u16::try_from(*port)
        {
            return Ok((String::from_utf8_lossy(host).into_owned(), port));
        }
    }
    Err(redis::RedisError::from((
        redis::ErrorKind::ClusterConnectionNotFound,
        "no master serves the slot",
        slot.to_string(),
    )))
}

fn timed_out() -> redis::RedisError {
    redis::RedisError::from(std::io::Error::from(std::io::ErrorKind::TimedOut))
}
