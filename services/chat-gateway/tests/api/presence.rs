//! Presence, typing and seen receipts between two replicas; and a replica that dies takes its
//! users offline.

use std::{
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use serde_json::json;

use crate::helpers::{Backend, Bus, Suite, User, Ws, spawn, spawn_with};

async fn peers_hear_presence_typing_and_seen(bus: Bus) {
    let suite = spawn(Backend::Postgres, bus, 2).await;
    let (alice, bob) = (suite.user("alice").await, suite.user("bob").await);
    let mut a = suite.connect(0, &alice).await;
    let mut b = suite.connect(1, &bob).await;
    let chat_id = suite.chat(&mut a, &bob, &mut b).await;

    b.send("typing", json!({"chat_id": chat_id})).await;
    let typing = a.next_of("typing").await;
    assert_eq!(typing["data"], json!({"chat_id": chat_id, "user_id": bob.id}));

    let sent = a.request("send_message", json!({"chat_id": chat_id, "content": "read me"}), json!(1)).await;
    let message_id = sent["data"]["message_id"].clone();
    b.send("seen", json!({"chat_id": chat_id, "message_id": message_id})).await;
    let seen = a.next_of("message_seen").await;
    assert_eq!(seen["data"], json!({"chat_id": chat_id, "message_id": message_id, "user_id": bob.id}));

    b.close().await;
    let offline = a.next_of("offline").await;
    assert_eq!(offline["data"], json!({"user_id": bob.id}));
    let mut b = suite.connect(0, &bob).await;
    let online = a.next_of("online").await;
    assert_eq!(online["data"], json!({"user_id": bob.id}));
    // On connecting, bob learns who of his peers is online.
    let snapshot = b.next_of("online").await;
    assert_eq!(snapshot["data"], json!({"user_id": alice.id}));
}

/// A gateway of its own process (so that it can be killed outright) on the suite's database
/// and Redis, with presence entries living 3 s; `bob` connected to it, in a chat with `alice`
/// on the suite's gateway.
async fn doomed_replica(suite: &Suite, alice: &User, bob: &User) -> (Child, Ws, Ws) {
    let port = testkit::free_port();
    let doomed = Command::new(env!("CARGO_BIN_EXE_chat-gateway"))
        .env("LISTEN_ADDR", format!("127.0.0.1:{port}"))
        .env("DATABASE_URL", &suite.database.url)
        .env("REDIS_URL", suite.redis_url().unwrap())
        .env("JWKS_URL", format!("{}/.well-known/jwks.json", suite.auth.address))
        .env("PRESENCE_TTL_SECONDS", "3")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while suite.client.get(format!("http://127.0.0.1:{port}/healthz")).send().await.is_err() {
        assert!(Instant::now() < deadline, "chat-gateway did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut a = suite.connect(0, alice).await;
    let mut b = Ws::open(&format!("ws://127.0.0.1:{port}/chat?access_token={}", bob.token)).await;
    assert_eq!(b.next().await["event"], "connected");
    suite.chat(&mut a, bob, &mut b).await;
    (doomed, a, b)
}

/// A replica killed outright says nothing; its presence expires and a surviving replica
/// announces its users offline.
async fn a_dead_replicas_users_go_offline(bus: Bus) {
    let suite = spawn_with(Backend::Postgres, bus, 1, &["--presence-ttl-seconds=3"]).await;
    let (alice, bob) = (suite.user("alice").await, suite.user("bob").await);
    let (mut doomed, mut a, _b) = doomed_replica(&suite, &alice, &bob).await;

    doomed.kill().unwrap();
    doomed.wait().unwrap();
    let offline = a.next_of("offline").await;
    assert_eq!(offline["data"], json!({"user_id": bob.id}));
}

/// A replica taken for dead while it lives (its entry in the list of live replicas lapsed: a
/// pause, a slow Redis) loses its list of users to the replica that claims it, and renewing
/// never listed them again: when it really died, nobody announced them offline. Renewing now
/// lists them again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_wrongly_claimed_dead_lists_its_users_again() {
    let suite = spawn_with(Backend::Postgres, Bus::Redis, 1, &["--presence-ttl-seconds=3"]).await;
    let (alice, bob) = (suite.user("alice").await, suite.user("bob").await);
    let (mut doomed, mut a, _b) = doomed_replica(&suite, &alice, &bob).await;
    let client = redis::Client::open(suite.redis_url().unwrap()).unwrap();
    let mut redis = client.get_multiplexed_async_connection().await.unwrap();
    // The doomed replica's list of users is the one that holds bob.
    let mut node = None;
    for key in redis::cmd("KEYS").arg("chat:presence:node:*").query_async::<Vec<String>>(&mut redis).await.unwrap() {
        let members: Vec<String> = redis::cmd("SMEMBERS").arg(&key).query_async(&mut redis).await.unwrap();
        if members.contains(&bob.id) {
            node = key.strip_prefix("chat:presence:node:").map(str::to_owned);
        }
    }
    let node = node.expect("bob is listed under his replica");

    // What a claim leaves of its list: nothing. (Made here rather than by letting its entry
    // lapse: the replica's own renewal would race the claim.)
    let listed = format!("chat:presence:node:{node}");
    let _: i64 = redis::cmd("DEL").arg(&listed).query_async(&mut redis).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    while !redis::cmd("SISMEMBER").arg(&listed).arg(&bob.id).query_async::<bool>(&mut redis).await.unwrap() {
        assert!(Instant::now() < deadline, "the living replica never listed bob again");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Now it dies for real: bob is announced offline, from its list.
    doomed.kill().unwrap();
    doomed.wait().unwrap();
    assert_eq!(a.next_of("offline").await["data"], json!({"user_id": bob.id}));
}

crate::on_both_buses!(peers_hear_presence_typing_and_seen, a_dead_replicas_users_go_offline);
