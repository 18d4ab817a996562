//! Nothing lost, nothing twice: reconnecting with a cursor, and Redis going away mid-chat.

use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::{Backend, Bus, spawn};

fn contents(messages: &[Value]) -> Vec<String> {
    messages.iter().map(|m| m["content"].as_str().unwrap().to_owned()).collect()
}

fn numbered(prefix: &str, range: std::ops::Range<usize>) -> Vec<String> {
    range.map(|i| format!("{prefix}{i}")).collect()
}

/// Bob leaves after 3 messages; alice sends 5 more; bob comes back with `since` (the last
/// message id he has) and gets exactly those 5, in order, before live traffic.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reconnect_with_since_replays_exactly_the_missed_messages() {
    let suite = spawn(Backend::Postgres, Bus::Redis, 2).await;
    let (alice, bob) = (suite.user("alice").await, suite.user("bob").await);
    let mut a = suite.connect(0, &alice).await;
    let mut b = suite.connect(1, &bob).await;
    let chat_id = suite.chat(&mut a, &bob, &mut b).await;
    for i in 0..3 {
        a.send("send_message", json!({"chat_id": chat_id, "content": format!("before {i}")})).await;
    }
    let had = b.messages(3).await;
    let last = had[2]["message_id"].as_i64().unwrap();
    b.close().await;

    for i in 0..5 {
        a.request("send_message", json!({"chat_id": chat_id, "content": format!("missed {i}")}), json!(i)).await;
    }
    let mut b = suite.connect_with(1, &bob, &format!("&since={last}")).await;
    let replayed = b.messages(5).await;
    assert_eq!(contents(&replayed), numbered("missed ", 0..5));
    a.send("send_message", json!({"chat_id": chat_id, "content": "live"})).await;
    let next = b.messages(1).await;
    assert_eq!(contents(&next), ["live"], "the live message follows the replay, with nothing repeated");
}

/// Per-chat positions: only the chats named are replayed, each from its own position.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reconnect_with_per_chat_positions_replays_those_chats() {
    let suite = spawn(Backend::Postgres, Bus::Redis, 1).await;
    let (alice, bob, carol) = (suite.user("alice").await, suite.user("bob").await, suite.user("carol").await);
    let mut a = suite.connect(0, &alice).await;
    let mut b = suite.connect(0, &bob).await;
    let mut c = suite.connect(0, &carol).await;
    let with_bob = suite.chat(&mut a, &bob, &mut b).await;
    let with_carol = suite.chat(&mut a, &carol, &mut c).await;
    let first = b.request("send_message", json!({"chat_id": with_bob, "content": "b0"}), json!(0)).await;
    let first_id = first["data"]["message_id"].as_i64().unwrap();
    a.close().await;
    for i in 1..4 {
        b.request("send_message", json!({"chat_id": with_bob, "content": format!("b{i}")}), json!(i)).await;
        c.request("send_message", json!({"chat_id": with_carol, "content": format!("c{i}")}), json!(i)).await;
    }
    let query = format!("&last_message_ids={with_bob}:{first_id}");
    let mut a = suite.connect_with(0, &alice, &query).await;
    let replayed = a.messages(3).await;
    assert_eq!(contents(&replayed), numbered("b", 1..4));
    let rest = a.drain_for(Duration::from_millis(500)).await;
    assert!(rest.iter().all(|f| f["event"] != "receive_message"), "carol's chat was not asked for: {rest:?}");

    // A position in a chat the caller is not in, or a message of another chat, is refused.
    let query = format!("access_token={}&last_message_ids={with_carol}:{first_id}", bob.token);
    let refused = suite.refused_upgrade(0, &query).await;
    assert_eq!(refused.0, 403, "{}", refused.1);
    let query = format!("access_token={}&last_message_ids={with_carol}:{first_id}", alice.token);
    let refused = suite.refused_upgrade(0, &query).await;
    assert_eq!(refused.0, 400, "{}", refused.1);
    assert_eq!(refused.1["field"], "last_message_ids");
}

/// Resume positions are checked before any query: at most 500 entries as written (repeats
/// included), one position per chat, and nothing looked up for a request that is not a
/// WebSocket upgrade. A 64 KB list of one chat repeated used to cost two queries per entry,
/// on a plain GET too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_positions_are_bounded_before_any_query() {
    let suite = spawn(Backend::Postgres, Bus::Redis, 1).await;
    let (alice, bob, eve) = (suite.user("alice").await, suite.user("bob").await, suite.user("eve").await);
    let mut a = suite.connect(0, &alice).await;
    let mut b = suite.connect(0, &bob).await;
    let chat_id = suite.chat(&mut a, &bob, &mut b).await;
    let sent = a.request("send_message", json!({"chat_id": chat_id, "content": "m1"}), json!(1)).await;
    let first_id = sent["data"]["message_id"].as_i64().unwrap();
    a.request("send_message", json!({"chat_id": chat_id, "content": "m2"}), json!(2)).await;

    let repeated = vec![format!("{chat_id}:{first_id}"); 1600].join(",");
    let refused = suite.refused_upgrade(0, &format!("access_token={}&last_message_ids={repeated}", alice.token)).await;
    assert_eq!(refused.0, 400, "{}", refused.1);
    assert_eq!(refused.1["field"], "last_message_ids");
    assert!(refused.1["error"].as_str().unwrap().contains("at most 500"), "{}", refused.1);

    let twice = format!("{chat_id}:{first_id},{chat_id}:0");
    let refused = suite.refused_upgrade(0, &format!("access_token={}&last_message_ids={twice}", alice.token)).await;
    assert_eq!((refused.0, &refused.1["field"]), (400, &json!("last_message_ids")), "{}", refused.1);

    // A plain GET is told it is not an upgrade, before its positions are looked at: eve is
    // in no chat, yet gets no 403.
    let plain = suite.get(0, &format!("/chat?access_token={}&last_message_ids={chat_id}:0", eve.token), None).await;
    assert_eq!((plain.status, &plain.body["code"]), (400, &json!("not_websocket")), "{}", plain.body);

    // The same entry written a few times is one position.
    let same = vec![format!("{chat_id}:{first_id}"); 3].join(",");
    let mut again = suite.connect_with(0, &alice, &format!("&last_message_ids={same}")).await;
    assert_eq!(contents(&again.messages(1).await), ["m2"]);
}

