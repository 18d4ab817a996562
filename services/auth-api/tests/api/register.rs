use std::time::Duration;

use sea_orm::EntityTrait;
use serde_json::json;
use shared::entities::{notification_outbox, users};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use uuid::Uuid;

use crate::helpers::{Backend, spawn_app, unique_name};

async fn registration_answers_201_with_a_session(backend: Backend) {
    let app = spawn_app(backend).await;
    let resp = app
        .post(
            "/register",
            json!({"username": "Alice", "password": "correct horse battery", "email": "alice@example.com"}),
        )
        .await;
    assert_eq!(resp.status, 201, "{}", resp.body);
    let body = resp.body.as_object().unwrap();
    let mut keys: Vec<_> = body.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["access_token", "expires_in", "refresh_token", "token_type", "user_id", "username"]);
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["username"], "Alice");
    assert_eq!(body["expires_in"], 900);
    let user_id = Uuid::parse_str(body["user_id"].as_str().unwrap()).unwrap();
    assert_eq!(user_id.get_version_num(), 4);

    let me = app.get("/me", body["access_token"].as_str()).await;
    assert_eq!(me.status, 200);
    let stored = users::Entity::find_by_id(user_id).one(&app.db).await.unwrap().unwrap().created_at;
    assert_eq!(
        me.body,
        json!({
            "user_id": body["user_id"],
            "username": "Alice",
            "email": "alice@example.com",
            // Milliseconds and `Z`, as the chat routes write their timestamps.
            "created_at": stored.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
        })
    );
}

async fn registration_writes_the_welcome_event_in_the_outbox(backend: Backend) {
    let app = spawn_app(backend).await;
    let resp = app
        .post(
            "/register",
            json!({"username": "bob", "password": "correct horse battery", "email": "bob@example.com", "fcm_token": "device-1"}),
        )
        .await;
    assert_eq!(resp.status, 201);
    let user_id = resp.body["user_id"].as_str().unwrap();
    let rows = notification_outbox::Entity::find().all(&app.db).await.unwrap();
    assert_eq!(rows.len(), 1);
    let row = &rows[0];
    let payload = &row.payload;
    assert_eq!(payload["header"], "Welcome to chat application: bob");
    assert_eq!(payload["body"], "Good to see you!");
    assert_eq!(payload["event_type"], "user.registered");
    assert_eq!(payload["schema_version"], 1);
    assert_eq!(payload["user_id"], user_id);
    assert_eq!(payload["username"], "bob");
    assert_eq!(payload["fcm_token"], "device-1");
    assert!(chrono::DateTime::parse_from_rfc3339(payload["occurred_at"].as_str().unwrap()).is_ok());
    assert_eq!(payload["event_id"], row.event_id.to_string());
    assert_eq!((row.key.as_str(), row.event_type.as_str()), (user_id, "user.registered"));
    assert_eq!((row.delivered_at, row.attempts), (None, 0));
    let mut keys: Vec<_> = payload.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "body",
            "event_id",
            "event_type",
            "fcm_token",
            "header",
            "occurred_at",
            "schema_version",
            "user_id",
            "username"
        ]
    );

    let other = app.register("carol").await;
    assert_eq!(other["username"], "carol");
    assert_eq!(app.scalar("SELECT CAST(COUNT(*) AS TEXT) FROM notification_outbox").await.as_deref(), Some("2"));
}

async fn a_taken_username_or_email_is_409_whatever_the_case(backend: Backend) {
    let app = spawn_app(backend).await;
    app.register("dave").await;
    let resp = app
        .post(
            "/register",
            json!({"username": "DAVE", "password": "correct horse battery", "email": "other@example.com"}),
        )
        .await;
    assert_eq!(resp.status, 409);
    assert_eq!(resp.body, json!({"error": "this username is taken", "code": "username_taken"}));
    let resp = app
        .post(
            "/register",
            json!({"username": "dave2", "password": "correct horse battery", "email": "DAVE@example.com"}),
        )
        .await;
    assert_eq!(resp.status, 409);
    assert_eq!(resp.body, json!({"error": "this email is already registered", "code": "email_taken"}));
    // Neither failed attempt left an event behind.
    assert_eq!(app.scalar("SELECT CAST(COUNT(*) AS TEXT) FROM notification_outbox").await.as_deref(), Some("1"));
}

