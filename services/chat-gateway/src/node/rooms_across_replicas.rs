//! Rooms between replicas over a real Redis: two nodes, each with its broker's tasks running,
//! on a Redis server (or a cluster) of the test's own, so what Redis is asked (`PUBLISH`es
//! counted, channels listed) is this test's alone.

use std::{sync::Arc, time::Duration};

use shared::{
    redis_conn::{RedisTarget, RedisUrl},
    server::{Application, Listener, Serving},
};
use testkit::{redis_cluster::RedisCluster, redis_server::RedisServer};
use tokio::sync::mpsc;
use uuid::Uuid;

use super::{Delivery, Membership, Node, Outgoing, PresenceAudience, partitions::Layout, target::Target};
use crate::{
    metrics::GatewayMetrics,
    protocol::{ServerEvent, UserRef},
};

/// A replica: its node, and the application its tasks run beside (never served: dropping it
/// with the test's runtime ends them).
struct Replica {
    node: Arc<Node>,
    _app: Application,
}

async fn replica(target: &RedisTarget) -> Replica {
    let nobody: PresenceAudience = Box::new(|_| Box::pin(async { Ok((Vec::new(), Vec::new())) }));
    let metrics = Arc::new(GatewayMetrics::new().unwrap());
    let (node, tasks) = Node::build(Some(target), Duration::from_secs(30), nobody, metrics).await.unwrap();
    let serving = Serving { grace: Duration::from_secs(1), header_read_timeout: Duration::from_secs(1) };
    let mut app =
        Listener::bind("gateway", "127.0.0.1:0".parse().unwrap()).await.unwrap().serve(poem::Route::new(), serving);
    tasks.start(&mut app);
    Replica { node, _app: app }
}

fn target(url: &str) -> RedisTarget {
    RedisTarget::from(url.parse::<RedisUrl>().unwrap())
}

/// A connection, its queue and its place in the node (dropping it ends the connection).
type Connected = (Arc<super::Connection>, mpsc::Receiver<Delivery>, Membership);

async fn connect(replica: &Replica) -> Connected {
    replica.node.connect(Uuid::new_v4(), 64).await
}

/// An event told apart from the others by the id it carries.
fn event(id: Uuid) -> Outgoing {
    Outgoing::event(&ServerEvent::Online(UserRef { user_id: id }))
}

/// What the connection is handed next: the id its event carries, or `None` for a resync.
async fn next(queue: &mut mpsc::Receiver<Delivery>, ids: &[Uuid]) -> Option<Uuid> {
    let delivery = tokio::time::timeout(Duration::from_secs(10), queue.recv())
        .await
        .expect("nothing reached the connection")
        .expect("the queue closed");
    match delivery {
        Delivery::Event(event) => {
            Some(*ids.iter().find(|id| event.text.contains(&id.to_string())).expect("an event of this test"))
        }
        Delivery::Resync => None,
        Delivery::AccountDeleted => panic!("no account is deleted in this test"),
    }
}

/// `PUBLISH`es Redis served since the last `CONFIG RESETSTAT`.
async fn publishes(conn: &mut redis::aio::MultiplexedConnection) -> u64 {
    let info: String = redis::cmd("INFO").arg("commandstats").query_async(conn).await.unwrap();
    info.lines()
        .find_map(|line| line.strip_prefix("cmdstat_publish:calls="))
        .map_or(0, |rest| rest.split(',').next().unwrap().parse().unwrap())
}

async fn room_channels(conn: &mut redis::aio::MultiplexedConnection) -> Vec<String> {
    let mut channels: Vec<String> =
        redis::cmd("PUBSUB").arg("CHANNELS").arg("chat:room:*").query_async(conn).await.unwrap();
    channels.sort();
    channels
}

/// Two connections of replica A and one of B in a room; B publishes to it: every one of them
/// gets the event once (B's own from B, not again from Redis), a connection of A outside the
/// room none, and Redis is asked one `PUBLISH` per event, not one per member.
#[tokio::test]
async fn a_rooms_event_reaches_each_connection_in_it_once_with_one_publish() {
    let server = RedisServer::start();
    let redis = target(&server.url());
    let (a, b) = (replica(&redis).await, replica(&redis).await);
    let mut plain = redis::Client::open(server.url()).unwrap().get_multiplexed_async_connection().await.unwrap();
    let chat = Uuid::new_v4();
    let (a1, mut a1_queue, _a1) = connect(&a).await;
    let (a2, mut a2_queue, _a2) = connect(&a).await;
    let (_a3, mut a3_queue, a3) = connect(&a).await;
    let (b1, mut b1_queue, _b1) = connect(&b).await;
    assert!(a.node.join_room(&a1, chat).await);
    assert!(a.node.join_room(&a2, chat).await);
    assert!(a.node.join_room(&a1, chat).await, "joining again is a no-op");
    assert!(b.node.join_room(&b1, chat).await);
    assert_eq!(a.node.rooms_of(a1.id), [chat]);

    let ids: Vec<Uuid> = (0..3).map(|_| Uuid::new_v4()).collect();
    redis::cmd("CONFIG").arg("RESETSTAT").query_async::<()>(&mut plain).await.unwrap();
    b.node.publish_room(chat, event(ids[0]), None);
    // Published after, in order: once it has come, nothing more of the first will.
    b.node.publish_room(chat, event(ids[1]), None);
    for queue in [&mut a1_queue, &mut a2_queue, &mut b1_queue] {
        assert_eq!(next(queue, &ids).await, Some(ids[0]));
        assert_eq!(next(queue, &ids).await, Some(ids[1]));
    }
    assert_eq!(publishes(&mut plain).await, 2, "one PUBLISH per room event");
    b.node.publish(&[a3.user], event(ids[2]), None);
    assert_eq!(next(&mut a3_queue, &ids).await, Some(ids[2]), "nothing of the room before");
    assert_eq!(room_channels(&mut plain).await, [format!("chat:room:{chat}")]);
}

