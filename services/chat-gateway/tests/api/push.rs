//! Offline push: a recipient with no live connection anywhere gets a `message.created` event
//! in the outbox, written with the message; one connected on any replica does not.

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::json;
use shared::entities::notification_outbox;

use crate::helpers::{Backend, Bus, spawn};

async fn pushes_for(db: &sea_orm::DatabaseConnection, user_id: &str) -> Vec<serde_json::Value> {
    notification_outbox::Entity::find()
        .filter(notification_outbox::Column::EventType.eq("message.created"))
        .filter(notification_outbox::Column::Key.eq(user_id))
        .all(db)
        .await
        .unwrap()
        .into_iter()
        .map(|row| row.payload)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_recipients_without_a_live_connection_get_a_push() {
    let suite = spawn(Backend::Postgres, Bus::Redis, 2).await;
    let (alice, bob) = (suite.user("alice").await, suite.user("bob").await);
    let mut a = suite.connect(0, &alice).await;
    let mut b = suite.connect(1, &bob).await;
    let chat_id = suite.chat(&mut a, &bob, &mut b).await;

    a.request("send_message", json!({"chat_id": chat_id, "content": "you are here"}), json!(1)).await;
    assert!(pushes_for(&suite.db, &bob.id).await.is_empty(), "bob is online on the other replica");

    // Dave has never connected.
    let dave = suite.user("dave").await;
    let with_dave = a.request("start_private_chat", json!({"user_id": dave.id}), json!("d")).await;
    let with_dave = with_dave["data"]["chat_id"].as_str().unwrap().to_owned();
    let long = "ü".repeat(150);
    let sent = a.request("send_message", json!({"chat_id": with_dave, "content": long}), json!(2)).await;
    assert!(pushes_for(&suite.db, &bob.id).await.is_empty());
    let pushes = pushes_for(&suite.db, &dave.id).await;
    assert_eq!(pushes.len(), 1, "{pushes:?}");
    let push = &pushes[0];
    assert_eq!(push["header"], format!("New message from: {}", alice.username));
    assert_eq!(push["body"], format!("{}…", "ü".repeat(100)));
    assert_eq!(push["event_type"], "message.created");
    assert_eq!(push["schema_version"], 1);
    assert_eq!(push["user_id"], dave.id.as_str());
    assert_eq!(push["username"], dave.username.as_str());
    assert_eq!(push["fcm_token"], serde_json::Value::Null);
    assert_eq!(push["chat_id"], with_dave.as_str());
    assert_eq!(push["message_id"], sent["data"]["message_id"]);
    assert_eq!(push["sender_id"], alice.id.as_str());
    assert!(pushes_for(&suite.db, &alice.id).await.is_empty(), "the sender is not pushed");
}

/// A replica keeps what it learned of a remote peer's presence (so that a message does not
/// ask Redis each time), and the peer's announcements keep it right: a peer who goes offline
/// is pushed from the next message on, whether their last connection was on another replica
/// or on this one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_is_pushed_as_soon_as_their_going_offline_is_announced() {
    let suite = spawn(Backend::Postgres, Bus::Redis, 2).await;
    let (alice, bob) = (suite.user("alice").await, suite.user("bob").await);
    let mut a = suite.connect(0, &alice).await;
    let mut b = suite.connect(1, &bob).await;
    let chat_id = suite.chat(&mut a, &bob, &mut b).await;
    let send =
        |content: &str, id: u32| json!({"chat_id": chat_id, "content": content, "client_msg_id": id.to_string()});

    a.request("send_message", send("bob is on replica 1", 1), json!(1)).await;
    assert!(pushes_for(&suite.db, &bob.id).await.is_empty(), "bob is online on the other replica");

    // Bob's last connection, on the other replica, goes.
    b.close().await;
    assert_eq!(a.next_of("offline").await["data"], json!({"user_id": bob.id}));
    a.request("send_message", send("bob left replica 1", 2), json!(2)).await;
    assert_eq!(pushes_for(&suite.db, &bob.id).await.len(), 1);

    let b1 = suite.connect(1, &bob).await;
    assert_eq!(a.next_of("online").await["data"], json!({"user_id": bob.id}));
    a.request("send_message", send("bob is back on replica 1", 3), json!(3)).await;
    assert_eq!(pushes_for(&suite.db, &bob.id).await.len(), 1, "bob is online again");

    // Bob's last connection is on this replica: announced from here, without the bus.
    let b0 = suite.connect(0, &bob).await;
    b1.close().await;
    b0.close().await;
    assert_eq!(a.next_of("offline").await["data"], json!({"user_id": bob.id}));
    a.request("send_message", send("bob left replica 0", 4), json!(4)).await;
    assert_eq!(pushes_for(&suite.db, &bob.id).await.len(), 2);
}

/// In a group, every member with no live connection anywhere gets a push of each message, and
/// nobody connected (on either replica) or the sender does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_member_of_a_group_away_gets_a_push() {
    let suite = spawn(Backend::Postgres, Bus::Redis, 2).await;
    let (alice, bob, carol, dave) =
        (suite.user("alice").await, suite.user("bob").await, suite.user("carol").await, suite.user("dave").await);
    let mut a = suite.connect(0, &alice).await;
    let _b = suite.connect(1, &bob).await;
    let ids = [&bob.id, &carol.id, &dave.id];
    let made = a.request("create_group", json!({"title": "Away", "user_ids": ids}), json!("g")).await;
    let chat_id = made["data"]["chat_id"].as_str().unwrap().to_owned();
    let sent = a.request("send_message", json!({"chat_id": chat_id, "content": "anyone?"}), json!(1)).await;
    assert!(pushes_for(&suite.db, &bob.id).await.is_empty(), "bob is online on the other replica");
    assert!(pushes_for(&suite.db, &alice.id).await.is_empty(), "the sender is not pushed");
    for away in [&carol, &dave] {
        let pushes = pushes_for(&suite.db, &away.id).await;
        assert_eq!(pushes.len(), 1, "{pushes:?}");
        assert_eq!(pushes[0]["chat_id"], chat_id.as_str());
        assert_eq!(pushes[0]["message_id"], sent["data"]["message_id"]);
        assert_eq!(pushes[0]["user_id"], away.id.as_str());
    }
}