/// Redis dies mid-conversation. Users on the same replica go on chatting; the replicas'
/// subscriptions come back with Redis, and each connection reads what it missed from the
/// database: nothing lost, nothing twice, and a resume afterwards finds no gap.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_restarted_mid_conversation_loses_nothing() {
    let mut suite = spawn(Backend::Postgres, Bus::Redis, 2).await;
    let (alice, bob, carol) = (suite.user("alice").await, suite.user("bob").await, suite.user("carol").await);
    let mut a = suite.connect(0, &alice).await;
    let mut b = suite.connect(1, &bob).await;
    let mut c = suite.connect(0, &carol).await;
    let with_bob = suite.chat(&mut a, &bob, &mut b).await;
    let with_carol = suite.chat(&mut a, &carol, &mut c).await;
    a.send("send_message", json!({"chat_id": with_bob, "content": "m0"})).await;
    assert_eq!(contents(&b.messages(1).await), ["m0"]);

    suite.redis.as_mut().unwrap().kill();
    for i in 1..6 {
        let reply = a.request("send_message", json!({"chat_id": with_bob, "content": format!("m{i}")}), json!(i)).await;
        assert_eq!(reply["event"], "receive_message", "stored while Redis is down: {reply}");
    }
    // Same replica, no Redis needed.
    a.send("send_message", json!({"chat_id": with_carol, "content": "local"})).await;
    assert_eq!(contents(&c.messages(1).await), ["local"]);

    suite.redis.as_mut().unwrap().resume();
    let caught_up = b.messages(5).await;
    assert_eq!(contents(&caught_up), numbered("m", 1..6));
    a.send("send_message", json!({"chat_id": with_bob, "content": "after"})).await;
    assert_eq!(contents(&b.messages(1).await), ["after"], "no repeats once the bus is back");

    // A resume from the last message bob has finds nothing missing.
    let last = suite.get(1, &format!("/chats/{with_bob}/messages?limit=1"), Some(&bob.token)).await;
    let last_id = last.body["messages"][0]["message_id"].as_i64().unwrap();
    b.close().await;
    let mut b = suite.connect_with(1, &bob, &format!("&since={last_id}")).await;
    let extra = b.drain_for(Duration::from_millis(500)).await;
    assert!(extra.iter().all(|f| f["event"] != "receive_message"), "{extra:?}");
    // And from the start, every message exactly once, in order.
    b.close().await;
    let mut b = suite.connect_with(1, &bob, "&since=0").await;
    assert_eq!(
        contents(&b.messages(7).await),
        numbered("m", 0..6).into_iter().chain(["after".into()]).collect::<Vec<_>>()
    );
}

/// A replica announces message n + 1 while the announcement of n was lost: the connection
/// holds n + 1 back, reads n from the database, and writes both in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_announced_ahead_of_a_lost_one_waits_for_it() {
    use chat_gateway::{
        entities::{chats, messages},
        message_envelope,
    };
    use sea_orm::{ActiveValue::Set, EntityTrait};

    let suite = spawn(Backend::Postgres, Bus::Redis, 1).await;
    let (alice, bob) = (suite.user("alice").await, suite.user("bob").await);
    let mut a = suite.connect(0, &alice).await;
    let mut b = suite.connect(0, &bob).await;
    let chat_id = suite.chat(&mut a, &bob, &mut b).await;
    let chat: uuid::Uuid = chat_id.parse().unwrap();
    // Two messages stored as another replica would, of which only the second is announced.
    let mut stored = Vec::new();
    for (seq, content) in [(1, "lost on the bus"), (2, "announced")] {
        let row = messages::ActiveModel {
            chat_id: Set(chat),
            seq: Set(seq),
            sender_id: Set(alice.id.parse().unwrap()),
            kind: Set("text".into()),
            content: Set(content.into()),
            client_msg_id: Set(None),
            sent_at: Set(chrono::Utc::now()),
            ..Default::default()
        };
        stored.push(messages::Entity::insert(row).exec_with_returning(&suite.db).await.unwrap());
    }
    chats::Entity::update(chats::ActiveModel { id: Set(chat), last_seq: Set(2), ..Default::default() })
        .exec(&suite.db)
        .await
        .unwrap();
    let envelope = message_envelope("another-replica", stored[1].clone(), None);
    let client = redis::Client::open(suite.redis.as_ref().unwrap().url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let _: i64 =
        redis::cmd("PUBLISH").arg(format!("chat:user:{}", bob.id)).arg(envelope).query_async(&mut conn).await.unwrap();
    assert_eq!(contents(&b.messages(2).await), ["lost on the bus", "announced"]);
}
