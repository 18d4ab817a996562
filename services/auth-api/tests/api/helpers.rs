//! The harness: each test starts the real auth-api on a random port, on a fresh Postgres
//! database (dropped afterwards) or a fresh SQLite file (see `testkit`), and talks to it over HTTP.

// Shared by two test targets (api, relay), each using part of it.
#![allow(dead_code, unused_imports)]

use std::time::Duration;

use auth_api::tokens::SigningKey;
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};
use serde_json::Value;
pub use testkit::{Backend, Response, Running, TestDatabase, postgres_admin_url, redis_url, unique_name};

pub struct TestApp {
    /// `running.address`, at hand.
    pub address: String,
    pub client: reqwest::Client,
    pub db: DatabaseConnection,
    pub database: std::sync::Arc<TestDatabase>,
    pub signing_key: String,
    /// The app itself, stopped when this is dropped.
    pub running: Running,
}

/// The command line every test app starts from: loopback, a random port, limits high enough
/// not to interfere unless a test lowers them.
pub fn base_args(database_url: &str, data_dir: &std::path::Path, signing_key: &str) -> Vec<String> {
    [
        "auth-api",
        "--listen-addr",
        "127.0.0.1:0",
        "--database-url",
        database_url,
        "--data-dir",
        &data_dir.display().to_string(),
        &format!("--jwt-signing-key={signing_key}"),
        "--rate-limit-per-ip-per-minute",
        "100000",
        "--rate-limit-per-username-per-minute",
        "100000",
        "--rate-limit-per-username-and-ip-per-minute",
        "100000",
        "--shutdown-grace-seconds",
        "1",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, &[]).await
}

/// Starts auth-api with the base arguments plus `extra` (later flags win).
pub async fn spawn_app_with(backend: Backend, extra: &[&str]) -> TestApp {
    let database = std::sync::Arc::new(TestDatabase::create(backend).await);
    spawn_on(database, SigningKey::generate().unwrap().to_pem().to_owned(), extra).await
}

/// Starts another auth-api on an existing database (a second replica).
pub async fn spawn_on(database: std::sync::Arc<TestDatabase>, signing_key: String, extra: &[&str]) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let mut args = base_args(&database.url, dir.path(), &signing_key);
    args.extend(extra.iter().map(|s| s.to_string()));
    let running = testkit::auth::start(args).await;
    TestApp {
        address: running.address.clone(),
        client: shared::http_client::builder().timeout(Duration::from_secs(30)).build().unwrap(),
        db: database.connect().await,
        database,
        signing_key,
        running,
    }
}

impl TestApp {
    pub async fn post(&self, path: &str, body: Value) -> Response {
        self.send(self.client.post(format!("{}{path}", self.address)).json(&body)).await
    }

    pub async fn post_raw(&self, path: &str, body: impl Into<reqwest::Body>, content_type: &str) -> Response {
        self.send(self.client.post(format!("{}{path}", self.address)).header("content-type", content_type).body(body))
            .await
    }

    pub async fn get(&self, path: &str, bearer: Option<&str>) -> Response {
        testkit::get(&self.client, &format!("{}{path}", self.address), bearer).await
    }

    pub async fn send(&self, req: reqwest::RequestBuilder) -> Response {
        testkit::read(req).await
    }

    /// Registers `username` with a password of "correct horse battery"; returns the 201 body.
    /// Names are made unique per database by the callers, emails follow the names.
    pub async fn register(&self, username: &str) -> Value {
        testkit::auth::register(&self.client, &self.address, username).await
    }

    /// Registers `username` (a 201 is asserted) and returns the new user id.
    pub async fn register_quietly(&self, username: &str) -> String {
        self.register(username).await["user_id"].as_str().unwrap_or_default().to_owned()
    }

    pub async fn scalar(&self, sql: &str) -> Option<String> {
        let row = self.db.query_one_raw(Statement::from_string(self.db.get_database_backend(), sql)).await.unwrap()?;
        row.try_get_by_index::<Option<String>>(0).unwrap()
    }
}

/// A 429 `rate_limited` whose message gives the wait `Retry-After` gives, at most `at_most`
/// seconds: "{what}; retry in N seconds".
pub fn assert_rate_limited(resp: &Response, what: &str, at_most: u64) {
    assert_eq!(resp.status, 429, "{}", resp.body);
    let retry_after: u64 = resp.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=at_most).contains(&retry_after), "{retry_after}");
    let unit = if retry_after == 1 { "second" } else { "seconds" };
    let error = format!("{what}; retry in {retry_after} {unit}");
    assert_eq!(resp.body, serde_json::json!({"error": error, "code": "rate_limited"}));
}