/// Both taken at once: the username is named, on either database (SQLite checked the email's
/// index first and said `email_taken`).
async fn a_taken_username_and_email_at_once_is_username_taken(backend: Backend) {
    let app = spawn_app(backend).await;
    app.register("frank").await;
    let resp = app
        .post(
            "/register",
            json!({"username": "Frank", "password": "correct horse battery", "email": "FRANK@example.com"}),
        )
        .await;
    assert_eq!(resp.status, 409);
    assert_eq!(resp.body, json!({"error": "this username is taken", "code": "username_taken"}));
}

async fn invalid_fields_are_400s_that_name_the_field(backend: Backend) {
    let app = spawn_app(backend).await;
    let good = json!({"username": "erin", "password": "correct horse battery", "email": "erin@example.com"});
    let cases = [
        ("username", json!("ab")),
        ("username", json!("a".repeat(33))),
        ("username", json!("has space")),
        ("username", json!("émile")),
        ("email", json!("not-an-email")),
        ("email", json!("erin@")),
        ("password", json!("short")),
        ("password", json!("p".repeat(129))),
        ("fcm_token", json!("")),
        // Postgres cannot store a NUL: this was a 500 before it was refused here.
        ("fcm_token", json!("device\u{0}token")),
        ("fcm_token", json!("with space")),
        ("email", json!("nul\u{0}@example.com")),
    ];
    for (field, value) in cases {
        let mut body = good.clone();
        body[field] = value.clone();
        let resp = app.post("/register", body).await;
        assert_eq!(resp.status, 400, "{field}={value}");
        assert_eq!(resp.body["code"], "invalid_field", "{field}={value}");
        assert_eq!(resp.body["field"], field, "{field}={value}");
        assert!(resp.body["error"].as_str().unwrap().starts_with(&format!("{field}: ")), "{}", resp.body);
    }
    // A 128-character password is whole and valid, not cut.
    let mut body = good.clone();
    body["password"] = json!("p".repeat(128));
    assert_eq!(app.post("/register", body).await.status, 201);
    let login = app.post("/login", json!({"username": "erin", "password": "p".repeat(127)})).await;
    assert_eq!(login.status, 401);
}

