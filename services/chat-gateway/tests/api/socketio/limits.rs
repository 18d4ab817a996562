//! `/chat`'s limits hold on Socket.IO: the per-connection event rate, the connections a user
//! may hold (both protocols counted together), Engine.IO's keep-alive, the token's expiry.

use std::time::Duration;

use serde_json::json;

use super::raw::RawSio;
use crate::helpers::{Backend, Bus, ROOMY, Suite, User, spawn_with};

/// Over the rate an event is refused with `rate_limited`; a burst's worth of refusals in a
/// row, and the server says why (`closing`) and disconnects.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_over_the_rate_limit_are_refused_then_the_client_is_disconnected() {
    let args = ["--ws-rate-limit-per-second=1", "--ws-rate-limit-burst=3"];
    let suite = spawn_with(Backend::Postgres, Bus::InProcess, 1, &args).await;
    let user = suite.user("sio_flood").await;
    let mut sio = RawSio::connect(&suite, 0, &user).await;
    for _ in 0..20 {
        sio.emit("typing", json!({"chat_id": "00000000-0000-0000-0000-000000000000"})).await;
    }
    let mut codes = Vec::new();
    let closing = loop {
        match sio.next_event().await.expect("closed without a closing event") {
            (event, data) if event == "error" => codes.push(data["code"].as_str().unwrap().to_owned()),
            (event, data) if event == "closing" => break data,
            _ => {}
        }
    };
    assert!(codes.contains(&"rate_limited".to_owned()), "{codes:?}");
    assert_eq!((&closing["code"], &closing["reason"]), (&json!(1008), &json!("rate_limit")));
    // Then the namespace's disconnect packet, and nothing more of this connection.
    assert_eq!(sio.next_text().await.as_deref(), Some("41/chat,"));
}

/// WS_CONNECTIONS_PER_USER counts `/chat` and Socket.IO connections together.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_per_user_count_both_protocols() {
    let suite = spawn_with(Backend::Postgres, Bus::InProcess, 1, &["--ws-connections-per-user=2"]).await;
    let user = suite.user("sio_slots").await;
    let _chat = suite.connect(0, &user).await;
    let _sio = RawSio::connect(&suite, 0, &user).await;
    let mut third = RawSio::open(&suite, 0).await;
    third.send(format!("40/chat,{}", json!({"token": user.token}))).await;
    assert_eq!(third.next_text().await.unwrap(), format!("44/chat,{}", json!({"message": "too_many_connections"})));
    let (status, body) = suite.refused_upgrade(0, &format!("access_token={}", user.token)).await;
    assert_eq!((status, body["code"].as_str()), (429, Some("too_many_connections")));
}

/// Engine.IO pings; a client that stops answering is closed, and its slot is given back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_answering_pings_is_closed_and_its_slot_freed() {
    let args = ["--ws-ping-interval-seconds=1", "--ws-idle-timeout-seconds=2", "--ws-connections-per-user=1"];
    let suite = spawn_with(Backend::Postgres, Bus::InProcess, 1, &args).await;
    let user = suite.user("sio_silent").await;
    let mut silent = RawSio::connect(&suite, 0, &user).await;
    // Reading without answering: RawSio answers pings, so read the socket's raw packets.
    assert!(silent.closed_without_answering().await);
    // The slot is given back once the session has ended, a moment after the close.
    let mut again = RawSio::open(&suite, 0).await;
    for _ in 0..100 {
        again.send(format!("40/chat,{}", json!({"token": user.token}))).await;
        let answer = again.next_text().await.unwrap();
        if answer.starts_with("40/chat,") {
            return;
        }
        assert_eq!(answer, format!("44/chat,{}", json!({"message": "too_many_connections"})));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the slot was not given back");
}

/// The access token's expiry ends a Socket.IO connection as it ends a `/chat` one, unless a
/// `refresh_token` came first: `closing {4001, token_expired}`, then the disconnect.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expiring_token_is_refreshed_or_the_connection_ends() {
    let suite = spawn_with(Backend::Postgres, Bus::InProcess, 1, &[]).await;
    let user = suite.user("sio_expiry").await;
    let token = suite.token_for(&user, Duration::from_secs(2));
    let short = User { token, id: user.id.clone(), username: user.username.clone() };
    let mut refreshed = RawSio::connect(&suite, 0, &short).await;
    let mut expiring = RawSio::connect(&suite, 0, &short).await;
    let fresh = suite.token_for(&user, Duration::from_secs(600));
    refreshed.emit("refresh_token", json!({"access_token": fresh})).await;
    assert!(refreshed.next_of("token_refreshed").await["expires_at"].as_i64().is_some());

    let closing = expiring.next_of("closing").await;
    assert_eq!((&closing["code"], &closing["reason"]), (&json!(4001), &json!("token_expired")));
    assert_eq!(expiring.next_text().await.as_deref(), Some("41/chat,"));
    // The refreshed one outlives the first token.
    refreshed.emit("typing", json!({"chat_id": "00000000-0000-0000-0000-000000000000"})).await;
    assert_eq!(refreshed.next_of("error").await["code"], "forbidden");
}

/// A Socket.IO client that stops reading fills its send buffer (`WS_SEND_QUEUE` packets): it
/// is counted and closed as a slow reader, and nobody else notices.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_reader_is_cut_off_and_nobody_else_notices() {
    let args = [ROOMY[0], ROOMY[1], "--ws-send-queue=8"];
    let suite = spawn_with(Backend::Postgres, Bus::InProcess, 1, &args).await;
    let (alice, bob) = (suite.user("sio_fast").await, suite.user("sio_slow").await);
    let mut a = suite.connect(0, &alice).await;
    let mut fast = suite.connect(0, &bob).await;
    let chat_id = suite.chat(&mut a, &bob, &mut fast).await;

    let mut slow = RawSio::open_on(suite.small_window(0).await, &suite, 0).await.join(&bob).await;

    let total = 1000;
    let (at_alice, at_fast) = Suite::flood(&mut a, &mut fast, &chat_id, total).await;
    assert_eq!(at_alice, at_fast);

    // Only now does the slow client read: what was on the wire, then why, then the end.
    let closing = slow.next_of("closing").await;
    assert_eq!((&closing["code"], &closing["reason"]), (&json!(1013), &json!("slow_reader")));
    assert_eq!(slow.next_text().await.as_deref(), Some("41/chat,"));
    let metrics = suite.client.get(format!("{}/metrics", suite.gateways[0].address)).send().await.unwrap();
    let metrics = metrics.text().await.unwrap();
    assert!(metrics.contains("chat_suite_ws_slow_readers_total 1"), "{metrics}");
    assert!(metrics.contains(r#"chat_suite_ws_closes_total{reason="slow_reader"} 1"#), "{metrics}");
}
