//! user-search on a Postgres primary and its streaming replica of the test's own: lookups and
//! listings are served by the replica (shown by a replica held behind, which does not know
//! what the primary has); a replica down or too far behind hands its reads to the primary,
//! and `/readyz` and `/metrics` say so.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use testkit::postgres_pair::PostgresPair;

use crate::helpers::{Suite, TestDatabase, spawn_on};

const SERVED_BY_REPLICA: &str = r#"chat_suite_db_reads_total{served_by="replica"}"#;
const SERVED_BY_PRIMARY: &str = r#"chat_suite_db_reads_total{served_by="primary"}"#;

async fn on_pair(max_lag_seconds: u64) -> (Suite, PostgresPair) {
    let pair = tokio::task::spawn_blocking(PostgresPair::start).await.unwrap();
    let database = Arc::new(TestDatabase::on_server(pair.primary.url("app")).await);
    let read_url = format!("--database-read-url={}", pair.replica.url("app"));
    let max_lag = format!("--database-read-max-lag-seconds={max_lag_seconds}");
    let suite = spawn_on(database, &[&read_url, &max_lag]).await;
    (suite, pair)
}

/// Waits until `/readyz` says reads go where `expected` starts.
async fn reads_go_to(suite: &Suite, expected: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let ready = suite.get("/readyz", None).await;
        assert_eq!(ready.status, 200, "the replica is never a reason not to be ready: {}", ready.body);
        let reads = ready.body["checks"]["database_reads"].as_str().unwrap().to_owned();
        if reads.starts_with(expected) {
            return reads;
        }
        assert!(Instant::now() < deadline, "reads still go to: {reads}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lookups_and_listings_are_served_by_the_replica() {
    let (suite, pair) = on_pair(60).await;
    let (token, _) = suite.register("rita_r").await;
    let pair = blocking(move || {
        pair.wait_caught_up();
        pair
    })
    .await;
    reads_go_to(&suite, "replica").await;
    assert_eq!(suite.get("/users/username/rita_r", Some(&token)).await.status, 200);

    // Held behind, the replica does not know of a user the primary has: what it does not
    // know is what user-search answers.
    let pair = blocking(move || {
        pair.pause_replay();
        pair
    })
    .await;
    suite.register("rolf_r").await;
    assert_eq!(suite.get("/users/username/rolf_r", Some(&token)).await.status, 404);
    let listed = suite.get("/users/search?q=r", Some(&token)).await;
    assert_eq!(listed.status, 200);
    assert!(!listed.body.to_string().contains("rolf_r"), "{}", listed.body);
    assert!(suite.metric(SERVED_BY_REPLICA).await >= 3.0);
    assert_eq!(suite.metric(SERVED_BY_PRIMARY).await, 0.0, "the primary served no read");

    let _pair = blocking(move || {
        pair.resume_replay();
        pair
    })
    .await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while suite.get("/users/username/rolf_r", Some(&token)).await.status != 200 {
        assert!(Instant::now() < deadline, "the replica never caught up");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_down_hands_its_reads_to_the_primary() {
    let (suite, mut pair) = on_pair(60).await;
    let (token, _) = suite.register("dora_d").await;
    reads_go_to(&suite, "replica").await;

    pair = blocking(move || {
        pair.stop_replica();
        pair
    })
    .await;
    let reads = reads_go_to(&suite, "primary").await;
    assert!(reads.contains("the replica is down"), "{reads}");
    assert_eq!(suite.get("/users/username/dora_d", Some(&token)).await.status, 200);
    assert!(suite.metric(SERVED_BY_PRIMARY).await >= 1.0);
    assert_eq!(suite.metric("chat_suite_db_read_replica_serving").await, 0.0);

    let _pair = blocking(move || {
        pair.start_replica();
        pair
    })
    .await;
    reads_go_to(&suite, "replica").await;
    assert_eq!(suite.metric("chat_suite_db_read_replica_serving").await, 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_too_far_behind_hands_its_reads_to_the_primary() {
    let (suite, pair) = on_pair(1).await;
    let (token, _) = suite.register("tess_t").await;
    reads_go_to(&suite, "replica").await;

    let pair = blocking(move || {
        pair.pause_replay();
        pair
    })
    .await;
    suite.register("theo_t").await;
    let reads = reads_go_to(&suite, "primary").await;
    assert!(reads.contains("behind"), "{reads}");
    assert_eq!(suite.get("/users/username/theo_t", Some(&token)).await.status, 200, "the primary knows theo");
    assert!(suite.metric("chat_suite_db_read_replica_lag_seconds").await > 1.0);

    let _pair = blocking(move || {
        pair.resume_replay();
        pair
    })
    .await;
    reads_go_to(&suite, "replica").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_behind_a_deletion_does_not_bring_the_account_back() {
    let (suite, pair) = on_pair(60).await;
    let (token, _) = suite.register("vera_v").await;
    let (vic_token, vic) = suite.register("vic_v").await;
    let pair = blocking(move || {
        pair.wait_caught_up();
        pair
    })
    .await;
    reads_go_to(&suite, "replica").await;
    let path = "/users/username/vic_v";
    assert_eq!(suite.get(path, Some(&token)).await.status, 200);

    // The replica still has vic when the deletion is heard: its answer is not believed.
    let _pair = blocking(move || {
        pair.pause_replay();
        pair
    })
    .await;
    let deleted = testkit::read(
        suite
            .client
            .delete(format!("{}/me", suite.auth.address))
            .bearer_auth(&vic_token)
            .json(&serde_json::json!({"password": testkit::auth::PASSWORD})),
    )
    .await;
    assert_eq!(deleted.status, 204, "{}", deleted.body);
    let deadline = Instant::now() + Duration::from_secs(10);
    for path in [path.to_owned(), format!("/users/user_id/{vic}")] {
        while suite.get(&path, Some(&token)).await.status != 404 {
            assert!(Instant::now() < deadline, "{path}: the deleted account is still found");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    assert_eq!(suite.get(path, Some(&token)).await.status, 404, "and stays gone");
}
