//! The connections of this replica, by user and by room (a group chat's), and handing events
//! to them. Only local connections: what crosses replicas is the broker's, and the node joins
//! the two. No I/O here: every call returns at once.

use std::{
    collections::{HashMap, HashSet},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
};

use tokio::sync::{mpsc, watch};
use uuid::Uuid;

use super::{envelope::Outgoing, inbound::Inbound, target::Target};
use crate::metrics::GatewayMetrics;

/// What a connection is handed through its queue.
#[derive(Debug)]
pub(crate) enum Delivery {
    Event(Arc<Outgoing>),
    /// Events may have been lost (the Redis subscription was down): read the chats again.
    Resync,
    /// The user's account was deleted: the connection ends.
    AccountDeleted,
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
    routes: Mutex<Routes>,
    /// How many connections there are: a drain waits for it to reach 0.
    count: watch::Sender<usize>,
    metrics: Arc<GatewayMetrics>,
}

/// Who gets what, under one lock, so that a connection's end takes it out of its user and of
/// every room at once, and a join cannot slip in between.
#[derive(Default)]
struct Routes {
    users: HashMap<Uuid, Vec<Arc<Connection>>>,
    rooms: HashMap<Uuid, Vec<Arc<Connection>>>,
    /// The rooms of each registered connection, from its registration to its end: a join
    /// after the end finds none (the room would otherwise keep a connection nobody reads).
    joined: HashMap<u64, Vec<Uuid>>,
}

impl Routes {
    /// The connections `target` reaches, but `except`.
    fn reached(&self, target: Target, except: Option<u64>) -> Vec<Arc<Connection>> {
        let connections = match target {
            Target::User(user) => self.users.get(&user),
            Target::Room(chat) => self.rooms.get(&chat),
        };
        connections.map_or_else(Vec::new, |c| c.iter().filter(|c| Some(c.id) != except).cloned().collect())
    }
}

/// What a connection's end took it out of.
pub(crate) struct Unregistered {
    /// It was its user's last connection here.
    pub(crate) last: bool,
    /// The rooms it was in, each of which it has now left.
    pub(crate) rooms: Vec<Uuid>,
}

/// What a join did.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Joined {
    /// The connection is in the room now, and was not before.
    Now,
    /// It was in it already: nothing changed.
    Already,
    /// It has ended (or was never registered here): it was not added.
    Gone,
}

impl Hub {
    pub(crate) fn new(metrics: Arc<GatewayMetrics>) -> Self {
        let (count, _) = watch::channel(0);
        Self { next_id: AtomicU64::new(1), routes: Mutex::default(), count, metrics }
    }

    fn routes(&self) -> std::sync::MutexGuard<'_, Routes> {
        // A panic while holding the lock leaves maps that are still consistent.
        self.routes.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
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
        let mut routes = self.routes();
        let entry = routes.users.entry(user).or_default();
        entry.push(connection.clone());
        let first = entry.len() == 1;
        routes.joined.insert(connection.id, Vec::new());
        drop(routes);
        self.count.send_modify(|n| *n += 1);
        self.metrics.connections.inc();
        (connection, receiver, first)
    }

    /// Removes a connection from its user and from every room it is in.
    pub(crate) fn unregister(&self, user: Uuid, id: u64) -> Unregistered {
        let mut routes = self.routes();
        let rooms = routes.joined.remove(&id).unwrap_or_default();
        for chat in &rooms {
            remove_from(&mut routes.rooms, *chat, id);
        }
        let (removed, last) = remove_from(&mut routes.users, user, id);
        let room_count = routes.rooms.len();
        drop(routes);
        if !rooms.is_empty() {
            self.metrics.rooms_subscribed.set(gauge(room_count));
        }
        if removed {
            self.count.send_modify(|n| *n = n.saturating_sub(1));
            self.metrics.connections.dec();
        }
        Unregistered { last: removed && last, rooms }
    }

    /// Puts `connection` in the room of `chat`: it gets the room's events from now on.
    pub(crate) fn join(&self, connection: &Arc<Connection>, chat: Uuid) -> Joined {
        let mut routes = self.routes();
        let Some(rooms) = routes.joined.get_mut(&connection.id) else { return Joined::Gone };
        if rooms.contains(&chat) {
            return Joined::Already;
        }
        rooms.push(chat);
        routes.rooms.entry(chat).or_default().push(connection.clone());
        let room_count = routes.rooms.len();
        drop(routes);
        self.metrics.rooms_subscribed.set(gauge(room_count));
        Joined::Now
    }

    /// Takes connection `id` out of the room of `chat` at once; false when it was not in it.
    pub(crate) fn leave(&self, id: u64, chat: Uuid) -> bool {
        let mut routes = self.routes();
        let Some(rooms) = routes.joined.get_mut(&id) else { return false };
        let before = rooms.len();
        rooms.retain(|c| *c != chat);
        if rooms.len() == before {
            return false;
        }
        remove_from(&mut routes.rooms, chat, id);
        let room_count = routes.rooms.len();
        drop(routes);
        self.metrics.rooms_subscribed.set(gauge(room_count));
        true
    }

    /// The rooms connection `id` is in, in the order it joined them.
    #[cfg(test)]
    pub(crate) fn rooms_of(&self, id: u64) -> Vec<Uuid> {
        self.routes().joined.get(&id).cloned().unwrap_or_default()
    }

    pub(crate) fn is_local(&self, user: Uuid) -> bool {
        self.routes().users.contains_key(&user)
    }

    pub(crate) fn local_users(&self) -> Vec<Uuid> {
        self.routes().users.keys().copied().collect()
    }

    pub(crate) fn connection_count(&self) -> usize {
        *self.count.borrow()
    }

    /// Resolves once no connection is left (at once if none is).
    pub(crate) async fn until_empty(&self) {
        let mut count = self.count.subscribe();
        let _ = count.wait_for(|n| *n == 0).await;
    }

    /// Ends every connection here of `user` (its account was deleted).
    pub(crate) fn end_user(&self, user: Uuid) {
        let reached = self.routes().reached(Target::User(user), None);
        for connection in reached {
            connection.offer(Delivery::AccountDeleted, &self.metrics);
        }
    }

    /// Hands `event` to every connection here of the user, or in the room, but `except`. The
    /// lock is held only to copy the list: queues are offered to outside it.
    pub(crate) fn deliver_local(&self, target: Target, event: &Arc<Outgoing>, except: Option<u64>) {
        let reached = self.routes().reached(target, except);
        for connection in reached {
            connection.offer(Delivery::Event(event.clone()), &self.metrics);
        }
    }
}

