//! The subscribing side of the Redis broker, one per partition (one in all on one server):
//! which of the partition's channels this replica wants, the link that holds them, and where
//! what arrives goes.
//!
//! The node tells it of every connection that arrives and leaves, and of every room a
//! connection joins and leaves; it counts them per target (user or room), so it knows on its
//! own which channels it wants, whatever order the arrivals and departures race in. When the
//! link is lost (Redis restarted, the partition's slot moved to another master, a failover)
//! it opens a new one with backoff, subscribes again to every user and room it wants and tells
//! their connections to read from the database what they missed.

use std::{
    collections::{HashMap, HashSet},
    sync::Arc,
};

use shared::server::Stopping;
use tokio::sync::{mpsc, oneshot};

use super::{
    envelope::{self, Decoded},
    health::PartitionHealth,
    inbound::Inbound,
    partitions::Layout,
    retry::{MAX_WAIT, backoff},
    subscription_link::{Heard, LinkSource, SubscriptionLink},
    target::Target,
};
use crate::metrics::GatewayMetrics;

/// A connection of the user, or one joining the room, arrived (answered once the channel is
/// subscribed), or left.
pub(crate) enum Subscription {
    Arrived(Target, oneshot::Sender<bool>),
    Left(Target),
}

pub(crate) struct Subscriber {
    pub(crate) partition: usize,
    pub(crate) layout: Layout,
    pub(crate) source: Arc<LinkSource>,
    pub(crate) inbound: Arc<dyn Inbound>,
    /// This replica, whose own events are skipped.
    pub(crate) node: String,
    pub(crate) health: PartitionHealth,
    pub(crate) metrics: Arc<GatewayMetrics>,
}

/// Connections per target here (of each user, in each room): the channels this replica wants
/// are the targets counted.
#[derive(Default)]
struct Wanted(HashMap<Target, usize>);

impl Wanted {
    /// Counts an arrival; true when it is the target's first.
    fn arrive(&mut self, target: Target) -> bool {
        let count = self.0.entry(target).or_default();
        *count += 1;
        *count == 1
    }

    /// Counts a departure; true when it was the target's last.
    fn leave(&mut self, target: Target) -> bool {
        match self.0.get_mut(&target) {
            Some(count) if *count > 1 => {
                *count -= 1;
                false
            }
            Some(_) => {
                self.0.remove(&target);
                true
            }
            None => false,
        }
    }

    fn targets(&self) -> Vec<Target> {
        self.0.keys().copied().collect()
    }
}

impl Subscriber {
    /// Subscribes until the application stops.
    pub(crate) async fn run(mut self, mut requests: mpsc::UnboundedReceiver<Subscription>, mut stopping: Stopping) {
        let mut wanted = Wanted::default();
        let mut waits = backoff();
        let mut lost_once = false;
        let slot = self.layout.slot(self.partition);
        loop {
            let targets = wanted.targets();
            let channels: Vec<String> = targets.iter().map(|t| self.layout.channel(*t)).collect();
            match self.source.open(slot, &channels).await {
                Ok(mut link) => {
                    waits = backoff();
                    self.health.set(true);
                    if lost_once {
                        tracing::info!(
                            partition = self.partition,
                            "Redis subscription restored; connections resynchronise"
                        );
                        self.inbound.resync(&targets);
                    }
                    let mut subscribed: HashSet<Target> = targets.into_iter().collect();
                    let why = loop {
                        tokio::select! {
                            heard = link.next() => match heard {
                                Heard::Message { channel, payload } => self.dispatch(&channel, &payload),
                                Heard::Lost(why) => break why,
                            },
                            Some(request) = requests.recv() => {
                                if !self.apply(&mut link, &mut wanted, &mut subscribed, request).await {
                                    break "a command on the subscription failed";
                                }
                            }
                            () = stopping.wait() => return,
                        }
                    };
                    self.health.set(false);
                    tracing::warn!(partition = self.partition, why, "Redis subscription lost; reconnecting");
                }
                Err(err) => {
                    tracing::warn!(partition = self.partition, error = %err, "cannot subscribe to Redis; retrying")
                }
            }
            lost_once = true;
            self.metrics.bus_reconnects_total.inc();
            let wait = waits.next().unwrap_or(MAX_WAIT);
            let sleep = tokio::time::sleep(wait);
            tokio::pin!(sleep);
            // While away, arrivals are counted and answered at once: the connections go on and
            // resynchronise once the subscription is back.
            loop {
                tokio::select! {
                    () = &mut sleep => break,
                    Some(request) = requests.recv() => match request {
                        Subscription::Arrived(target, ack) => {
                            wanted.arrive(target);
                            let _ = ack.send(false);
                        }
                        Subscription::Left(target) => {
                            wanted.leave(target);
                        }
                    },
                    () = stopping.wait() => return,
                }
            }
        }
    }

