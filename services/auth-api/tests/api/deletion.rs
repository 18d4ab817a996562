//! `DELETE /me`: an account deleted with its password. Its name and address are free again,
//! every session and device ends, its tokens open nothing, a `user.deleted` event tells
//! consumers to forget it, and nothing of it is left to find (on both databases).

use serde_json::{Value, json};
use testkit::{auth::PASSWORD, erasure::tables_holding, on_both_backends};

use crate::helpers::{Backend, TestApp, spawn_app};

async fn delete_me(app: &TestApp, token: &str, body: Option<Value>) -> testkit::Response {
    let mut request = app.client.delete(format!("{}/me", app.address)).bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    app.send(request).await
}

async fn an_account_deleted_is_gone_everywhere(backend: Backend) {
    let app = spawn_app(backend).await;
    let session = app.register("erin_del").await;
    let (token, refresh) = (session["access_token"].as_str().unwrap(), session["refresh_token"].as_str().unwrap());
    let user_id = session["user_id"].as_str().unwrap().to_owned();
    let device = app
        .send(app.client.post(format!("{}/me/devices", app.address)).bearer_auth(token).json(&json!({
            "platform": "fcm", "token": "fcm-of-erin"
        })))
        .await;
    assert_eq!(device.status, 201, "{}", device.body);
    assert!(!tables_holding(&app.db, "erin_del").await.is_empty(), "the name is stored before");

    // Refused: no body (no JSON), a wrong password, an unknown field, no token.
    assert_eq!(delete_me(&app, token, None).await.status, 415);
    let wrong = delete_me(&app, token, Some(json!({"password": "not it at all"}))).await;
    assert_eq!((wrong.status, &wrong.body["code"]), (403, &json!("invalid_credentials")));
    assert_eq!(delete_me(&app, token, Some(json!({"password": PASSWORD, "also": 1}))).await.status, 400);
    // As the document says (schemathesis found it saying "any string"): 1 to 1024 characters.
    let empty = delete_me(&app, token, Some(json!({"password": ""}))).await;
    assert_eq!((empty.status, &empty.body["field"]), (400, &json!("password")));
    let anonymous = app.send(app.client.delete(format!("{}/me", app.address)).json(&json!({"password": PASSWORD})));
    assert_eq!(anonymous.await.status, 401);
    assert_eq!(app.get("/me", Some(token)).await.status, 200, "nothing refused deleted anything");

    let deleted = delete_me(&app, token, Some(json!({"password": PASSWORD}))).await;
    assert_eq!(deleted.status, 204, "{}", deleted.body);

    // Every way in is closed; the token that still verifies opens nothing.
    assert_eq!(app.get("/me", Some(token)).await.status, 401);
    assert_eq!(app.get("/me/devices", Some(token)).await.status, 401);
    assert_eq!(delete_me(&app, token, Some(json!({"password": PASSWORD}))).await.status, 401);
    let login = app.post("/login", json!({"username": "erin_del", "password": PASSWORD})).await;
    assert_eq!(login.status, 401, "{}", login.body);
    assert_eq!(app.post("/token/refresh", json!({"refresh_token": refresh})).await.status, 401);
    assert_eq!(app.scalar("SELECT CAST(count(*) AS TEXT) FROM devices").await.as_deref(), Some("0"));

    // Consumers are told to forget it, by id alone.
    let event = app
        .scalar("SELECT CAST(payload AS TEXT) FROM notification_outbox WHERE event_type = 'user.deleted'")
        .await
        .unwrap();
    let event: Value = serde_json::from_str(&event).unwrap();
    assert_eq!(
        (&event["user_id"], &event["username"], &event["fcm_token"]),
        (&json!(user_id), &json!(""), &Value::Null)
    );

    // Nothing of the name, the address or the push token is left; both are free again.
    for trace in ["erin_del", "fcm-of-erin"] {
        assert_eq!(tables_holding(&app.db, trace).await, Vec::<String>::new(), "{trace}");
    }
    let again = app.register("Erin_Del").await;
    assert_ne!(again["user_id"].as_str().unwrap(), user_id);
}

on_both_backends!(an_account_deleted_is_gone_everywhere);
