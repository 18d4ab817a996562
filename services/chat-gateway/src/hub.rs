//! The connections of this replica, by user, and fan-out to them. An event for a user goes to
//! that user's connections here at once and, through the Redis bus when there is one, to the
//! replicas that hold the user's other connections. Without Redis the hub is the whole bus
//! (one replica).

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
};

use tokio::sync::{mpsc, watch};
use uuid::Uuid;

use crate::{bus::RedisBus, metrics::GatewayMetrics, protocol::Outgoing};

/// What a connection is handed through its queue.
#[derive(Debug)]
pub enum Delivery {
    Event(Arc<Outgoing>),
    /// Events may have been lost (the Redis subscription was down): read the chats again.
    Resync,
}

/// The hub's side of one connection.
pub struct Connection {
    pub id: u64,
    queue: mpsc::Sender<Delivery>,
    overflowed: AtomicBool,
}

impl Connection {
    /// Whether its queue overflowed: the reader is too slow and must be cut off.
    pub fn overflowed(&self) -> bool {
        self.overflowed.load(Ordering::Relaxed)
    }

    fn offer(&self, delivery: Delivery, metrics: &GatewayMetrics) {
        if self.queue.try_send(delivery).is_err() && !self.overflowed.swap(true, Ordering::Relaxed) {
            metrics.slow_readers_total.inc();
        }
    }
}

pub struct Hub {
    node: String,
    next_id: AtomicU64,
    local: Mutex<HashMap<Uuid, Vec<Arc<Connection>>>>,
    bus: Option<Arc<RedisBus>>,
    metrics: Arc<GatewayMetrics>,
    draining: watch::Sender<bool>,
}

impl Hub {
    pub fn new(node: String, bus: Option<Arc<RedisBus>>, metrics: Arc<GatewayMetrics>) -> Self {
        let (draining, _) = watch::channel(false);
        Self { node, next_id: AtomicU64::new(1), local: Mutex::default(), bus, metrics, draining }
    }

    /// This replica's name on the bus and in presence.
    pub fn node(&self) -> &str {
        &self.node
    }

    pub fn bus(&self) -> Option<&Arc<RedisBus>> {
        self.bus.as_ref()
    }

    fn local(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, Vec<Arc<Connection>>>> {
        // A panic while holding the lock leaves a map that is still consistent.
        self.local.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Adds a connection of `user` with a queue of `capacity`; `first` says whether it is the
    /// user's only connection here (so the replica must subscribe and announce presence).
    pub fn register(&self, user: Uuid, capacity: usize) -> (Arc<Connection>, mpsc::Receiver<Delivery>, bool) {
        let (queue, receiver) = mpsc::channel(capacity);
        let connection = Arc::new(Connection {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            queue,
            overflowed: AtomicBool::new(false),
        });
        let mut local = self.local();
        let entry = local.entry(user).or_default();
        entry.push(connection.clone());
        let first = entry.len() == 1;
        drop(local);
        self.metrics.connections.inc();
        (connection, receiver, first)
    }

    /// Removes a connection; true when it was the user's last one here.
    pub fn unregister(&self, user: Uuid, id: u64) -> bool {
        let mut local = self.local();
        let Some(entry) = local.get_mut(&user) else { return false };
        let before = entry.len();
        entry.retain(|c| c.id != id);
        let removed = entry.len() < before;
        let last = entry.is_empty();
        if last {
            local.remove(&user);
        }
        drop(local);
        if removed {
            self.metrics.connections.dec();
        }
        removed && last
    }

    pub fn is_local(&self, user: Uuid) -> bool {
        self.local().contains_key(&user)
    }

    pub fn local_users(&self) -> Vec<Uuid> {
        self.local().keys().copied().collect()
    }

    pub fn connection_count(&self) -> usize {
        self.local().values().map(Vec::len).sum()
    }

    /// Hands `event` to every connection of `user` on this replica but `except`.
    pub fn deliver_local(&self, user: Uuid, event: &Arc<Outgoing>, except: Option<u64>) {
        let targets: Vec<Arc<Connection>> = match self.local().get(&user) {
            Some(connections) => connections.iter().filter(|c| Some(c.id) != except).cloned().collect(),
            None => return,
        };
        for connection in targets {
            connection.offer(Delivery::Event(event.clone()), &self.metrics);
        }
    }

    /// Sends `event` to every connection of each of `users`, on every replica (`except` one
    /// connection here, which the caller answers itself).
    pub fn publish(&self, users: &[Uuid], event: Outgoing, except: Option<u64>) {
        let event = Arc::new(event);
        for user in users {
            self.deliver_local(*user, &event, except);
        }
        if let Some(bus) = &self.bus {
            bus.publish(users, &event);
        }
    }

    /// Tells every connection here to read its chats again.
    pub fn resync_all(&self) {
        let all: Vec<Arc<Connection>> = self.local().values().flatten().cloned().collect();
        for connection in all {
            connection.offer(Delivery::Resync, &self.metrics);
        }
    }

    /// Resolves when the replica starts draining (or at once if it has).
    pub fn draining(&self) -> watch::Receiver<bool> {
        self.draining.subscribe()
    }

    pub fn start_draining(&self) {
        // `send` would drop the value when no connection is listening yet (one still starting
        // up subscribes later and must see it).
        self.draining.send_replace(true);
    }

    pub fn is_draining(&self) -> bool {
        *self.draining.borrow()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A connection still starting up when the drain begins must see it once it looks (the
    /// drain used to be lost when no connection was listening yet: `watch::Sender::send`
    /// drops a value nobody receives).
    #[test]
    fn a_drain_begun_before_anyone_listens_is_still_seen() {
        let hub = Hub::new("node".into(), None, Arc::new(GatewayMetrics::new().unwrap()));
        hub.start_draining();
        assert!(hub.is_draining());
        assert!(*hub.draining().borrow());
    }

    #[test]
    fn a_full_queue_marks_its_connection_too_slow_and_spares_the_others() {
        let hub = Hub::new("node".into(), None, Arc::new(GatewayMetrics::new().unwrap()));
        let user = Uuid::new_v4();
        let (slow, _slow_queue, first) = hub.register(user, 1);
        let (fast, mut fast_queue, second) = hub.register(user, 8);
        assert!(first && !second);
        let event = Arc::new(Outgoing::event(&crate::protocol::ServerEvent::Online { user_id: user }));
        hub.deliver_local(user, &event, None);
        hub.deliver_local(user, &event, None);
        assert!(slow.overflowed());
        assert!(!fast.overflowed());
        assert!(fast_queue.try_recv().is_ok() && fast_queue.try_recv().is_ok());
        assert!(!hub.unregister(user, slow.id));
        assert!(hub.unregister(user, fast.id), "the last connection of the user");
        assert_eq!(hub.connection_count(), 0);
    }
}
