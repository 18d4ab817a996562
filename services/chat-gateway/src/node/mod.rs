//! The gateway's node (as Centrifugo's): everything one replica knows about connections and
//! the other replicas, with one owner for each job.
//!
//! - [`Hub`] holds this replica's connections, by user and by room (a group chat's, as
//!   Centrifugo's channels and socket.io's rooms), and hands events to them;
//! - the [`Broker`] carries events between replicas (in-process for one replica, Redis
//!   pub/sub for many: one server, or a cluster's partitions) and hands what arrives to the
//!   hub through [`Inbound`], presence learning on the way who came online or went offline;
//! - [`Presence`] says who is online anywhere;
//! - the node itself joins them: a connection's arrival and departure, joining and leaving
//!   rooms, publishing, presence announcements, and the drain on shutdown.
//!
//! The node builds its parts itself ([`Node::build`]): the rest of the gateway hands it a
//! Redis target or none, and a [`PresenceAudience`] that says who hears of a user's presence;
//! it never reads the database. Calls go one way: sessions and transports call the node, the
//! node calls its parts, and nothing calls back up.

mod broker;
mod envelope;
mod health;
mod hub;
mod inbound;
mod known_presence;
mod listener;
mod partitions;
mod presence;
mod publisher;
mod redis_broker;
mod retry;
#[cfg(test)]
mod rooms_across_replicas;
mod slots;
mod subscriber;
mod subscription_link;
mod target;

use std::{sync::Arc, time::Duration};

use broker::{Broker, InProcess};
pub(crate) use envelope::{GroupChange, Outgoing, Tracked, message_envelope};
use futures_util::future::BoxFuture;
pub(crate) use hub::{Connection, Delivery};
use hub::{Hub, Joined};
use inbound::Inbound;
use listener::Listener;
use presence::Presence;
use redis_broker::{BrokerTasks, RedisBroker};
use shared::{
    readiness::Dependency,
    redis_conn::RedisTarget,
    server::{Application, Stopping},
};
pub(crate) use slots::{ConnectionSlots, NoSlot, Slot};
use subscription_link::LinkSource;
pub(crate) use target::Target;
use tokio::sync::{mpsc, watch};
use uuid::Uuid;

use crate::{
    metrics::GatewayMetrics,
    protocol::{ServerEvent, UserRef},
};

/// Whom to tell when a user comes online or goes offline: their chat peers, each on their own
/// channel, and the rooms of groups where members hear each other's presence. The node asks
/// and does not know where the answer comes from.
pub(crate) type PresenceAudience =
    Box<dyn Fn(Uuid) -> BoxFuture<'static, anyhow::Result<(Vec<Uuid>, Vec<Uuid>)>> + Send + Sync>;

pub(crate) struct Node {
    hub: Arc<Hub>,
    broker: Box<dyn Broker>,
    presence: Presence,
    audience: PresenceAudience,
    draining: watch::Sender<bool>,
}

/// What the node runs beside the server, started with it ([`NodeTasks::start`]).
pub(crate) struct NodeTasks {
    node: Arc<Node>,
    broker: Option<BrokerTasks>,
}

impl Node {
    /// With `redis`, a node among many replicas (Redis must answer now); without, the only
    /// one. Presence entries of this replica live `presence_ttl` unless renewed.
    pub(crate) async fn build(
        redis: Option<&RedisTarget>,
        presence_ttl: Duration,
        audience: PresenceAudience,
        metrics: Arc<GatewayMetrics>,
    ) -> anyhow::Result<(Arc<Self>, NodeTasks)> {
        let (broker, tasks, presence): (Box<dyn Broker>, _, _) = match redis {
            Some(target) => {
                let name = format!("gw-{}", Uuid::new_v4().simple());
                let conn = shared::redis_conn::connect(target).await?;
                let source = LinkSource::new(target, &conn)?;
                let (broker, tasks) = RedisBroker::new(source, conn.clone(), name.clone(), metrics.clone());
                let presence = Presence::redis(conn, name, broker.health(), presence_ttl);
                (Box::new(broker), Some(tasks), presence)
            }
            None => (Box::new(InProcess), None, Presence::Local),
        };
        let (draining, _) = watch::channel(false);
        let node = Arc::new(Self { hub: Arc::new(Hub::new(metrics)), broker, presence, audience, draining });
        Ok((node.clone(), NodeTasks { node, broker: tasks }))
    }

