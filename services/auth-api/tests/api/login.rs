use argon2::{Algorithm, Argon2, Params, Version, password_hash::PasswordHasher};
use sea_orm::{ConnectionTrait, Statement};
use serde_json::json;

use crate::helpers::{Backend, TestApp, spawn_app};

async fn login_answers_200_with_a_session_for_any_case_of_the_name(backend: Backend) {
    let app = spawn_app(backend).await;
    let registered = app.register("Hannah").await;
    let resp = app.post("/login", json!({"username": "hannah", "password": "correct horse battery"})).await;
    assert_eq!(resp.status, 200, "{}", resp.body);
    assert_eq!(resp.body["user_id"], registered["user_id"]);
    assert_eq!(resp.body["username"], "Hannah");
    assert_eq!(resp.body["token_type"], "Bearer");
    assert_ne!(resp.body["refresh_token"], registered["refresh_token"]);
    let me = app.get("/me", resp.body["access_token"].as_str()).await;
    assert_eq!(me.status, 200);
    assert_eq!(me.body["username"], "Hannah");
}

async fn an_unknown_user_and_a_wrong_password_get_the_same_answer(backend: Backend) {
    let app = spawn_app(backend).await;
    app.register("ivan").await;
    let wrong_password = app.post("/login", json!({"username": "ivan", "password": "not his password"})).await;
    let unknown_user = app.post("/login", json!({"username": "nobody-here", "password": "not his password"})).await;
    assert_eq!(wrong_password.status, 401);
    assert_eq!(unknown_user.status, 401);
    assert_eq!(wrong_password.body, json!({"error": "invalid username or password", "code": "invalid_credentials"}));
    assert_eq!(unknown_user.body, wrong_password.body);
    let header_names = |r: &testkit::Response| {
        let mut names: Vec<String> = r.headers.keys().map(|k| k.to_string()).collect();
        names.sort();
        names
    };
    assert_eq!(header_names(&unknown_user), header_names(&wrong_password));
}

async fn set_hash(app: &TestApp, username: &str, hash: &str) {
    app.db
        .execute_raw(Statement::from_sql_and_values(
            app.db.get_database_backend(),
            match app.db.get_database_backend() {
                sea_orm::DatabaseBackend::Postgres => "UPDATE users SET password_hash = $1 WHERE username = $2",
                _ => "UPDATE users SET password_hash = ? WHERE username = ?",
            },
            [hash.into(), username.into()],
        ))
        .await
        .unwrap();
}

async fn a_weaker_argon2_hash_is_upgraded_at_login(backend: Backend) {
    let app = spawn_app(backend).await;
    app.register("judy").await;
    let weak = Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::new(8192, 1, 1, None).unwrap())
        .hash_password(b"correct horse battery")
        .unwrap()
        .to_string();
    set_hash(&app, "judy", &weak).await;
    let resp = app.post("/login", json!({"username": "judy", "password": "correct horse battery"})).await;
    assert_eq!(resp.status, 200);
    let stored = app.scalar("SELECT password_hash FROM users WHERE username = 'judy'").await.unwrap();
    assert!(stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{stored}");
    assert_eq!(app.post("/login", json!({"username": "judy", "password": "correct horse battery"})).await.status, 200);
}

async fn a_bcrypt_hash_of_the_original_service_verifies_and_is_replaced(backend: Backend) {
    let app = spawn_app(backend).await;
    app.register("ken").await;
    // The original service let people choose short passwords; they must keep working.
    set_hash(&app, "ken", &bcrypt::hash("old-pw", 4).unwrap()).await;
    assert_eq!(app.post("/login", json!({"username": "ken", "password": "wrong-pw"})).await.status, 401);
    assert!(app.scalar("SELECT password_hash FROM users WHERE username = 'ken'").await.unwrap().starts_with("$2b$"));
    let resp = app.post("/login", json!({"username": "ken", "password": "old-pw"})).await;
    assert_eq!(resp.status, 200, "{}", resp.body);
    let stored = app.scalar("SELECT password_hash FROM users WHERE username = 'ken'").await.unwrap();
    assert!(stored.starts_with("$argon2id$"), "{stored}");
    assert_eq!(app.post("/login", json!({"username": "ken", "password": "old-pw"})).await.status, 200);
}

async fn malformed_logins_are_400s(backend: Backend) {
    let app = spawn_app(backend).await;
    let resp = app.post("/login", json!({"username": "ken", "password": ""})).await;
    assert_eq!((resp.status, &resp.body["field"]), (400, &json!("password")));
    let resp = app.post("/login", json!({"username": "", "password": "whatever1"})).await;
    assert_eq!((resp.status, &resp.body["field"]), (400, &json!("username")));
    // A NUL in the name reached Postgres and came back as a 500 before it was refused here.
    let resp = app.post("/login", json!({"username": "ke\u{0}n", "password": "whatever1"})).await;
    assert_eq!((resp.status, &resp.body["field"]), (400, &json!("username")));
    let resp = app.post("/login", json!({"username": "ken", "password": "whatever1", "remember": true})).await;
    assert_eq!((resp.status, &resp.body["field"]), (400, &json!("remember")));
}

testkit::on_both_backends!(
    login_answers_200_with_a_session_for_any_case_of_the_name,
    an_unknown_user_and_a_wrong_password_get_the_same_answer,
    a_weaker_argon2_hash_is_upgraded_at_login,
    a_bcrypt_hash_of_the_original_service_verifies_and_is_replaced,
    malformed_logins_are_400s,
);
