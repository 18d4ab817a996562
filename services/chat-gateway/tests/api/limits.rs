//! Back-pressure and keep-alive: a reader that cannot keep up is cut off without holding up
//! anyone else, and a silent peer is closed.

use std::time::Duration;

use serde_json::json;

use crate::helpers::{Backend, Bus, ROOMY, Suite, Ws, code, spawn_with};

/// Bob's slow device never reads; alice floods the chat. The slow device's queue overflows
/// and it is cut off (1013, when the close frame can still get through); alice and bob's other
/// device get every message; the slow device, reconnecting, resumes without loss.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_reader_is_cut_off_and_nobody_else_notices() {
    let args = [ROOMY[0], ROOMY[1], "--ws-send-queue=8", "--ws-write-timeout-seconds=2"];
    let suite = spawn_with(Backend::Postgres, Bus::Redis, 1, &args).await;
    let (alice, bob) = (suite.user("alice").await, suite.user("bob").await);
    let mut a = suite.connect(0, &alice).await;
    let mut fast = suite.connect(0, &bob).await;
    let chat_id = suite.chat(&mut a, &bob, &mut fast).await;

    let mut slow =
        Ws::open_on(suite.small_window(0).await, &suite.socket_url(0, &format!("access_token={}", bob.token))).await;
    assert_eq!(slow.next().await["event"], "connected");

    let total = 1000;
    let (at_alice, at_fast) = Suite::flood(&mut a, &mut fast, &chat_id, total).await;
    assert_eq!(at_alice.len(), total);
    assert_eq!(at_alice, at_fast);

    // Only now does the slow device read: what was on the wire, then the end.
    let end = slow.closed().await;
    assert!(matches!(code(&end), None | Some(1013)), "{end:?}");
    let metrics = suite.client.get(format!("{}/metrics", suite.gateways[0].address)).send().await.unwrap();
    let metrics = metrics.text().await.unwrap();
    assert!(metrics.contains("chat_suite_ws_slow_readers_total 1"), "{metrics}");

    let mut again = suite.connect_with(0, &bob, "&since=0").await;
    let replayed = again.messages(total).await;
    assert_eq!(replayed, at_alice, "the slow device loses nothing by reconnecting");
}

/// A client that answers no ping is closed once WS_IDLE_TIMEOUT_SECONDS pass (1001).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_client_is_closed_after_the_idle_timeout() {
    let args = ["--ws-ping-interval-seconds=1", "--ws-idle-timeout-seconds=2"];
    let suite = spawn_with(Backend::Postgres, Bus::InProcess, 1, &args).await;
    let alice = suite.user("alice").await;
    let mut a = suite.connect(0, &alice).await;
    // Not reading means not answering pings.
    tokio::time::sleep(Duration::from_secs(4)).await;
    // The close frame (1001) may have been lost with the connection: the client was not there.
    let end = a.closed().await;
    assert!(matches!(code(&end), None | Some(1001)), "{end:?}");
    let metrics = suite.client.get(format!("{}/metrics", suite.gateways[0].address)).send().await.unwrap();
    let metrics = metrics.text().await.unwrap();
    assert!(metrics.contains(r#"chat_suite_ws_closes_total{reason="idle"} 1"#), "{metrics}");

    // One that reads (and so answers pings) stays.
    let mut b = suite.connect(0, &alice).await;
    let frames = b.drain_for(Duration::from_secs(4)).await;
    assert!(frames.is_empty(), "{frames:?}");
    let reply = b.request("dance", json!({}), json!(1)).await;
    assert_eq!(reply["data"]["code"], "unknown_event");
}

/// A user holds at most WS_CONNECTIONS_PER_USER connections on a replica: the next upgrade is
/// refused with 429 before it happens; another user is not affected; a closed connection's
/// place is free again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_holds_at_most_the_connection_limit() {
    let args = [ROOMY[0], ROOMY[1], "--ws-connections-per-user=2"];
    let suite = spawn_with(Backend::Sqlite, Bus::InProcess, 1, &args).await;
    let (alice, bob) = (suite.user("alice").await, suite.user("bob").await);
    let first = suite.connect(0, &alice).await;
    let _second = suite.connect(0, &alice).await;

    let url = suite.socket_url(0, &format!("access_token={}", alice.token));
    let refused = match tokio_tungstenite::connect_async(&url).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => response,
        other => panic!("a third connection was not refused: {:?}", other.map(|(_, response)| response.status())),
    };
    assert_eq!(refused.status(), 429);
    assert_eq!(refused.headers()["retry-after"], "5");
    let body: serde_json::Value = serde_json::from_slice(refused.body().as_deref().unwrap_or_default()).unwrap();
    assert_eq!(
        body,
        json!({"error": "at most 2 connections per user at once; close one first", "code": "too_many_connections"})
    );
    let _bob = suite.connect(0, &bob).await;

    first.close().await;
    // The slot is given back once the server has seen the close: until then, 429.
    let deadline = std::time::Instant::now() + crate::helpers::PATIENCE;
    loop {
        let probe = suite.get(0, &format!("/chat?access_token={}", alice.token), None).await;
        if probe.status == 400 {
            assert_eq!(probe.body["code"], "not_websocket", "the place is free: only the missing upgrade is wrong");
            break;
        }
        assert_eq!(probe.status, 429, "{}", probe.body);
        assert!(std::time::Instant::now() < deadline, "the closed connection's place never came free");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _third = suite.connect(0, &alice).await;
}