    fn dispatch(&self, channel: &str, payload: &[u8]) {
        let Some(target) = self.layout.target_of(channel) else { return };
        match envelope::decode(payload, &self.node) {
            Ok(Decoded::Own) => {}
            Ok(Decoded::Event(event)) => {
                self.metrics.bus_received_total.inc();
                self.inbound.deliver(target, Arc::new(event));
            }
            Ok(Decoded::Newer(version)) => {
                tracing::warn!(version, ?target, "bus envelope of a newer release; its connections resynchronise");
                self.inbound.resync(&[target]);
            }
            Err(err) => tracing::warn!(error = %err, "unreadable bus event"),
        }
    }

    /// Applies one arrival or departure. `subscribed` is what this link has confirmed, so a
    /// target's later connections are answered without a round trip. False when the link
    /// failed.
    async fn apply(
        &self,
        link: &mut SubscriptionLink,
        wanted: &mut Wanted,
        subscribed: &mut HashSet<Target>,
        request: Subscription,
    ) -> bool {
        match request {
            Subscription::Arrived(target, ack) => {
                wanted.arrive(target);
                let ok = subscribed.contains(&target) || link.subscribe(&self.layout.channel(target)).await.is_ok();
                if ok {
                    subscribed.insert(target);
                }
                // The connection stopped waiting and went on unsubscribed: what was published
                // for the user or the room meanwhile is read from the database.
                if ack.send(ok).is_err() && ok {
                    self.inbound.resync(&[target]);
                }
                ok
            }
            Subscription::Left(target) => {
                if !wanted.leave(target) {
                    return true;
                }
                subscribed.remove(&target);
                link.unsubscribe(&self.layout.channel(target)).await.is_ok()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::*;

    /// A user's connections arrive and leave in any interleaving: the channel is wanted while
    /// one is left, and only then.
    #[test]
    fn a_channel_is_wanted_while_a_connection_of_its_user_is() {
        let (mut wanted, user) = (Wanted::default(), Target::User(Uuid::new_v4()));
        assert!(wanted.arrive(user));
        assert!(!wanted.arrive(user));
        assert!(!wanted.leave(user));
        assert_eq!(wanted.targets(), [user]);
        assert!(wanted.leave(user));
        assert!(wanted.targets().is_empty());
        assert!(!wanted.leave(user), "a departure never counted below zero");
        assert!(wanted.arrive(user));
    }

    /// A room is counted apart from a user of the same id: the last connection leaving the
    /// room drops the room's channel and not the user's, and the other way round.
    #[test]
    fn a_rooms_channel_is_wanted_while_a_connection_is_in_it() {
        let id = Uuid::new_v4();
        let (mut wanted, user, room) = (Wanted::default(), Target::User(id), Target::Room(id));
        assert!(wanted.arrive(user));
        assert!(wanted.arrive(room), "the room's first, though the user's id is the same");
        assert!(!wanted.arrive(room));
        assert!(!wanted.leave(room));
        let mut targets = wanted.targets();
        targets.sort_by_key(|t| matches!(t, Target::Room(_)));
        assert_eq!(targets, [user, room]);
        assert!(wanted.leave(room), "the room's last");
        assert_eq!(wanted.targets(), [user]);
        assert!(!wanted.leave(room));
        assert!(wanted.leave(user));
        assert!(wanted.targets().is_empty());
    }
}
