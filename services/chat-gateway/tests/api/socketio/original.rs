//! Clients written for the original service, with a token added and nothing else changed:
//! its acknowledgement, its event shapes, and a new chat announced once.

use serde_json::{Value, json};
use testkit::socketio::{NodeClients, Version};

use super::clients::{connect, one, url};
use crate::helpers::{Backend, Bus, Suite, User, spawn};

/// Connects client `id` as `user` with `auth` beside the token (as the original's clients
/// would, plus the token).
async fn connect_with(clients: &mut NodeClients, suite: &Suite, id: &str, user: &User, auth: Value) {
    let mut opts = json!({"auth": {"token": user.token}});
    for (key, value) in auth.as_object().unwrap() {
        opts["auth"][key] = value.clone();
    }
    clients.connect(id, Version::V3, &url(suite, 0), opts).await;
    let line = clients.wait_for(id, |l| l["type"] == "connect" || l["type"] == "connect_error").await;
    assert_eq!(line["type"], "connect", "{id}: {line}");
}

/// The events client `id` was sent before the server answered a `typing` with a callback:
/// everything queued for it until then.
async fn events_so_far(clients: &mut NodeClients, id: &str, chat_id: &Value) -> Vec<Value> {
    let n = clients.emit_with_ack(id, "typing", json!({"chat_id": chat_id})).await;
    clients.ack(id, n).await;
    clients.untaken(id).into_iter().filter(|l| l["type"] == "event").collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_original_clients_get_the_original_shapes_and_acknowledgement() {
    let suite = spawn(Backend::Postgres, Bus::InProcess, 1).await;
    let (a, b, c) = (suite.user("shape_a").await, suite.user("shape_b").await, suite.user("shape_c").await);
    let mut clients = NodeClients::start();
    // `a` is an original client found out by its first payload; `b` asks for the shapes from
    // the start; `c` is a client of ours.
    connect_with(&mut clients, &suite, "a", &a, json!({})).await;
    connect_with(&mut clients, &suite, "b", &b, json!({"payloads": "original"})).await;
    connect_with(&mut clients, &suite, "c", &c, json!({})).await;

    // The original server emitted the bare chat id, once, without a callback.
    clients.emit("a", "start_private_chat", json!({"sender_id": a.id, "receiver_id": b.id})).await;
    let chat_id = one(clients.event("a", "private_chat_room_created").await);
    assert!(chat_id.is_string(), "{chat_id}");
    assert_eq!(one(clients.event("b", "private_chat_room_created").await), chat_id);
    let twice: Vec<Value> = events_so_far(&mut clients, "a", &chat_id)
        .await
        .into_iter()
        .filter(|l| l["event"] == "private_chat_room_created")
        .collect();
    assert_eq!(twice, Vec::<Value>::new(), "a heard more than its chat once");

    // Messages carry their text as `message` too, as the original server's did.
    for text in ["one", "two"] {
        let sent = json!({"chat_id": chat_id, "sender_id": a.id, "message": text, "type": "text"});
        clients.emit("a", "send_message", sent).await;
        let received = one(clients.event("b", "receive_message").await);
        assert_eq!((&received["content"], &received["message"]), (&json!(text), &json!(text)));
    }
    // Without a callback, the sender hears its own messages as events.
    one(clients.event("a", "receive_message").await);
    let newest = one(clients.event("a", "receive_message").await)["message_id"].clone();

    // The original acknowledgement {sender_id, receiver_id}: the pair's chat, up to the
    // sender's newest message. It used to be refused (unknown field `sender_id`).
    let n = clients.emit_with_ack("b", "receive_message", json!({"sender_id": a.id, "receiver_id": b.id})).await;
    assert_eq!(one(clients.ack("b", n).await), json!({}));
    let receipt = one(clients.event("a", "message_received").await);
    assert_eq!(receipt, json!({"chat_id": chat_id, "message_id": newest, "user_id": b.id}));
    // With no chat between them, there is nothing to acknowledge.
    let n = clients.emit_with_ack("b", "receive_message", json!({"sender_id": c.id, "receiver_id": b.id})).await;
    assert_eq!(one(clients.ack("b", n).await)["error"]["code"], "not_found");

    // A client of ours keeps our shapes, even in a chat with an original client.
    let n = clients.emit_with_ack("c", "start_private_chat", json!({"user_id": a.id})).await;
    let created = one(clients.ack("c", n).await);
    assert_eq!(created["user_ids"].as_array().map(Vec::len), Some(2), "{created}");
    assert!(one(clients.event("a", "private_chat_room_created").await).is_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_payloads_choice_is_refused_naming_it() {
    let suite = spawn(Backend::Postgres, Bus::InProcess, 1).await;
    let a = suite.user("shape_bad").await;
    let mut clients = NodeClients::start();
    let opts = json!({"auth": {"token": a.token, "payloads": "ancient"}});
    clients.connect("a", Version::V4, &url(&suite, 0), opts).await;
    let line = clients.wait_for("a", |l| l["type"] == "connect" || l["type"] == "connect_error").await;
    assert_eq!((&line["type"], &line["message"]), (&json!("connect_error"), &json!("invalid_field")));
    let opts = json!({"auth": {"token": a.token}, "query": {"payloads": "ancient"}});
    clients.connect("b", Version::V4, &url(&suite, 0), opts).await;
    let line = clients.wait_for("b", |l| l["type"] == "connect" || l["type"] == "connect_error").await;
    assert_eq!((&line["type"], &line["message"]), (&json!("connect_error"), &json!("invalid_field")));
    let opts = json!({"auth": {"token": a.token}, "query": {"payloads": "original"}});
    clients.connect("c", Version::V4, &url(&suite, 0), opts).await;
    let line = clients.wait_for("c", |l| l["type"] == "connect" || l["type"] == "connect_error").await;
    assert_eq!(line["type"], "connect", "{line}");
}

/// An event too long for its content used to end a WebSocket connection without a word (the
/// Engine.IO message limit was /chat's 64 KiB) while long-polling answered `content_too_long`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_message_is_refused_alike_over_both_transports() {
    let suite = spawn(Backend::Postgres, Bus::InProcess, 1).await;
    let mut clients = NodeClients::start();
    for transports in [json!(["websocket"]), json!(["polling"])] {
        let (a, b) = (suite.user("long_a").await, suite.user("long_b").await);
        let id = format!("a {transports}");
        connect(&mut clients, &id, Version::V4, &url(&suite, 0), &a, &transports).await;
        let n = clients.emit_with_ack(&id, "start_private_chat", json!({"user_id": b.id})).await;
        let chat_id = one(clients.ack(&id, n).await)["chat_id"].clone();
        let long = json!({"chat_id": chat_id, "content": "x".repeat(100 * 1024)});
        let n = clients.emit_with_ack_unchecked(&id, "send_message", long).await;
        assert_eq!(one(clients.ack(&id, n).await)["error"]["code"], "content_too_long", "{transports}");
        let n = clients.emit_with_ack(&id, "send_message", json!({"chat_id": chat_id, "content": "short"})).await;
        assert_eq!(one(clients.ack(&id, n).await)["content"], "short", "{transports}");
        let gone: Vec<Value> = clients.untaken(&id).into_iter().filter(|l| l["type"] == "disconnect").collect();
        assert_eq!(gone, Vec::<Value>::new(), "{transports}");
    }
}
