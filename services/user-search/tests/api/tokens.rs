use auth_api::tokens::{SigningKey, TokenIssuer};
use serde_json::json;

use crate::helpers::{Backend, spawn, spawn_auth, spawn_search};

async fn every_route_needs_a_valid_token(backend: Backend) {
    let suite = spawn(backend).await;
    let (token, id) = suite.register("walt").await;
    let routes = [
        "/users/show",
        "/users/show?username=walt",
        "/users/username/walt",
        &format!("/users/user_id/{id}"),
        "/users/search?q=w",
    ];
    for path in routes {
        assert_eq!(suite.get(path, Some(&token)).await.status, 200, "{path}");
        let missing = suite.get(path, None).await;
        assert_eq!((missing.status, &missing.body["code"]), (401, &json!("missing_token")), "{path}");
        let garbage = suite.get(path, Some("garbage")).await;
        assert_eq!((garbage.status, &garbage.body["code"]), (401, &json!("invalid_token")), "{path}");
    }
    // A token from an auth-api with another key that this one never published.
    let stranger = TokenIssuer::new(
        SigningKey::generate().unwrap(),
        shared::config::TokenSettings { issuer: "chat-suite".into(), audience: "chat-suite".into() },
        std::time::Duration::from_secs(60),
    )
    .issue(uuid::Uuid::parse_str(&id).unwrap(), "walt")
    .unwrap();
    assert_eq!(suite.get("/users/show", Some(&stranger)).await.status, 401);
}

/// auth-api restarts with a new key: user-search fetches it on the first token that names it,
/// with no restart of its own, and tokens of the retired key stop working.
async fn tokens_of_a_rotated_key_verify_without_a_restart(backend: Backend) {
    let suite = spawn(backend).await;
    let (old_token, _) = suite.register("xena").await;
    assert_eq!(suite.get("/users/show", Some(&old_token)).await.status, 200);

    let addr = format!("127.0.0.1:{}", suite.auth.port).parse().unwrap();
    let crate::helpers::Suite { auth, search, client, db, database } = suite;
    auth.stop().await;
    let auth = spawn_auth(&database, addr, &SigningKey::generate().unwrap()).await;
    let suite = crate::helpers::Suite { auth, search, client, db, database };

    let (new_token, _) = suite.register("yusuf").await;
    let resp = suite.get("/users/username/xena", Some(&new_token)).await;
    assert_eq!(resp.status, 200, "{}", resp.body);
    // The old key is gone from the JWKS: its tokens are refused once the set is fetched again.
    let resp = suite.get("/users/show", Some(&old_token)).await;
    assert_eq!((resp.status, &resp.body["code"]), (401, &json!("invalid_token")));
}

async fn readiness_needs_the_keys(backend: Backend) {
    let suite = spawn(backend).await;
    let ready = testkit::read(suite.client.get(format!("{}/readyz", suite.search.address))).await;
    assert_eq!(
        (ready.status, ready.body),
        (200, json!({"status": "ready", "checks": {"database": "ok", "jwks": "ok"}}))
    );

    let orphan = spawn_search(&suite.database, "http://127.0.0.1:9/.well-known/jwks.json").await;
    let ready = testkit::read(suite.client.get(format!("{}/readyz", orphan.address))).await;
    assert_eq!(ready.status, 503);
    assert!(ready.body["error"].as_str().unwrap().contains("jwks"), "{}", ready.body);
    let health = testkit::read(suite.client.get(format!("{}/healthz", orphan.address))).await;
    assert_eq!(health.status, 200);
}

testkit::on_both_backends!(
    every_route_needs_a_valid_token,
    tokens_of_a_rotated_key_verify_without_a_restart,
    readiness_needs_the_keys,
);
