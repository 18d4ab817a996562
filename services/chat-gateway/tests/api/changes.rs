//! Messages after they are sent: replies, edits, deletion (erased from every table, a
//! tombstone in history), reactions; who may do what, on both databases, in a private chat and
//! in a group across replicas, and what a client offline meanwhile replays.

use serde_json::{Value, json};
use testkit::{erasure::tables_holding, on_both_backends};

use crate::helpers::{Backend, Bus, Suite, User, Ws, spawn};

fn refusal(reply: &Value) -> &str {
    assert_eq!(reply["event"], "error", "{reply}");
    reply["data"]["code"].as_str().unwrap()
}

/// The history page of `chat_id` as `user` reads it, by message id.
async fn history(suite: &Suite, user: &User, chat_id: &str) -> Vec<Value> {
    let page = suite.get(0, &format!("/chats/{chat_id}/messages"), Some(&user.token)).await;
    assert_eq!(page.status, 200, "{}", page.body);
    page.body["messages"].as_array().unwrap().clone()
}

fn by_id(messages: &[Value], id: i64) -> Value {
    messages.iter().find(|m| m["message_id"] == id).cloned().unwrap_or_else(|| panic!("{id} in {messages:?}"))
}

/// `user`'s entry for `chat_id` in `GET /chats`.
async fn entry(suite: &Suite, user: &User, chat_id: &str) -> Value {
    let list = suite.get(0, "/chats", Some(&user.token)).await;
    assert_eq!(list.status, 200, "{}", list.body);
    list.body["chats"].as_array().unwrap().iter().find(|c| c["chat_id"] == chat_id).cloned().unwrap()
}

async fn send(ws: &mut Ws, data: Value, id: i64) -> Value {
    let reply = ws.request("send_message", data, json!(id)).await;
    assert_eq!(reply["event"], "receive_message", "{reply}");
    reply["data"].clone()
}

