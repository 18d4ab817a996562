//! `/me/devices`: the caller's phones and browsers, each registered once, a token belonging to
//! one account at a time; and the VAPID key browsers subscribe with.

use serde_json::{Value, json};
use shared::webpush::vapid::VapidKey;

use crate::helpers::{Backend, TestApp, spawn_app, spawn_app_with};

const PUSH_HOST: &str = "push.example.test";

fn subscription(n: u8) -> Value {
    // A real browser key shape: an uncompressed P-256 point and 16 secret bytes.
    let key = VapidKey::generate().unwrap().public_key_b64url();
    json!({
        "endpoint": format!("https://{PUSH_HOST}/wpush/v2/{n}"),
        "expirationTime": null,
        "keys": {"p256dh": key, "auth": "AAECAwQFBgcICQoLDA0ODw"},
    })
}

async fn devices_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, &[&format!("--webpush-endpoint-hosts={PUSH_HOST}")]).await
}

async fn post_device(app: &TestApp, token: &str, body: Value) -> testkit::Response {
    app.send(app.client.post(format!("{}/me/devices", app.address)).bearer_auth(token).json(&body)).await
}

async fn list(app: &TestApp, token: &str) -> Vec<Value> {
    let resp = app.get("/me/devices", Some(token)).await;
    assert_eq!(resp.status, 200, "{}", resp.body);
    resp.body["devices"].as_array().unwrap().clone()
}

async fn devices_are_registered_listed_and_forgotten(backend: Backend) {
    let app = devices_app(backend).await;
    let session = app.register("dora").await;
    let token = session["access_token"].as_str().unwrap();

    let fcm = post_device(&app, token, json!({"platform": "fcm", "token": "fcm-token-1"})).await;
    assert_eq!(fcm.status, 201, "{}", fcm.body);
    assert_eq!(fcm.body["platform"], "fcm");
    let apns = post_device(&app, token, json!({"platform": "apns", "token": "AB".repeat(32)})).await;
    assert_eq!(apns.status, 201, "{}", apns.body);
    let web = post_device(&app, token, json!({"platform": "webpush", "subscription": subscription(1)})).await;
    assert_eq!(web.status, 201, "{}", web.body);
    assert_eq!(web.body["platform"], "webpush");
    for created in [&fcm.body, &apns.body, &web.body] {
        assert_eq!(created.as_object().unwrap().len(), 3, "{created}");
        assert!(created["created_at"].as_str().unwrap().ends_with('Z'));
    }

    // The same token again is the device it already is.
    let again = post_device(&app, token, json!({"platform": "fcm", "token": "fcm-token-1"})).await;
    assert_eq!((again.status, &again.body["device_id"]), (201, &fcm.body["device_id"]));
    // An APNs token is stored as Apple gives it, whatever its case.
    let lower = post_device(&app, token, json!({"platform": "apns", "token": "ab".repeat(32)})).await;
    assert_eq!(lower.body["device_id"], apns.body["device_id"]);

    let ids: Vec<Value> = list(&app, token).await.iter().map(|d| d["device_id"].clone()).collect();
    assert_eq!(
        ids,
        [&web.body["device_id"], &apns.body["device_id"], &fcm.body["device_id"]].map(Clone::clone),
        "newest first"
    );

    let forget = |id: &Value| {
        let url = format!("{}/me/devices/{}", app.address, id.as_str().unwrap());
        app.send(app.client.delete(url).bearer_auth(token))
    };
    assert_eq!(forget(&apns.body["device_id"]).await.status, 204);
    let again = forget(&apns.body["device_id"]).await;
    assert_eq!((again.status, &again.body["code"]), (404, &json!("not_found")));
    assert_eq!(list(&app, token).await.len(), 2);

    // Someone else's device is not the caller's to forget: the same 404.
    let other = app.register("otto").await;
    let others = other["access_token"].as_str().unwrap();
    let url = format!("{}/me/devices/{}", app.address, web.body["device_id"].as_str().unwrap());
    let theirs = app.send(app.client.delete(url).bearer_auth(others)).await;
    assert_eq!(theirs.status, 404);
    assert_eq!(list(&app, token).await.len(), 2);

    let anonymous = app.get("/me/devices", None).await;
    assert_eq!((anonymous.status, &anonymous.body["code"]), (401, &json!("missing_token")));
}

/// A token reaches one app install, and whoever registered it last is the one signed in there.
async fn a_token_moves_to_the_account_that_registers_it_last(backend: Backend) {
    let app = devices_app(backend).await;
    let (a, b) = (app.register("first").await, app.register("second").await);
    let (a, b) = (a["access_token"].as_str().unwrap(), b["access_token"].as_str().unwrap());
    assert_eq!(post_device(&app, a, json!({"platform": "fcm", "token": "shared-phone"})).await.status, 201);
    assert_eq!(post_device(&app, b, json!({"platform": "fcm", "token": "shared-phone"})).await.status, 201);
    assert!(list(&app, a).await.is_empty());
    assert_eq!(list(&app, b).await.len(), 1);
    // The same string on another platform is another device.
    assert_eq!(post_device(&app, a, json!({"platform": "apns", "token": "ab".repeat(32)})).await.status, 201);
    assert_eq!(post_device(&app, b, json!({"platform": "fcm", "token": "ab".repeat(32)})).await.status, 201);
    assert_eq!((list(&app, a).await.len(), list(&app, b).await.len()), (1, 2));
}

