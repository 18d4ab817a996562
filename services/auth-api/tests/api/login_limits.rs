//! The login limits against guessing: per address, per username and address, per username
//! over all addresses; on one replica (counters in the process) and on two sharing Redis.
//! Each client address is a loopback address of its own, as the server sees the peer.

use std::{net::IpAddr, sync::Arc, time::Duration};

use serde_json::{Value, json};

use crate::helpers::{
    Backend, Response, TestApp, TestDatabase, assert_rate_limited, redis_url, spawn_app_with, spawn_on, unique_name,
};

const PASSWORD: &str = "correct horse battery";

/// Where the counters live.
#[derive(Clone, Copy)]
enum Counters {
    InProcess,
    Redis,
}

/// The replicas the attempts go to in turn: one, or two sharing Redis and a database.
async fn replicas(counters: Counters, limits: &[&str]) -> Vec<TestApp> {
    match counters {
        Counters::InProcess => vec![spawn_app_with(Backend::Sqlite, limits).await],
        Counters::Redis => {
            let database = Arc::new(TestDatabase::create(Backend::Postgres).await);
            let key = auth_api::tokens::SigningKey::generate().unwrap().to_pem().to_owned();
            let url = redis_url();
            let mut extra = vec!["--redis-url", url.as_str()];
            extra.extend_from_slice(limits);
            vec![spawn_on(database.clone(), key.clone(), &extra).await, spawn_on(database, key, &extra).await]
        }
    }
}

/// A loopback address no other test (nor an earlier run, on the shared Redis) uses.
fn fresh_address() -> IpAddr {
    let id = uuid::Uuid::new_v4();
    let [a, b, c, ..] = *id.as_bytes();
    // Not 127.0.0.1 (the other tests'), nor a .0 or .255.
    IpAddr::from([127, a, b, 2 + c % 253])
}

/// A client whose requests come from `address`.
fn client_from(address: IpAddr) -> reqwest::Client {
    shared::http_client::builder().local_address(address).timeout(Duration::from_secs(30)).build().unwrap()
}

/// A login at the `n`th replica (in turn) from `client`.
async fn login(apps: &[TestApp], n: usize, client: &reqwest::Client, username: &str, password: &str) -> Response {
    let app = &apps[n % apps.len()];
    let request =
        client.post(format!("{}/login", app.address)).json(&json!({"username": username, "password": password}));
    app.send(request).await
}

/// An attacker's address that used up its failed logins for alice is refused, even with the
/// right password (else the 429 would stop only wrong guesses), while alice logs in from her
/// own address, as often as she likes: a login that succeeds is not charged.
async fn an_attacker_address_is_refused_while_the_owner_logs_in(counters: Counters) {
    let apps = replicas(counters, &["--rate-limit-per-username-and-ip-per-minute", "3"]).await;
    let alice = unique_name("alice");
    apps[0].register(&alice).await;
    let attacker = client_from(fresh_address());
    for n in 0..3 {
        assert_eq!(login(&apps, n, &attacker, &alice, "wrong password").await.status, 401);
    }
    // 3 a minute: one comes back every 20 s.
    let what = "too many failed logins for this username from this address";
    for n in 0..2 {
        assert_rate_limited(&login(&apps, n, &attacker, &alice, "wrong password").await, what, 20);
        assert_rate_limited(&login(&apps, n, &attacker, &alice.to_uppercase(), PASSWORD).await, what, 20);
    }
    let own = client_from(fresh_address());
    for n in 0..5 {
        let resp = login(&apps, n, &own, &alice, PASSWORD).await;
        assert_eq!((resp.status, &resp.body["username"]), (200, &Value::from(alice.clone())), "{}", resp.body);
    }
}

#[tokio::test]
async fn an_attacker_address_is_refused_while_the_owner_logs_in_in_process() {
    an_attacker_address_is_refused_while_the_owner_logs_in(Counters::InProcess).await;
}

#[tokio::test]
async fn an_attacker_address_is_refused_while_the_owner_logs_in_across_replicas() {
    an_attacker_address_is_refused_while_the_owner_logs_in(Counters::Redis).await;
}

