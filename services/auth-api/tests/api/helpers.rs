//! The harness: each test starts the real auth-api on a random port, on a fresh Postgres
//! database (dropped afterwards) or a fresh SQLite file, and talks to it over HTTP.

use std::{sync::Once, time::Duration};

use auth_api::config::Cli;
use clap::Parser;
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, Statement};
use serde_json::{Value, json};
use shared::tokens::SigningKey;
use tokio::sync::oneshot;
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

/// Runs each named `async fn(Backend)` of the calling module once on Postgres and once on SQLite.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod postgres {
            $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
               async fn $name() { super::$name($crate::helpers::Backend::Postgres).await } )*
        }
        mod sqlite {
            $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
               async fn $name() { super::$name($crate::helpers::Backend::Sqlite).await } )*
        }
    };
}

pub fn postgres_admin_url() -> String {
    std::env::var("TEST_POSTGRES_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

pub fn redis_url() -> String {
    std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

fn init_logs() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if std::env::var_os("TEST_LOG").is_some() {
            let _ = shared::telemetry::init("auth-api-test", None);
        }
    });
}

/// A database of its own for one test, dropped when the test ends.
pub struct TestDatabase {
    pub url: String,
    postgres_name: Option<String>,
    _dir: tempfile::TempDir,
}

impl TestDatabase {
    pub async fn create(backend: Backend) -> Self {
        let dir = tempfile::tempdir().unwrap();
        match backend {
            Backend::Sqlite => Self {
                url: format!("sqlite://{}?mode=rwc", dir.path().join("test.db").display()),
                postgres_name: None,
                _dir: dir,
            },
            Backend::Postgres => {
                let name = format!("chat_suite_test_{}", Uuid::new_v4().simple());
                let admin = Database::connect(postgres_admin_url()).await.expect("Postgres must be running");
                admin.execute_unprepared(&format!("CREATE DATABASE {name}")).await.unwrap();
                admin.close().await.unwrap();
                let base = postgres_admin_url();
                let url = format!("{}/{name}", base.rsplit_once('/').unwrap().0);
                let db = Self { url, postgres_name: Some(name), _dir: dir };
                let conn = db.connect().await;
                shared::db::migrate(&conn).await.unwrap();
                conn.close().await.unwrap();
                db
            }
        }
    }

    pub async fn connect(&self) -> DatabaseConnection {
        Database::connect(&self.url).await.unwrap()
    }

    /// Drops a Postgres database now (to simulate losing it); a no-op for SQLite.
    pub async fn drop_now(&self) {
        if let Some(name) = &self.postgres_name {
            drop_postgres(name).await;
        }
    }
}

async fn drop_postgres(name: &str) {
    if let Ok(admin) = Database::connect(postgres_admin_url()).await {
        let _ = admin.execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await;
        let _ = admin.close().await;
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Some(name) = self.postgres_name.take() {
            // Drop runs outside any runtime guarantee; use a small one of our own.
            let _ = std::thread::spawn(move || {
                if let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() {
                    rt.block_on(drop_postgres(&name));
                }
            })
            .join();
        }
    }
}

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub db: DatabaseConnection,
    pub database: std::sync::Arc<TestDatabase>,
    pub signing_key: String,
    shutdown: Option<oneshot::Sender<()>>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
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
    init_logs();
    let dir = tempfile::tempdir().unwrap();
    let mut args = base_args(&database.url, dir.path(), &signing_key);
    args.extend(extra.iter().map(|s| s.to_string()));
    let cli = Cli::try_parse_from(args).unwrap();
    let app = auth_api::startup::build(&cli).await.unwrap();
    let address = format!("http://127.0.0.1:{}", app.port());
    let (tx, rx) = oneshot::channel();
    tokio::spawn(app.run_until_stopped(async {
        let _ = rx.await;
    }));
    TestApp {
        address,
        client: reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap(),
        db: database.connect().await,
        database,
        signing_key,
        shutdown: Some(tx),
    }
}

pub fn unique_name(prefix: &str) -> String {
    format!("{prefix}{}", &Uuid::new_v4().simple().to_string()[..12])
}

pub struct Response {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
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
        let mut req = self.client.get(format!("{}{path}", self.address));
        if let Some(token) = bearer {
            req = req.bearer_auth(token);
        }
        self.send(req).await
    }

    pub async fn send(&self, req: reqwest::RequestBuilder) -> Response {
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().await.unwrap();
        let body =
            if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::String(text)) };
        Response { status, headers, body }
    }

    /// Registers `username` with a password of "correct horse battery"; returns the 201 body.
    /// Names are made unique per database by the callers, emails follow the names.
    pub async fn register(&self, username: &str) -> Value {
        let resp = self
            .post(
                "/register",
                json!({"username": username, "password": "correct horse battery", "email": format!("{username}@example.com")}),
            )
            .await;
        assert_eq!(resp.status, 201, "{}", resp.body);
        resp.body
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
