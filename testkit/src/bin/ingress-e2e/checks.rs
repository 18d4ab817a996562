//! What the proxy must do before any load: every contract route reaches the binary that
//! serves it (and the routes kept inside the cluster do not), `/chat` upgrades, Socket.IO's
//! long-polling stays on one pod, an idle chat outlives the gateway's ping interval, and the
//! login rate limit follows the client's own address, not one it claims.

use std::{collections::BTreeSet, net::IpAddr};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::{
    chat,
    client::{Answer, Client},
    plan::Plan,
    proxy::upstream_port,
    users::{PASSWORD, User},
};

/// The pod's port that served an answer, from the proxy's `X-E2E-Upstream` (the last one it
/// tried).
pub fn served_by(headers: &reqwest::header::HeaderMap) -> Option<u16> {
    upstream_port(headers.get("x-e2e-upstream")?.to_str().ok()?)
}

/// Asserts `answer` came from a pod of `component`, by the ports `pods_of` knows.
fn from_component(
    answer: &Answer,
    component: &str,
    route: &str,
    pods_of: &dyn Fn(u16) -> Option<String>,
) -> anyhow::Result<()> {
    let port = served_by(&answer.headers).ok_or_else(|| anyhow::anyhow!("{route}: the proxy named no pod"))?;
    let got = pods_of(port).unwrap_or_else(|| format!("an unknown port {port}"));
    anyhow::ensure!(got == component, "{route} was served by {got}, not {component}");
    Ok(())
}

/// Every route of the contract through the proxy, each answered by the right binary; the
/// common routes answered by the proxy's default backend.
pub async fn routes(
    client: &Client,
    plan: &Plan,
    proxy: &str,
    from: IpAddr,
    pods_of: &dyn Fn(u16) -> Option<String>,
) -> anyhow::Result<String> {
    let alice = User::register(client, "e2e_routes_a").await?;
    let bob = User::register(client, "e2e_routes_b").await?;
    let token = alice.access.as_str();
    // The WebSocket first: the chat it makes serves the history route.
    let (mut ws, pod) =
        chat::open(proxy, from, token, "").await.map_err(|e| anyhow::anyhow!("GET /chat (upgrade): {e}"))?;
    let port = upstream_port(&pod).unwrap_or(0);
    anyhow::ensure!(pods_of(port).as_deref() == Some("chat-gateway"), "/chat was upgraded by {pod}, not chat-gateway");
    let chat_id = chat::start_chat(&mut ws, &bob.user_id).await?;
    ws.close(None).await?;

    let refresh = json!({"refresh_token": alice.refresh});
    let cases: Vec<(Method, String, Option<Value>, u16, &str)> = vec![
        (
            Method::POST,
            "/login".into(),
            Some(json!({"username": alice.username, "password": PASSWORD})),
            200,
            "auth-api",
        ),
        (Method::GET, "/me".into(), None, 200, "auth-api"),
        (Method::GET, "/.well-known/jwks.json".into(), None, 200, "auth-api"),
        (Method::GET, "/users/show?limit=2".into(), None, 200, "user-search"),
        (Method::GET, format!("/users/show?username={}", bob.username), None, 200, "user-search"),
        (Method::GET, format!("/users/username/{}", bob.username), None, 200, "user-search"),
        (Method::GET, format!("/users/user_id/{}", bob.user_id), None, 200, "user-search"),
        (Method::GET, "/users/search?q=e2e_routes&limit=5".into(), None, 200, "user-search"),
        (Method::GET, "/chats".into(), None, 200, "chat-gateway"),
        (Method::GET, format!("/chats/{chat_id}/messages?limit=5"), None, 200, "chat-gateway"),
        (Method::POST, "/token/refresh".into(), Some(refresh), 200, "auth-api"),
    ];
    let mut checked = 2; // POST /register, GET /chat
    for (method, path, body, status, component) in cases {
        let route = format!("{method} {}", path.split('?').next().unwrap_or(&path));
        expect_route(plan, &path, component)?;
        let answer = client.call(method, &path, Some(token), body.as_ref(), status).await?;
        from_component(&answer, component, &route, pods_of)?;
        checked += 1;
    }
    let answer = client.call(Method::POST, "/logout", None, Some(&json!({"refresh_token": bob.refresh})), 204).await?;
    from_component(&answer, "auth-api", "POST /logout", pods_of)?;
    checked += 1;
    socketio_affinity(client, token, &bob.user_id, pods_of).await?;
    checked += 1;
    let cluster_only = ["/healthz", "/readyz", "/metrics", "/docs", "/openapi.json", "/asyncapi.json"];
    for path in cluster_only {
        anyhow::ensure!(plan.route_for(path).is_none(), "{path} is routed by the Ingress objects");
        let answer = client.send(Method::GET, path, None, None, &[]).await?;
        anyhow::ensure!(
            answer.status == StatusCode::NOT_FOUND && served_by(&answer.headers).is_none(),
            "GET {path} through the proxy: {} from {:?}, not the default backend's 404",
            answer.status,
            answer.headers.get("x-e2e-upstream")
        );
    }
    Ok(format!(
        "{checked} contract routes answered through the proxy by the binary the Ingress names; {} cluster-only routes by its default backend",
        cluster_only.len()
    ))
}

