//! The socket's access token: checked before the upgrade, from the header or the query, and
//! the connection ends when it expires unless the client sends a fresh one.

use std::time::Duration;

use serde_json::json;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::helpers::{Backend, Bus, WsMessage, code, spawn};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_upgrade_needs_a_valid_token() {
    let suite = spawn(Backend::Postgres, Bus::InProcess, 1).await;
    let alice = suite.user("alice").await;
    let none = suite.get(0, "/chat", None).await;
    assert_eq!(none.status, 401);
    assert_eq!(none.body["code"], "missing_token");
    let bad = suite.get(0, "/chat?access_token=not.a.token", None).await;
    assert_eq!(bad.status, 401);
    assert_eq!(bad.body["code"], "invalid_token");
    let expired = suite.token_for(&alice, Duration::ZERO);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let stale = suite.get(0, &format!("/chat?access_token={expired}"), None).await;
    // Within the verifier's leeway the token still counts; past it, 401. Either way no 5xx.
    assert!(matches!(stale.status, 400 | 401), "{}", stale.status);
    // A valid token on a request that is not an upgrade.
    let plain = suite.get(0, &format!("/chat?access_token={}", alice.token), None).await;
    assert_eq!(plain.status, 400);
    assert_eq!(plain.body["code"], "not_websocket");
    let unknown = suite.get(0, &format!("/chat?access_token={}&since=-1", alice.token), None).await;
    assert_eq!(unknown.status, 400);

    // The header works as well as the query parameter.
    let mut request = suite.socket_url(0, "").into_client_request().unwrap();
    request.headers_mut().insert("Authorization", format!("Bearer {}", alice.token).parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    use futures_util::StreamExt;
    let first = ws.next().await.unwrap().unwrap();
    let first: serde_json::Value = serde_json::from_str(first.to_text().unwrap()).unwrap();
    assert_eq!(first, json!({"event": "connected", "data": {"user_id": alice.id}}));
}

/// The connection closes (4001) when its token expires.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_connection_closes_when_its_token_expires() {
    let suite = spawn(Backend::Postgres, Bus::InProcess, 1).await;
    let alice = suite.user("alice").await;
    let short = suite.token_for(&alice, Duration::from_secs(2));
    let mut ws = crate::helpers::Ws::open(&suite.socket_url(0, &format!("access_token={short}"))).await;
    assert_eq!(ws.next().await["event"], "connected");
    let end = ws.closed().await;
    assert_eq!(code(&end), Some(4001), "{end:?}");
}

/// A fresh token for the same user keeps the connection; another user's is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_token_extends_the_connection() {
    let suite = spawn(Backend::Postgres, Bus::InProcess, 1).await;
    let (alice, bob) = (suite.user("alice").await, suite.user("bob").await);
    let short = suite.token_for(&alice, Duration::from_secs(2));
    let mut ws = crate::helpers::Ws::open(&suite.socket_url(0, &format!("access_token={short}"))).await;
    assert_eq!(ws.next().await["event"], "connected");

    let wrong = ws.request("refresh_token", json!({"access_token": bob.token}), json!("r0")).await;
    assert_eq!(wrong["data"]["code"], "invalid_token");
    let fresh = suite.token_for(&alice, Duration::from_secs(600));
    let reply = ws.request("refresh_token", json!({"access_token": fresh}), json!("r1")).await;
    assert_eq!(reply["event"], "token_refreshed", "{reply}");
    assert!(reply["data"]["expires_at"].as_i64().unwrap() > chrono::Utc::now().timestamp() + 500);

    tokio::time::sleep(Duration::from_secs(3)).await;
    let alive = ws.request("dance", json!({}), json!("still")).await;
    assert_eq!(alive["data"]["code"], "unknown_event", "past the first token's expiry: {alive}");
    ws.send_raw(WsMessage::Close(None)).await;
}