/// A room nobody on A joined brings A nothing; a room left, or a connection ended, brings
/// nothing more, and once the replica's last connection in a room is out of it, Redis no
/// longer has the room's channel subscribed.
#[tokio::test]
async fn a_room_left_brings_nothing_more_and_is_unsubscribed() {
    let server = RedisServer::start();
    let redis = target(&server.url());
    let (a, b) = (replica(&redis).await, replica(&redis).await);
    let mut plain = redis::Client::open(server.url()).unwrap().get_multiplexed_async_connection().await.unwrap();
    let (chat, elsewhere, later, last) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    let ids: Vec<Uuid> = (0..4).map(|_| Uuid::new_v4()).collect();
    let (a1, mut a1_queue, a1_membership) = connect(&a).await;
    let (a2, _a2_queue, _a2) = connect(&a).await;
    assert!(a.node.join_room(&a1, chat).await);
    assert!(a.node.join_room(&a1, chat).await, "counted once: one leave is enough");

    b.node.publish_room(elsewhere, event(ids[0]), None);
    b.node.publish_room(chat, event(ids[1]), None);
    assert_eq!(next(&mut a1_queue, &ids).await, Some(ids[1]), "nothing of the room nobody joined");

    a.node.leave_room(a1.id, chat);
    a.node.leave_room(a1.id, chat);
    a.node.leave_room(a2.id, chat);
    assert_eq!(a.node.rooms_of(a1.id), Vec::<Uuid>::new());
    // The subscriber takes requests in order: once this join is subscribed, the leave is done.
    assert!(a.node.join_room(&a1, later).await);
    assert_eq!(room_channels(&mut plain).await, [format!("chat:room:{later}")]);
    b.node.publish_room(chat, event(ids[2]), None);
    b.node.publish_room(later, event(ids[3]), None);
    assert_eq!(next(&mut a1_queue, &ids).await, Some(ids[3]), "nothing of the room left");

    drop(a1_membership);
    assert!(a.node.join_room(&a2, last).await);
    assert_eq!(room_channels(&mut plain).await, [format!("chat:room:{last}")], "the ended connection's rooms");
}

/// On a Redis Cluster a room is one sharded channel, in the slot of its partition (from the
/// chat id, as a user's from the user id), subscribed on that slot's master; when the slot
/// moves to another master, the room's connections are told to resynchronise, and the room's
/// events reach them again.
#[tokio::test]
async fn on_a_cluster_a_room_is_one_shard_channel_and_survives_its_slot_moving() {
    let cluster = RedisCluster::start();
    let redis = target(&cluster.service_url());
    let (a, b) = (replica(&redis).await, replica(&redis).await);
    let ids: Vec<Uuid> = (0..2).map(|_| Uuid::new_v4()).collect();
    let (a1, mut a1_queue, a1_membership) = connect(&a).await;
    // In another partition than the user's: the resync below can come from the room alone.
    let user_partition = Layout::Cluster.partition(Target::User(a1_membership.user));
    let chat = std::iter::repeat_with(Uuid::new_v4)
        .find(|chat| Layout::Cluster.partition(Target::Room(*chat)) != user_partition)
        .unwrap();
    assert!(a.node.join_room(&a1, chat).await);
    let channel = Layout::Cluster.channel(Target::Room(chat));
    let slot = cluster.slot_of(&channel);
    assert_eq!(slot, Layout::Cluster.slot(Layout::Cluster.partition(Target::Room(chat))));
    let master = cluster.master_of(slot);
    assert_eq!(
        cluster.ask(master, &["PUBSUB", "SHARDNUMSUB", &channel]).split_whitespace().collect::<Vec<_>>(),
        [channel.as_str(), "1"]
    );

    b.node.publish_room(chat, event(ids[0]), None);
    assert_eq!(next(&mut a1_queue, &ids).await, Some(ids[0]));

    let other = cluster.masters().into_iter().find(|m| m.port != master).unwrap().port;
    cluster.migrate_slot(slot, other);
    assert_eq!(next(&mut a1_queue, &ids).await, None, "the room's connection resynchronises");
    // The move may cost the link more than once while it settles (each loss a resync, and
    // what was published meanwhile read from the database): publish until one arrives.
    loop {
        b.node.publish_room(chat, event(ids[1]), None);
        if let Some(id) = next(&mut a1_queue, &ids).await {
            assert_eq!(id, ids[1]);
            break;
        }
    }
}
