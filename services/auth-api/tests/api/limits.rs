use std::sync::Arc;

use serde_json::json;

use crate::helpers::{Backend, TestDatabase, assert_rate_limited, redis_url, spawn_app_with, spawn_on, unique_name};

fn login_body(username: &str) -> serde_json::Value {
    json!({"username": username, "password": "wrong password"})
}

#[tokio::test]
async fn registrations_past_the_per_address_limit_get_429() {
    let app = spawn_app_with(Backend::Sqlite, &["--rate-limit-per-ip-per-minute", "2"]).await;
    app.register(&unique_name("a")).await;
    app.register(&unique_name("b")).await;
    let limited = app
        .post(
            "/register",
            json!({"username": unique_name("c"), "password": "correct horse battery", "email": "c@example.com"}),
        )
        .await;
    // 2 a minute: one comes back every 30 s.
    assert_rate_limited(&limited, "too many attempts from this address", 30);
}

/// Attempts at one username count, from any address, whatever their outcome.
#[tokio::test]
async fn registrations_past_the_per_username_limit_get_429() {
    let app = spawn_app_with(Backend::Sqlite, &["--rate-limit-per-username-per-minute", "2"]).await;
    let name = unique_name("taken");
    app.register(&name).await;
    let again = json!({"username": name.to_uppercase(), "password": "correct horse battery", "email": "x@example.com"});
    assert_eq!(app.post("/register", again.clone()).await.status, 409);
    let limited = app.post("/register", again).await;
    assert_rate_limited(&limited, "too many attempts to register this username", 30);
}

/// Behind the ingress (one trusted hop), the per-address limit follows X-Forwarded-For,
/// across replicas, and a client cannot reset it by inventing its own earlier entries.
#[tokio::test]
async fn the_per_address_limit_follows_the_trusted_forwarded_address_across_replicas() {
    let database = Arc::new(TestDatabase::create(Backend::Postgres).await);
    let key = auth_api::tokens::SigningKey::generate().unwrap().to_pem().to_owned();
    let extra = ["--redis-url", &redis_url(), "--rate-limit-per-ip-per-minute", "2", "--trusted-proxy-hops", "1"];
    let a = spawn_on(database.clone(), key.clone(), &extra).await;
    let b = spawn_on(database, key, &extra).await;
    let id = *uuid::Uuid::new_v4().as_bytes();
    let client_ip =
        format!("2001:db8::{:x}:{:x}", u16::from_be_bytes([id[0], id[1]]), u16::from_be_bytes([id[2], id[3]]));
    assert_eq!(attempt(&a, "10.0.0.1", &client_ip).await, 401);
    assert_eq!(attempt(&b, "10.0.0.2", &client_ip).await, 401);
    assert_eq!(attempt(&a, "10.0.0.3", &client_ip).await, 429);
    assert_eq!(attempt(&b, "10.0.0.4", &client_ip).await, 429);
}

/// A login whose X-Forwarded-For starts with what the client wrote and ends with what the
/// ingress appended.
async fn attempt(app: &crate::helpers::TestApp, spoofed: &str, client_ip: &str) -> u16 {
    let request = app
        .client
        .post(format!("{}/login", app.address))
        .header("x-forwarded-for", format!("{spoofed}, {client_ip}"))
        .json(&login_body(&unique_name("w")));
    app.send(request).await.status
}

/// With no place to wait for a core, logins beyond one per core at a time are refused at once:
/// a 503 with `Retry-After`, never a 500 or a 401 that would tell the user the password was
/// wrong; the others log in.
#[tokio::test]
async fn logins_past_the_hash_queue_get_503_with_retry_after() {
    let app = spawn_app_with(Backend::Sqlite, &["--password-hash-queue", "0"]).await;
    let name = unique_name("storm");
    app.register(&name).await;
    let cores = std::thread::available_parallelism().map(usize::from).unwrap_or(1);
    let storm =
        (0..cores * 8).map(|_| app.post("/login", json!({"username": name, "password": "correct horse battery"})));
    let results = futures_util::future::join_all(storm).await;
    let statuses: Vec<u16> = results.iter().map(|r| r.status).collect();
    assert!(statuses.iter().all(|s| matches!(s, 200 | 503)), "{statuses:?}");
    assert!(statuses.contains(&200), "{statuses:?}");
    let refused: Vec<_> = results.iter().filter(|r| r.status == 503).collect();
    assert!(!refused.is_empty(), "{} logins at once on {cores} cores, none refused", statuses.len());
    for resp in refused {
        assert_eq!(
            resp.body,
            json!({"error": "too many logins and registrations at once; retry shortly", "code": "overloaded"})
        );
        assert_eq!(resp.headers["retry-after"], "1");
    }
    // Once the storm is over, logins go through again.
    assert_eq!(app.post("/login", json!({"username": name, "password": "correct horse battery"})).await.status, 200);
}