/// While the database holds the chat (a lock another session keeps for 3 s), the first
/// message waits in its batch; the ones behind it wait longer than the writers' limit and are
/// refused with `overloaded`, each answered with its frame's id, none stored, the metric
/// counting them. Sent again once the database is free, they are stored in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_that_wait_too_long_to_be_stored_are_refused_as_overloaded() {
    use sea_orm::{ConnectionTrait, TransactionTrait};

    let suite = spawn_with(Backend::Postgres, Bus::InProcess, 1, &ROOMY).await;
    let (alice, bob) = (suite.user("alice").await, suite.user("bob").await);
    let mut a = suite.connect(0, &alice).await;
    let mut b = suite.connect(0, &bob).await;
    let chat_id = suite.chat(&mut a, &bob, &mut b).await;

    let holder = suite.db.begin().await.unwrap();
    holder.execute_unprepared(&format!("SELECT 1 FROM chats WHERE id = '{chat_id}' FOR UPDATE")).await.unwrap();
    let send =
        |n: usize| json!({"event": "send_message", "data": {"chat_id": chat_id, "content": format!("m{n}")}, "id": n});
    a.send_raw(tokio_tungstenite::tungstenite::Message::text(send(1).to_string())).await;
    // m1 is in the writer's batch, waiting for the lock; the rest queue behind it.
    tokio::time::sleep(Duration::from_millis(500)).await;
    for n in 2..=4 {
        a.send_raw(tokio_tungstenite::tungstenite::Message::text(send(n).to_string())).await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    holder.rollback().await.unwrap();

    let mut replies = Vec::new();
    while replies.len() < 4 {
        let frame = a.next().await;
        if frame.get("id").is_some_and(|id| !id.is_null()) {
            replies.push(frame);
        }
    }
    assert_eq!(replies.iter().map(|r| r["id"].as_u64().unwrap()).collect::<Vec<_>>(), [1, 2, 3, 4], "in order");
    assert_eq!(replies[0]["event"], "receive_message", "{}", replies[0]);
    for refused in &replies[1..] {
        assert_eq!(refused["event"], "error", "{refused}");
        assert_eq!(refused["data"]["code"], "overloaded", "{refused}");
    }
    let metrics = suite.client.get(format!("{}/metrics", suite.gateways[0].address)).send().await.unwrap();
    assert!(metrics.text().await.unwrap().contains("chat_suite_ws_overloaded_total 3"));

    // Sent again, they go through; bob has m1 and these, nothing refused.
    for n in 2..=4 {
        let reply = a.request("send_message", send(n)["data"].clone(), json!(n)).await;
        assert_eq!(reply["event"], "receive_message", "{reply}");
    }
    let got: Vec<String> = b.messages(4).await.iter().map(|m| m["content"].as_str().unwrap().to_owned()).collect();
    assert_eq!(got, ["m1", "m2", "m3", "m4"]);
    let stored = suite.get(0, &format!("/chats/{chat_id}/messages"), Some(&alice.token)).await;
    let contents: Vec<&str> =
        stored.body["messages"].as_array().unwrap().iter().map(|m| m["content"].as_str().unwrap()).collect();
    assert_eq!(contents, ["m1", "m2", "m3", "m4"], "nothing refused was stored");
}