async fn registrations_that_cannot_push_are_refused_with_the_field(backend: Backend) {
    let app = devices_app(backend).await;
    let session = app.register("fran").await;
    let token = session["access_token"].as_str().unwrap();
    let mut http = subscription(2);
    http["endpoint"] = json!(format!("http://{PUSH_HOST}/x"));
    let mut elsewhere = subscription(3);
    elsewhere["endpoint"] = json!("https://169.254.169.254/latest/meta-data");
    let mut short_key = subscription(4);
    short_key["keys"]["p256dh"] = json!("AAECAwQFBgcICQoLDA0ODw");
    let mut long_auth = subscription(5);
    long_auth["keys"]["auth"] = json!("AAECAwQFBgcICQoLDA0ODxAR");
    let mut extra = subscription(6);
    extra["keys"]["x"] = json!(1);
    let cases = [
        (json!({"platform": "fcm"}), "token"),
        (json!({"platform": "fcm", "token": ""}), "token"),
        (json!({"platform": "apns", "token": "not hex at all"}), "token"),
        (json!({"platform": "apns", "token": "ab".repeat(20)}), "token"),
        (json!({"platform": "fcm", "token": "t", "subscription": subscription(7)}), "token"),
        (json!({"platform": "webpush", "token": "t"}), "subscription"),
        (json!({"platform": "webpush", "subscription": http}), "subscription.endpoint"),
        (json!({"platform": "webpush", "subscription": elsewhere}), "subscription.endpoint"),
        (json!({"platform": "webpush", "subscription": short_key}), "subscription.keys.p256dh"),
        (json!({"platform": "webpush", "subscription": long_auth}), "subscription.keys.auth"),
        (json!({"platform": "sms", "token": "t"}), "platform"),
        (json!({"platform": "fcm", "token": "t", "extra": 1}), "extra"),
    ];
    for (body, field) in cases {
        let resp = post_device(&app, token, body.clone()).await;
        assert_eq!(resp.status, 400, "{body} → {}", resp.body);
        assert!(resp.body["field"].as_str().is_some_and(|f| f.starts_with(field)), "{body} → {}", resp.body);
    }
    let resp = post_device(&app, token, json!({"platform": "webpush", "subscription": extra})).await;
    assert_eq!(resp.status, 400, "{}", resp.body);
    assert!(list(&app, token).await.is_empty());
}

/// An account keeps its newest devices; a phone replaced long ago makes room.
async fn the_oldest_device_makes_room_past_twenty(backend: Backend) {
    let app = devices_app(backend).await;
    let session = app.register("gus").await;
    let token = session["access_token"].as_str().unwrap();
    let mut first = None;
    for n in 0..21 {
        let resp = post_device(&app, token, json!({"platform": "fcm", "token": format!("phone-{n}")})).await;
        assert_eq!(resp.status, 201, "{}", resp.body);
        first.get_or_insert(resp.body["device_id"].clone());
    }
    let devices = list(&app, token).await;
    assert_eq!(devices.len(), 20);
    assert!(devices.iter().all(|d| d["device_id"] != *first.as_ref().unwrap()));
}

/// The old single token still works, and is one of the account's devices.
async fn the_legacy_fcm_token_is_a_device(backend: Backend) {
    let app = devices_app(backend).await;
    let resp = app
        .post("/register", json!({"username": "hal", "password": testkit::auth::PASSWORD, "email": "hal@example.com", "fcm_token": "legacy-1"}))
        .await;
    assert_eq!(resp.status, 201, "{}", resp.body);
    let token = resp.body["access_token"].as_str().unwrap();
    let devices = list(&app, token).await;
    assert_eq!(devices.len(), 1);
    assert_eq!(devices[0]["platform"], "fcm");

    let put = |fcm: &str| {
        app.send(
            app.client.put(format!("{}/me/device", app.address)).bearer_auth(token).json(&json!({"fcm_token": fcm})),
        )
    };
    assert_eq!(post_device(&app, token, json!({"platform": "fcm", "token": "new-api-phone"})).await.status, 201);
    assert_eq!(put("legacy-2").await.status, 204);
    let devices = list(&app, token).await;
    assert_eq!(devices.len(), 2, "the legacy token replaced, the other device kept: {devices:?}");
    let legacy = app.scalar("SELECT token FROM devices WHERE legacy").await;
    assert_eq!(legacy.as_deref(), Some("legacy-2"));
    let delete = app.send(app.client.delete(format!("{}/me/device", app.address)).bearer_auth(token)).await;
    assert_eq!(delete.status, 204);
    let devices = list(&app, token).await;
    assert_eq!(devices.len(), 1);
    assert_eq!(app.scalar("SELECT token FROM devices").await.as_deref(), Some("new-api-phone"));
}

async fn the_vapid_public_key_is_published_when_web_push_is_configured(backend: Backend) {
    let app = spawn_app(backend).await;
    // No Web Push here: an answer with no key, not an error (a page asks on every load).
    let resp = app.get("/push/vapid-public-key", None).await;
    assert_eq!((resp.status, &resp.body), (204, &Value::Null));

    let key = VapidKey::generate().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("vapid.pem");
    std::fs::write(&file, key.to_pkcs8_pem().unwrap()).unwrap();
    let app = spawn_app_with(backend, &[&format!("--vapid-private-key-file={}", file.display())]).await;
    let resp = app.get("/push/vapid-public-key", None).await;
    assert_eq!(resp.status, 200, "{}", resp.body);
    assert_eq!(resp.body, json!({"public_key": key.public_key_b64url()}));
}

testkit::on_both_backends!(
    devices_are_registered_listed_and_forgotten,
    a_token_moves_to_the_account_that_registers_it_last,
    registrations_that_cannot_push_are_refused_with_the_field,
    the_oldest_device_makes_room_past_twenty,
    the_legacy_fcm_token_is_a_device,
    the_vapid_public_key_is_published_when_web_push_is_configured,
);
