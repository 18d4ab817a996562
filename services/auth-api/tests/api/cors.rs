//! A page of a listed origin registers and manages its account from the browser: its
//! preflights (a JSON body, a bearer token) are answered with the methods each route takes,
//! and the answers carry the header that lets the page read them.

use serde_json::json;

use crate::helpers::{Backend, spawn_app_with};

const APP: &str = "https://app.example.com";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_of_a_listed_origin_registers_from_the_browser() {
    let app = spawn_app_with(Backend::Postgres, &["--cors-allowed-origins", APP]).await;
    let register = format!("{}/register", app.address);

    let preflight = testkit::preflight(&app.client, &register, APP, "POST", "content-type").await;
    assert_eq!(preflight.status, 204);
    assert_eq!(
        preflight.cors_headers(),
        [
            ("access-control-allow-headers", "authorization, content-type, x-request-id"),
            ("access-control-allow-methods", "POST"),
            ("access-control-allow-origin", APP),
            ("access-control-max-age", "7200"),
            ("vary", "Origin"),
        ]
    );

    let body = json!({"username": "pat", "password": "correct horse battery", "email": "pat@example.com"});
    let registered = app.send(app.client.post(&register).header("origin", APP).json(&body)).await;
    assert_eq!(registered.status, 201, "{}", registered.body);
    assert_eq!(registered.body["username"], "pat");
    assert_eq!(
        registered.cors_headers(),
        [
            ("access-control-allow-origin", APP),
            ("access-control-expose-headers", "retry-after, x-request-id"),
            ("vary", "Origin"),
        ]
    );

    let device = format!("{}/me/device", app.address);
    let preflight = testkit::preflight(&app.client, &device, APP, "PUT", "authorization, content-type").await;
    assert_eq!(
        (preflight.status, preflight.headers["access-control-allow-methods"].to_str().unwrap()),
        (204, "PUT, DELETE")
    );
    // A path no route has: answered all the same, naming no method; the request then gets
    // its readable 404.
    let nowhere = format!("{}/nowhere", app.address);
    let preflight = testkit::preflight(&app.client, &nowhere, APP, "POST", "content-type").await;
    assert_eq!(preflight.status, 204);
    assert!(!preflight.headers.contains_key("access-control-allow-methods"));
    let missing = app.send(app.client.post(&nowhere).header("origin", APP).json(&json!({}))).await;
    assert_eq!((missing.status, missing.body), (404, json!({"error": "no such route", "code": "not_found"})));
    assert_eq!(missing.headers["access-control-allow-origin"], APP);
}
