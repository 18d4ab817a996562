//! Blocking users and muting chats, on both databases: a block refuses both of a private chat
//! (`blocked`, on `/chat` and over the original clients' payloads) and leaves groups alone; a
//! muted chat writes no push while its messages still arrive.

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};
use shared::entities::notification_outbox;
use testkit::on_both_backends;

use crate::helpers::{Backend, Bus, Suite, User, spawn};

fn refusal(reply: &Value) -> &str {
    assert_eq!(reply["event"], "error", "{reply}");
    reply["data"]["code"].as_str().unwrap()
}

/// `method path` as `user`: the status and the JSON body (null when there is none).
async fn call(suite: &Suite, user: &User, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
    let url = format!("{}{path}", suite.gateways[0].address);
    let mut request = suite.client.request(method, url).bearer_auth(&user.token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = testkit::read(request).await;
    (response.status, response.body)
}

async fn pushes_for(suite: &Suite, user: &User) -> usize {
    notification_outbox::Entity::find()
        .filter(notification_outbox::Column::EventType.eq("message.created"))
        .filter(notification_outbox::Column::Key.eq(user.id.as_str()))
        .all(&suite.db)
        .await
        .unwrap()
        .len()
}

async fn blocking_refuses_both_of_a_private_chat_and_no_group(backend: Backend) {
    use reqwest::Method;
    let suite = spawn(backend, Bus::InProcess, 1).await;
    let (alice, bob, carol) = (suite.user("alice").await, suite.user("bob").await, suite.user("carol").await);
    let mut a = suite.connect(0, &alice).await;
    let mut b = suite.connect(0, &bob).await;
    let chat = suite.chat(&mut a, &bob, &mut b).await;
    let sent = a.request("send_message", json!({"chat_id": chat, "content": "hi"}), json!(1)).await;
    let message_id = sent["data"]["message_id"].clone();
    b.next_of("receive_message").await;
    let group = a.request("create_group", json!({"title": "Three", "user_ids": [bob.id, carol.id]}), json!(2)).await;
    let group = group["data"]["chat_id"].clone();
    b.next_of("group_created").await;

    // Bad requests are refused by name; blocking is idempotent.
    let path = |user: &User| format!("/me/blocks/{}", user.id);
    assert_eq!(call(&suite, &bob, Method::PUT, &path(&bob), None).await.0, 400, "oneself");
    assert_eq!(call(&suite, &bob, Method::PUT, "/me/blocks/not-a-uuid", None).await.0, 400);
    let nobody = format!("/me/blocks/{}", uuid::Uuid::new_v4());
    assert_eq!(call(&suite, &bob, Method::PUT, &nobody, None).await.0, 404);
    assert_eq!(call(&suite, &bob, Method::PUT, &path(&alice), None).await, (204, Value::Null));
    assert_eq!(call(&suite, &bob, Method::PUT, &path(&alice), None).await.0, 204);
    assert_eq!(call(&suite, &bob, Method::GET, "/me/blocks", None).await, (200, json!({"user_ids": [alice.id]})));
    assert_eq!(call(&suite, &alice, Method::GET, "/me/blocks", None).await, (200, json!({"user_ids": []})));

    // Both directions are refused, in the chat they had and in starting one.
    let to_bob = a.request("send_message", json!({"chat_id": chat, "content": "hello?"}), json!(3)).await;
    assert_eq!(refusal(&to_bob), "blocked");
    let to_alice = b.request("send_message", json!({"chat_id": chat, "content": "leave me"}), json!(4)).await;
    assert_eq!(refusal(&to_alice), "blocked");
    assert_eq!(refusal(&a.request("start_private_chat", json!({"user_id": bob.id}), json!(5)).await), "blocked");
    assert_eq!(refusal(&b.request("start_private_chat", json!({"user_id": alice.id}), json!(6)).await), "blocked");
    let react = json!({"chat_id": chat, "message_id": message_id, "emoji": "👍"});
    assert_eq!(refusal(&b.request("add_reaction", react.clone(), json!(7)).await), "blocked");
    let edit = json!({"chat_id": chat, "message_id": message_id, "content": "hi!"});
    assert_eq!(refusal(&a.request("edit_message", edit, json!(8)).await), "blocked");
    let page = suite.get(0, &format!("/chats/{chat}/messages"), Some(&bob.token)).await;
    assert_eq!(page.body["messages"].as_array().unwrap().len(), 1, "nothing refused was stored: {}", page.body);

    // A group is no private chat.
    let in_group = a.request("send_message", json!({"chat_id": group, "content": "all of us"}), json!(9)).await;
    assert_eq!(in_group["event"], "receive_message", "{in_group}");
    assert_eq!(b.next_of("receive_message").await["data"]["content"], "all of us");

    // Unblocked, they talk again.
    assert_eq!(call(&suite, &bob, Method::DELETE, &path(&alice), None).await.0, 204);
    assert_eq!(call(&suite, &bob, Method::DELETE, &path(&alice), None).await.0, 204);
    let again = a.request("send_message", json!({"chat_id": chat, "content": "friends?"}), json!(10)).await;
    assert_eq!(again["event"], "receive_message", "{again}");
    assert_eq!(b.next_of("receive_message").await["data"]["content"], "friends?");
}

async fn a_muted_chat_pushes_nothing_until_unmuted(backend: Backend) {
    use reqwest::Method;
    let suite = spawn(backend, Bus::InProcess, 1).await;
    let (alice, bob, carol) = (suite.user("alice").await, suite.user("bob").await, suite.user("carol").await);
    let mut a = suite.connect(0, &alice).await;
    let mut b = suite.connect(0, &bob).await;
    let chat = suite.chat(&mut a, &bob, &mut b).await;
    let mute = format!("/chats/{chat}/mute");

    assert_eq!(call(&suite, &carol, Method::PUT, &mute, Some(json!({}))).await.0, 403, "not her chat");
    let past = call(&suite, &bob, Method::PUT, &mute, Some(json!({"until": "2001-01-01T00:00:00Z"}))).await;
    assert_eq!((past.0, &past.1["code"]), (400, &json!("invalid_field")));
    assert_eq!(call(&suite, &bob, Method::PUT, &mute, Some(json!({"until": "soon"}))).await.0, 400);
    assert_eq!(call(&suite, &bob, Method::PUT, &mute, Some(json!({"for": 5}))).await.0, 400);
    let muted = call(&suite, &bob, Method::PUT, &mute, Some(json!({"until": "2999-01-01T10:00:00+02:00"}))).await;
    assert_eq!(muted, (200, json!({"chat_id": chat, "muted_until": "2999-01-01T08:00:00.000Z"})));
    let forever = call(&suite, &bob, Method::PUT, &mute, Some(json!({}))).await;
    assert_eq!(forever.1["muted_until"], "9999-12-31T23:59:59.999Z");
    // Schemathesis found null refused by the document and taken by the route: both take it.
    let null = call(&suite, &bob, Method::PUT, &mute, Some(json!({"until": null}))).await;
    assert_eq!(null, (200, json!({"chat_id": chat, "muted_until": "9999-12-31T23:59:59.999Z"})));
    let entry =
        |list: &Value| list["chats"].as_array().unwrap().iter().find(|c| c["chat_id"] == chat).cloned().unwrap();
    let listed = suite.get(0, "/chats", Some(&bob.token)).await;
    assert_eq!(entry(&listed.body)["muted_until"], "9999-12-31T23:59:59.999Z");
    assert_eq!(entry(&suite.get(0, "/chats", Some(&alice.token)).await.body)["muted_until"], Value::Null);

    // Muted and away: the message is stored (and read later), no push is written.
    b.close().await;
    a.request("send_message", json!({"chat_id": chat, "content": "quietly"}), json!(1)).await;
    assert_eq!(pushes_for(&suite, &bob).await, 0);
    assert_eq!(entry(&suite.get(0, "/chats", Some(&bob.token)).await.body)["unread_count"], 1);

    // Unmuted: pushes again.
    assert_eq!(call(&suite, &bob, Method::DELETE, &mute, None).await.0, 204);
    assert_eq!(entry(&suite.get(0, "/chats", Some(&bob.token)).await.body)["muted_until"], Value::Null);
    a.request("send_message", json!({"chat_id": chat, "content": "loudly"}), json!(2)).await;
    assert_eq!(pushes_for(&suite, &bob).await, 1);
}

on_both_backends!(blocking_refuses_both_of_a_private_chat_and_no_group, a_muted_chat_pushes_nothing_until_unmuted);
