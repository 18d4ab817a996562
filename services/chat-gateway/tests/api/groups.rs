//! Group chats: made, changed, talked in, on one replica and across replicas, on both
//! databases and both Redis layouts; every role rule, removal while connected elsewhere,
//! resume, and a group at `GROUP_MAX_MEMBERS`.

use std::time::Duration;

use serde_json::{Value, json};

use crate::{
    helpers::{Backend, Bus, User, Ws, spawn, spawn_with},
    on_both_buses,
};

/// Long enough for anything on its way to arrive, when a test asserts that nothing does.
const QUIET: Duration = Duration::from_millis(700);

fn sorted(users: &[&User]) -> Value {
    let mut ids: Vec<&str> = users.iter().map(|u| u.id.as_str()).collect();
    ids.sort_unstable();
    json!(ids)
}

/// `owner` makes a group of `others` on `owner_ws`; every other connection in `listeners`
/// hears it. Its id.
async fn group(owner_ws: &mut Ws, owner: &User, others: &[&User], listeners: &mut [&mut Ws]) -> String {
    let ids: Vec<&str> = others.iter().map(|u| u.id.as_str()).collect();
    let reply = owner_ws.request("create_group", json!({"title": " Weekend hike ", "user_ids": ids}), json!("g")).await;
    assert_eq!(reply["event"], "group_created", "{reply}");
    let chat_id = reply["data"]["chat_id"].as_str().unwrap().to_owned();
    let mut everyone: Vec<&User> = others.to_vec();
    everyone.push(owner);
    let expected =
        json!({"chat_id": chat_id, "title": "Weekend hike", "owner_id": owner.id, "user_ids": sorted(&everyone)});
    assert_eq!(reply["data"], expected);
    for ws in listeners.iter_mut() {
        assert_eq!(ws.next_of("group_created").await["data"], expected);
    }
    chat_id
}

fn refusal(reply: &Value) -> &str {
    assert_eq!(reply["event"], "error", "{reply}");
    reply["data"]["code"].as_str().unwrap()
}

/// No message of `chat_id` arrives on `ws` for a while.
async fn hears_nothing_of(ws: &mut Ws, chat_id: &str) {
    let frames = ws.drain_for(QUIET).await;
    assert!(!frames.iter().any(|f| f["data"]["chat_id"] == chat_id), "{frames:?}");
}

