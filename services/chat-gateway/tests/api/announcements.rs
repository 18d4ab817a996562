//! What each connection hears once: a new chat (with or without a frame id), and a peer's
//! presence, however many ways it reaches the connection (the snapshot on connecting, a new
//! chat, the announcement of a peer who connected at the same moment).

use serde_json::{Value, json};

use crate::helpers::{Backend, Bus, Suite, User, Ws, spawn};

fn named<'a>(frames: &'a [Value], event: &str) -> Vec<&'a Value> {
    frames.iter().filter(|f| f["event"] == event).collect()
}

/// The frames a connection was sent before it reads its next frame: a `typing` in a chat of
/// no one's answers `forbidden`, after everything queued for the connection before it.
async fn sent_so_far(ws: &mut Ws) -> Vec<Value> {
    let nobody = json!({"chat_id": "00000000-0000-0000-0000-000000000000"});
    let mut frames = ws.frames_until_reply("typing", nobody, json!("fence")).await;
    frames.pop();
    frames
}

/// `start_private_chat` without an id used to reach the caller twice: as its reply and as the
/// push to "every connection of both".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_chat_reaches_every_connection_once_with_or_without_an_id() {
    let suite = spawn(Backend::Postgres, Bus::InProcess, 1).await;
    for with_id in [false, true] {
        let (alice, bob) = (suite.user("once_a").await, suite.user("once_b").await);
        let (mut a, mut a2, mut b) =
            (suite.connect(0, &alice).await, suite.connect(0, &alice).await, suite.connect(0, &bob).await);
        let start = json!({"user_id": bob.id});
        let mut caller = if with_id {
            a.frames_until_reply("start_private_chat", start, json!("s")).await
        } else {
            a.send("start_private_chat", start).await;
            Vec::new()
        };
        caller.extend(sent_so_far(&mut a).await);
        let created = named(&caller, "private_chat_room_created");
        assert_eq!(created.len(), 1, "with id {with_id}: {caller:?}");
        let chat_id = &created[0]["data"]["chat_id"];
        for (who, ws) in [("alice's other", &mut a2), ("bob's", &mut b)] {
            let frames = sent_so_far(ws).await;
            let created = named(&frames, "private_chat_room_created");
            assert_eq!(created.len(), 1, "{who} connection, with id {with_id}: {frames:?}");
            assert_eq!(&created[0]["data"]["chat_id"], chat_id);
        }
    }
}

/// A peer online when the chat is made used to stay without presence until a reconnect: the
/// snapshot on connecting covers the chats there were then.
async fn a_new_chats_peer_is_announced_online(bus: Bus, replicas: usize) {
    let suite = spawn(Backend::Postgres, bus, replicas).await;
    let (alice, bob) = (suite.user("pres_a").await, suite.user("pres_b").await);
    let mut a = suite.connect(0, &alice).await;
    let mut b = suite.connect(replicas - 1, &bob).await;
    let chat_id = suite.chat(&mut a, &bob, &mut b).await;
    assert_eq!(a.next_of("online").await["data"], json!({"user_id": bob.id}));
    assert_eq!(b.next_of("online").await["data"], json!({"user_id": alice.id}));
    // And once each: nothing more of the other's presence.
    for (ws, peer) in [(&mut a, &bob), (&mut b, &alice)] {
        let frames = sent_so_far(ws).await;
        assert_eq!(named(&frames, "online"), Vec::<&Value>::new(), "{} {chat_id}", peer.username);
    }
    // A peer who is offline is not announced at all.
    let carol = suite.user("pres_c").await;
    let frames = a.frames_until_reply("start_private_chat", json!({"user_id": carol.id}), json!(2)).await;
    assert_eq!(named(&frames, "online"), Vec::<&Value>::new());
    assert_eq!(named(&sent_so_far(&mut a).await, "online"), Vec::<&Value>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_chats_peer_is_announced_online_on_one_replica() {
    a_new_chats_peer_is_announced_online(Bus::InProcess, 1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_chats_peer_is_announced_online_across_replicas() {
    a_new_chats_peer_is_announced_online(Bus::Redis, 2).await;
}

/// Pairs who share a chat connect at the same moment: each connection hears its peer's
/// `online` once, whether from the snapshot, the announcement, or both (it used to be both).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peers_connecting_at_once_hear_each_other_online_once() {
    let suite = spawn(Backend::Postgres, Bus::InProcess, 1).await;
    let mut pairs: Vec<(User, User)> = Vec::new();
    for _ in 0..12 {
        let (alice, bob) = (suite.user("at_once_a").await, suite.user("at_once_b").await);
        let (mut a, mut b) = (suite.connect(0, &alice).await, suite.connect(0, &bob).await);
        suite.chat(&mut a, &bob, &mut b).await;
        a.close().await;
        b.close().await;
        pairs.push((alice, bob));
    }
    // Let the set-up's departures be announced before the pairs come back (not a timing
    // assertion: a late one shows as `offline` between, which the check below allows).
    while suite.metric(0, "chat_suite_ws_connections").await > 0.0 {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let connect = |suite: &Suite, user: &User| {
        let url = suite.socket_url(0, &format!("access_token={}", user.token));
        async move { Ws::open(&url).await }
    };
    let mut sockets = futures_util::future::join_all(
        pairs.iter().flat_map(|(alice, bob)| [connect(&suite, alice), connect(&suite, bob)]),
    )
    .await;
    for (i, ws) in sockets.iter_mut().enumerate() {
        let (alice, bob) = &pairs[i / 2];
        let peer = if i % 2 == 0 { bob } else { alice };
        let frames = sent_so_far(ws).await;
        let heard: Vec<&Value> = frames
            .iter()
            .filter(|f| (f["event"] == "online" || f["event"] == "offline") && f["data"]["user_id"] == peer.id)
            .map(|f| &f["event"])
            .collect();
        // The set-up's sockets may still be announced offline; never the same news twice.
        assert!(heard.windows(2).all(|w| w[0] != w[1]), "{} heard {heard:?}", peer.username);
    }
}
