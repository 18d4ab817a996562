use serde_json::json;

use crate::helpers::{Backend, spawn_app, spawn_app_with};

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

/// Made-up HTTP methods all count under one label: a client cannot grow `/metrics` (and the
/// memory behind it) by inventing methods.
#[tokio::test]
async fn made_up_methods_do_not_grow_the_metrics() {
    let app = spawn_app(Backend::Sqlite).await;
    let series = |text: &str| text.lines().filter(|l| !l.starts_with('#')).count();
    app.get("/healthz", None).await;
    let before = series(app.get("/metrics", None).await.body.as_str().unwrap());
    for i in 0..100 {
        let method = reqwest::Method::from_bytes(format!("XMETH{i}").as_bytes()).unwrap();
        let resp = app.send(app.client.request(method, format!("{}/login", app.address))).await;
        assert_eq!(resp.status, 405, "{}", resp.body);
    }
    let text = app.get("/metrics", None).await.body.as_str().unwrap().to_owned();
    assert!(
        text.contains(r#"chat_suite_http_requests_total{method="_OTHER",route="unmatched",status="405"} 100"#),
        "{text}"
    );
    // One counter and one histogram (its buckets, sum and count) for the new label, plus the
    // scrape's own series.
    assert!(series(&text) - before < 40, "{} series before, {} after:\n{text}", before, series(&text));
}

/// A 405 says which methods the route does take.
#[tokio::test]
async fn method_not_allowed_names_the_allowed_methods() {
    let app = spawn_app(Backend::Sqlite).await;
    let login = app.send(app.client.delete(format!("{}/login", app.address))).await;
    assert_eq!((login.status, &login.body["code"]), (405, &json!("method_not_allowed")));
    assert_eq!(login.headers["allow"], "POST");
    let health = app.send(app.client.post(format!("{}/healthz", app.address))).await;
    assert_eq!(health.status, 405);
    assert_eq!(health.headers["allow"], "GET, HEAD");
    let jwks = app.send(app.client.put(format!("{}/.well-known/jwks.json", app.address))).await;
    assert_eq!(jwks.status, 405);
    assert_eq!(jwks.headers["allow"], "GET, HEAD");
}

/// A client that sends its request headers a byte at a time is cut off once the header read
/// timeout passes, instead of holding the connection for ever.
#[tokio::test]
async fn slow_headers_are_cut_off() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = spawn_app_with(Backend::Sqlite, &["--header-read-timeout-seconds=1"]).await;
    let stream = tokio::net::TcpStream::connect(app.address.trim_start_matches("http://")).await.unwrap();
    let (mut read, mut write) = stream.into_split();
    let headers: Vec<u8> = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ".iter().copied().chain([b'a'; 200]).collect();
    let total = headers.len();
    let sent = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let trickle = tokio::spawn({
        let sent = sent.clone();
        async move {
            for byte in headers {
                if write.write_all(&[byte]).await.is_err() {
                    return;
                }
                sent.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
    });
    let mut answer = Vec::new();
    let ended = tokio::time::timeout(std::time::Duration::from_secs(15), read.read_to_end(&mut answer)).await;
    assert!(ended.is_ok(), "the connection was still open after 15 s of trickled headers");
    let sent = sent.load(std::sync::atomic::Ordering::SeqCst);
    assert!(sent < total, "the client finished its headers ({sent} of {total} bytes): the test proved nothing");
    trickle.abort();
}