fn expect_route(plan: &Plan, path: &str, component: &str) -> anyhow::Result<()> {
    let path = path.split('?').next().unwrap_or(path);
    let route = plan.route_for(path).ok_or_else(|| anyhow::anyhow!("no Ingress routes {path}"))?;
    anyhow::ensure!(route.component == component, "the Ingress sends {path} to {}, not {component}", route.component);
    Ok(())
}

/// Socket.IO over long-polling: every request of a session must reach the pod that holds it.
/// With the chart's cookie affinity a session's requests all go to one pod, while handshakes
/// without a cookie go to both.
async fn socketio_affinity(
    client: &Client,
    token: &str,
    peer: &str,
    pods_of: &dyn Fn(u16) -> Option<String>,
) -> anyhow::Result<()> {
    let base = "/socket.io/?EIO=4&transport=polling";
    let mut spread = BTreeSet::new();
    for _ in 0..16 {
        let answer = client.send(Method::GET, base, None, None, &[]).await?;
        anyhow::ensure!(answer.status == 200, "Socket.IO handshake: {} {}", answer.status, answer.body);
        spread.insert(served_by(&answer.headers));
    }
    anyhow::ensure!(
        spread.len() == 2,
        "16 Socket.IO handshakes without a cookie reached {spread:?}, not both gateways"
    );

    let hello = client.send(Method::GET, base, None, None, &[]).await?;
    let cookie = hello
        .headers
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .ok_or_else(|| anyhow::anyhow!("the Socket.IO handshake set no affinity cookie"))?
        .to_owned();
    let text = hello.body.as_str().unwrap_or_default();
    let open: Value = serde_json::from_str(text.strip_prefix('0').unwrap_or_default())?;
    let sid = open["sid"].as_str().ok_or_else(|| anyhow::anyhow!("no sid in {text}"))?;
    let session = Session { client, url: client.url(&format!("{base}&sid={sid}")), cookie };
    let mut pods = BTreeSet::from([served_by(&hello.headers)]);
    // Each step waits for its answer before the next, as a Socket.IO client does: an event
    // sent before the namespace's connection is acknowledged ends the session.
    session.post(&format!("40/chat,{}", json!({"token": token})), &mut pods).await?;
    session.poll_until("40/chat,", &mut pods).await?;
    for n in 1..=5 {
        session.post(&format!("42/chat,{n}{}", json!(["start_private_chat", {"user_id": peer}])), &mut pods).await?;
        session.poll_until(&format!("43/chat,{n}"), &mut pods).await?;
    }
    anyhow::ensure!(pods.len() == 1, "one Socket.IO session's requests reached {pods:?}");
    let port = pods.into_iter().next().flatten().unwrap_or(0);
    anyhow::ensure!(pods_of(port).as_deref() == Some("chat-gateway"), "Socket.IO was served by port {port}");
    Ok(())
}

/// An Engine.IO long-polling session, every request carrying the affinity cookie.
struct Session<'a> {
    client: &'a Client,
    url: String,
    cookie: String,
}

impl Session<'_> {
    async fn post(&self, packet: &str, pods: &mut BTreeSet<Option<u16>>) -> anyhow::Result<()> {
        let answer = self
            .client
            .raw()
            .post(&self.url)
            .header("cookie", &self.cookie)
            .header("content-type", "text/plain;charset=UTF-8")
            .body(packet.to_owned())
            .send()
            .await?;
        pods.insert(served_by(answer.headers()));
        let status = answer.status();
        anyhow::ensure!(
            status == 200,
            "Socket.IO POST {packet:?}: {status} {}",
            answer.text().await.unwrap_or_default()
        );
        Ok(())
    }

    /// Polls until a packet starting with `prefix` comes, answering pings.
    async fn poll_until(&self, prefix: &str, pods: &mut BTreeSet<Option<u16>>) -> anyhow::Result<()> {
        for _ in 0..5 {
            let answer = self.client.raw().get(&self.url).header("cookie", &self.cookie).send().await?;
            pods.insert(served_by(answer.headers()));
            let status = answer.status();
            let body = answer.text().await.unwrap_or_default();
            anyhow::ensure!(status == 200, "Socket.IO poll waiting for {prefix:?}: {status} {body}");
            for packet in body.split('\u{1e}') {
                if packet.starts_with(prefix) {
                    return Ok(());
                }
                anyhow::ensure!(!packet.starts_with("44/chat,"), "Socket.IO connect_error: {packet}");
                if packet == "2" {
                    self.post("3", pods).await?;
                }
            }
        }
        anyhow::bail!("five Socket.IO polls and no {prefix:?}")
    }
}

