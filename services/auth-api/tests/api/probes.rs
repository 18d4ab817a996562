use serde_json::json;

use crate::helpers::{Backend, spawn_app};

async fn health_readiness_and_metrics_answer(backend: Backend) {
    let app = spawn_app(backend).await;
    let health = app.get("/healthz", None).await;
    assert_eq!((health.status, health.body), (200, json!({"status": "ok"})));
    let ready = app.get("/readyz", None).await;
    assert_eq!((ready.status, ready.body), (200, json!({"status": "ready", "checks": {"database": "ok"}})));

    app.register("tess").await;
    app.post("/login", json!({"username": "tess", "password": "nope nope"})).await;
    let metrics = app.get("/metrics", None).await;
    assert_eq!(metrics.status, 200);
    let text = metrics.body.as_str().unwrap();
    assert!(
        text.contains(r#"chat_suite_http_requests_total{method="POST",route="register",status="201"} 1"#),
        "{text}"
    );
    assert!(text.contains(r#"chat_suite_http_requests_total{method="POST",route="login",status="401"} 1"#), "{text}");
    assert!(
        text.contains(r#"chat_suite_http_request_duration_seconds_count{method="POST",route="register"} 1"#),
        "{text}"
    );
}

async fn every_response_carries_a_request_id(backend: Backend) {
    let app = spawn_app(backend).await;
    let fresh = app.get("/healthz", None).await;
    assert_eq!(fresh.headers["x-request-id"].to_str().unwrap().len(), 36);
    let echoed =
        app.send(app.client.get(format!("{}/nowhere", app.address)).header("x-request-id", "trace-me-42")).await;
    assert_eq!(echoed.status, 404);
    assert_eq!(echoed.body, json!({"error": "no such route", "code": "not_found"}));
    assert_eq!(echoed.headers["x-request-id"], "trace-me-42");
    let wrong_method = app.send(app.client.delete(format!("{}/login", app.address))).await;
    assert_eq!(wrong_method.status, 405);
    assert_eq!(wrong_method.body["code"], "method_not_allowed");
}

testkit::on_both_backends!(health_readiness_and_metrics_answer, every_response_carries_a_request_id);

/// Losing the database makes the pod unready (503, the contract's error body) but still alive.
#[tokio::test]
async fn readiness_is_503_while_the_database_is_gone() {
    let app = spawn_app(Backend::Postgres).await;
    assert_eq!(app.get("/readyz", None).await.status, 200);
    app.database.drop_now().await;
    let ready = app.get("/readyz", None).await;
    assert_eq!(ready.status, 503);
    assert_eq!(ready.body["code"], "unavailable");
    assert!(ready.body["error"].as_str().unwrap().starts_with("not ready: database: "), "{}", ready.body);
    assert_eq!(app.get("/healthz", None).await.status, 200);
    // Requests that need the database get a 503 too, never a 500.
    let login = app.post("/login", json!({"username": "nobody", "password": "whatever1"})).await;
    assert_eq!(login.status, 503, "{}", login.body);
}