/// Everything a group does, on one replica: every event with its exact data, every role rule.
async fn a_group_from_start_to_end(backend: Backend) {
    let suite = spawn(backend, Bus::InProcess, 1).await;
    let (alice, bob, carol, dave) =
        (suite.user("alice").await, suite.user("bob").await, suite.user("carol").await, suite.user("dave").await);
    let (mut a, mut b, mut c, mut d) = (
        suite.connect(0, &alice).await,
        suite.connect(0, &bob).await,
        suite.connect(0, &carol).await,
        suite.connect(0, &dave).await,
    );
    let chat = group(&mut a, &alice, &[&bob, &carol], &mut [&mut b, &mut c]).await;

    // A message reaches every member; receipts reach its sender with who sent them.
    let sent = a.request("send_message", json!({"chat_id": chat, "content": "before dave"}), json!(1)).await;
    let first = sent["data"]["message_id"].as_i64().unwrap();
    assert_eq!(b.next_of("receive_message").await["data"], sent["data"]);
    assert_eq!(c.next_of("receive_message").await["data"], sent["data"]);
    assert_eq!(
        b.request("receive_message", json!({"chat_id": chat, "message_id": first}), json!(2)).await["event"],
        "ack"
    );
    let received = a.next_of("message_received").await;
    assert_eq!(received["data"], json!({"chat_id": chat, "message_id": first, "user_id": bob.id}));
    assert_eq!(c.request("seen", json!({"chat_id": chat, "message_id": first}), json!(3)).await["event"], "ack");
    let seen = a.next_of("message_seen").await;
    assert_eq!(seen["data"], json!({"chat_id": chat, "message_id": first, "user_id": carol.id}));
    // Typing reaches the others.
    assert_eq!(b.request("typing", json!({"chat_id": chat}), json!(4)).await["event"], "ack");
    for ws in [&mut a, &mut c] {
        assert_eq!(ws.next_of("typing").await["data"], json!({"chat_id": chat, "user_id": bob.id}));
    }

    // Roles: a plain member may not add, rename or remove; the owner makes bob an admin.
    let by_carol = c.request("add_members", json!({"chat_id": chat, "user_ids": [dave.id]}), json!(5)).await;
    assert_eq!(refusal(&by_carol), "forbidden");
    assert_eq!(refusal(&c.request("rename_chat", json!({"chat_id": chat, "title": "x"}), json!(6)).await), "forbidden");
    let carol_removes = c.request("remove_member", json!({"chat_id": chat, "user_id": bob.id}), json!(7)).await;
    assert_eq!(refusal(&carol_removes), "forbidden");
    assert_eq!(
        refusal(&b.request("set_role", json!({"chat_id": chat, "user_id": carol.id, "role": "admin"}), json!(8)).await),
        "forbidden"
    );
    let promoted = a.request("set_role", json!({"chat_id": chat, "user_id": bob.id, "role": "admin"}), json!(9)).await;
    let expected = json!({"chat_id": chat, "user_id": bob.id, "role": "admin", "by": alice.id});
    assert_eq!(promoted["data"], expected, "{promoted}");
    for ws in [&mut b, &mut c] {
        assert_eq!(ws.next_of("member_role_changed").await["data"], expected);
    }
    let owner_role =
        a.request("set_role", json!({"chat_id": chat, "user_id": bob.id, "role": "owner"}), json!(10)).await;
    assert_eq!(refusal(&owner_role), "invalid_data");

    // The admin adds dave, who hears it and sees the group from now on only.
    let added = b.request("add_members", json!({"chat_id": chat, "user_ids": [dave.id, carol.id]}), json!(11)).await;
    let expected = json!({"chat_id": chat, "user_ids": [dave.id], "by": bob.id});
    assert_eq!(added["data"], expected, "{added}");
    for ws in [&mut a, &mut c, &mut d] {
        assert_eq!(ws.next_of("members_added").await["data"], expected);
    }
    let after = a.request("send_message", json!({"chat_id": chat, "content": "after dave"}), json!(12)).await;
    assert_eq!(d.next_of("receive_message").await["data"], after["data"]);
    let history = suite.get(0, &format!("/chats/{chat}/messages"), Some(&dave.token)).await;
    assert_eq!(history.status, 200, "{}", history.body);
    let contents: Vec<&str> =
        history.body["messages"].as_array().unwrap().iter().map(|m| m["content"].as_str().unwrap()).collect();
    assert_eq!(contents, ["after dave"], "dave sees the group from when he joined");
    let early = d.request("receive_message", json!({"chat_id": chat, "message_id": first}), json!(13)).await;
    assert_eq!(refusal(&early), "not_found", "a message from before dave joined is not his");

    // Renamed, by the admin.
    let renamed = b.request("rename_chat", json!({"chat_id": chat, "title": "Hike, Sunday"}), json!(14)).await;
    let expected = json!({"chat_id": chat, "title": "Hike, Sunday", "by": bob.id});
    assert_eq!(renamed["data"], expected);
    for ws in [&mut a, &mut c, &mut d] {
        assert_eq!(ws.next_of("chat_renamed").await["data"], expected);
    }
    let bad = a.request("rename_chat", json!({"chat_id": chat, "title": "a\nb"}), json!(15)).await;
    assert_eq!(refusal(&bad), "invalid_data");

    // An admin may not remove the owner, nor another admin; may remove carol.
    let at_owner = b.request("remove_member", json!({"chat_id": chat, "user_id": alice.id}), json!(16)).await;
    assert_eq!(refusal(&at_owner), "forbidden");
    let removed = b.request("remove_member", json!({"chat_id": chat, "user_id": carol.id}), json!(17)).await;
    let expected = json!({"chat_id": chat, "user_id": carol.id, "by": bob.id});
    assert_eq!(removed["data"], expected);
    for ws in [&mut a, &mut c, &mut d] {
        assert_eq!(ws.next_of("member_removed").await["data"], expected);
    }
    let unheard = a.request("send_message", json!({"chat_id": chat, "content": "carol is out"}), json!(18)).await;
    assert_eq!(d.next_of("receive_message").await["data"], unheard["data"]);
    hears_nothing_of(&mut c, &chat).await;
    let carol_sends = c.request("send_message", json!({"chat_id": chat, "content": "still here?"}), json!(19)).await;
    assert_eq!(refusal(&carol_sends), "forbidden");
    let carol_adds = c.request("add_members", json!({"chat_id": chat, "user_ids": [carol.id]}), json!(20)).await;
    assert_eq!(refusal(&carol_adds), "not_a_member");
    assert_eq!(suite.get(0, &format!("/chats/{chat}/messages"), Some(&carol.token)).await.status, 403);
    assert_eq!(suite.get(0, &format!("/chats/{chat}"), Some(&carol.token)).await.status, 403);
    let not_in = b.request("remove_member", json!({"chat_id": chat, "user_id": carol.id}), json!(21)).await;
    assert_eq!(refusal(&not_in), "not_a_member");
    let nobody =
        a.request("add_members", json!({"chat_id": chat, "user_ids": [uuid::Uuid::new_v4()]}), json!(22)).await;
    assert_eq!(refusal(&nobody), "not_found");
    let no_group = a.request("leave_chat", json!({"chat_id": uuid::Uuid::new_v4()}), json!(23)).await;
    assert_eq!(refusal(&no_group), "not_found");

    // The owner leaves: bob, the longest-standing admin, owns the group.
    let left = a.request("leave_chat", json!({"chat_id": chat}), json!(24)).await;
    assert_eq!(left["data"], json!({"chat_id": chat, "user_id": alice.id, "by": alice.id}));
    for ws in [&mut b, &mut d] {
        assert_eq!(ws.next_of("member_removed").await["data"]["user_id"], alice.id.as_str());
        let heir = ws.next_of("member_role_changed").await;
        assert_eq!(heir["data"], json!({"chat_id": chat, "user_id": bob.id, "role": "owner", "by": alice.id}));
    }
    let described = suite.get(0, &format!("/chats/{chat}"), Some(&dave.token)).await;
    assert_eq!(described.status, 200, "{}", described.body);
    assert_eq!(described.body["kind"], "group");
    assert_eq!(described.body["title"], "Hike, Sunday");
    assert_eq!(described.body["owner_id"], bob.id.as_str());
    let members: Vec<(&str, &str, &str)> = described.body["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["user_id"].as_str().unwrap(), m["username"].as_str().unwrap(), m["role"].as_str().unwrap()))
        .collect();
    assert_eq!(
        members,
        [(bob.id.as_str(), bob.username.as_str(), "owner"), (dave.id.as_str(), dave.username.as_str(), "member")]
    );

    // The list names the group beside private chats.
    let list = suite.get(0, "/chats", Some(&dave.token)).await;
    let entry = &list.body["chats"][0];
    assert_eq!(
        (&entry["chat_id"], &entry["kind"], &entry["title"]),
        (&json!(chat), &json!("group"), &json!("Hike, Sunday"))
    );
    assert_eq!(entry["member_count"], 2);
    assert_eq!(entry["last_message"]["content"], "carol is out");
    assert_eq!(entry["unread_count"], 2, "dave has read nothing since he joined");
    assert_eq!(entry["members"].as_array().unwrap().len(), 1, "a group's entry names the caller alone");

    // The last two leave: the group is gone.
    assert_eq!(d.request("leave_chat", json!({"chat_id": chat}), json!(25)).await["event"], "member_removed");
    assert_eq!(b.request("leave_chat", json!({"chat_id": chat}), json!(26)).await["event"], "member_removed");
    assert_eq!(suite.get(0, &format!("/chats/{chat}"), Some(&bob.token)).await.status, 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_from_start_to_end_on_postgres() {
    a_group_from_start_to_end(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_from_start_to_end_on_sqlite() {
    a_group_from_start_to_end(Backend::Sqlite).await;
}

/// `POST /chats` makes the same group `create_group` does; `GET /chats/{chat_id}` describes
/// private chats too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_made_over_http() {
    let suite = spawn(Backend::Postgres, Bus::InProcess, 1).await;
    let (alice, bob) = (suite.user("alice").await, suite.user("bob").await);
    let mut b = suite.connect(0, &bob).await;
    let url = format!("{}/chats", suite.gateways[0].address);
    let made = suite
        .client
        .post(&url)
        .bearer_auth(&alice.token)
        .json(&json!({"title": "Book club", "user_ids": [bob.id, alice.id, bob.id]}))
        .send()
        .await
        .unwrap();
    assert_eq!(made.status(), 201);
    let made: Value = made.json().await.unwrap();
    let chat = made["chat_id"].as_str().unwrap();
    assert_eq!(
        (&made["kind"], &made["title"], &made["owner_id"]),
        (&json!("group"), &json!("Book club"), &json!(alice.id))
    );
    assert_eq!(made["members"].as_array().unwrap().len(), 2);
    let pushed = b.next_of("group_created").await;
    assert_eq!(pushed["data"]["chat_id"], chat);
    let sent = b.request("send_message", json!({"chat_id": chat, "content": "hi"}), json!(1)).await;
    assert_eq!(sent["event"], "receive_message", "{sent}");

    for (body, status, code) in [
        (json!({"title": "", "user_ids": []}), 400, "invalid_field"),
        (json!({"title": "x", "user_ids": [uuid::Uuid::new_v4()]}), 404, "not_found"),
        (json!({"title": "x", "user_ids": [], "extra": 1}), 400, "invalid_request"),
        (json!({"title": 5, "user_ids": []}), 400, "invalid_request"),
    ] {
        let refused = suite.client.post(&url).bearer_auth(&alice.token).json(&body).send().await.unwrap();
        assert_eq!(refused.status().as_u16(), status, "{body}");
        let refused: Value = refused.json().await.unwrap();
        assert_eq!(refused["code"], code, "{body}: {refused}");
    }

    let mut a = suite.connect(0, &alice).await;
    let private = suite.chat(&mut a, &bob, &mut b).await;
    let described = suite.get(0, &format!("/chats/{private}"), Some(&alice.token)).await;
    assert_eq!(described.body["kind"], "private");
    assert_eq!(described.body["title"], Value::Null);
    assert_eq!(described.body["owner_id"], Value::Null);
    assert!(described.body["members"].as_array().unwrap().iter().all(|m| m["role"] == "member"));
}

/// A member removed on one replica while connected on another (two connections there) stops
/// receiving at once; one added on another replica hears the group from then on. History and
/// resume refuse the removed member.
async fn membership_changes_reach_every_replica(bus: Bus) {
    let suite = spawn(Backend::Postgres, bus, 2).await;
    let (alice, bob, carol) = (suite.user("alice").await, suite.user("bob").await, suite.user("carol").await);
    let mut a = suite.connect(0, &alice).await;
    let (mut b1, mut b2) = (suite.connect(1, &bob).await, suite.connect(1, &bob).await);
    let mut c = suite.connect(1, &carol).await;
    let chat = group(&mut a, &alice, &[&bob], &mut [&mut b1, &mut b2]).await;
    let sent = a.request("send_message", json!({"chat_id": chat, "content": "one"}), json!(1)).await;
    for ws in [&mut b1, &mut b2] {
        assert_eq!(ws.next_of("receive_message").await["data"], sent["data"]);
    }

    let added = a.request("add_members", json!({"chat_id": chat, "user_ids": [carol.id]}), json!(2)).await;
    assert_eq!(added["event"], "members_added");
    assert_eq!(c.next_of("members_added").await["data"], added["data"]);
    let removed = a.request("remove_member", json!({"chat_id": chat, "user_id": bob.id}), json!(3)).await;
    assert_eq!(removed["event"], "member_removed", "{removed}");
    for ws in [&mut b1, &mut b2] {
        assert_eq!(ws.next_of("member_removed").await["data"], removed["data"]);
    }
    // Sent right after: carol, on bob's replica, gets it; bob's connections do not.
    let two = a.request("send_message", json!({"chat_id": chat, "content": "two"}), json!(4)).await;
    assert_eq!(c.next_of("receive_message").await["data"], two["data"]);
    hears_nothing_of(&mut b1, &chat).await;
    hears_nothing_of(&mut b2, &chat).await;

    let first = sent["data"]["message_id"].as_i64().unwrap();
    let (status, body) =
        suite.refused_upgrade(1, &format!("access_token={}&last_message_ids={chat}:{first}", bob.token)).await;
    assert_eq!((status, body["code"].as_str()), (403, Some("forbidden")), "{body}");
    assert_eq!(suite.get(1, &format!("/chats/{chat}/messages"), Some(&bob.token)).await.status, 403);
}

/// Reconnecting to a group with `last_message_ids` or `since` replays what was missed, once
/// and in order, whichever replica it comes back to.
async fn resume_in_a_group(bus: Bus) {
    let suite = spawn(Backend::Postgres, bus, 2).await;
    let (alice, bob, carol) = (suite.user("alice").await, suite.user("bob").await, suite.user("carol").await);
    let mut a = suite.connect(0, &alice).await;
    let mut b = suite.connect(1, &bob).await;
    let mut c = suite.connect(1, &carol).await;
    let chat = group(&mut a, &alice, &[&bob, &carol], &mut [&mut b, &mut c]).await;
    let seen = a.request("send_message", json!({"chat_id": chat, "content": "m0"}), json!(0)).await;
    let last = b.next_of("receive_message").await["data"]["message_id"].as_i64().unwrap();
    assert_eq!(last, seen["data"]["message_id"].as_i64().unwrap());
    b.close().await;
    for i in 1..=5 {
        let sender = if i % 2 == 0 { &mut a } else { &mut c };
        let reply =
            sender.request("send_message", json!({"chat_id": chat, "content": format!("m{i}")}), json!(i)).await;
        assert_eq!(reply["event"], "receive_message");
    }
    let mut expected: Vec<String> = (1..=5).map(|i| format!("m{i}")).collect();
    for (replica, query) in [(0, format!("&last_message_ids={chat}:{last}")), (1, format!("&since={last}"))] {
        let mut again = suite.connect_with(replica, &bob, &query).await;
        let replayed: Vec<String> =
            again.messages(expected.len()).await.iter().map(|m| m["content"].as_str().unwrap().to_owned()).collect();
        assert_eq!(replayed, expected, "{query}");
        // And live after.
        let content = format!("live on {replica}");
        let live = a.request("send_message", json!({"chat_id": chat, "content": content}), json!(query.clone())).await;
        assert_eq!(again.next_of("receive_message").await["data"], live["data"]);
        again.close().await;
        expected.push(content);
    }
}

on_both_buses!(membership_changes_reach_every_replica, resume_in_a_group);

/// Another replica removed bob and published a message whose news overtook the removal's (the
/// `member_removed` is still on its way): the message carries the newer membership epoch, so
/// bob's connection asks the database before writing it, and writes nothing; carol's writes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_that_overtakes_a_removal_reaches_the_removed_member_not() {
    use chat_gateway::{
        entities::{chat_members, chats, messages},
        message_envelope,
    };
    use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};

    let suite = spawn(Backend::Postgres, Bus::Redis, 1).await;
    let (alice, bob, carol) = (suite.user("alice").await, suite.user("bob").await, suite.user("carol").await);
    let mut a = suite.connect(0, &alice).await;
    let (mut b, mut c) = (suite.connect(0, &bob).await, suite.connect(0, &carol).await);
    let chat_id = group(&mut a, &alice, &[&bob, &carol], &mut [&mut b, &mut c]).await;
    let chat: uuid::Uuid = chat_id.parse().unwrap();

    // As the other replica stored them: bob out at a new epoch, then a message under it.
    let row = chats::Entity::find_by_id(chat).one(&suite.db).await.unwrap().unwrap();
    let epoch = row.members_epoch + 1;
    chat_members::Entity::delete_many()
        .filter(chat_members::Column::ChatId.eq(chat))
        .filter(chat_members::Column::UserId.eq(bob.id.parse::<uuid::Uuid>().unwrap()))
        .exec(&suite.db)
        .await
        .unwrap();
    let message = messages::ActiveModel {
        chat_id: Set(chat),
        seq: Set(1),
        sender_id: Set(alice.id.parse().unwrap()),
        kind: Set("text".into()),
        content: Set("bob is out".into()),
        client_msg_id: Set(None),
        sent_at: Set(chrono::Utc::now()),
        ..Default::default()
    };
    let stored = messages::Entity::insert(message).exec_with_returning(&suite.db).await.unwrap();
    let moved = chats::ActiveModel { id: Set(chat), last_seq: Set(1), members_epoch: Set(epoch), ..Default::default() };
    chats::Entity::update(moved).exec(&suite.db).await.unwrap();

    let envelope = message_envelope("another-replica", stored, Some(epoch));
    let client = redis::Client::open(suite.redis.as_ref().unwrap().url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let _: i64 =
        redis::cmd("PUBLISH").arg(format!("chat:room:{chat}")).arg(envelope).query_async(&mut conn).await.unwrap();
    assert_eq!(c.next_of("receive_message").await["data"]["content"], "bob is out");
    hears_nothing_of(&mut b, &chat_id).await;
    // Nor anything later of the group: his connection left its room.
    let later = a.request("typing", json!({"chat_id": chat_id}), json!("t")).await;
    assert_eq!(later["event"], "ack");
    assert_eq!(c.next_of("typing").await["data"]["user_id"], alice.id.as_str());
    hears_nothing_of(&mut b, &chat_id).await;
}

/// A group at `GROUP_MAX_MEMBERS` takes nobody more, however they come.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_at_its_limit() {
    let suite = spawn_with(Backend::Postgres, Bus::InProcess, 1, &["--group-max-members=4"]).await;
    let mut users = Vec::new();
    for _ in 0..5 {
        users.push(suite.user("member").await);
    }
    let mut a = suite.connect(0, &users[0]).await;
    let ids = |from: usize, to: usize| users[from..to].iter().map(|u| u.id.clone()).collect::<Vec<_>>();
    let too_many = a.request("create_group", json!({"title": "five", "user_ids": ids(1, 5)}), json!(1)).await;
    assert_eq!(refusal(&too_many), "too_many_members");
    assert!(too_many["data"]["message"].as_str().unwrap().contains('4'), "{too_many}");
    let made = a.request("create_group", json!({"title": "four", "user_ids": ids(1, 4)}), json!(2)).await;
    let chat = made["data"]["chat_id"].as_str().unwrap();
    let fifth = a.request("add_members", json!({"chat_id": chat, "user_ids": ids(4, 5)}), json!(3)).await;
    assert_eq!(refusal(&fifth), "too_many_members");
    // Everyone of the full group hears a message.
    let mut others = Vec::new();
    for user in &users[1..4] {
        others.push(suite.connect(0, user).await);
    }
    let sent = a.request("send_message", json!({"chat_id": chat, "content": "full house"}), json!(4)).await;
    for ws in &mut others {
        assert_eq!(ws.next_of("receive_message").await["data"], sent["data"]);
    }
    // One leaves: there is room again.
    let left = others[0].request("leave_chat", json!({"chat_id": chat}), json!(5)).await;
    assert_eq!(left["event"], "member_removed");
    let added = a.request("add_members", json!({"chat_id": chat, "user_ids": ids(4, 5)}), json!(6)).await;
    assert_eq!(added["event"], "members_added", "{added}");
}

/// A group large enough that its messages lock stripes rather than each member, written to
/// at once with private messages of its members on two replicas: nothing deadlocks, and a
/// `since` resume from the middle finds every later message once (each user's messages still
/// commit in id order).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_groups_messages_and_private_ones_keep_every_users_order() {
    let suite = spawn(Backend::Postgres, Bus::Redis, 2).await;
    let mut members = Vec::new();
    for _ in 0..40 {
        members.push(suite.user("crowd").await);
    }
    let (alice, bob) = (&members[0], &members[1]);
    let mut a = suite.connect(0, alice).await;
    let mut b = suite.connect(1, bob).await;
    let others: Vec<&User> = members[1..].iter().collect();
    let ids: Vec<&str> = others.iter().map(|u| u.id.as_str()).collect();
    let made = a.request("create_group", json!({"title": "Crowd", "user_ids": ids}), json!("g")).await;
    let group = made["data"]["chat_id"].as_str().unwrap().to_owned();
    b.next_of("group_created").await;
    let private = suite.chat(&mut a, bob, &mut b).await;

    // Alice writes to the group while bob writes to her, each as fast as their replies come.
    let alice_sends = async {
        let mut ids = Vec::new();
        for i in 0..30 {
            let sent = a.request("send_message", json!({"chat_id": group, "content": format!("g{i}")}), json!(i)).await;
            ids.push(sent["data"]["message_id"].as_i64().unwrap());
        }
        ids
    };
    let bob_sends = async {
        let mut ids = Vec::new();
        for i in 0..30 {
            let sent =
                b.request("send_message", json!({"chat_id": private, "content": format!("p{i}")}), json!(i)).await;
            ids.push(sent["data"]["message_id"].as_i64().unwrap());
        }
        ids
    };
    let (group_ids, private_ids) = tokio::join!(alice_sends, bob_sends);
    let mut all: Vec<i64> = group_ids.iter().chain(&private_ids).copied().collect();
    all.sort_unstable();
    let since = all[all.len() / 2];
    let mut again = suite.connect_with(0, bob, &format!("&since={since}")).await;
    // Bob's own messages come back too: everything after `since`, in both chats.
    let expected: Vec<i64> = all.iter().copied().filter(|id| *id > since).collect();
    let mut replayed: Vec<i64> =
        again.messages(expected.len()).await.iter().map(|m| m["message_id"].as_i64().unwrap()).collect();
    replayed.sort_unstable();
    assert_eq!(replayed, expected);
}
