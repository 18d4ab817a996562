//! `GET /chats` and `GET /chats/{id}/messages`: the chat list and paged history.

use serde_json::{Value, json};

use crate::helpers::{Backend, Bus, spawn};

async fn history(suite: &crate::helpers::Suite, token: &str, chat_id: &str, query: &str) -> crate::helpers::Response {
    suite.get(0, &format!("/chats/{chat_id}/messages{query}"), Some(token)).await
}

fn contents(page: &Value) -> Vec<&str> {
    page["messages"].as_array().unwrap().iter().map(|m| m["content"].as_str().unwrap()).collect()
}

async fn chat_list_and_history(backend: Backend) {
    let suite = spawn(backend, Bus::InProcess, 1).await;
    let (alice, bob, carol) = (suite.user("alice").await, suite.user("bob").await, suite.user("carol").await);
    let mut a = suite.connect(0, &alice).await;
    let mut b = suite.connect(0, &bob).await;
    let mut c = suite.connect(0, &carol).await;
    let with_bob = suite.chat(&mut a, &bob, &mut b).await;
    let with_carol = suite.chat(&mut a, &carol, &mut c).await;
    let mut ids = Vec::new();
    for i in 0..5 {
        let sent = b.request("send_message", json!({"chat_id": with_bob, "content": format!("b{i}")}), json!(i)).await;
        ids.push(sent["data"]["message_id"].as_i64().unwrap());
    }
    let delivered = a.request("receive_message", json!({"chat_id": with_bob, "message_id": ids[4]}), json!("r")).await;
    assert_eq!(delivered["event"], "ack");
    let seen = a.request("seen", json!({"chat_id": with_bob, "message_id": ids[2]}), json!("s")).await;
    assert_eq!(seen["event"], "ack");
    let last = c.request("send_message", json!({"chat_id": with_carol, "content": "newest"}), json!("c")).await;

    // Newest activity first, with members, the last message and what alice has not seen.
    let list = suite.get(0, "/chats", Some(&alice.token)).await;
    assert_eq!(list.status, 200, "{}", list.body);
    let chats = list.body["chats"].as_array().unwrap();
    assert_eq!(chats.len(), 2);
    assert_eq!(chats[0]["chat_id"], with_carol.as_str());
    assert_eq!(chats[0]["last_message"], last["data"]);
    assert_eq!(chats[0]["unread_count"], 1);
    assert_eq!(chats[1]["chat_id"], with_bob.as_str());
    assert_eq!(chats[1]["unread_count"], 2, "b3 and b4 come after what alice has seen");
    assert_eq!(chats[1]["last_message"]["content"], "b4");
    // Each member with their receipts, so that a reload shows what was delivered and read:
    // alice acknowledged b0..b4 (delivered) and read up to b2; bob has nothing to acknowledge.
    let mut expected = vec![
        json!({"user_id": alice.id, "username": alice.username, "delivered_up_to": ids[4], "seen_up_to": ids[2]}),
        json!({"user_id": bob.id, "username": bob.username, "delivered_up_to": null, "seen_up_to": null}),
    ];
    expected.sort_by_key(|m| m["user_id"].as_str().unwrap().to_owned());
    assert_eq!(chats[1]["members"], json!(expected));
    assert_eq!(list.body["next_cursor"], Value::Null);

    // Paged.
    let first = suite.get(0, "/chats?limit=1", Some(&alice.token)).await;
    assert_eq!(first.body["chats"][0]["chat_id"], with_carol.as_str());
    let cursor = first.body["next_cursor"].as_str().unwrap();
    let second = suite.get(0, &format!("/chats?limit=1&cursor={cursor}"), Some(&alice.token)).await;
    assert_eq!(second.body["chats"][0]["chat_id"], with_bob.as_str());
    assert_eq!(second.body["next_cursor"], Value::Null);
    assert_eq!(suite.get(0, "/chats?cursor=bogus", Some(&alice.token)).await.status, 400);
    // A well-formed cursor whose time the database cannot hold (about year -200,000) was a 500.
    use base64::Engine as _;
    for micros in [-6_311_390_400_000_000_000_i64, 253_402_300_800_000_000] {
        let far = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("v1:{micros}|{with_bob}"));
        let refused = suite.get(0, &format!("/chats?cursor={far}"), Some(&alice.token)).await;
        assert_eq!((refused.status, &refused.body["field"]), (400, &json!("cursor")), "{}", refused.body);
    }
    assert_eq!(suite.get(0, "/chats?limit=0", Some(&alice.token)).await.status, 400);
    assert_eq!(suite.get(0, "/chats", None).await.status, 401);

    // History: the newest page, then older and newer pages by message id.
    let newest = history(&suite, &alice.token, &with_bob, "?limit=2").await;
    assert_eq!(newest.status, 200, "{}", newest.body);
    assert_eq!(contents(&newest.body), ["b3", "b4"]);
    assert_eq!(newest.body["has_more"], true);
    let receipts: Vec<Value> = expected
        .iter()
        .map(|m| json!({"user_id": m["user_id"], "delivered_up_to": m["delivered_up_to"], "seen_up_to": m["seen_up_to"]}))
        .collect();
    assert_eq!(newest.body["members"], json!(receipts), "every member's receipts beside the page");
    let older = history(&suite, &alice.token, &with_bob, &format!("?limit=2&before={}", ids[3])).await;
    assert_eq!(contents(&older.body), ["b1", "b2"]);
    assert_eq!(older.body["has_more"], true);
    let oldest = history(&suite, &alice.token, &with_bob, &format!("?limit=2&before={}", ids[1])).await;
    assert_eq!(contents(&oldest.body), ["b0"]);
    assert_eq!(oldest.body["has_more"], false);
    let newer = history(&suite, &alice.token, &with_bob, &format!("?after={}", ids[2])).await;
    assert_eq!(contents(&newer.body), ["b3", "b4"]);
    assert_eq!(newer.body["has_more"], false);
    assert_eq!(newer.body["messages"][0]["sender_id"], bob.id.as_str());

    // Both: the messages between two ids (a gap to fill), oldest first.
    let between =
        history(&suite, &alice.token, &with_bob, &format!("?after={}&before={}&limit=2", ids[0], ids[4])).await;
    assert_eq!(contents(&between.body), ["b1", "b2"]);
    assert_eq!(between.body["has_more"], true, "b3 lies between too");
    let empty = history(&suite, &alice.token, &with_bob, &format!("?after={}&before={}", ids[1], ids[1])).await;
    assert_eq!((empty.status, contents(&empty.body).len()), (200, 0), "{}", empty.body);

    for (query, status) in [("?limit=101", 400), ("?limit=x", 400), ("?before=x", 400)] {
        let resp = history(&suite, &alice.token, &with_bob, query).await;
        assert_eq!(resp.status, status, "{query}: {}", resp.body);
        assert!(resp.body["code"].is_string());
    }
    assert_eq!(history(&suite, &alice.token, "not-a-uuid", "").await.status, 400);
    let stranger = history(&suite, &alice.token, "00000000-0000-0000-0000-000000000000", "").await;
    assert_eq!(stranger.status, 403, "a chat that does not exist reads as one you are not in");
    assert_eq!(suite.get(0, &format!("/chats/{with_bob}/messages"), None).await.status, 401);
}

testkit::on_both_backends!(chat_list_and_history);
