//! The gateway's REST reads on a Postgres primary and its streaming replica of the test's
//! own: chat lists may lag by a moment and come from the replica; a history page comes from
//! the replica only once it has every message the primary has, so a client that just sent a
//! message finds it there (read your writes).

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use serde_json::json;
use testkit::postgres_pair::PostgresPair;

use crate::helpers::{Bus, Suite, TestDatabase, spawn_on};

async fn reads_on_the_replica(suite: &Suite) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let ready = suite.get(0, "/readyz", None).await;
        if ready.body["checks"]["database_reads"] == "replica" {
            return;
        }
        assert!(Instant::now() < deadline, "reads never went to the replica: {}", ready.body);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn served_by(suite: &Suite, server: &str) -> f64 {
    suite.metric(0, &format!("chat_suite_db_reads_total{{served_by=\"{server}\"}}")).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sender_reads_its_message_back_while_the_replica_lags() {
    let pair = tokio::task::spawn_blocking(PostgresPair::start).await.unwrap();
    let database = Arc::new(TestDatabase::on_server(pair.primary.url("app")).await);
    let read_url = format!("--database-read-url={}", pair.replica.url("app"));
    let mut args = crate::helpers::ROOMY.to_vec();
    args.extend([read_url.as_str(), "--database-read-max-lag-seconds=60"]);
    let suite = spawn_on(database, Bus::InProcess, 1, &args).await;
    let (alice, bob) = (suite.user("alice").await, suite.user("bob").await);
    let mut a = suite.connect(0, &alice).await;
    let mut b = suite.connect(0, &bob).await;
    let chat_id = suite.chat(&mut a, &bob, &mut b).await;
    a.request("send_message", json!({"chat_id": chat_id, "content": "before"}), json!(1)).await;
    let pair = tokio::task::spawn_blocking(move || {
        pair.wait_caught_up();
        pair.pause_replay();
        pair
    })
    .await
    .unwrap();
    reads_on_the_replica(&suite).await;

    // Stored on the primary; the replica, held back, has not got it.
    a.request("send_message", json!({"chat_id": chat_id, "content": "just sent"}), json!(2)).await;
    let history = format!("/chats/{chat_id}/messages");
    let (replica_before, primary_before) = (served_by(&suite, "replica").await, served_by(&suite, "primary").await);
    let page = suite.get(0, &history, Some(&alice.token)).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let contents: Vec<&str> =
        page.body["messages"].as_array().unwrap().iter().map(|m| m["content"].as_str().unwrap()).collect();
    assert_eq!(contents, ["before", "just sent"], "the sender reads its own write");
    assert_eq!(served_by(&suite, "primary").await, primary_before + 1.0, "by the primary");

    // The chat list may lag: the replica serves it, with the last message it has.
    let list = suite.get(0, "/chats", Some(&alice.token)).await;
    assert_eq!(list.body["chats"][0]["last_message"]["content"], "before", "{}", list.body);
    assert_eq!(served_by(&suite, "replica").await, replica_before + 1.0);

    // Caught up, the replica serves the history too.
    let _pair = tokio::task::spawn_blocking(move || {
        pair.resume_replay();
        pair.wait_caught_up();
        pair
    })
    .await
    .unwrap();
    let page = suite.get(0, &history, Some(&alice.token)).await;
    assert_eq!(page.body["messages"].as_array().unwrap().len(), 2);
    assert_eq!(served_by(&suite, "replica").await, replica_before + 2.0);
}
