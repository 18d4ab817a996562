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
