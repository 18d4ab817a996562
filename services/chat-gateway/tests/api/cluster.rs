//! Two gateways on a Redis Cluster that changes under them, as an operator or a fault changes
//! it: the slot of a user's channel moved to another master, a master killed and its replica
//! promoted, every node down and back. Each happens during a conversation of 1,000 messages
//! across the replicas; every message arrives once and in order, and a resume afterwards
//! finds nothing missing.

use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::{Backend, Bus, ROOMY, RedisCluster, Suite, User, Ws, spawn, spawn_with};

const MESSAGES: usize = 1000;
/// Between a reply and the next send: the conversation lasts some seconds, so the change
/// happens in it.
const PACE: Duration = Duration::from_millis(3);
/// The change starts after this many messages.
const CHANGE_AT: usize = 200;

fn contents(messages: &[Value]) -> Vec<String> {
    messages.iter().map(|m| m["content"].as_str().unwrap().to_owned()).collect()
}

fn numbered(range: std::ops::Range<usize>) -> Vec<String> {
    range.map(|i| format!("m{i}")).collect()
}

/// The slot of `user`'s channel, found where the gateways subscribed it: a shard channel on
/// one of the masters (classic channels are not listed by `PUBSUB SHARDCHANNELS`).
fn slot_of_channel(cluster: &RedisCluster, user: &User) -> u16 {
    for master in cluster.masters() {
        let listed = cluster.ask(master.port, &["PUBSUB", "SHARDCHANNELS", &format!("*{}*", user.id)]);
        if let Some(channel) = listed.lines().find(|l| !l.trim().is_empty()) {
            return cluster.slot_of(channel.trim());
        }
    }
    panic!("no master has a shard channel of {}", user.id);
}

/// Alice (on replica 0) sends bob (on replica 1) `MESSAGES` messages while `change` is made to
/// the cluster, given the slot of bob's channel. Alice's are all stored (Redis or not); bob
/// gets each once, in order; a resume from bob's last message replays nothing.
async fn conversation_survives(change: impl FnOnce(&mut RedisCluster, u16) + Send + 'static) {
    // What alice sends while the bus is away reaches bob's replica in one burst when it is
    // back: a 2 s outage at this pace is about as many events as the default send queue
    // (256) holds, and on a loaded machine more, which cuts bob off as a slow reader (1013;
    // a real client reconnects and resumes). The slow-reader guard has tests of its own
    // (limits); here the queue has room for the burst, so every message must arrive on the
    // one connection.
    let args = [ROOMY[0], ROOMY[1], "--ws-send-queue=4096"];
    let mut suite = spawn_with(Backend::Postgres, Bus::RedisCluster, 2, &args).await;
    let (alice, bob) = (suite.user("alice").await, suite.user("bob").await);
    let mut a = suite.connect(0, &alice).await;
    let mut b = suite.connect(1, &bob).await;
    let chat_id = suite.chat(&mut a, &bob, &mut b).await;
    let cluster = suite.cluster.take().unwrap();
    let slot = slot_of_channel(&cluster, &bob);

    let sender = async {
        let (mut to_change, mut changing) = (Some((change, cluster)), None);
        for i in 0..MESSAGES {
            if i == CHANGE_AT
                && let Some((change, mut cluster)) = to_change.take()
            {
                changing = Some(tokio::task::spawn_blocking(move || {
                    change(&mut cluster, slot);
                    cluster
                }));
            }
            // As a real client, alice reads her socket: each message's reply.
            let reply =
                a.request("send_message", json!({"chat_id": chat_id, "content": format!("m{i}")}), json!(i)).await;
            assert_eq!(reply["event"], "receive_message", "{reply}");
            tokio::time::sleep(PACE).await;
        }
        changing.unwrap().await.unwrap()
    };
    let (cluster, received) = tokio::join!(sender, b.messages(MESSAGES));
    suite.cluster = Some(cluster);
    assert_eq!(contents(&received), numbered(0..MESSAGES), "bob: every message once, in order");
    assert!(
        suite.metric(1, "chat_suite_bus_reconnects_total").await >= 1.0,
        "bob's replica saw its subscription lost and subscribed again"
    );
    let extra = b.drain_for(Duration::from_millis(500)).await;
    assert!(extra.iter().all(|f| f["event"] != "receive_message"), "nothing twice: {extra:?}");

    resume_finds_no_gap(&suite, &bob, b, &chat_id, &received).await;
}

