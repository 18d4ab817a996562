//! The official JavaScript clients (`socket.io-client` 4 and 3, as the original service's page
//! loads it) against real gateways: both transports, across replicas, beside `/chat`, with the
//! original service's payloads, refused tokens, and a resume after a replica restarts.

use clap::Parser;
use serde_json::{Value, json};
use testkit::socketio::{NodeClients, Version};

use crate::helpers::{Backend, Bus, Running, Suite, User, Ws, spawn};

pub(super) fn url(suite: &Suite, replica: usize) -> String {
    format!("http://127.0.0.1:{}/chat", suite.gateways[replica].port)
}

/// Connects client `id` as `user` and waits until it is in: every line of the client until
/// then, `connect` last.
pub(super) async fn connect(
    clients: &mut NodeClients,
    id: &str,
    version: Version,
    url: &str,
    user: &User,
    transports: &Value,
) -> Vec<Value> {
    let mut opts = json!({"auth": {"token": user.token}});
    if !transports.is_null() {
        opts["transports"] = transports.clone();
    }
    clients.connect(id, version, url, opts).await;
    let mut lines = Vec::new();
    loop {
        let line = clients.next_for(id).await;
        assert_ne!(line["type"], "connect_error", "{id}: {line}");
        lines.push(line);
        if lines.last().unwrap()["type"] == "connect" {
            return lines;
        }
    }
}

