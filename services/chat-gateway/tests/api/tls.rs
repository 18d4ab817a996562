//! The bus between replicas over TLS (`rediss://`, `rediss+cluster://`), with a CA of the
//! test's own and the client certificate the servers require: the command connection, the
//! publisher and every subscription link (classic on one server, sharded on each master of a
//! cluster) handshake with them. A CA that did not sign the servers stops the binary with one
//! line naming it.

use std::process::Command;

use serde_json::json;

use crate::helpers::{Backend, Bus, Suite, spawn};

/// Alice on replica 0 and bob on replica 1: the chat's creation, a message each way and
/// bob's presence reach the other replica through Redis.
async fn replicas_talk_over(bus: Bus) -> Suite {
    let suite = spawn(Backend::Postgres, bus, 2).await;
    let (alice, bob) = (suite.user("alice").await, suite.user("bob").await);
    let mut a = suite.connect(0, &alice).await;
    let mut b = suite.connect(1, &bob).await;
    let chat_id = suite.chat(&mut a, &bob, &mut b).await;

    let reply = a.request("send_message", json!({"chat_id": chat_id, "content": "over TLS"}), json!(1)).await;
    assert_eq!(reply["event"], "receive_message", "{reply}");
    let received = b.messages(1).await;
    assert_eq!(received[0]["content"], "over TLS");
    assert_eq!(received[0]["sender_id"], alice.id.as_str());

    let reply = b.request("send_message", json!({"chat_id": chat_id, "content": "and back"}), json!(2)).await;
    assert_eq!(reply["event"], "receive_message", "{reply}");
    assert_eq!(a.messages(1).await[0]["content"], "and back");

    for replica in 0..2 {
        assert_eq!(suite.get(replica, "/readyz", None).await.status, 200, "replica {replica}");
        // Every subscription link opened at its first attempt (a failed one is counted), and
        // what was heard came through them.
        assert_eq!(suite.metric(replica, "chat_suite_bus_reconnects_total").await, 0.0, "replica {replica}");
        assert!(suite.metric(replica, "chat_suite_bus_received_total").await > 0.0, "replica {replica}");
    }
    suite
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_talk_over_one_tls_redis() {
    replicas_talk_over(Bus::RedisTls).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_talk_over_a_tls_redis_cluster_and_a_wrong_ca_is_one_line() {
    let suite = replicas_talk_over(Bus::RedisClusterTls).await;
    let cluster = suite.cluster.as_ref().unwrap();
    let tls = cluster.tls().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_chat-gateway"))
        .env("DATABASE_URL", &suite.database.url)
        .env("JWKS_URL", format!("{}/.well-known/jwks.json", suite.auth.address))
        .env("DATA_DIR", dir.path())
        .env("LISTEN_ADDR", "127.0.0.1:0")
        .env("REDIS_URL", cluster.service_url())
        .env("REDIS_CA_FILE", &tls.other_ca_file)
        .env("REDIS_CLIENT_CERT_FILE", &tls.client_cert)
        .env("REDIS_CLIENT_KEY_FILE", &tls.client_key)
        // The start-up log before the error is not what this test reads.
        .env("RUST_LOG", "off")
        .output()
        .unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with(
            "chat-gateway: error: REDIS_CA_FILE: the Redis server's certificate is not signed by this CA ("
        ),
        "{stderr}"
    );
}