/// Every rule of a private chat, with each event's exact data on both sides, and what history,
/// the chat list and the database hold after.
async fn a_private_chat_replies_edits_deletes_and_reacts(backend: Backend) {
    let suite = spawn(backend, Bus::InProcess, 1).await;
    let (alice, bob) = (suite.user("alice").await, suite.user("bob").await);
    let mut a = suite.connect(0, &alice).await;
    let mut b = suite.connect(0, &bob).await;
    let chat = suite.chat(&mut a, &bob, &mut b).await;

    let question = send(&mut a, json!({"chat_id": chat, "content": "lunch at noon?"}), 1).await;
    let q = question["message_id"].as_i64().unwrap();
    assert_eq!(
        (&question["reply_to"], &question["deleted"], &question["edited_at"]),
        (&json!(null), &json!(false), &json!(null))
    );
    assert!(question.get("reactions").is_none(), "reactions come as events on the socket: {question}");
    b.next_of("receive_message").await;

    // A reply names the message it answers; one to a message of no chat of theirs is refused.
    let answer = send(&mut b, json!({"chat_id": chat, "content": "yes!", "reply_to": q}), 2).await;
    assert_eq!(answer["reply_to"], q);
    assert_eq!(a.next_of("receive_message").await["data"], answer);
    let stray =
        b.request("send_message", json!({"chat_id": chat, "content": "x", "reply_to": q + 1000}), json!(3)).await;
    assert_eq!(refusal(&stray), "invalid_data");

    // Only the sender edits; the edit reaches both, history shows it.
    let by_bob =
        b.request("edit_message", json!({"chat_id": chat, "message_id": q, "content": "mine now"}), json!(4)).await;
    assert_eq!(refusal(&by_bob), "forbidden");
    let edited = a
        .request("edit_message", json!({"chat_id": chat, "message_id": q, "content": "lunch at one?"}), json!(5))
        .await;
    assert_eq!(edited["event"], "message_edited", "{edited}");
    let edited_at = edited["data"]["edited_at"].as_str().unwrap().to_owned();
    assert_eq!(
        edited["data"],
        json!({"chat_id": chat, "message_id": q, "content": "lunch at one?", "edited_at": edited_at})
    );
    assert_eq!(b.next_of("message_edited").await["data"], edited["data"]);
    let empty = a.request("edit_message", json!({"chat_id": chat, "message_id": q, "content": "  "}), json!(6)).await;
    assert_eq!(refusal(&empty), "invalid_data");
    let elsewhere =
        a.request("edit_message", json!({"chat_id": chat, "message_id": -1, "content": "x"}), json!(7)).await;
    assert_eq!(refusal(&elsewhere), "not_found");
    let image = send(&mut a, json!({"chat_id": chat, "content": "https://x/cat.png", "type": "image"}), 8).await;
    b.next_of("receive_message").await;
    let image_edit = a
        .request(
            "edit_message",
            json!({"chat_id": chat, "message_id": image["message_id"], "content": "dog"}),
            json!(9),
        )
        .await;
    assert_eq!(refusal(&image_edit), "forbidden");

    // Reactions count once per user and emoji; the second add and a missing remove tell nobody.
    let thumbs = |ws_user: &User| json!({"chat_id": chat, "message_id": q, "emoji": "👍", "user_id": ws_user.id});
    let data = json!({"chat_id": chat, "message_id": q, "emoji": "👍"});
    let added = b.request("add_reaction", data.clone(), json!(10)).await;
    assert_eq!((&added["event"], &added["data"]), (&json!("reaction_added"), &thumbs(&bob)));
    assert_eq!(a.next_of("reaction_added").await["data"], thumbs(&bob));
    let again = b.request("add_reaction", data.clone(), json!(11)).await;
    assert_eq!(again["data"], thumbs(&bob), "adding it again answers the same");
    assert_eq!(a.request("add_reaction", data.clone(), json!(12)).await["event"], "reaction_added");
    b.next_of("reaction_added").await;
    let mut heart = data.clone();
    heart["emoji"] = json!("❤️");
    b.request("add_reaction", heart.clone(), json!(13)).await;
    a.next_of("reaction_added").await;
    for bad in [json!("ok"), json!("👍👍"), json!(""), json!(7)] {
        let mut wrong = data.clone();
        wrong["emoji"] = bad.clone();
        assert_eq!(refusal(&b.request("add_reaction", wrong, json!(14)).await), "invalid_data", "{bad}");
    }
    let seen_by_alice = by_id(&history(&suite, &alice, &chat).await, q);
    assert_eq!(
        seen_by_alice["reactions"],
        json!([{"emoji": "👍", "count": 2, "me": true}, {"emoji": "❤️", "count": 1, "me": false}])
    );
    assert_eq!((&seen_by_alice["content"], &seen_by_alice["edited_at"]), (&json!("lunch at one?"), &json!(edited_at)));
    assert_eq!(by_id(&history(&suite, &bob, &chat).await, answer["message_id"].as_i64().unwrap())["reply_to"], q);
    let removed = b.request("remove_reaction", heart.clone(), json!(15)).await;
    assert_eq!(removed["event"], "reaction_removed", "{removed}");
    assert_eq!(a.next_of("reaction_removed").await["data"], removed["data"]);
    assert_eq!(b.request("remove_reaction", heart, json!(16)).await["event"], "reaction_removed");

    // Unread: bob has three messages from alice; deleting one leaves two.
    assert_eq!(entry(&suite, &bob, &chat).await["unread_count"], 2);
    let secret = send(&mut a, json!({"chat_id": chat, "content": "the vault code is 7734-kiwi"}), 17).await;
    let s = secret["message_id"].as_i64().unwrap();
    b.next_of("receive_message").await;
    b.request("add_reaction", json!({"chat_id": chat, "message_id": s, "emoji": "😮"}), json!(18)).await;
    a.next_of("reaction_added").await;
    assert_eq!(entry(&suite, &bob, &chat).await["unread_count"], 3);
    assert!(!tables_holding(&suite.db, "7734-kiwi").await.is_empty(), "the text is stored before it is deleted");

    // Only the sender deletes in a private chat; then nothing changes the tombstone.
    let by_peer = b.request("delete_message", json!({"chat_id": chat, "message_id": s}), json!(19)).await;
    assert_eq!(refusal(&by_peer), "forbidden");
    let deleted = a.request("delete_message", json!({"chat_id": chat, "message_id": s}), json!(20)).await;
    let expected = json!({"chat_id": chat, "message_id": s, "by": alice.id});
    assert_eq!((&deleted["event"], &deleted["data"]), (&json!("message_deleted"), &expected));
    assert_eq!(b.next_of("message_deleted").await["data"], expected);
    for (event, data) in [
        ("edit_message", json!({"chat_id": chat, "message_id": s, "content": "again"})),
        ("delete_message", json!({"chat_id": chat, "message_id": s})),
        ("add_reaction", json!({"chat_id": chat, "message_id": s, "emoji": "👍"})),
    ] {
        assert_eq!(refusal(&a.request(event, data, json!(21)).await), "not_found", "{event} of a deleted message");
    }
    let answering =
        b.request("send_message", json!({"chat_id": chat, "content": "what?", "reply_to": s}), json!(22)).await;
    assert_eq!(refusal(&answering), "not_found");
    let tombstone = by_id(&history(&suite, &bob, &chat).await, s);
    assert_eq!(
        (&tombstone["deleted"], &tombstone["content"], &tombstone["reactions"]),
        (&json!(true), &json!(null), &json!([]))
    );
    assert_eq!(entry(&suite, &bob, &chat).await["unread_count"], 2, "a deleted message is not unread");
    let last = entry(&suite, &alice, &chat).await["last_message"].clone();
    assert_eq!((&last["message_id"], &last["deleted"]), (&json!(s), &json!(true)), "the newest message, not a change");
    assert_eq!(tables_holding(&suite.db, "7734-kiwi").await, Vec::<String>::new(), "erased from every table");
}