async fn malformed_bodies_are_400s(backend: Backend) {
    let app = spawn_app(backend).await;
    let unknown = app
        .post(
            "/register",
            json!({"username": "frank", "password": "correct horse battery", "email": "f@example.com", "admin": true}),
        )
        .await;
    assert_eq!(unknown.status, 400);
    assert_eq!(unknown.body["code"], "invalid_request");
    assert_eq!(unknown.body["field"], "admin");

    // A wrong type or a missing field is named, so a client can tell which one to fix.
    for (wrong, field, reason) in [
        (
            json!({"username": 5, "password": "correct horse battery", "email": "f@example.com"}),
            "username",
            "expected string, found a number",
        ),
        (
            json!({"username": "frank", "password": true, "email": "f@example.com"}),
            "password",
            "expected string, found a boolean",
        ),
        (
            json!({"username": "frank", "password": "correct horse battery", "email": ["f@example.com"]}),
            "email",
            "expected string, found an array",
        ),
        (json!({"username": "frank", "password": "correct horse battery"}), "email", "required, not given"),
        (
            json!({"username": "frank", "password": "correct horse battery", "email": "f@example.com", "fcm_token": 7}),
            "fcm_token",
            "expected string, found a number",
        ),
    ] {
        let resp = app.post("/register", wrong.clone()).await;
        assert_eq!(resp.status, 400, "{wrong}");
        assert_eq!(resp.body["code"], "invalid_request", "{wrong}");
        assert_eq!(resp.body["field"], field, "{wrong}: {}", resp.body);
        assert!(resp.body["error"].as_str().unwrap().ends_with(&format!("field `{field}`: {reason}")), "{}", resp.body);
    }
    for not_an_object in [json!(["frank"]), json!("frank"), json!(null)] {
        let resp = app.post("/register", not_an_object.clone()).await;
        assert_eq!(resp.status, 400, "{not_an_object}");
        assert_eq!(resp.body["code"], "invalid_request", "{not_an_object}");
        assert!(resp.body["error"].as_str().unwrap().contains("parse"), "{}", resp.body);
    }
    for garbage in ["{\"username\":", "not json", "\u{0}\u{1}", ""] {
        let resp = app.post_raw("/register", garbage.to_owned(), "application/json").await;
        assert_eq!(resp.status, 400, "{garbage:?}");
        assert_eq!(resp.body["code"], "invalid_request");
    }
    let form = app.post_raw("/register", "username=frank", "application/x-www-form-urlencoded").await;
    assert_eq!(form.status, 415);
    assert_eq!(form.body["code"], "invalid_request");
    // Nothing was created by any of it.
    assert_eq!(app.scalar("SELECT CAST(COUNT(*) AS TEXT) FROM users").await.as_deref(), Some("0"));
}

async fn bodies_over_64_kib_are_413(backend: Backend) {
    let app = spawn_app(backend).await;
    let huge = json!({"username": "gina", "password": "correct horse battery", "email": "g@example.com", "fcm_token": "x".repeat(70_000)});
    let resp = app.post("/register", huge.clone()).await;
    assert_eq!(resp.status, 413);
    assert_eq!(resp.body, json!({"error": "request body too large", "code": "payload_too_large"}));

    // Chunked, with no Content-Length to go by.
    let bytes = serde_json::to_vec(&huge).unwrap();
    let stream =
        futures_util::stream::iter(bytes.chunks(8192).map(|c| Ok::<_, std::io::Error>(c.to_vec())).collect::<Vec<_>>());
    let resp = app.post_raw("/register", reqwest::Body::wrap_stream(stream), "application/json").await;
    assert_eq!(resp.status, 413);
    assert_eq!(resp.body["code"], "payload_too_large");
    assert_eq!(app.scalar("SELECT CAST(COUNT(*) AS TEXT) FROM users").await.as_deref(), Some("0"));
}

/// A 413 that closes the connection while the client is still sending reaches the client as a
/// reset ("broken pipe") instead of the error, whenever its write fails before it has read the
/// answer: a chunked 70 KB body did so in CI. A client that sends as fast as it can, several
/// times, makes that race all but certain without the drain.
async fn a_client_still_sending_a_refused_body_reads_the_413(backend: Backend) {
    let app = spawn_app(backend).await;
    const CHUNKS: usize = 112;
    let body = || {
        let chunks = (0..CHUNKS).map(|_| Ok::<_, std::io::Error>(vec![b' '; 8192]));
        reqwest::Body::wrap_stream(futures_util::stream::iter(chunks))
    };
    let url = format!("{}/register", app.address);
    for _ in 0..5 {
        let chunked = app.send(app.client.post(&url).header("content-type", "application/json").body(body())).await;
        assert_eq!(chunked.status, 413);
        assert_eq!(chunked.body, json!({"error": "request body too large", "code": "payload_too_large"}));
        let declared = app
            .send(
                app.client
                    .post(&url)
                    .header("content-type", "application/json")
                    .header("content-length", CHUNKS * 8192)
                    .body(body()),
            )
            .await;
        assert_eq!(declared.status, 413);
        assert_eq!(declared.body["code"], "payload_too_large");
    }

    // A client that asks before sending is told at once, and never asked for the body.
    let mut socket = tokio::net::TcpStream::connect(app.address.trim_start_matches("http://")).await.unwrap();
    socket
        .write_all(
            b"POST /register HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\n\
              content-length: 100000\r\nexpect: 100-continue\r\n\r\n",
        )
        .await
        .unwrap();
    let mut answer = vec![0; 4096];
    let read = tokio::time::timeout(Duration::from_secs(10), socket.read(&mut answer)).await.unwrap().unwrap();
    let answer = String::from_utf8_lossy(&answer[..read]);
    assert!(answer.starts_with("HTTP/1.1 413 "), "{answer}");
    assert_eq!(app.scalar("SELECT CAST(COUNT(*) AS TEXT) FROM users").await.as_deref(), Some("0"));
}