/// The one argument of an ack or event.
pub(super) fn one(args: Vec<Value>) -> Value {
    assert_eq!(args.len(), 1, "{args:?}");
    args.into_iter().next().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_versions_chat_across_replicas_over_both_transports() {
    let suite = spawn(Backend::Postgres, Bus::Redis, 2).await;
    let mut clients = NodeClients::start();
    for version in Version::BOTH {
        for transports in [Value::Null, json!(["websocket"])] {
            let case = format!("{version:?} {transports}");
            let (a, b) = (suite.user("sio_a").await, suite.user("sio_b").await);
            let (ida, idb) = (format!("a {case}"), format!("b {case}"));
            let seen = connect(&mut clients, &ida, version, &url(&suite, 0), &a, &transports).await;
            connect(&mut clients, &idb, version, &url(&suite, 1), &b, &transports).await;
            if transports.is_null() {
                // Long-polling first, then the upgrade, as the clients do by default (the
                // version 3 client upgrades before it joins the namespace, 4 after).
                let upgraded = match seen.iter().find(|l| l["type"] == "upgrade") {
                    Some(upgraded) => upgraded.clone(),
                    None => clients.wait_for(&ida, |l| l["type"] == "upgrade").await,
                };
                assert_eq!(upgraded["transport"], "websocket", "{case}");
            }

            let n = clients.emit_with_ack(&ida, "start_private_chat", json!({"receiver_id": b.id})).await;
            let chat = one(clients.ack(&ida, n).await);
            let chat_id = chat["chat_id"].as_str().unwrap().to_owned();
            assert_eq!(one(clients.event(&idb, "private_chat_room_created").await)["chat_id"], chat_id, "{case}");

            for (from, to, sender, text) in [(&ida, &idb, &a, "hello b"), (&idb, &ida, &b, "hello a")] {
                let n = clients.emit_with_ack(from, "send_message", json!({"chat_id": chat_id, "content": text})).await;
                let stored = one(clients.ack(from, n).await);
                assert_eq!(stored["content"], text, "{case}");
                let received = one(clients.event(to, "receive_message").await);
                assert_eq!((&received["sender_id"], &received["content"]), (&json!(sender.id), &json!(text)), "{case}");
                assert_eq!(received["message_id"], stored["message_id"], "{case}");
                clients
                    .emit(to, "receive_message", json!({"chat_id": chat_id, "message_id": received["message_id"]}))
                    .await;
                let receipt = one(clients.event(from, "message_received").await);
                assert_eq!(receipt["message_id"], stored["message_id"], "{case}");
            }
            clients.disconnect(&ida).await;
            clients.disconnect(&idb).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_original_clients_payloads_work_with_a_token_added() {
    let suite = spawn(Backend::Postgres, Bus::InProcess, 1).await;
    let (a, b) = (suite.user("orig_a").await, suite.user("orig_b").await);
    let mut clients = NodeClients::start();
    connect(&mut clients, "a", Version::V3, &url(&suite, 0), &a, &Value::Null).await;
    connect(&mut clients, "b", Version::V3, &url(&suite, 0), &b, &Value::Null).await;

    // The original web page: no chat id, no callback; the pair's chat is made on the way.
    clients
        .emit("a", "send_message", json!({"sender_id": a.id, "receiver_id": b.id, "content": "hi from the page"}))
        .await;
    let received = one(clients.event("b", "receive_message").await);
    assert_eq!((&received["sender_id"], &received["content"]), (&json!(a.id), &json!("hi from the page")));
    let chat_id = received["chat_id"].clone();
    // Without a callback the sender's own connection gets the stored message as an event, once.
    assert_eq!(one(clients.event("a", "receive_message").await)["message_id"], received["message_id"]);

    // The original server's start_private_chat and send_message shapes.
    // The chat was announced to `b` in our shape; a connection that names its sender reads the
    // original's shapes from then on: the chat's bare id.
    assert_eq!(one(clients.event("b", "private_chat_room_created").await)["chat_id"], chat_id);
    clients.emit("b", "start_private_chat", json!({"sender_id": b.id, "receiver_id": a.id})).await;
    assert_eq!(one(clients.event("b", "private_chat_room_created").await), chat_id);
    let original = json!({"chat_id": chat_id, "sender_id": b.id, "message": "hi from the app", "type": "text"});
    clients.emit("b", "send_message", original).await;
    let received = one(clients.event("a", "receive_message").await);
    assert_eq!((&received["sender_id"], &received["content"]), (&json!(b.id), &json!("hi from the app")));

    // receive_message from a client is its receipt; the sender hears of it.
    clients.emit("a", "receive_message", json!({"chat_id": chat_id, "message_id": received["message_id"]})).await;
    assert_eq!(one(clients.event("b", "message_received").await)["message_id"], received["message_id"]);

    // Someone else's sender_id is refused, through the callback.
    let forged = json!({"chat_id": chat_id, "sender_id": b.id, "content": "not mine"});
    let n = clients.emit_with_ack("a", "send_message", forged).await;
    assert_eq!(one(clients.ack("a", n).await)["error"]["code"], "forbidden");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn socketio_and_chat_connections_share_everything() {
    let suite = spawn(Backend::Postgres, Bus::Redis, 2).await;
    let (a, b) = (suite.user("both_a").await, suite.user("both_b").await);
    let mut clients = NodeClients::start();
    connect(&mut clients, "a", Version::V4, &url(&suite, 0), &a, &Value::Null).await;
    let mut a_ws: Ws = suite.connect(1, &a).await;
    let mut b_ws: Ws = suite.connect(1, &b).await;

    let n = clients.emit_with_ack("a", "start_private_chat", json!({"user_id": b.id})).await;
    let chat_id = one(clients.ack("a", n).await)["chat_id"].clone();
    b_ws.next_of("private_chat_room_created").await;
    a_ws.next_of("private_chat_room_created").await;

    // From Socket.IO to /chat, and to the sender's own /chat connection.
    let n = clients.emit_with_ack("a", "send_message", json!({"chat_id": chat_id, "content": "from socket.io"})).await;
    let stored = one(clients.ack("a", n).await);
    assert_eq!(b_ws.next_of("receive_message").await["data"]["message_id"], stored["message_id"]);
    assert_eq!(a_ws.next_of("receive_message").await["data"]["message_id"], stored["message_id"]);

    // From /chat to Socket.IO.
    b_ws.send("send_message", json!({"chat_id": chat_id, "content": "from /chat"})).await;
    let received = one(clients.event("a", "receive_message").await);
    assert_eq!((&received["content"], &received["sender_id"]), (&json!("from /chat"), &json!(b.id)));
    assert_eq!(a_ws.next_of("receive_message").await["data"]["content"], "from /chat");
    b_ws.send("typing", json!({"chat_id": chat_id})).await;
    assert_eq!(one(clients.event("a", "typing").await)["user_id"], b.id.as_str());

    // Read receipts and presence cross over too; `ack` is the callback's empty answer.
    let seen = json!({"chat_id": chat_id, "message_id": received["message_id"]});
    let n = clients.emit_with_ack("a", "seen", seen).await;
    assert_eq!(one(clients.ack("a", n).await), json!({}));
    assert_eq!(b_ws.next_of("message_seen").await["data"]["message_id"], received["message_id"]);
    b_ws.close().await;
    assert_eq!(one(clients.event("a", "offline").await)["user_id"], b.id.as_str());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_and_bad_tokens_are_a_connect_error_naming_the_code() {
    let suite = spawn(Backend::Postgres, Bus::InProcess, 1).await;
    let mut clients = NodeClients::start();
    for version in Version::BOTH {
        for (auth, code) in [(json!({}), "missing_token"), (json!({"token": "nope"}), "invalid_token")] {
            let id = format!("{version:?} {code}");
            clients.connect(&id, version, &url(&suite, 0), json!({"auth": auth, "reconnection": false})).await;
            let line = clients.wait_for(&id, |l| l["type"] == "connect" || l["type"] == "connect_error").await;
            assert_eq!((&line["type"], &line["message"]), (&json!("connect_error"), &json!(code)), "{id}");
        }
    }
}

/// The replica a client is on restarts mid-conversation (on the same address, as behind a
/// Service): the client reconnects by itself, its `auth` carrying the last message it saw in
/// each chat, and gets what was sent meanwhile, in order, each once, then live traffic.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_of_a_restarting_replica_reconnects_and_resumes_without_loss() {
    let mut suite = spawn(Backend::Postgres, Bus::Redis, 2).await;
    let (a, b) = (suite.user("resume_a").await, suite.user("resume_b").await);
    let mut clients = NodeClients::start();
    let opts = json!({"auth": {"token": a.token}, "reconnectionDelay": 100, "reconnectionDelayMax": 500});
    clients.connect_resuming("a", Version::V4, &url(&suite, 0), opts).await;
    clients.wait_for("a", |l| l["type"] == "connect").await;
    let mut b_ws: Ws = suite.connect(1, &b).await;
    let n = clients.emit_with_ack("a", "start_private_chat", json!({"user_id": b.id})).await;
    let chat_id = one(clients.ack("a", n).await)["chat_id"].as_str().unwrap().to_owned();
    b_ws.next_of("private_chat_room_created").await;

    let send = |i: usize| json!({"chat_id": chat_id, "content": format!("m{i}")});
    let mut seen = Vec::new();
    for i in 0..3 {
        b_ws.send("send_message", send(i)).await;
        seen.push(one(clients.event("a", "receive_message").await)["content"].as_str().unwrap().to_owned());
    }

    // The replica stops: its Socket.IO clients are closed at the Engine.IO level, which a
    // client takes as a dropped transport and reconnects after by itself.
    let port = suite.gateways[0].port;
    suite.gateways.remove(0).stop().await;
    let gone = clients.wait_for("a", |l| l["type"] == "disconnect").await;
    assert_eq!(gone["reason"], "transport close", "{gone}");
    for i in 3..6 {
        b_ws.send("send_message", send(i)).await;
    }
    let args: Vec<String> = suite
        .gateway_args()
        .into_iter()
        .map(|arg| if arg.starts_with("--listen-addr=") { format!("--listen-addr=127.0.0.1:{port}") } else { arg })
        .collect();
    let cli = chat_gateway::config::Cli::try_parse_from(args).unwrap();
    suite.gateways.push(Running::start(chat_gateway::startup::build(&cli).await.unwrap()));

    clients.wait_for("a", |l| l["type"] == "connect").await;
    b_ws.send("send_message", send(6)).await;
    while seen.last().map(String::as_str) != Some("m6") {
        seen.push(one(clients.event("a", "receive_message").await)["content"].as_str().unwrap().to_owned());
    }
    assert_eq!(seen, ["m0", "m1", "m2", "m3", "m4", "m5", "m6"], "in order, each once, nothing lost");
}

/// A group over Socket.IO, the official client 4 on two replicas: made with an ack, every
/// event under the names `/chat` uses, a removed member hearing nothing more of it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_over_socketio_across_replicas() {
    let suite = spawn(Backend::Postgres, Bus::Redis, 2).await;
    let (a, b, c) = (suite.user("sio_a").await, suite.user("sio_b").await, suite.user("sio_c").await);
    let mut clients = NodeClients::start();
    connect(&mut clients, "a", Version::V4, &url(&suite, 0), &a, &json!(["websocket"])).await;
    connect(&mut clients, "b", Version::V4, &url(&suite, 1), &b, &json!(["websocket"])).await;
    connect(&mut clients, "c", Version::V4, &url(&suite, 1), &c, &json!(["websocket"])).await;

    let n = clients.emit_with_ack("a", "create_group", json!({"title": "Trio", "user_ids": [b.id, c.id]})).await;
    let made = one(clients.ack("a", n).await);
    let chat_id = made["chat_id"].as_str().unwrap().to_owned();
    assert_eq!((&made["title"], &made["owner_id"]), (&json!("Trio"), &json!(a.id)));
    for member in ["b", "c"] {
        assert_eq!(one(clients.event(member, "group_created").await), made);
    }
    let n = clients.emit_with_ack("b", "send_message", json!({"chat_id": chat_id, "content": "hi all"})).await;
    let stored = one(clients.ack("b", n).await);
    for member in ["a", "c"] {
        assert_eq!(one(clients.event(member, "receive_message").await)["message_id"], stored["message_id"]);
    }
    clients.emit("c", "seen", json!({"chat_id": chat_id, "message_id": stored["message_id"]})).await;
    let seen = one(clients.event("b", "message_seen").await);
    assert_eq!((&seen["user_id"], &seen["message_id"]), (&json!(c.id), &stored["message_id"]));

    let n = clients.emit_with_ack("a", "remove_member", json!({"chat_id": chat_id, "user_id": c.id})).await;
    let removed = one(clients.ack("a", n).await);
    assert_eq!(removed, json!({"chat_id": chat_id, "user_id": c.id, "by": a.id}));
    for member in ["b", "c"] {
        assert_eq!(one(clients.event(member, "member_removed").await), removed);
    }
    let n = clients.emit_with_ack("b", "send_message", json!({"chat_id": chat_id, "content": "just us"})).await;
    let later = one(clients.ack("b", n).await);
    assert_eq!(one(clients.event("a", "receive_message").await)["message_id"], later["message_id"]);
    // c's refusal comes after anything of the group that was on its way to c.
    let n = clients.emit_with_ack("c", "send_message", json!({"chat_id": chat_id, "content": "me too?"})).await;
    assert_eq!(one(clients.ack("c", n).await)["error"]["code"], "forbidden");
    let stray: Vec<Value> = clients.untaken("c").into_iter().filter(|l| l["event"] == "receive_message").collect();
    assert!(stray.is_empty(), "c heard of the group after leaving it: {stray:?}");
}

/// A message changed over Socket.IO, the official client 4 on two replicas: a reply, an edit,
/// a reaction and a deletion, each answered through the ack callback and heard by the other
/// under `/chat`'s names; a blocked peer's message refused as `blocked`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_is_replied_to_edited_reacted_to_and_deleted_over_socketio() {
    let suite = spawn(Backend::Postgres, Bus::Redis, 2).await;
    let (a, b) = (suite.user("sio_a").await, suite.user("sio_b").await);
    let mut clients = NodeClients::start();
    connect(&mut clients, "a", Version::V4, &url(&suite, 0), &a, &json!(["websocket"])).await;
    connect(&mut clients, "b", Version::V4, &url(&suite, 1), &b, &Value::Null).await;
    let n = clients.emit_with_ack("a", "start_private_chat", json!({"receiver_id": b.id})).await;
    let chat_id = one(clients.ack("a", n).await)["chat_id"].as_str().unwrap().to_owned();
    clients.event("b", "private_chat_room_created").await;

    let n = clients.emit_with_ack("a", "send_message", json!({"chat_id": chat_id, "content": "noon?"})).await;
    let question = one(clients.ack("a", n).await);
    let q = question["message_id"].clone();
    clients.event("b", "receive_message").await;
    let n =
        clients.emit_with_ack("b", "send_message", json!({"chat_id": chat_id, "content": "yes", "reply_to": q})).await;
    assert_eq!(one(clients.ack("b", n).await)["reply_to"], q);
    assert_eq!(one(clients.event("a", "receive_message").await)["reply_to"], q);

    let n = clients
        .emit_with_ack("a", "edit_message", json!({"chat_id": chat_id, "message_id": q, "content": "one?"}))
        .await;
    let edited = one(clients.ack("a", n).await);
    assert_eq!((&edited["content"], &edited["message_id"]), (&json!("one?"), &q));
    assert_eq!(one(clients.event("b", "message_edited").await), edited);

    let reaction = json!({"chat_id": chat_id, "message_id": q, "emoji": "👍"});
    let n = clients.emit_with_ack("b", "add_reaction", reaction.clone()).await;
    let added = one(clients.ack("b", n).await);
    assert_eq!(added, json!({"chat_id": chat_id, "message_id": q, "emoji": "👍", "user_id": b.id}));
    assert_eq!(one(clients.event("a", "reaction_added").await), added);
    let n =
        clients.emit_with_ack("a", "add_reaction", json!({"chat_id": chat_id, "message_id": q, "emoji": "no"})).await;
    assert_eq!(one(clients.ack("a", n).await)["error"]["code"], "invalid_data");

    let n = clients.emit_with_ack("a", "delete_message", json!({"chat_id": chat_id, "message_id": q})).await;
    let deleted = one(clients.ack("a", n).await);
    assert_eq!(deleted, json!({"chat_id": chat_id, "message_id": q, "by": a.id}));
    assert_eq!(one(clients.event("b", "message_deleted").await), deleted);

    let blocked = suite
        .client
        .put(format!("{}/me/blocks/{}", suite.gateways[1].address, a.id))
        .bearer_auth(&b.token)
        .send()
        .await
        .unwrap();
    assert_eq!(blocked.status(), 204);
    let n = clients.emit_with_ack("a", "send_message", json!({"chat_id": chat_id, "content": "hello?"})).await;
    assert_eq!(one(clients.ack("a", n).await)["error"]["code"], "blocked");
}