    /// What the replica's readiness depends on (Redis, when it joins replicas).
    pub(crate) fn dependency(&self) -> Option<Dependency> {
        self.broker.dependency()
    }

    /// Where the broker's tasks hand what other replicas publish.
    fn inbound(&self) -> Arc<dyn Inbound> {
        Arc::new(Listener { hub: self.hub.clone(), known: self.presence.known() })
    }

    /// A connection of `user` arrives, with a queue of `capacity` events. It is subscribed to
    /// before this returns (every connection waits: a second one may come while the first
    /// one's subscription is on its way), so nothing published after is missed; a user who was
    /// offline everywhere is announced online.
    #[tracing::instrument(skip(self))]
    pub(crate) async fn connect(
        self: &Arc<Self>,
        user: Uuid,
        capacity: usize,
    ) -> (Arc<Connection>, mpsc::Receiver<Delivery>, Membership) {
        let (connection, queue, first) = self.hub.register(user, capacity);
        let membership = Membership { node: self.clone(), user, id: connection.id };
        if !self.broker.arrived(Target::User(user)).await {
            tracing::warn!(%user, "no Redis subscription yet; the connection resynchronises when it is back");
        }
        if first && self.presence.arrived(user).await {
            self.announce(user, true).await;
        }
        (connection, queue, membership)
    }

    /// The user's last connection here is gone (unless one arrived meanwhile).
    async fn departed(&self, user: Uuid) {
        if self.hub.is_local(user) {
            return;
        }
        if self.presence.left(user).await && !self.hub.is_local(user) {
            self.announce(user, false).await;
        }
    }

    /// Sends `event` to every connection of each of `users`, on every replica, except the
    /// connection `except` here, which its caller answers itself.
    pub(crate) fn publish(&self, users: &[Uuid], event: Outgoing, except: Option<u64>) {
        let event = Arc::new(event);
        let targets: Vec<Target> = users.iter().copied().map(Target::User).collect();
        for target in &targets {
            self.hub.deliver_local(*target, &event, except);
        }
        self.broker.publish(&targets, &event);
    }

    /// Puts `connection` in the room of `chat`: it gets every event published to the room, here
    /// or on any replica, until it leaves it or ends. Resolves once the room's channel is
    /// subscribed, as [`Node::connect`] does for the user's; false when that could not be
    /// confirmed (the connection resynchronises when the broker is back) or the connection has
    /// ended. Joining a room it is in already changes nothing. A connection's joins and leaves
    /// come from its session one at a time: a leave racing its own join might reach the broker
    /// first, and the room's channel would then be kept.
    pub(crate) async fn join_room(&self, connection: &Arc<Connection>, chat: Uuid) -> bool {
        match self.hub.join(connection, chat) {
            Joined::Already => true,
            Joined::Gone => false,
            Joined::Now => {
                let subscribed = self.broker.arrived(Target::Room(chat)).await;
                if !subscribed {
                    tracing::warn!(%chat, "no Redis subscription to the room yet; the connection resynchronises when it is back");
                }
                subscribed
            }
        }
    }

    /// Takes connection `connection` out of the room of `chat`: nothing of the room reaches it
    /// from now on. The room's channel is dropped with this replica's last connection in it.
    pub(crate) fn leave_room(&self, connection: u64, chat: Uuid) {
        if self.hub.leave(connection, chat) {
            self.broker.left(Target::Room(chat));
        }
    }

    /// Sends `event` to every connection in the room of `chat`, on every replica, except the
    /// connection `except` here, which its caller answers itself: one publish for the whole
    /// room, whatever the number of its members.
    pub(crate) fn publish_room(&self, chat: Uuid, event: Outgoing, except: Option<u64>) {
        let event = Arc::new(event);
        let target = Target::Room(chat);
        self.hub.deliver_local(target, &event, except);
        self.broker.publish(&[target], &event);
    }

    /// Hands `event` to the connections of `target` on this replica alone: for what every
    /// replica works out for itself (a deleted account's chats).
    pub(crate) fn tell_here(&self, target: Target, event: Outgoing) {
        self.hub.deliver_local(target, &Arc::new(event), None);
    }

    /// Ends every connection of `user` on this replica (its account was deleted; every
    /// replica hears of it by itself).
    pub(crate) fn end_account(&self, user: Uuid) {
        self.hub.end_user(user);
    }

    /// The rooms connection `connection` is in, in the order it joined them.
    #[cfg(test)]
    pub(crate) fn rooms_of(&self, connection: u64) -> Vec<Uuid> {
        self.hub.rooms_of(connection)
    }