/// A group across two replicas: admins delete anyone's message, plain members their own only;
/// every member on either replica hears each change.
async fn in_a_group_admins_delete_and_everyone_hears_it(bus: Bus) {
    let suite = spawn(Backend::Postgres, bus, 2).await;
    let (owner, admin, member) = (suite.user("own").await, suite.user("adm").await, suite.user("mem").await);
    let mut o = suite.connect(0, &owner).await;
    let mut ad = suite.connect(1, &admin).await;
    let mut m = suite.connect(1, &member).await;
    let made = o.request("create_group", json!({"title": "Trio", "user_ids": [admin.id, member.id]}), json!(1)).await;
    let chat = made["data"]["chat_id"].as_str().unwrap().to_owned();
    ad.next_of("group_created").await;
    m.next_of("group_created").await;
    let promoted =
        o.request("set_role", json!({"chat_id": chat, "user_id": admin.id, "role": "admin"}), json!(2)).await;
    assert_eq!(promoted["event"], "member_role_changed", "{promoted}");

    let from_owner = send(&mut o, json!({"chat_id": chat, "content": "owner speaks"}), 3).await;
    let from_member = send(&mut m, json!({"chat_id": chat, "content": "member speaks"}), 4).await;
    let (of_owner, of_member) =
        (from_owner["message_id"].as_i64().unwrap(), from_member["message_id"].as_i64().unwrap());
    let by_member = m.request("delete_message", json!({"chat_id": chat, "message_id": of_owner}), json!(5)).await;
    assert_eq!(refusal(&by_member), "forbidden");
    let by_admin = ad.request("delete_message", json!({"chat_id": chat, "message_id": of_member}), json!(6)).await;
    let deleted = json!({"chat_id": chat, "message_id": of_member, "by": admin.id});
    assert_eq!(by_admin["data"], deleted);
    for ws in [&mut o, &mut m] {
        assert_eq!(ws.next_of("message_deleted").await["data"], deleted);
    }
    let reacted =
        m.request("add_reaction", json!({"chat_id": chat, "message_id": of_owner, "emoji": "🎉"}), json!(7)).await;
    assert_eq!(reacted["event"], "reaction_added", "{reacted}");
    for ws in [&mut o, &mut ad] {
        assert_eq!(ws.next_of("reaction_added").await["data"], reacted["data"]);
    }
    let edited = o
        .request("edit_message", json!({"chat_id": chat, "message_id": of_owner, "content": "owner spoke"}), json!(8))
        .await;
    assert_eq!(edited["event"], "message_edited", "{edited}");
    for ws in [&mut ad, &mut m] {
        assert_eq!(ws.next_of("message_edited").await["data"], edited["data"]);
    }
    let page = history(&suite, &member, &chat).await;
    assert_eq!(by_id(&page, of_member)["deleted"], true);
    assert_eq!(by_id(&page, of_owner)["content"], "owner spoke");
    assert_eq!(by_id(&page, of_owner)["reactions"], json!([{"emoji": "🎉", "count": 1, "me": true}]));
}

crate::on_both_buses!(in_a_group_admins_delete_and_everyone_hears_it);