/// Guesses spread over addresses, each within its own allowance, meet the looser limit per
/// username: then every address is refused, the owner's too (the cost of that limit).
async fn the_per_username_limit_applies_across_addresses(counters: Counters) {
    let limits = ["--rate-limit-per-username-and-ip-per-minute", "2", "--rate-limit-per-username-per-minute", "4"];
    let apps = replicas(counters, &limits).await;
    let alice = unique_name("alice");
    apps[0].register(&alice).await;
    for n in 0..2 {
        let attacker = client_from(fresh_address());
        for m in 0..2 {
            assert_eq!(login(&apps, n + m, &attacker, &alice, "wrong password").await.status, 401);
        }
    }
    // 4 a minute: one comes back every 15 s.
    let what = "too many failed logins for this username";
    assert_rate_limited(&login(&apps, 0, &client_from(fresh_address()), &alice, "wrong password").await, what, 15);
    assert_rate_limited(&login(&apps, 1, &client_from(fresh_address()), &alice, PASSWORD).await, what, 15);
    // Another name is not affected.
    let bob = unique_name("bob");
    apps[0].register(&bob).await;
    assert_eq!(login(&apps, 1, &client_from(fresh_address()), &bob, PASSWORD).await.status, 200);
}

#[tokio::test]
async fn the_per_username_limit_applies_across_addresses_in_process() {
    the_per_username_limit_applies_across_addresses(Counters::InProcess).await;
}

#[tokio::test]
async fn the_per_username_limit_applies_across_addresses_across_replicas() {
    the_per_username_limit_applies_across_addresses(Counters::Redis).await;
}

/// Every attempt from an address counts against its allowance, whatever the names tried.
async fn the_per_address_limit_still_holds(counters: Counters) {
    let apps = replicas(counters, &["--rate-limit-per-ip-per-minute", "3"]).await;
    let attacker = client_from(fresh_address());
    for n in 0..3 {
        assert_eq!(login(&apps, n, &attacker, &unique_name("nobody"), "wrong password").await.status, 401);
    }
    let what = "too many attempts from this address";
    for n in 0..2 {
        assert_rate_limited(&login(&apps, n, &attacker, &unique_name("nobody"), "wrong password").await, what, 20);
    }
    let other = client_from(fresh_address());
    assert_eq!(login(&apps, 0, &other, &unique_name("nobody"), "wrong password").await.status, 401);
}

#[tokio::test]
async fn the_per_address_limit_still_holds_in_process() {
    the_per_address_limit_still_holds(Counters::InProcess).await;
}

#[tokio::test]
async fn the_per_address_limit_still_holds_across_replicas() {
    the_per_address_limit_still_holds(Counters::Redis).await;
}

/// On a Redis Cluster too (the keys of one username and its addresses land anywhere).
#[tokio::test]
async fn the_redis_cluster_limits_hold_across_two_replicas() {
    let cluster = tokio::task::spawn_blocking(testkit::redis_cluster::RedisCluster::start).await.unwrap();
    let database = Arc::new(TestDatabase::create(Backend::Postgres).await);
    let key = auth_api::tokens::SigningKey::generate().unwrap().to_pem().to_owned();
    let url = cluster.service_url();
    let extra = ["--redis-url", &url, "--rate-limit-per-username-and-ip-per-minute", "2"];
    let apps = [spawn_on(database.clone(), key.clone(), &extra).await, spawn_on(database, key, &extra).await];
    let alice = unique_name("alice");
    apps[0].register(&alice).await;
    let attacker = client_from(fresh_address());
    for n in 0..2 {
        assert_eq!(login(&apps, n, &attacker, &alice, "wrong password").await.status, 401);
    }
    for n in 0..2 {
        let what = "too many failed logins for this username from this address";
        assert_rate_limited(&login(&apps, n, &attacker, &alice, "wrong password").await, what, 30);
    }
    assert_eq!(login(&apps, 1, &client_from(fresh_address()), &alice, PASSWORD).await.status, 200);
}
