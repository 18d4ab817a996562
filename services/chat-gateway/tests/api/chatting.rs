//! Two people chatting, on one replica or on two.

use serde_json::{Value, json};

use crate::helpers::{Backend, Bus, spawn};

fn send(chat_id: &str, content: &str) -> Value {
    json!({"chat_id": chat_id, "content": content})
}

/// Users on different replicas exchange messages both ways, each seeing the other's and their
/// own, with the contract's fields, and receipts travel back.
async fn users_on_two_replicas_chat_both_ways(bus: Bus) {
    let suite = spawn(Backend::Postgres, bus, 2).await;
    let (alice, bob) = (suite.user("alice").await, suite.user("bob").await);
    let mut a = suite.connect(0, &alice).await;
    let mut b = suite.connect(1, &bob).await;
    let chat_id = suite.chat(&mut a, &bob, &mut b).await;

    let reply = a.request("send_message", send(&chat_id, "hi bob"), json!(1)).await;
    assert_eq!(reply["event"], "receive_message");
    let sent = &reply["data"];
    assert_eq!(sent["chat_id"], chat_id.as_str());
    assert_eq!(sent["sender_id"], alice.id.as_str());
    assert_eq!(sent["content"], "hi bob");
    assert_eq!(sent["type"], "text");
    assert_eq!(sent["client_msg_id"], Value::Null);
    assert!(sent["message_id"].as_i64().unwrap() > 0);
    assert!(chrono::DateTime::parse_from_rfc3339(sent["sent_at"].as_str().unwrap()).is_ok());

    let got = b.next_of("receive_message").await;
    assert_eq!(&got["data"], sent, "bob gets exactly what alice's reply said");
    assert_eq!(got.get("id"), None, "only the sender's reply carries its id");

    // Bob acknowledges: alice hears of it.
    let ack =
        b.request("receive_message", json!({"chat_id": chat_id, "message_id": sent["message_id"]}), json!("r1")).await;
    assert_eq!(ack["event"], "ack", "{ack}");
    let receipt = a.next_of("message_received").await;
    assert_eq!(receipt["data"], json!({"chat_id": chat_id, "message_id": sent["message_id"], "user_id": bob.id}));

    // And back the other way.
    b.send("send_message", send(&chat_id, "hello alice")).await;
    let mine = b.next_of("receive_message").await;
    let theirs = a.next_of("receive_message").await;
    assert_eq!(mine["data"]["content"], "hello alice");
    assert_eq!(theirs["data"], mine["data"]);
    assert!(theirs["data"]["message_id"].as_i64() > sent["message_id"].as_i64());
}

/// One user on two devices on two replicas gets every message, their own included.
async fn one_user_on_two_devices_on_two_replicas_gets_everything(bus: Bus) {
    let suite = spawn(Backend::Postgres, bus, 2).await;
    let (alice, bob) = (suite.user("alice").await, suite.user("bob").await);
    let mut phone = suite.connect(0, &alice).await;
    let mut laptop = suite.connect(1, &alice).await;
    let mut b = suite.connect(0, &bob).await;
    let chat_id = suite.chat(&mut b, &alice, &mut phone).await;
    let created = laptop.next_of("private_chat_room_created").await;
    assert_eq!(created["data"]["chat_id"], chat_id.as_str());

    b.send("send_message", send(&chat_id, "from bob")).await;
    phone.send("send_message", send(&chat_id, "from alice's phone")).await;
    let mut seen = Vec::new();
    for ws in [&mut phone, &mut laptop, &mut b] {
        let contents: Vec<String> =
            ws.messages(2).await.iter().map(|m| m["content"].as_str().unwrap().to_owned()).collect();
        seen.push(contents);
    }
    // Every connection saw both, in the same (database) order.
    assert_eq!(seen[0].len(), 2);
    assert_eq!(seen[0], seen[1]);
    assert_eq!(seen[0], seen[2]);
}

