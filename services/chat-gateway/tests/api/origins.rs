//! Browser pages and the gateway: a page of another site may not open `/chat` (a browser
//! lets any page open a WebSocket anywhere, so this check is the whole defence against
//! cross-site WebSocket hijacking); listed origins, the gateway's own host and clients that
//! are no browser (no `Origin`) may. The REST routes answer listed origins' preflights.

use futures_util::StreamExt;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::{self, client::IntoClientRequest};

use crate::helpers::{Backend, Bus, ROOMY, Suite, User, spawn_with};

const APP: &str = "https://app.example.com";

async fn suite() -> Suite {
    let args: Vec<&str> = ROOMY.iter().copied().chain(["--cors-allowed-origins", APP]).collect();
    spawn_with(Backend::Postgres, Bus::InProcess, 1, &args).await
}

/// The upgrade of `user`'s socket with `origin` in its `Origin` header (none: `None`): the
/// first frame when accepted, or the status and JSON body of the refusal.
async fn upgrade(suite: &Suite, user: &User, origin: Option<&str>) -> Result<Value, (u16, Value)> {
    let mut request = suite.socket_url(0, &format!("access_token={}", user.token)).into_client_request().unwrap();
    if let Some(origin) = origin {
        request.headers_mut().insert("origin", origin.parse().unwrap());
    }
    match tokio_tungstenite::connect_async(request).await {
        Ok((mut ws, _)) => Ok(serde_json::from_str(ws.next().await.unwrap().unwrap().to_text().unwrap()).unwrap()),
        Err(tungstenite::Error::Http(resp)) => {
            Err((resp.status().as_u16(), serde_json::from_slice(resp.body().as_deref().unwrap()).unwrap()))
        }
        Err(other) => panic!("the upgrade failed otherwise: {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_of_another_site_cannot_open_the_socket() {
    let suite = suite().await;
    let alice = suite.user("alice").await;
    let connected = json!({"event": "connected", "data": {"user_id": alice.id}});

    for origin in ["https://evil.example", "http://127.0.0.1:1", "null"] {
        assert_eq!(
            upgrade(&suite, &alice, Some(origin)).await,
            Err((
                403,
                json!({
                    "error": format!("pages of origin {origin:?} may not call this API from a browser"),
                    "code": "origin_not_allowed"
                })
            )),
            "{origin}"
        );
    }
    assert_eq!(upgrade(&suite, &alice, Some(APP)).await, Ok(connected.clone()));
    // A page the gateway's own host served (chat-suite's web client) needs no entry.
    let own = format!("http://127.0.0.1:{}", suite.gateways[0].port);
    assert_eq!(upgrade(&suite, &alice, Some(&own)).await, Ok(connected.clone()));
    assert_eq!(upgrade(&suite, &alice, None).await, Ok(connected));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listed_origin_reads_chat_history_across_its_preflight() {
    let suite = suite().await;
    let alice = suite.user("alice").await;
    let url = format!("{}/chats/{}/messages", suite.gateways[0].address, uuid::Uuid::new_v4());

    let preflight = testkit::preflight(&suite.client, &url, APP, "GET", "authorization").await;
    assert_eq!(preflight.status, 204);
    assert_eq!(preflight.headers["access-control-allow-methods"], "GET, HEAD");
    assert_eq!(preflight.headers["access-control-allow-origin"], APP);

    let chats = format!("{}/chats", suite.gateways[0].address);
    let resp = testkit::read(suite.client.get(&chats).bearer_auth(&alice.token).header("origin", APP)).await;
    assert_eq!((resp.status, resp.body), (200, json!({"chats": [], "next_cursor": null})));
    assert_eq!(resp.headers["access-control-allow-origin"], APP);
}
