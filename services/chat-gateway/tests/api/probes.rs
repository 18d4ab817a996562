//! The routes every service has, on the gateway: alive, ready (503 naming Redis while it is
//! down), metrics, the spec and its UI.

use crate::helpers::{Backend, Bus, spawn};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_follows_redis_and_the_common_routes_answer() {
    let mut suite = spawn(Backend::Postgres, Bus::Redis, 1).await;
    assert_eq!(suite.get(0, "/healthz", None).await.status, 200);
    let ready = suite.get(0, "/readyz", None).await;
    assert_eq!(ready.status, 200, "{}", ready.body);

    suite.redis.as_mut().unwrap().kill();
    let down = suite.get(0, "/readyz", None).await;
    assert_eq!(down.status, 503, "{}", down.body);
    assert!(down.body.to_string().contains("redis"), "{}", down.body);
    assert_eq!(suite.get(0, "/healthz", None).await.status, 200, "alive while Redis is away");

    let spec = suite.get(0, "/openapi.json", None).await;
    assert_eq!(spec.status, 200);
    assert!(spec.body["paths"]["/chats/{chat_id}/messages"]["get"].is_object(), "{}", spec.body);
    assert_eq!(suite.get(0, "/docs", None).await.status, 200);
    let metrics = suite.get(0, "/metrics", None).await;
    assert_eq!(metrics.status, 200);
    assert!(metrics.body.as_str().unwrap().contains("chat_suite_ws_connections"));
}