/// 100 messages sent in a burst arrive complete and in the order the database gave them, on
/// the other replica and on the sender's own connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_100_arrives_complete_and_in_order() {
    let suite = spawn(Backend::Postgres, Bus::Redis, 2).await;
    let (alice, bob) = (suite.user("alice").await, suite.user("bob").await);
    let mut a = suite.connect(0, &alice).await;
    let mut b = suite.connect(1, &bob).await;
    let chat_id = suite.chat(&mut a, &bob, &mut b).await;
    for i in 0..100 {
        a.send("send_message", send(&chat_id, &format!("burst {i}"))).await;
    }
    let at_bob = b.messages(100).await;
    let at_alice = a.messages(100).await;
    let contents: Vec<&str> = at_bob.iter().map(|m| m["content"].as_str().unwrap()).collect();
    let expected: Vec<String> = (0..100).map(|i| format!("burst {i}")).collect();
    assert_eq!(contents, expected);
    let ids: Vec<i64> = at_bob.iter().map(|m| m["message_id"].as_i64().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    assert_eq!(at_alice, at_bob);
}

/// A resend with the same `client_msg_id` returns the original and stores nothing new.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resend_with_the_same_client_msg_id_returns_the_original() {
    let suite = spawn(Backend::Postgres, Bus::Redis, 1).await;
    let (alice, bob) = (suite.user("alice").await, suite.user("bob").await);
    let mut a = suite.connect(0, &alice).await;
    let mut b = suite.connect(0, &bob).await;
    let chat_id = suite.chat(&mut a, &bob, &mut b).await;
    let message = json!({"chat_id": chat_id, "content": "once", "client_msg_id": "c-1"});
    let first = a.request("send_message", message.clone(), json!(1)).await;
    let again = a.request("send_message", message.clone(), json!(2)).await;
    assert_eq!(first["data"]["client_msg_id"], "c-1");
    assert_eq!(again["data"], first["data"]);
    // From another connection of the same sender, too.
    let mut other = suite.connect(0, &alice).await;
    let third = other.request("send_message", message, json!(3)).await;
    assert_eq!(third["data"], first["data"]);
    // Two copies in flight at once (they may share a commit): still one message.
    let twice = json!({"chat_id": chat_id, "content": "racing", "client_msg_id": "c-2"});
    let (x, y) = tokio::join!(
        a.request("send_message", twice.clone(), json!(4)),
        other.request("send_message", twice, json!(5))
    );
    assert_eq!(x["event"], "receive_message", "{x}");
    assert_eq!(x["data"], y["data"]);
    let history = suite.get(0, &format!("/chats/{chat_id}/messages"), Some(&bob.token)).await;
    assert_eq!(history.status, 200, "{}", history.body);
    assert_eq!(history.body["messages"].as_array().unwrap().len(), 2, "{}", history.body);
    // Bob got each once.
    let at_bob = b.messages(2).await;
    assert_eq!(at_bob[0], first["data"]);
    assert_eq!(at_bob[1], x["data"]);
    let later = b.drain_for(std::time::Duration::from_millis(300)).await;
    assert!(later.iter().all(|f| f["event"] != "receive_message"), "{later:?}");
}

/// Both sides start the chat at once, on different replicas: one chat.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_start_private_chat_from_both_sides_makes_one_chat() {
    let suite = spawn(Backend::Postgres, Bus::Redis, 2).await;
    for _ in 0..5 {
        let (alice, bob) = (suite.user("alice").await, suite.user("bob").await);
        let mut a = suite.connect(0, &alice).await;
        let mut b = suite.connect(1, &bob).await;
        let (from_a, from_b) = tokio::join!(
            a.request("start_private_chat", json!({"user_id": bob.id}), json!("a")),
            b.request("start_private_chat", json!({"user_id": alice.id}), json!("b")),
        );
        assert_eq!(from_a["event"], "private_chat_room_created", "{from_a}");
        assert_eq!(from_a["data"]["chat_id"], from_b["data"]["chat_id"]);
        let mut ids = vec![alice.id.clone(), bob.id.clone()];
        ids.sort();
        assert_eq!(from_a["data"]["user_ids"], json!(ids));
    }
}

