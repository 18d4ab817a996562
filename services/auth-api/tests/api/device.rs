use serde_json::json;

use crate::helpers::{Backend, spawn_app};

async fn put_me_device_stores_and_replaces_the_push_token(backend: Backend) {
    let app = spawn_app(backend).await;
    let session = app.register("vera").await;
    let token = session["access_token"].as_str().unwrap();
    let put = |fcm: serde_json::Value| {
        app.send(
            app.client.put(format!("{}/me/device", app.address)).bearer_auth(token).json(&json!({"fcm_token": fcm})),
        )
    };
    let stored = || app.scalar("SELECT fcm_token FROM users WHERE username = 'vera'");

    assert_eq!(stored().await, None);
    let resp = put(json!("phone-1")).await;
    assert_eq!((resp.status, resp.body), (204, serde_json::Value::Null));
    assert_eq!(stored().await.as_deref(), Some("phone-1"));
    assert_eq!(put(json!("phone-2")).await.status, 204);
    assert_eq!(stored().await.as_deref(), Some("phone-2"));

    let bad = put(json!("")).await;
    assert_eq!((bad.status, &bad.body["field"]), (400, &json!("fcm_token")));
    assert_eq!(put(json!(42)).await.status, 400);
    assert_eq!(stored().await.as_deref(), Some("phone-2"));

    let delete = app.send(app.client.delete(format!("{}/me/device", app.address)).bearer_auth(token)).await;
    assert_eq!(delete.status, 204);
    assert_eq!(stored().await, None);

    let anonymous =
        app.send(app.client.put(format!("{}/me/device", app.address)).json(&json!({"fcm_token": "x"}))).await;
    assert_eq!((anonymous.status, &anonymous.body["code"]), (401, &json!("missing_token")));
}

testkit::on_both_backends!(put_me_device_stores_and_replaces_the_push_token);
