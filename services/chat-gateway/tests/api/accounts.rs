//! An account deleted (auth-api's `DELETE /me`) while connected: its sockets close (4003) on
//! every replica and its token opens no other; what it wrote becomes tombstones its chat
//! peers hear of at once; it leaves its groups (ownership handed on); nobody can write to it;
//! nothing it wrote is left in any table. On Postgres across two replicas, and on SQLite.

use serde_json::{Value, json};
use testkit::{auth::PASSWORD, erasure::tables_holding};

use crate::helpers::{Backend, Bus, Suite, User, code, spawn};

/// `user` deletes their account at auth-api (`DELETE /me`), which answers 204.
async fn delete_account(suite: &Suite, user: &User) {
    let deleted = suite
        .client
        .delete(format!("{}/me", suite.auth.address))
        .bearer_auth(&user.token)
        .json(&json!({"password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
}

async fn a_deleted_account_leaves_only_tombstones(backend: Backend, bus: Bus, replicas: usize) {
    let suite = spawn(backend, bus, replicas).await;
    let (alice, bob, carol) = (suite.user("alice").await, suite.user("bob").await, suite.user("carol").await);
    let mut a = suite.connect(0, &alice).await;
    let mut b = suite.connect(replicas - 1, &bob).await;
    let chat = suite.chat(&mut a, &bob, &mut b).await;
    let group = a.request("create_group", json!({"title": "Three", "user_ids": [bob.id, carol.id]}), json!(1)).await;
    let group = group["data"]["chat_id"].as_str().unwrap().to_owned();
    b.next_of("group_created").await;
    let promoted = a.request("set_role", json!({"chat_id": group, "user_id": bob.id, "role": "admin"}), json!(2)).await;
    assert_eq!(promoted["event"], "member_role_changed", "{promoted}");

    // Alice writes in both; Carol, never connected, gets pushes of the group's.
    let mut written = Vec::new();
    for (at, text) in
        [(&chat, "alice says 6630-pear"), (&group, "alice tells all 6630-fig"), (&chat, "again 6630-kiwi")]
    {
        let sent = a.request("send_message", json!({"chat_id": at, "content": text}), json!(text)).await;
        written.push(sent["data"]["message_id"].as_i64().unwrap());
    }
    let from_bob = b.request("send_message", json!({"chat_id": chat, "content": "bob stays"}), json!(3)).await;
    assert!(!tables_holding(&suite.db, "6630-").await.is_empty());
    assert!(!tables_holding(&suite.db, &alice.username).await.is_empty());

    delete_account(&suite, &alice).await;

    // Alice's socket closes; her token, still signed, opens nothing.
    assert_eq!(code(&a.closed().await), Some(4003));
    let (status, body) = suite.refused_upgrade(0, &format!("access_token={}", alice.token)).await;
    assert_eq!((status, &body["code"]), (401, &json!("invalid_token")));

    // Bob hears each of her messages deleted, she leaves the group, and he owns it now.
    let mut tombstones = Vec::new();
    let (mut left, mut owner) = (false, false);
    while tombstones.len() < written.len() || !left || !owner {
        let frame = b.next().await;
        match frame["event"].as_str().unwrap() {
            "message_deleted" => {
                assert_eq!(frame["data"]["by"], alice.id.as_str(), "{frame}");
                tombstones.push(frame["data"]["message_id"].as_i64().unwrap());
            }
            "member_removed" => {
                assert_eq!(frame["data"], json!({"chat_id": group, "user_id": alice.id, "by": alice.id}));
                left = true;
            }
            "member_role_changed" if frame["data"]["role"] == "owner" => {
                assert_eq!(frame["data"]["user_id"], bob.id.as_str());
                owner = true;
            }
            _ => {}
        }
    }
    tombstones.sort_unstable();
    assert_eq!(tombstones, written);
    let page = suite.get(0, &format!("/chats/{chat}/messages"), Some(&bob.token)).await;
    let shown: Vec<(Value, Value)> = page.body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["deleted"].clone(), m["content"].clone()))
        .collect();
    assert_eq!(shown, [(json!(true), Value::Null), (json!(true), Value::Null), (json!(false), json!("bob stays"))]);
    assert_eq!(from_bob["event"], "receive_message");

    // Nobody writes to a deleted account; nothing it wrote or was called is left.
    let to_her = b.request("send_message", json!({"chat_id": chat, "content": "hello?"}), json!(4)).await;
    assert_eq!(to_her["data"]["code"], "not_found", "{to_her}");
    let start = b.request("start_private_chat", json!({"user_id": alice.id}), json!(5)).await;
    assert_eq!(start["data"]["code"], "not_found", "{start}");
    assert_eq!(tables_holding(&suite.db, "6630-").await, Vec::<String>::new());
    assert_eq!(tables_holding(&suite.db, &alice.username).await, Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgres_across_replicas() {
    a_deleted_account_leaves_only_tombstones(Backend::Postgres, Bus::Redis, 2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_sqlite() {
    a_deleted_account_leaves_only_tombstones(Backend::Sqlite, Bus::InProcess, 1).await;
}

/// A message stored in the instant its account was deleted (after the erasure looked) is
/// erased too: here written straight into the database after the deletion, and erased by a
/// replica that starts afterwards and settles the account's chats.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_stored_as_the_account_went_is_erased_too() {
    use sea_orm::{ConnectionTrait, Statement};
    let mut suite = spawn(Backend::Postgres, Bus::Redis, 1).await;
    let (alice, bob) = (suite.user("alice").await, suite.user("bob").await);
    let mut a = suite.connect(0, &alice).await;
    let mut b = suite.connect(0, &bob).await;
    let chat = suite.chat(&mut a, &bob, &mut b).await;
    a.request("send_message", json!({"chat_id": chat, "content": "before"}), json!(1)).await;
    delete_account(&suite, &alice).await;
    assert_eq!(code(&a.closed().await), Some(4003));
    // The replica that was there looks at deleted accounts every 30 s and would erase the
    // straggler too, at a moment of its own: only the one started later may.
    suite.gateways.clear();

    let straggle = format!(
        "WITH bumped AS (UPDATE chats SET last_seq = last_seq + 1, last_message_seq = last_seq + 1 \
         WHERE id = '{chat}' RETURNING last_seq) \
         INSERT INTO messages (chat_id, seq, sender_id, kind, content, sent_at) \
         SELECT '{chat}', last_seq, '{}', 'text', 'straggler 7781', now() FROM bumped",
        alice.id
    );
    suite.db.execute_raw(Statement::from_string(sea_orm::DatabaseBackend::Postgres, straggle)).await.unwrap();
    assert!(!tables_holding(&suite.db, "straggler 7781").await.is_empty());

    let late = suite.spawn_gateway().await;
    suite.gateways.push(late);
    let erased = async {
        while !tables_holding(&suite.db, "straggler 7781").await.is_empty() {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(15), erased).await.expect("the straggler is erased");
    let page = suite.get(0, &format!("/chats/{chat}/messages"), Some(&bob.token)).await;
    let deleted: Vec<&Value> = page.body["messages"].as_array().unwrap().iter().map(|m| &m["deleted"]).collect();
    assert_eq!(deleted, [&json!(true), &json!(true)], "{}", page.body);
}