/// Someone outside a chat can neither write to it nor read it, on the socket or over HTTP.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_non_member_can_neither_send_nor_read() {
    let suite = spawn(Backend::Postgres, Bus::Redis, 1).await;
    let (alice, bob, eve) = (suite.user("alice").await, suite.user("bob").await, suite.user("eve").await);
    let mut a = suite.connect(0, &alice).await;
    let mut b = suite.connect(0, &bob).await;
    let mut e = suite.connect(0, &eve).await;
    let chat_id = suite.chat(&mut a, &bob, &mut b).await;
    let sent = a.request("send_message", send(&chat_id, "private"), json!(1)).await;

    let refused = e.request("send_message", send(&chat_id, "let me in"), json!("e1")).await;
    assert_eq!(
        refused,
        json!({"event": "error", "id": "e1", "data": {"code": "forbidden", "message": "you are not a member of this chat"}})
    );
    for (event, data) in [
        ("typing", json!({"chat_id": chat_id})),
        ("receive_message", json!({"chat_id": chat_id, "message_id": sent["data"]["message_id"]})),
        ("seen", json!({"chat_id": chat_id, "message_id": sent["data"]["message_id"]})),
    ] {
        let refused = e.request(event, data, json!(event)).await;
        assert_eq!(refused["data"]["code"], "forbidden", "{event}: {refused}");
    }
    let history = suite.get(0, &format!("/chats/{chat_id}/messages"), Some(&eve.token)).await;
    assert_eq!(history.status, 403);
    assert_eq!(history.body["code"], "forbidden");
    let resume = suite.refused_upgrade(0, &format!("access_token={}&last_message_ids={chat_id}:0", eve.token)).await;
    assert_eq!(resume.0, 403, "{}", resume.1);
    // Nothing of eve's reached the members.
    let at_bob = b.drain_for(std::time::Duration::from_millis(300)).await;
    assert!(at_bob.iter().all(|f| f["data"]["content"] != "let me in" && f["event"] != "typing"), "{at_bob:?}");
}

/// The embedded default: no Redis, one replica, on SQLite as on Postgres.
async fn one_replica_without_redis(backend: Backend) {
    let suite = spawn(backend, Bus::InProcess, 1).await;
    let (alice, bob) = (suite.user("alice").await, suite.user("bob").await);
    let mut a = suite.connect(0, &alice).await;
    let mut b = suite.connect(0, &bob).await;
    let chat_id = suite.chat(&mut a, &bob, &mut b).await;
    for i in 0..20 {
        a.send("send_message", send(&chat_id, &format!("m{i}"))).await;
        b.send("send_message", send(&chat_id, &format!("r{i}"))).await;
    }
    let at_a = a.messages(40).await;
    let at_b = b.messages(40).await;
    assert_eq!(at_a, at_b);
    let ids: Vec<i64> = at_a.iter().map(|m| m["message_id"].as_i64().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
}

testkit::on_both_backends!(one_replica_without_redis);
crate::on_both_buses!(users_on_two_replicas_chat_both_ways, one_user_on_two_devices_on_two_replicas_gets_everything);

/// Storing is on every message's path: `/metrics` shows how long it took and how many
/// messages shared a batch, so that an operator can tell a slow database from a slow bus.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_time_from_frame_to_commit_is_measured() {
    let suite = spawn(Backend::Postgres, Bus::InProcess, 1).await;
    let (alice, bob) = (suite.user("alice").await, suite.user("bob").await);
    let mut a = suite.connect(0, &alice).await;
    let mut b = suite.connect(0, &bob).await;
    let chat_id = suite.chat(&mut a, &bob, &mut b).await;
    for i in 0..3 {
        a.request("send_message", send(&chat_id, "measured"), json!(i)).await;
    }

    assert_eq!(suite.metric(0, "chat_suite_ws_store_seconds_count").await, 3.0);
    assert!(suite.metric(0, "chat_suite_ws_store_seconds_sum").await > 0.0);
    // One at a time, each waited for: three batches.
    assert_eq!(suite.metric(0, "chat_suite_ws_batches_total").await, 3.0);
    assert_eq!(suite.metric(0, "chat_suite_ws_messages_total").await, 3.0);
}
