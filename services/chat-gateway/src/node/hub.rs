//! The connections of this replica, by user, and handing events to them. Only local
//! connections: what crosses replicas is the broker's, and the node joins the two.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
};

use tokio::sync::{mpsc, watch};
use uuid::Uuid;

use super::{envelope::Outgoing, inbound::Inbound};
use crate::metrics::GatewayMetrics;

/// What a connection is handed through its queue.
#[derive(Debug)]
pub(crate) enum Delivery {
    Event(Arc<Outgoing>),
    /// Events may have been lost (the Redis subscription was down): read the chats again.
    Resync,
}

/// The hub's side of one connection.
pub(crate) struct Connection {
    pub(crate) id: u64,
    queue: mpsc::Sender<Delivery>,
    overflowed: AtomicBool,
}

impl Connection {
    /// Whether its queue overflowed: the reader is too slow and must be cut off.
    pub(crate) fn overflowed(&self) -> bool {
        self.overflowed.load(Ordering::Relaxed)
    }

    /// Marks the reader too slow, counted once per connection: its hub queue and its
    /// transport's own buffer (Socket.IO's) may both overflow.
    pub(crate) fn fell_behind(&self, metrics: &GatewayMetrics) {
        if !self.overflowed.swap(true, Ordering::Relaxed) {
            metrics.slow_readers_total.inc();
        }
    }

    fn offer(&self, delivery: Delivery, metrics: &GatewayMetrics) {
        if self.queue.try_send(delivery).is_err() {
            self.fell_behind(metrics);
        }
    }
}

pub(crate) struct Hub {
    next_id: AtomicU64,
    local: Mutex<HashMap<Uuid, Vec<Arc<Connection>>>>,
    /// How many connections there are: a drain waits for it to reach 0.
    count: watch::Sender<usize>,
    metrics: Arc<GatewayMetrics>,
}

impl Hub {
    pub(crate) fn new(metrics: Arc<GatewayMetrics>) -> Self {
        let (count, _) = watch::channel(0);
        Self { next_id: AtomicU64::new(1), local: Mutex::default(), count, metrics }
    }

    fn local(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, Vec<Arc<Connection>>>> {
        // A panic while holding the lock leaves a map that is still consistent.
        self.local.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Adds a connection of `user` with a queue of `capacity`; `first` says whether it is the
    /// user's only connection here (so the replica must subscribe and announce presence).
    pub(crate) fn register(&self, user: Uuid, capacity: usize) -> (Arc<Connection>, mpsc::Receiver<Delivery>, bool) {
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
        self.count.send_modify(|n| *n += 1);
        self.metrics.connections.inc();
        (connection, receiver, first)
    }

    /// Removes a connection; true when it was the user's last one here.
    pub(crate) fn unregister(&self, user: Uuid, id: u64) -> bool {
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
            self.count.send_modify(|n| *n = n.saturating_sub(1));
            self.metrics.connections.dec();
        }
        removed && last
    }

    pub(crate) fn is_local(&self, user: Uuid) -> bool {
        self.local().contains_key(&user)
    }

    pub(crate) fn local_users(&self) -> Vec<Uuid> {
        self.local().keys().copied().collect()
    }

    pub(crate) fn connection_count(&self) -> usize {
        *self.count.borrow()
    }

    /// Resolves once no connection is left (at once if none is).
    pub(crate) async fn until_empty(&self) {
        let mut count = self.count.subscribe();
        let _ = count.wait_for(|n| *n == 0).await;
    }

    /// Hands `event` to every connection of `user` on this replica but `except`.
    pub(crate) fn deliver_local(&self, user: Uuid, event: &Arc<Outgoing>, except: Option<u64>) {
        let targets: Vec<Arc<Connection>> = match self.local().get(&user) {
            Some(connections) => connections.iter().filter(|c| Some(c.id) != except).cloned().collect(),
            None => return,
        };
        for connection in targets {
            connection.offer(Delivery::Event(event.clone()), &self.metrics);
        }
    }
}

/// What the broker hands in from other replicas goes to the local connections.
impl Inbound for Hub {
    fn deliver(&self, user: Uuid, event: Arc<Outgoing>) {
        self.deliver_local(user, &event, None);
    }

    fn resync_users(&self, users: &[Uuid]) {
        let connections: Vec<Arc<Connection>> = {
            let local = self.local();
            users.iter().filter_map(|user| local.get(user)).flatten().cloned().collect()
        };
        for connection in connections {
            connection.offer(Delivery::Resync, &self.metrics);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_queue_marks_its_connection_too_slow_and_spares_the_others() {
        let hub = Hub::new(Arc::new(GatewayMetrics::new().unwrap()));
        let user = Uuid::new_v4();
        let (slow, _slow_queue, first) = hub.register(user, 1);
        let (fast, mut fast_queue, second) = hub.register(user, 8);
        assert!(first && !second);
        let event = Arc::new(Outgoing::event(&crate::protocol::ServerEvent::Online(crate::protocol::UserRef {
            user_id: user,
        })));
        hub.deliver_local(user, &event, None);
        hub.deliver_local(user, &event, None);
        assert!(slow.overflowed());
        assert!(!fast.overflowed());
        assert!(fast_queue.try_recv().is_ok() && fast_queue.try_recv().is_ok());
        assert!(!hub.unregister(user, slow.id));
        assert!(hub.unregister(user, fast.id), "the last connection of the user");
        assert_eq!(hub.connection_count(), 0);
    }

    /// The drain waits on the count reaching 0, not on a poll.
    #[tokio::test]
    async fn until_empty_resolves_when_the_last_connection_goes() {
        let hub = Arc::new(Hub::new(Arc::new(GatewayMetrics::new().unwrap())));
        hub.until_empty().await;
        let user = Uuid::new_v4();
        let (connection, _queue, _) = hub.register(user, 1);
        let waiting = tokio::spawn({
            let hub = hub.clone();
            async move { hub.until_empty().await }
        });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished());
        hub.unregister(user, connection.id);
        tokio::time::timeout(std::time::Duration::from_secs(5), waiting).await.unwrap().unwrap();
    }
}