/// Takes connection `id` out of `key`'s list, and the list out of `map` once empty: (whether
/// it was there, whether the list is gone).
fn remove_from(map: &mut HashMap<Uuid, Vec<Arc<Connection>>>, key: Uuid, id: u64) -> (bool, bool) {
    let Some(entry) = map.get_mut(&key) else { return (false, false) };
    let before = entry.len();
    entry.retain(|c| c.id != id);
    let removed = entry.len() < before;
    let empty = entry.is_empty();
    if empty {
        map.remove(&key);
    }
    (removed, empty)
}

fn gauge(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// What the broker hands in from other replicas goes to the local connections.
impl Inbound for Hub {
    fn deliver(&self, target: Target, event: Arc<Outgoing>) {
        self.deliver_local(target, &event, None);
    }

    fn resync(&self, targets: &[Target]) {
        let connections: Vec<Arc<Connection>> = {
            let routes = self.routes();
            let mut seen = HashSet::new();
            targets
                .iter()
                .flat_map(|target| routes.reached(*target, None))
                .filter(|connection| seen.insert(connection.id))
                .collect()
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
        hub.deliver_local(Target::User(user), &event, None);
        hub.deliver_local(Target::User(user), &event, None);
        assert!(slow.overflowed());
        assert!(!fast.overflowed());
        assert!(fast_queue.try_recv().is_ok() && fast_queue.try_recv().is_ok());
        assert!(!hub.unregister(user, slow.id).last);
        assert!(hub.unregister(user, fast.id).last, "the last connection of the user");
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

    /// Three events, told apart by which one arrives (`drain`).
    fn events() -> [Arc<Outgoing>; 3] {
        std::array::from_fn(|_| {
            Arc::new(Outgoing::event(&crate::protocol::ServerEvent::Online(crate::protocol::UserRef {
                user_id: Uuid::new_v4(),
            })))
        })
    }

    /// What is in a connection's queue now: each event by its number in `sent` (from 1).
    fn drain(queue: &mut mpsc::Receiver<Delivery>, sent: &[Arc<Outgoing>]) -> Vec<String> {
        std::iter::from_fn(|| queue.try_recv().ok())
            .map(|delivery| match delivery {
                Delivery::Event(event) => sent
                    .iter()
                    .position(|s| Arc::ptr_eq(s, &event))
                    .map_or("unknown".to_owned(), |i| (i + 1).to_string()),
                Delivery::Resync => "resync".to_owned(),
                Delivery::AccountDeleted => "account deleted".to_owned(),
            })
            .collect()
    }

    /// A room's event reaches the connections in the room, whoever their user, and only
    /// them; a user's event still reaches only the user's.
    #[test]
    fn a_rooms_event_reaches_the_connections_in_the_room() {
        let hub = Hub::new(Arc::new(GatewayMetrics::new().unwrap()));
        let sent = events();
        let (alice, bob, carol, chat) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        let (a, mut a_queue, _) = hub.register(alice, 8);
        let (b, mut b_queue, _) = hub.register(bob, 8);
        let (_c, mut c_queue, _) = hub.register(carol, 8);
        assert_eq!(hub.join(&a, chat), Joined::Now);
        assert_eq!(hub.join(&b, chat), Joined::Now);
        assert_eq!(hub.join(&a, chat), Joined::Already, "a second join changes nothing");
        hub.deliver_local(Target::Room(chat), &sent[0], None);
        hub.deliver_local(Target::User(alice), &sent[1], None);
        hub.deliver_local(Target::Room(Uuid::new_v4()), &sent[2], None);
        assert_eq!(drain(&mut a_queue, &sent), ["1", "2"], "once, though joined twice");
        assert_eq!(drain(&mut b_queue, &sent), ["1"]);
        assert_eq!(drain(&mut c_queue, &sent), Vec::<String>::new());
        assert_eq!(hub.rooms_of(a.id), [chat]);
        assert_eq!(hub.metrics.rooms_subscribed.get(), 1);
    }

    /// The connection that published answers itself: the room's others get the event.
    #[test]
    fn a_rooms_event_spares_the_connection_excepted() {
        let hub = Hub::new(Arc::new(GatewayMetrics::new().unwrap()));
        let sent = events();
        let (user, chat) = (Uuid::new_v4(), Uuid::new_v4());
        let (a, mut a_queue, _) = hub.register(user, 8);
        let (b, mut b_queue, _) = hub.register(user, 8);
        hub.join(&a, chat);
        hub.join(&b, chat);
        hub.deliver_local(Target::Room(chat), &sent[0], Some(a.id));
        assert_eq!(drain(&mut a_queue, &sent), Vec::<String>::new());
        assert_eq!(drain(&mut b_queue, &sent), ["1"]);
    }

    /// A leave takes effect at once; leaving a room one is not in changes nothing.
    #[test]
    fn a_connection_that_left_a_room_gets_none_of_its_events() {
        let hub = Hub::new(Arc::new(GatewayMetrics::new().unwrap()));
        let sent = events();
        let (user, chat, other) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        let (a, mut a_queue, _) = hub.register(user, 8);
        let (b, mut b_queue, _) = hub.register(user, 8);
        hub.join(&a, chat);
        hub.join(&b, chat);
        hub.join(&a, other);
        assert!(hub.leave(a.id, chat));
        assert!(!hub.leave(a.id, chat), "not in it any more");
        assert!(!hub.leave(b.id, other), "never in it");
        hub.deliver_local(Target::Room(chat), &sent[0], None);
        hub.deliver_local(Target::Room(other), &sent[1], None);
        assert_eq!(drain(&mut a_queue, &sent), ["2"]);
        assert_eq!(drain(&mut b_queue, &sent), ["1"]);
        assert_eq!(hub.rooms_of(a.id), [other]);
        assert!(hub.leave(b.id, chat));
        assert_eq!(hub.metrics.rooms_subscribed.get(), 1, "the room nobody is in is gone");
    }

    /// A connection's end leaves every room it was in, and says which (the broker is told of
    /// each); a join after the end is refused, so no room keeps a connection nobody reads.
    #[test]
    fn a_connection_that_ends_leaves_all_its_rooms() {
        let hub = Hub::new(Arc::new(GatewayMetrics::new().unwrap()));
        let sent = events();
        let (user, first, second) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        let (a, _a_queue, _) = hub.register(user, 8);
        let (b, mut b_queue, _) = hub.register(user, 8);
        hub.join(&a, first);
        hub.join(&a, second);
        hub.join(&b, second);
        let gone = hub.unregister(user, a.id);
        assert!(!gone.last);
        assert_eq!(gone.rooms, [first, second]);
        assert_eq!(hub.rooms_of(a.id), Vec::<Uuid>::new());
        assert_eq!(hub.join(&a, first), Joined::Gone);
        hub.deliver_local(Target::Room(first), &sent[0], None);
        hub.deliver_local(Target::Room(second), &sent[1], None);
        assert_eq!(drain(&mut b_queue, &sent), ["2"]);
        assert_eq!(Arc::strong_count(&a), 1, "the hub holds the ended connection nowhere");
        assert_eq!(hub.metrics.rooms_subscribed.get(), 1);
        assert!(hub.unregister(user, b.id).last);
        assert_eq!(hub.metrics.rooms_subscribed.get(), 0);
    }

    /// After a subscription was lost, each connection of those users or in those rooms is
    /// told once, however many of the targets reach it.
    #[test]
    fn a_resync_reaches_each_connection_once() {
        let hub = Hub::new(Arc::new(GatewayMetrics::new().unwrap()));
        let sent = events();
        let (alice, bob, carol, chat, other) =
            (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        let (a, mut a_queue, _) = hub.register(alice, 8);
        let (b, mut b_queue, _) = hub.register(bob, 8);
        let (c, mut c_queue, _) = hub.register(carol, 8);
        hub.join(&a, chat);
        hub.join(&a, other);
        hub.join(&b, chat);
        hub.join(&c, Uuid::new_v4());
        hub.resync(&[Target::User(alice), Target::Room(chat), Target::Room(other)]);
        assert_eq!(drain(&mut a_queue, &sent), ["resync"]);
        assert_eq!(drain(&mut b_queue, &sent), ["resync"]);
        assert_eq!(drain(&mut c_queue, &sent), Vec::<String>::new());
    }
}
