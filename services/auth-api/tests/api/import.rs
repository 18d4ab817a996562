use sea_orm::{ConnectionTrait, Database};
use serde_json::json;

use crate::helpers::{Backend, TestDatabase, spawn_app};

/// The original service's table, as its SQLAlchemy model made it: integer ids, bcrypt hashes.
async fn legacy_database() -> TestDatabase {
    let legacy = TestDatabase::create(Backend::Postgres).await;
    let conn = Database::connect(&legacy.url).await.unwrap();
    conn.execute_unprepared(
        r#"CREATE TABLE "user" (id SERIAL PRIMARY KEY, username VARCHAR(80) UNIQUE NOT NULL,
           email VARCHAR(120) UNIQUE NOT NULL, password VARCHAR(200) NOT NULL,
           created_at TIMESTAMP DEFAULT now())"#,
    )
    .await
    .unwrap();
    for (name, password) in [("OldTimer", "hunter22"), ("shorty", "abc"), ("third", "third-password")] {
        let hash = bcrypt::hash(password, 4).unwrap();
        conn.execute_unprepared(&format!(
            "INSERT INTO \"user\" (username, email, password, created_at) VALUES ('{name}', '{name}@old.example.com', '{hash}', '2020-01-02 03:04:05')"
        ))
        .await
        .unwrap();
    }
    conn.close().await.unwrap();
    legacy
}

async fn import_users_copies_the_original_table_idempotently(backend: Backend) {
    let legacy = legacy_database().await;
    let app = spawn_app(backend).await;
    app.register("third").await; // already taken here: skipped, not overwritten

    let report = auth_api::import::import_users(&app.db, &legacy.url).await.unwrap();
    assert_eq!(report, auth_api::import::ImportReport { read: 3, imported: 2, skipped: 1 });
    let again = auth_api::import::import_users(&app.db, &legacy.url).await.unwrap();
    assert_eq!(again, auth_api::import::ImportReport { read: 3, imported: 0, skipped: 3 });
    assert_eq!(app.scalar("SELECT CAST(COUNT(*) AS TEXT) FROM users").await.as_deref(), Some("3"));
    let created = app.scalar("SELECT CAST(created_at AS TEXT) FROM users WHERE username = 'OldTimer'").await.unwrap();
    assert!(created.starts_with("2020-01-02"), "{created}");

    // Old passwords keep working, whatever the case of the name, and get argon2id.
    let login = app.post("/login", json!({"username": "oldtimer", "password": "hunter22"})).await;
    assert_eq!(login.status, 200, "{}", login.body);
    assert_eq!(login.body["username"], "OldTimer");
    assert!(
        app.scalar("SELECT password_hash FROM users WHERE username = 'OldTimer'")
            .await
            .unwrap()
            .starts_with("$argon2id$")
    );
    assert_eq!(app.post("/login", json!({"username": "shorty", "password": "abc"})).await.status, 200);
    let skipped = app.post("/login", json!({"username": "third", "password": "third-password"})).await;
    assert_eq!(skipped.status, 401, "the existing account keeps its own password");
}

testkit::on_both_backends!(import_users_copies_the_original_table_idempotently);

/// Rows go in batches, not one statement each (10,000 users took 47 s one at a time); a batch
/// with rows already present still imports the others.
#[tokio::test]
async fn import_users_inserts_in_batches() {
    use std::sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    };
    let legacy = TestDatabase::create(Backend::Postgres).await;
    let conn = Database::connect(&legacy.url).await.unwrap();
    let hash = bcrypt::hash("long enough password", 4).unwrap();
    conn.execute_unprepared(&format!(
        r#"CREATE TABLE "user" (id SERIAL PRIMARY KEY, username VARCHAR(80) UNIQUE NOT NULL,
           email VARCHAR(120) UNIQUE NOT NULL, password VARCHAR(200) NOT NULL, created_at TIMESTAMP DEFAULT now());
           INSERT INTO "user" (username, email, password)
           SELECT 'legacy' || g, 'legacy' || g || '@old.example.com', '{hash}' FROM generate_series(1, 1200) g"#
    ))
    .await
    .unwrap();
    conn.close().await.unwrap();
    let app = spawn_app(Backend::Postgres).await;
    app.register("legacy700").await;

    let mut target = app.database.connect().await;
    let statements = Arc::new(AtomicUsize::new(0));
    let counter = statements.clone();
    target.set_metric_callback(move |_| {
        counter.fetch_add(1, Ordering::SeqCst);
    });
    let report = auth_api::import::import_users(&target, &legacy.url).await.unwrap();
    assert_eq!(report, auth_api::import::ImportReport { read: 1200, imported: 1199, skipped: 1 });
    assert!(statements.load(Ordering::SeqCst) <= 3, "{} statements for 1,200 rows", statements.load(Ordering::SeqCst));
    assert_eq!(app.scalar("SELECT CAST(COUNT(*) AS TEXT) FROM users").await.as_deref(), Some("1200"));
}
