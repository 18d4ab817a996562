//! SIGTERM: the real binary stops accepting, closes every socket with 1012 so clients
//! reconnect elsewhere, and exits within its grace period.

use std::{
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use crate::helpers::{Backend, Bus, Ws, code, spawn};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_closes_every_socket_with_1012_and_exits() {
    let suite = spawn(Backend::Postgres, Bus::Redis, 0).await;
    let (alice, bob) = (suite.user("alice").await, suite.user("bob").await);
    let port = testkit::free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_chat-gateway"))
        .env("LISTEN_ADDR", format!("127.0.0.1:{port}"))
        .env("DATABASE_URL", &suite.database.url)
        .env("REDIS_URL", suite.redis.as_ref().unwrap().url())
        .env("JWKS_URL", format!("{}/.well-known/jwks.json", suite.auth.address))
        .env("SHUTDOWN_GRACE_SECONDS", "10")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let healthz = format!("http://127.0.0.1:{port}/healthz");
    let deadline = Instant::now() + Duration::from_secs(30);
    while suite.client.get(&healthz).send().await.is_err() {
        assert!(Instant::now() < deadline, "chat-gateway did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let url = |token: &str| format!("ws://127.0.0.1:{port}/chat?access_token={token}");
    let mut a = Ws::open(&url(&alice.token)).await;
    let mut b = Ws::open(&url(&bob.token)).await;
    assert_eq!(a.next().await["event"], "connected");
    assert_eq!(b.next().await["event"], "connected");

    let stopped_at = Instant::now();
    let killed = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(killed.success());
    assert_eq!(code(&a.closed().await), Some(1012));
    assert_eq!(code(&b.closed().await), Some(1012));
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(stopped_at.elapsed() < Duration::from_secs(10), "still running past its grace period");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "{status:?}");
    assert!(tokio_tungstenite::connect_async(url(&alice.token)).await.is_err(), "no new connections once stopped");
}

/// A pod restarts mid-conversation: its clients are told (1012), reconnect to the other
/// replica with their cursor, and have lost and repeated nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_restarting_mid_conversation_loses_nothing() {
    use serde_json::json;
    let mut suite = spawn(Backend::Postgres, Bus::Redis, 2).await;
    let (alice, bob) = (suite.user("alice").await, suite.user("bob").await);
    let mut a = suite.connect(0, &alice).await;
    let mut b = suite.connect(1, &bob).await;
    let chat_id = suite.chat(&mut a, &bob, &mut b).await;
    a.send("send_message", json!({"chat_id": chat_id, "content": "m0"})).await;
    let last = b.messages(1).await[0]["message_id"].as_i64().unwrap();

    let stopping = suite.gateways.remove(1).stop();
    let (_, end) = tokio::join!(stopping, b.closed());
    assert_eq!(code(&end), Some(1012));
    for i in 1..4 {
        a.request("send_message", json!({"chat_id": chat_id, "content": format!("m{i}")}), json!(i)).await;
    }
    let mut b = suite.connect_with(0, &bob, &format!("&since={last}")).await;
    let got: Vec<String> = b.messages(3).await.iter().map(|m| m["content"].as_str().unwrap().to_owned()).collect();
    assert_eq!(got, ["m1", "m2", "m3"]);
    a.send("send_message", json!({"chat_id": chat_id, "content": "m4"})).await;
    assert_eq!(b.messages(1).await[0]["content"], "m4");
}