/// Bob reconnects from the last message he has, by `since` and by per-chat position: nothing
/// is replayed; from the one before it, exactly the last one is.
async fn resume_finds_no_gap(suite: &Suite, bob: &User, b: Ws, chat_id: &str, received: &[Value]) {
    let ids: Vec<i64> = received.iter().map(|m| m["message_id"].as_i64().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids rise");
    let (last, before) = (ids[ids.len() - 1], ids[ids.len() - 2]);
    b.close().await;
    for query in [format!("&since={last}"), format!("&last_message_ids={chat_id}:{last}")] {
        let mut again = suite.connect_with(1, bob, &query).await;
        let replayed = again.drain_for(Duration::from_millis(500)).await;
        assert!(replayed.iter().all(|f| f["event"] != "receive_message"), "{query}: {replayed:?}");
        again.close().await;
    }
    let mut again = suite.connect_with(1, bob, &format!("&last_message_ids={chat_id}:{before}")).await;
    assert_eq!(contents(&again.messages(1).await), [format!("m{}", MESSAGES - 1)]);
}

/// The slot of bob's channel moves to another master: its old master unsubscribes bob's
/// replica, which subscribes again where the slot now is; alice's replica's publishes follow
/// the slot (`MOVED`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_users_slot_migrated_mid_conversation_loses_nothing() {
    conversation_survives(|cluster, slot| {
        let from = cluster.master_of(slot);
        let to = cluster.masters().into_iter().find(|m| m.port != from).unwrap().port;
        cluster.migrate_slot(slot, to);
        assert_eq!(cluster.master_of(slot), to);
    })
    .await;
}

/// The master of bob's channel is killed; its replica takes over.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_master_failed_over_mid_conversation_loses_nothing() {
    conversation_survives(|cluster, slot| {
        let old = cluster.master_of(slot);
        let new = cluster.fail_over(old);
        assert_ne!(new, old);
    })
    .await;
}

/// Every node of the cluster down for two seconds, then back (with nothing: no node keeps
/// data on disk).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_whole_cluster_down_and_back_mid_conversation_loses_nothing() {
    conversation_survives(|cluster, _| cluster.outage_and_return(Duration::from_secs(2))).await;
}

/// Sharded pub/sub stays in the shard of its slot (the master, and its replica): a
/// conversation between replicas sends no classic publish between the cluster's nodes, which
/// would go to every node of it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publishes_stay_in_the_shard_of_their_slot() {
    let suite = spawn(Backend::Postgres, Bus::RedisCluster, 2).await;
    let (alice, bob) = (suite.user("alice").await, suite.user("bob").await);
    let mut a = suite.connect(0, &alice).await;
    let mut b = suite.connect(1, &bob).await;
    let chat_id = suite.chat(&mut a, &bob, &mut b).await;
    let cluster = suite.cluster.as_ref().unwrap();
    let (classic, sharded) = (bus_messages(cluster, "publish"), bus_messages(cluster, "publishshard"));
    for i in 0..100 {
        a.send("send_message", json!({"chat_id": chat_id, "content": format!("m{i}")})).await;
    }
    assert_eq!(contents(&b.messages(100).await), numbered(0..100));
    assert_eq!(bus_messages(cluster, "publish") - classic, 0, "no classic publish crossed the cluster bus");
    assert!(bus_messages(cluster, "publishshard") > sharded, "the shards' replicas heard the publishes");
}

/// Messages of `kind` the cluster's nodes sent each other over the cluster bus so far.
fn bus_messages(cluster: &RedisCluster, kind: &str) -> u64 {
    let name = format!("cluster_stats_messages_{kind}_sent:");
    cluster
        .urls()
        .iter()
        .map(|url| url.rsplit(':').next().unwrap().parse::<u16>().unwrap())
        .map(|port| cluster.ask(port, &["CLUSTER", "INFO"]))
        .map(|info| info.lines().find_map(|l| l.strip_prefix(&name)).map_or(0, |n| n.trim().parse::<u64>().unwrap()))
        .sum()
}

/// `/readyz` follows the cluster's own state: a master killed with its replica leaves slots
/// unserved (503 naming Redis); a master alone is failed over and nothing is reported.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_follows_the_cluster_state() {
    let mut suite = spawn(Backend::Postgres, Bus::RedisCluster, 1).await;
    let ready = suite.get(0, "/readyz", None).await;
    assert_eq!(ready.status, 200, "{}", ready.body);

    let mut cluster = suite.cluster.take().unwrap();
    let master = cluster.masters()[0].clone();
    let replica = replica_of(&cluster, &master);
    cluster = tokio::task::spawn_blocking(move || {
        cluster.kill(replica);
        cluster.kill(master.port);
        cluster
    })
    .await
    .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let down = suite.get(0, "/readyz", None).await;
        if down.status == 503 {
            assert!(down.body.to_string().contains("redis"), "{}", down.body);
            break;
        }
        assert!(std::time::Instant::now() < deadline, "still ready with a third of the slots unserved: {}", down.body);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(suite.get(0, "/healthz", None).await.status, 200, "alive while Redis is away");
    suite.cluster = Some(cluster);
}

/// The port of the replica of `master`, as the master's `CLUSTER NODES` says.
fn replica_of(cluster: &RedisCluster, master: &crate::helpers::Master) -> u16 {
    let nodes = cluster.ask(master.port, &["CLUSTER", "NODES"]);
    nodes
        .lines()
        .find(|l| l.split(' ').nth(3) == Some(master.id.as_str()))
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|addr| addr.split(['@', ':']).nth(1))
        .and_then(|port| port.parse().ok())
        .unwrap_or_else(|| panic!("no replica of {master:?} in {nodes}"))
}
