//! The lookup cache on Postgres: a lookup asked again is answered from memory, and an account
//! deleted is forgotten by every replica, also by one that was not listening when it went.

use std::time::{Duration, Instant};

use sea_orm::ConnectionTrait;
use serde_json::json;
use testkit::auth::PASSWORD;

use crate::helpers::{Backend, Suite, spawn, spawn_search};

const HITS: &str = r#"chat_suite_lookup_cache_lookups_total{result="hit"}"#;

/// A second user-search replica on the suite's database.
async fn second_replica(suite: &Suite) -> testkit::Running {
    spawn_search(&suite.database, &format!("{}/.well-known/jwks.json", suite.auth.address)).await
}

/// Asks `path` of the replica at `address` until an answer comes from memory (the replica
/// listens for deletions only a moment after it starts), and returns that answer.
async fn until_cached(suite: &Suite, address: &str, path: &str, token: &str) -> testkit::Response {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let before = hits(suite, address).await;
        let resp = testkit::get(&suite.client, &format!("{address}{path}"), Some(token)).await;
        if hits(suite, address).await > before {
            return resp;
        }
        assert!(Instant::now() < deadline, "{path} never answered from memory");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn hits(suite: &Suite, address: &str) -> f64 {
    let metrics = testkit::get(&suite.client, &format!("{address}/metrics"), None).await;
    let metrics = metrics.body.as_str().unwrap().to_owned();
    metrics.lines().find_map(|l| l.strip_prefix(HITS)?.trim().parse().ok()).unwrap_or(0.0)
}

/// Waits until `path` answers `status` at `address`.
async fn until_status(suite: &Suite, address: &str, path: &str, token: &str, status: u16) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let resp = testkit::get(&suite.client, &format!("{address}{path}"), Some(token)).await;
        if resp.status == status {
            return;
        }
        assert!(Instant::now() < deadline, "{path} still answers {}: {}", resp.status, resp.body);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn every_replica_forgets_a_deleted_account_and_its_freed_name_finds_the_new_owner() {
    let suite = spawn(Backend::Postgres).await;
    let other = second_replica(&suite).await;
    let (token, _) = suite.register("viewer_c").await;
    let (alice_token, alice) = suite.register("Alice_C").await;
    let paths = ["/users/username/alice_c".to_owned(), format!("/users/user_id/{alice}")];
    for address in [&suite.search.address, &other.address] {
        for path in &paths {
            let resp = until_cached(&suite, address, path, &token).await;
            assert_eq!((resp.status, resp.body), (200, json!({"username": "Alice_C", "user_id": alice})));
        }
    }

    let deleted = testkit::read(
        suite
            .client
            .delete(format!("{}/me", suite.auth.address))
            .bearer_auth(&alice_token)
            .json(&json!({"password": PASSWORD})),
    )
    .await;
    assert_eq!(deleted.status, 204, "{}", deleted.body);
    for address in [&suite.search.address, &other.address] {
        for path in &paths {
            until_status(&suite, address, path, &token, 404).await;
        }
    }

    // The name is free again: both replicas find whoever takes it now.
    let (_, new_alice) = suite.register("alice_c").await;
    for address in [&suite.search.address, &other.address] {
        let resp = testkit::get(&suite.client, &format!("{address}/users/username/ALICE_C"), Some(&token)).await;
        assert_eq!((resp.status, resp.body), (200, json!({"username": "alice_c", "user_id": new_alice})));
    }
}

#[tokio::test]
async fn a_replica_whose_listener_was_cut_does_not_answer_from_what_it_held() {
    let suite = spawn(Backend::Postgres).await;
    let (token, _) = suite.register("viewer_d").await;
    let (_, bruno) = suite.register("bruno_d").await;
    let path = "/users/username/bruno_d";
    until_cached(&suite, &suite.search.address, path, &token).await;

    // The listener's connection ends, and the account goes without a notification: nothing
    // tells this replica of it but having lost its listener.
    let cut = suite
        .db
        .execute_unprepared(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = current_database() AND query LIKE 'LISTEN %'",
        )
        .await
        .unwrap();
    assert!(cut.rows_affected() >= 1, "no listener found to cut");
    suite
        .db
        .execute_unprepared(&format!(
            "UPDATE users SET username = 'deleted:{0}', username_key = 'deleted:{0}', deleted_at = now() \
             WHERE id = '{bruno}'",
            bruno.replace('-', "")
        ))
        .await
        .unwrap();
    until_status(&suite, &suite.search.address, path, &token, 404).await;
}
