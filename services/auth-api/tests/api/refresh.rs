use serde_json::json;

use crate::helpers::{Backend, spawn_app, spawn_app_with};

async fn a_refresh_rotates_the_pair_and_spends_the_old_token(backend: Backend) {
    let app = spawn_app(backend).await;
    let session = app.register("liam").await;
    let first = session["refresh_token"].as_str().unwrap();
    let resp = app.post("/token/refresh", json!({"refresh_token": first})).await;
    assert_eq!(resp.status, 200, "{}", resp.body);
    assert_eq!(resp.body["user_id"], session["user_id"]);
    assert_eq!(resp.body["username"], "liam");
    let second = resp.body["refresh_token"].as_str().unwrap();
    assert_ne!(second, first);
    assert_eq!(app.get("/me", resp.body["access_token"].as_str()).await.status, 200);
    // The successor works in turn.
    let third = app.post("/token/refresh", json!({"refresh_token": second})).await;
    assert_eq!(third.status, 200);
    // Only hashes are stored.
    let stored = app.scalar("SELECT token_hash FROM refresh_tokens LIMIT 1").await.unwrap();
    assert_eq!(stored.len(), 64);
    assert_ne!(stored, first);
}

async fn reuse_after_the_grace_window_revokes_the_whole_family(backend: Backend) {
    let app = spawn_app_with(backend, &["--refresh-reuse-grace-seconds", "0"]).await;
    let session = app.register("mia").await;
    let first = session["refresh_token"].as_str().unwrap();
    let rotated = app.post("/token/refresh", json!({"refresh_token": first})).await;
    assert_eq!(rotated.status, 200);
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;

    let reuse = app.post("/token/refresh", json!({"refresh_token": first})).await;
    assert_eq!(reuse.status, 401);
    assert_eq!(reuse.body["code"], "refresh_token_reused");
    // The legitimate successor is dead too: whoever holds it must log in again.
    let successor = app.post("/token/refresh", json!({"refresh_token": rotated.body["refresh_token"]})).await;
    assert_eq!(successor.status, 401);
    assert_eq!(successor.body["code"], "invalid_refresh_token");
    // Another session of the same user is untouched.
    let other = app.post("/login", json!({"username": "mia", "password": "correct horse battery"})).await;
    assert_eq!(app.post("/token/refresh", json!({"refresh_token": other.body["refresh_token"]})).await.status, 200);
}

async fn reuse_within_the_grace_window_gets_the_same_successor(backend: Backend) {
    let app = spawn_app(backend).await;
    let session = app.register("noah").await;
    let first = session["refresh_token"].as_str().unwrap();
    let a = app.post("/token/refresh", json!({"refresh_token": first})).await;
    let b = app.post("/token/refresh", json!({"refresh_token": first})).await;
    assert_eq!((a.status, b.status), (200, 200), "{} {}", a.body, b.body);
    assert_eq!(a.body["refresh_token"], b.body["refresh_token"]);
    let next = app.post("/token/refresh", json!({"refresh_token": a.body["refresh_token"]})).await;
    assert_eq!(next.status, 200);
}

async fn concurrent_refreshes_share_one_successor(backend: Backend) {
    let app = spawn_app(backend).await;
    let session = app.register("olga").await;
    let first = session["refresh_token"].as_str().unwrap();
    let results =
        futures_util::future::join_all((0..5).map(|_| app.post("/token/refresh", json!({"refresh_token": first}))))
            .await;
    for r in &results {
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.body["refresh_token"], results[0].body["refresh_token"]);
    }
    assert_eq!(app.scalar("SELECT CAST(COUNT(*) AS TEXT) FROM refresh_tokens").await.as_deref(), Some("2"));
}

async fn logout_revokes_and_is_idempotent(backend: Backend) {
    let app = spawn_app(backend).await;
    let session = app.register("pete").await;
    let token = session["refresh_token"].as_str().unwrap();
    let resp = app.post("/logout", json!({"refresh_token": token})).await;
    assert_eq!((resp.status, &resp.body), (204, &serde_json::Value::Null));
    let refresh = app.post("/token/refresh", json!({"refresh_token": token})).await;
    assert_eq!(refresh.status, 401);
    assert_eq!(refresh.body, json!({"error": "the refresh token was revoked", "code": "invalid_refresh_token"}));
    assert_eq!(app.post("/logout", json!({"refresh_token": token})).await.status, 204);
    assert_eq!(app.post("/logout", json!({"refresh_token": "never-issued"})).await.status, 204);
    assert_eq!(app.post("/logout", json!({})).await.status, 400);
}

async fn unknown_and_malformed_refresh_tokens_are_401(backend: Backend) {
    let app = spawn_app(backend).await;
    for token in ["", "short", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "!!!!"] {
        let resp = app.post("/token/refresh", json!({"refresh_token": token})).await;
        assert_eq!(resp.status, 401, "{token:?}");
        assert_eq!(resp.body["code"], "invalid_refresh_token");
    }
    assert_eq!(app.post("/token/refresh", json!({"refresh_token": 12})).await.status, 400);
}

testkit::on_both_backends!(
    a_refresh_rotates_the_pair_and_spends_the_old_token,
    reuse_after_the_grace_window_revokes_the_whole_family,
    reuse_within_the_grace_window_gets_the_same_successor,
    concurrent_refreshes_share_one_successor,
    logout_revokes_and_is_idempotent,
    unknown_and_malformed_refresh_tokens_are_401,
);
