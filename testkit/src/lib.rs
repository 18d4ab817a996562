//! What the services' tests share: a database of their own on the real Postgres (or a
//! SQLite file), a real Kafka-protocol broker they can kill, a real auth-api and its users
//! (`auth`), HTTP answers read whole, OpenAPI documents read back (`openapi`), the official
//! Socket.IO clients driven from a test (`socketio`); and what the benchmarks share (`bench`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::missing_panics_doc)]

pub mod asyncapi;
pub mod auth;
pub mod bench;
pub mod broker;
pub mod erasure;
mod http;
pub mod openapi;
pub mod postgres_pair;
pub mod postgres_tls;
pub mod push;
pub mod redis_cluster;
pub mod redis_server;
pub mod redis_tls;
mod running;
pub mod socketio;
pub mod startup;
pub mod test_ca;
mod tls_front;

use std::sync::Once;

use sea_orm::{ConnectionTrait, Database, DatabaseConnection};
use uuid::Uuid;

pub use http::{Response, get, preflight, read};
pub use running::Running;

/// Logs of the applications under test, when `TEST_LOG` is set.
pub fn init_logs() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if std::env::var_os("TEST_LOG").is_some() {
            let _ = shared::telemetry::init("test", None);
        }
    });
}

/// A loopback port nothing listens on now, for a process the test starts (a broker, a replica).
/// A free loopback port for a server a test starts, below the kernel's ephemeral range
/// (32768 and up on Linux). A port the kernel hands out (bind to port 0) is one that outgoing
/// connections take their source ports from: between this call and the server's bind, one of
/// the many a test opens could take it, and the server would fail to start.
pub fn free_port() -> u16 {
    loop {
        let port = 20_000 + (Uuid::new_v4().as_u128() % 12_000) as u16;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

pub fn unique_name(prefix: &str) -> String {
    format!("{prefix}{}", &Uuid::new_v4().simple().to_string()[..12])
}

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
               async fn $name() { super::$name($crate::Backend::Postgres).await } )*
        }
        mod sqlite {
            $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
               async fn $name() { super::$name($crate::Backend::Sqlite).await } )*
        }
    };
}

pub fn postgres_admin_url() -> String {
    std::env::var("TEST_POSTGRES_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

pub fn redis_url() -> String {
    std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
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
                let db = Self::empty_postgres("chat_suite_test_").await;
                let conn = db.connect().await;
                shared::db::migrate(&conn).await.unwrap();
                conn.close().await.unwrap();
                db
            }
        }
    }

    /// A new database on the machine's Postgres, named `prefix` and a random tail, not
    /// migrated: for a stage that runs the migration as a deployment does.
    pub async fn empty_postgres(prefix: &str) -> Self {
        let name = format!("{prefix}{}", Uuid::new_v4().simple());
        let admin = Database::connect(postgres_admin_url()).await.expect("Postgres must be running");
        admin.execute_unprepared(&format!("CREATE DATABASE {name}")).await.unwrap();
        admin.close().await.unwrap();
        let base = postgres_admin_url();
        let url = format!("{}/{name}", base.rsplit_once('/').unwrap().0);
        Self { url, postgres_name: Some(name), _dir: tempfile::tempdir().unwrap() }
    }

    /// The database at `url`, on a server of the test's own (a [`postgres_pair::PostgresPair`]'s
    /// primary, say), migrated; it goes with its server.
    pub async fn on_server(url: String) -> Self {
        let db = Self { url, postgres_name: None, _dir: tempfile::tempdir().unwrap() };
        let conn = db.connect().await;
        shared::db::migrate(&conn).await.unwrap();
        conn.close().await.unwrap();
        db
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