/// An HTTP/2 request has neither `Content-Length` nor `Transfer-Encoding` to go by: its body is
/// counted as it is read, like a chunked one.
#[tokio::test]
async fn an_http2_body_over_64_kib_is_413() {
    let app = spawn_app(Backend::Sqlite).await;
    let socket = tokio::net::TcpStream::connect(app.address.trim_start_matches("http://")).await.unwrap();
    let (mut client, connection) = h2::client::handshake(socket).await.unwrap();
    tokio::spawn(connection);
    let request = poem::http::Request::post(format!("{}/register", app.address))
        .header("content-type", "application/json")
        .body(())
        .unwrap();
    let (response, mut body) = client.send_request(request, false).unwrap();
    for _ in 0..10 {
        body.send_data(vec![b' '; 8192].into(), false).unwrap();
    }
    body.send_data(Vec::new().into(), true).unwrap();
    let response = response.await.unwrap();
    assert_eq!(response.status(), 413);
    let mut answer = Vec::new();
    let mut received = response.into_body();
    while let Some(chunk) = received.data().await {
        answer.extend_from_slice(&chunk.unwrap());
    }
    let answer: serde_json::Value = serde_json::from_slice(&answer).unwrap();
    assert_eq!(answer, json!({"error": "request body too large", "code": "payload_too_large"}));
}

async fn twenty_concurrent_registrations_of_one_name_make_one_user(backend: Backend) {
    let app = spawn_app(backend).await;
    let name = unique_name("race");
    let attempts = (0..20).map(|i| {
        app.post(
            "/register",
            json!({"username": name, "password": "correct horse battery", "email": format!("{name}{i}@example.com")}),
        )
    });
    let results = futures_util::future::join_all(attempts).await;
    let mut statuses: Vec<u16> = results.iter().map(|r| r.status).collect();
    statuses.sort_unstable();
    assert_eq!(
        statuses,
        [vec![201], vec![409; 19]].concat(),
        "{:?}",
        results.iter().map(|r| &r.body).collect::<Vec<_>>()
    );
    for conflict in results.iter().filter(|r| r.status == 409) {
        assert_eq!(conflict.body["code"], "username_taken");
    }
    assert_eq!(app.scalar("SELECT CAST(COUNT(*) AS TEXT) FROM users").await.as_deref(), Some("1"));
    assert_eq!(app.scalar("SELECT CAST(COUNT(*) AS TEXT) FROM notification_outbox").await.as_deref(), Some("1"));
}

testkit::on_both_backends!(
    registration_answers_201_with_a_session,
    registration_writes_the_welcome_event_in_the_outbox,
    a_taken_username_or_email_is_409_whatever_the_case,
    a_taken_username_and_email_at_once_is_username_taken,
    invalid_fields_are_400s_that_name_the_field,
    malformed_bodies_are_400s,
    bodies_over_64_kib_are_413,
    a_client_still_sending_a_refused_body_reads_the_413,
    twenty_concurrent_registrations_of_one_name_make_one_user,
);