/// The proxy's timeouts on `/chat` against the gateway's ping interval, from the render: an
/// idle chat is kept alive by pings long before the proxy would cut it.
pub fn timeouts(plan: &Plan) -> anyhow::Result<String> {
    let route = plan.route_for("/chat").ok_or_else(|| anyhow::anyhow!("no Ingress routes /chat"))?;
    let ping = plan.component("chat-gateway")?.setting("WS_PING_INTERVAL_SECONDS")?;
    anyhow::ensure!(
        route.read_timeout_seconds > ping && route.send_timeout_seconds > ping,
        "the proxy's timeouts on /chat (read {} s, send {} s) are not above the gateway's ping interval ({ping} s)",
        route.read_timeout_seconds,
        route.send_timeout_seconds
    );
    Ok(format!(
        "proxy read/send timeout on /chat {} s / {} s (Ingress {}), gateway pings every {ping} s",
        route.read_timeout_seconds, route.send_timeout_seconds, route.ingress
    ))
}

/// An idle socket through the proxy: open for `at_least` (two ping intervals), it is still
/// open, and the gateway's pings reached it.
pub struct IdleSocket {
    task: tokio::task::JoinHandle<anyhow::Result<u32>>,
    stop: tokio::sync::oneshot::Sender<()>,
}

impl IdleSocket {
    pub async fn open(proxy: &str, from: IpAddr, token: &str) -> anyhow::Result<Self> {
        use futures_util::StreamExt;
        let (mut ws, _) = chat::open(proxy, from, token, "").await?;
        let (stop, mut stopped) = tokio::sync::oneshot::channel();
        let task = tokio::spawn(async move {
            let mut pings = 0;
            loop {
                tokio::select! {
                    frame = ws.next() => match frame {
                        Some(Ok(Message::Ping(_))) => pings += 1,
                        Some(Ok(Message::Close(frame))) => anyhow::bail!("the idle socket was closed: {frame:?} after {pings} pings"),
                        Some(Ok(_)) => {}
                        Some(Err(err)) => anyhow::bail!("the idle socket failed: {err} after {pings} pings"),
                        None => anyhow::bail!("the idle socket ended after {pings} pings"),
                    },
                    _ = &mut stopped => return Ok(pings),
                }
            }
        });
        Ok(Self { task, stop })
    }

    /// The pings it saw; an error when it was closed.
    pub async fn finish(self) -> anyhow::Result<u32> {
        let _ = self.stop.send(());
        self.task.await?
    }
}

/// The login limit per client address, through the proxy and both auth-api pods: a client
/// that used up its allowance stays refused whatever `X-Forwarded-For` it sends, and another
/// client naming the first one's address in that header is not refused.
pub async fn rate_limits(
    limited: &Client,
    other: &Client,
    limited_address: IpAddr,
    pods_of: &dyn Fn(u16) -> Option<String>,
) -> anyhow::Result<String> {
    let login = |n: u32| json!({"username": format!("e2e_nobody_{n}_{}", &uuid::Uuid::new_v4().simple().to_string()[..8]), "password": "wrong password"});
    let mut allowed = 0;
    let mut pods = BTreeSet::new();
    let refused = loop {
        let answer = limited.send(Method::POST, "/login", None, Some(&login(allowed)), &[]).await?;
        let port = served_by(&answer.headers).unwrap_or(0);
        anyhow::ensure!(pods_of(port).as_deref() == Some("auth-api"), "POST /login was served by port {port}");
        pods.insert(port);
        match answer.status.as_u16() {
            401 => allowed += 1,
            429 => break answer,
            other => anyhow::bail!("a login attempt got {other}: {}", answer.body),
        }
        anyhow::ensure!(allowed <= 1000, "1,000 failed logins from one address and no 429");
    };
    anyhow::ensure!(refused.headers.contains_key("retry-after"), "a 429 without Retry-After");
    anyhow::ensure!(
        pods.len() == 2,
        "the attempts reached {pods:?}, not both auth-api pods: the limit was not shown to hold across them"
    );
    let forged = ["203.0.113.7", "203.0.113.7, 198.51.100.9", "unknown"];
    for header in forged {
        let answer =
            limited.send(Method::POST, "/login", None, Some(&login(0)), &[("x-forwarded-for", header)]).await?;
        anyhow::ensure!(
            answer.status == 429,
            "with X-Forwarded-For: {header}, the limited client got {}",
            answer.status
        );
    }
    let address = limited_address.to_string();
    let answer = other.send(Method::POST, "/login", None, Some(&login(0)), &[("x-forwarded-for", &address)]).await?;
    anyhow::ensure!(answer.status == 401, "another client claiming the limited address got {}", answer.status);
    Ok(format!(
        "{allowed} failed logins from one address over both auth-api pods, then 429; still 429 with X-Forwarded-For forged ({} ways); another address naming it: 401",
        forged.len()
    ))
}
