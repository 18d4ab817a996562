//! The subscribing side of the Redis broker, one per partition (one in all on one server):
//! which of the partition's channels this replica wants, the link that holds them, and where
//! what arrives goes.
//!
//! The node tells it of every connection that arrives and leaves; it counts them per user, so
//! it knows on its own which channels it wants, whatever order a user's arrivals and
//! departures race in. When the link is lost (Redis restarted, the partition's slot moved to
//! another master, a failover) it opens a new one with backoff, subscribes again to every
//! user it wants and tells their connections to read from the database what they missed.

use std::{
    collections::{HashMap, HashSet},
    sync::Arc,
};

use shared::server::Stopping;
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use super::{
    envelope::{self, Decoded},
    health::PartitionHealth,
    inbound::Inbound,
    partitions::Layout,
    retry::{MAX_WAIT, backoff},
    subscription_link::{Heard, LinkSource, SubscriptionLink},
};
use crate::metrics::GatewayMetrics;

/// A connection of the user arrived (answered once the channel is subscribed), or left.
pub(crate) enum Subscription {
    Arrived(Uuid, oneshot::Sender<bool>),
    Left(Uuid),
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

impl Subscriber {
    /// Subscribes until the application stops.
    pub(crate) async fn run(mut self, mut requests: mpsc::UnboundedReceiver<Subscription>, mut stopping: Stopping) {
        let mut wanted = Wanted::default();
        let mut waits = backoff();
        let mut lost_once = false;
        let slot = self.layout.slot(self.partition);
        loop {
            let users = wanted.users();
            let channels: Vec<String> = users.iter().map(|u| self.layout.channel(*u)).collect();
            match self.source.open(slot, &channels).await {
                Ok(mut link) => {
                    waits = backoff();
                    self.health.set(true);
                    if lost_once {
                        tracing::info!(
                            partition = self.partition,
                            "Redis subscription restored; connections resynchronise"
                        );
                        self.inbound.resync_users(&users);
                    }
                    let mut subscribed: HashSet<Uuid> = users.into_iter().collect();
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

    fn dispatch(&self, channel: &str, payload: &[u8]) {
        let Some(user) = self.layout.user_of(channel) else { return };
        match envelope::decode(payload, &self.node) {
            Ok(Decoded::Own) => {}
            Ok(Decoded::Event(event)) => {
                self.metrics.bus_received_total.inc();
                self.inbound.deliver(user, Arc::new(event));
            }
            Ok(Decoded::Newer(version)) => {
                tracing::warn!(version, "bus envelope of a newer release; the user's connections resynchronise");
                self.inbound.resync_users(&[user]);
            }
            Err(err) => tracing::warn!(error = %err, "unreadable bus event"),
        }
    }

    /// Applies one arrival or departure. `subscribed` is what this link has confirmed, so a
    /// user's later connections are answered without a round trip. False when the link failed.
    async fn apply(
        &self,
        link: &mut SubscriptionLink,
        wanted: &mut Wanted,
        subscribed: &mut HashSet<Uuid>,
        request: Subscription,
    ) -> bool {
        match request {
            Subscription::Arrived(user, ack) => {
                wanted.arrive(user);
                let ok = subscribed.contains(&user) || link.subscribe(&self.layout.channel(user)).await.is_ok();
                if ok {
                    subscribed.insert(user);
                }
                // The connection stopped waiting and went on unsubscribed: what was published
                // for the user meanwhile is read from the database.
                if ack.send(ok).is_err() && ok {
                    self.inbound.resync_users(&[user]);
                }
                ok
            }
            Subscription::Left(user) => {
                if !wanted.leave(user) {
                    return true;
                }
                subscribed.remove(&user);
                link.unsubscribe(&self.layout.channel(user)).await.is_ok()
            }
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