/// A client away while a message is edited, reacted to and another deleted comes back (from
/// the last message it had, or with `since`) to the final state: each change replayed in its
/// place, the deleted text nowhere, nothing live repeated.
async fn changes_made_while_away_are_replayed_on_resume(backend: Backend) {
    let suite = spawn(backend, Bus::InProcess, 1).await;
    let (alice, bob) = (suite.user("alice").await, suite.user("bob").await);
    let mut a = suite.connect(0, &alice).await;
    let mut b = suite.connect(0, &bob).await;
    let chat = suite.chat(&mut a, &bob, &mut b).await;
    let first = send(&mut a, json!({"chat_id": chat, "content": "first draft"}), 1).await;
    let doomed = send(&mut a, json!({"chat_id": chat, "content": "regret 5521-fig"}), 2).await;
    let (f, d) = (first["message_id"].as_i64().unwrap(), doomed["message_id"].as_i64().unwrap());
    b.messages(2).await;
    b.close().await;

    a.request("edit_message", json!({"chat_id": chat, "message_id": f, "content": "second draft"}), json!(3)).await;
    a.request("edit_message", json!({"chat_id": chat, "message_id": d, "content": "regret 5521-fig!"}), json!(4)).await;
    a.request("add_reaction", json!({"chat_id": chat, "message_id": f, "emoji": "👀"}), json!(5)).await;
    a.request("delete_message", json!({"chat_id": chat, "message_id": d}), json!(6)).await;
    let later = send(&mut a, json!({"chat_id": chat, "content": "after all that"}), 7).await;

    let queries = [(format!("&last_message_ids={chat}:{d}"), "🙂"), (format!("&since={d}"), "🙃")];
    for (query, live) in queries {
        let mut b = suite.connect_with(0, &bob, &query).await;
        let mut replayed = Vec::new();
        while replayed.last().map(|f: &Value| &f["event"]) != Some(&json!("receive_message")) {
            let frame = b.next().await;
            if frame["event"] != "online" {
                replayed.push(frame);
            }
        }
        let events: Vec<&str> = replayed.iter().map(|f| f["event"].as_str().unwrap()).collect();
        // The edit of the message deleted since carries no text, so it is not replayed.
        assert_eq!(events, ["message_edited", "reaction_added", "message_deleted", "receive_message"], "{query}");
        assert_eq!(replayed[0]["data"]["content"], "second draft");
        assert_eq!(replayed[1]["data"], json!({"chat_id": chat, "message_id": f, "emoji": "👀", "user_id": alice.id}));
        assert_eq!(replayed[2]["data"], json!({"chat_id": chat, "message_id": d, "by": alice.id}));
        assert_eq!(replayed[3]["data"]["message_id"], later["message_id"]);
        assert!(!replayed.iter().any(|f| f.to_string().contains("5521-fig")), "{replayed:?}");
        // Live changes follow the replay (the second replay brings the first's live ones too).
        a.send("add_reaction", json!({"chat_id": chat, "message_id": f, "emoji": live})).await;
        a.send("remove_reaction", json!({"chat_id": chat, "message_id": f, "emoji": live})).await;
        let mut after = Vec::new();
        while after.last() != Some(&("reaction_removed".to_owned(), live.to_owned())) {
            let frame = b.next().await;
            if !frame["event"].as_str().unwrap().starts_with("reaction_") {
                continue;
            }
            after.push((
                frame["event"].as_str().unwrap().to_owned(),
                frame["data"]["emoji"].as_str().unwrap().to_owned(),
            ));
        }
        let mut expected = Vec::new();
        if live == "🙃" {
            expected.extend([("reaction_added", "🙂"), ("reaction_removed", "🙂")]);
        }
        expected.extend([("reaction_added", live), ("reaction_removed", live)]);
        let expected: Vec<(String, String)> = expected.into_iter().map(|(e, j)| (e.to_owned(), j.to_owned())).collect();
        assert_eq!(after, expected, "{query}");
        b.close().await;
    }
}

/// The push of a message to someone away holds its preview; deleting the message erases the
/// preview there too (the event still goes out, without the text).
async fn a_deleted_messages_push_loses_its_text(backend: Backend) {
    let suite = spawn(backend, Bus::InProcess, 1).await;
    let (alice, bob) = (suite.user("alice").await, suite.user("bob").await);
    let mut a = suite.connect(0, &alice).await;
    let mut b = suite.connect(0, &bob).await;
    let chat = suite.chat(&mut a, &bob, &mut b).await;
    b.close().await;
    let kept = send(&mut a, json!({"chat_id": chat, "content": "kept 1180-plum"}), 1).await;
    let doomed = send(&mut a, json!({"chat_id": chat, "content": "oops 4412-lime"}), 2).await;
    assert_eq!(tables_holding(&suite.db, "4412-lime").await.len(), 2, "the message and its push");
    let deleted =
        a.request("delete_message", json!({"chat_id": chat, "message_id": doomed["message_id"]}), json!(3)).await;
    assert_eq!(deleted["event"], "message_deleted", "{deleted}");
    assert_eq!(tables_holding(&suite.db, "4412-lime").await, Vec::<String>::new());
    assert!(!tables_holding(&suite.db, "1180-plum").await.is_empty(), "only the deleted message's text goes");
    assert_eq!(kept["deleted"], false);
}

on_both_backends!(
    a_private_chat_replies_edits_deletes_and_reacts,
    changes_made_while_away_are_replayed_on_resume,
    a_deleted_messages_push_loses_its_text
);