    /// Whether `user` has a connection on this replica.
    pub(crate) fn is_local(&self, user: Uuid) -> bool {
        self.hub.is_local(user)
    }

    /// Which of `users` are online on some replica.
    pub(crate) async fn online_among(&self, users: &[Uuid]) -> Vec<Uuid> {
        match self.presence.online_among(users).await {
            Some(online) => online,
            None => users.iter().copied().filter(|u| self.hub.is_local(*u)).collect(),
        }
    }

    /// Tells everyone who shares a chat with `user` that they came online or went offline.
    async fn announce(&self, user: Uuid, online: bool) {
        // This replica does not read its own announcements back from the bus.
        if let Some(known) = self.presence.known() {
            known.heard(user, online);
        }
        match (self.audience)(user).await {
            Ok((peers, rooms)) => {
                let event = if online {
                    ServerEvent::Online(UserRef { user_id: user })
                } else {
                    ServerEvent::Offline(UserRef { user_id: user })
                };
                let event = Outgoing::event(&event);
                if !peers.is_empty() {
                    self.publish(&peers, event.clone(), None);
                }
                for room in rooms {
                    self.publish_room(room, event.clone(), None);
                }
            }
            Err(err) => tracing::warn!(error = %err, %user, "presence change not announced"),
        }
    }

    /// Keeps this replica's presence alive and announces the users of replicas that died.
    async fn maintain_presence(&self, mut stopping: Stopping) {
        let Some(every) = self.presence.upkeep_interval() else { return };
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                () = stopping.wait() => return,
            }
            for user in self.presence.upkeep(&self.hub.local_users()).await {
                self.announce(user, false).await;
            }
        }
    }

    /// Whether the replica is draining (a new connection is refused).
    pub(crate) fn is_draining(&self) -> bool {
        *self.draining.borrow()
    }

    /// Resolves (at once if it has) when the replica starts draining.
    pub(crate) fn draining(&self) -> watch::Receiver<bool> {
        self.draining.subscribe()
    }

    /// Tells every connection to close (1012) and resolves when the last one has.
    async fn drain(&self) {
        tracing::info!(open = self.hub.connection_count(), "draining: closing every WebSocket with 1012");
        // `send` would drop the value when no connection is listening yet (one still starting
        // up subscribes later and must see it).
        self.draining.send_replace(true);
        self.hub.until_empty().await;
    }
}

impl NodeTasks {
    /// Starts beside `app`: the broker's publishing and subscriptions, presence upkeep, and
    /// the drain that on SIGTERM closes every connection with 1012 and resolves when the last
    /// one has gone.
    pub(crate) fn start(self, app: &mut Application) {
        if let Some(tasks) = self.broker {
            let inbound = self.node.inbound();
            app.spawn_background(move |stopping| tasks.run(inbound, stopping));
        }
        let node = self.node.clone();
        app.spawn_background(move |stopping| async move { node.maintain_presence(stopping).await });
        let node = self.node;
        app.spawn_background(move |mut stopping| async move {
            stopping.wait().await;
            node.drain().await;
        });
    }
}

/// A connection's place in the node; dropping it (however the session ends) takes the
/// connection out of the hub and the broker, its rooms too, and tells presence when it was
/// the user's last.
pub(crate) struct Membership {
    node: Arc<Node>,
    user: Uuid,
    id: u64,
}

impl Drop for Membership {
    fn drop(&mut self) {
        let gone = self.node.hub.unregister(self.user, self.id);
        self.node.broker.left(Target::User(self.user));
        for chat in gone.rooms {
            self.node.broker.left(Target::Room(chat));
        }
        if gone.last {
            let (node, user) = (self.node.clone(), self.user);
            tokio::spawn(async move { node.departed(user).await });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A connection still starting up when the drain begins must see it once it looks (the
    /// drain used to be lost when no connection was listening yet: `watch::Sender::send`
    /// drops a value nobody receives).
    #[tokio::test]
    async fn a_drain_begun_before_anyone_listens_is_still_seen() {
        let nobody: PresenceAudience = Box::new(|_| Box::pin(async { Ok((Vec::new(), Vec::new())) }));
        let (node, _) =
            Node::build(None, Duration::from_secs(30), nobody, Arc::new(GatewayMetrics::new().unwrap())).await.unwrap();
        node.drain().await;
        assert!(node.is_draining());
        assert!(*node.draining().borrow());
    }
}
