//! The newcomer's path: `chat-suite` with no environment at all, on the embedded default.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    io::{BufRead, BufReader},
    os::unix::fs::PermissionsExt,
    path::Path,
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex},
    time::Duration,
};

use serde_json::{Value, json};

struct Suite {
    child: Child,
    base: String,
    /// What the process logged: shown when the test fails, to say why.
    log: Arc<Mutex<Vec<String>>>,
}

impl Drop for Suite {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            let log = self.log.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            eprintln!("chat-suite's log:\n{}", log.join("\n"));
        }
    }
}

/// Starts the binary in `dir` with an empty environment but for the port, and reads the
/// address it bound from its log.
fn start(dir: &Path) -> Suite {
    start_with(dir, &[])
}

/// [`start`] with these variables set too.
fn start_with(dir: &Path, env: &[(&str, &str)]) -> Suite {
    let mut child = Command::new(env!("CARGO_BIN_EXE_chat-suite"))
        .current_dir(dir)
        .env_clear()
        .env("LISTEN_ADDR", "127.0.0.1:0")
        .envs(env.iter().copied())
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let addr = loop {
        let line = lines.next().expect("chat-suite exited before listening").unwrap();
        if let Ok(log) = serde_json::from_str::<Value>(&line)
            && log["message"] == "chat-suite listening"
        {
            break log["addr"].as_str().unwrap().to_owned();
        }
    };
    // Keep draining the log so the child never blocks on a full pipe; kept for a failure.
    let log = Arc::new(Mutex::new(Vec::new()));
    let kept = log.clone();
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            kept.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(line);
        }
    });
    Suite { child, base: format!("http://{addr}"), log }
}

async fn post(client: &reqwest::Client, url: String, body: Value) -> (u16, Value) {
    let resp = client.post(url).json(&body).send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn get_json(client: &reqwest::Client, url: String, token: &str) -> Value {
    client.get(url).bearer_auth(token).send().await.unwrap().json().await.unwrap()
}

/// Registers each of `names`: their `/register` answers.
async fn register(client: &reqwest::Client, base: &str, names: [&str; 2]) -> Vec<Value> {
    let mut users = Vec::new();
    for name in names {
        let body =
            json!({"username": name, "password": "correct horse battery", "email": format!("{name}@example.com")});
        let (status, registered) = post(client, format!("{base}/register"), body).await;
        assert_eq!(status, 201, "{registered}");
        users.push(registered);
    }
    users
}

#[tokio::test]
async fn a_newcomer_registers_logs_in_refreshes_and_reads_me_on_the_embedded_default() {
    let dir = tempfile::tempdir().unwrap();
    let client = shared::http_client::builder().timeout(Duration::from_secs(30)).build().unwrap();
    let suite = start(dir.path());
    let base = suite.base.clone();

    let (status, registered) = post(
        &client,
        format!("{base}/register"),
        json!({"username": "newcomer", "password": "correct horse battery", "email": "new@example.com"}),
    )
    .await;
    assert_eq!(status, 201, "{registered}");
    let (status, login) =
        post(&client, format!("{base}/login"), json!({"username": "newcomer", "password": "correct horse battery"}))
            .await;
    assert_eq!(status, 200, "{login}");
    let (status, refreshed) =
        post(&client, format!("{base}/token/refresh"), json!({"refresh_token": login["refresh_token"]})).await;
    assert_eq!(status, 200, "{refreshed}");
    let token = refreshed["access_token"].as_str().unwrap();
    let me = get_json(&client, format!("{base}/me"), token).await;
    assert_eq!(me["username"], "newcomer");
    assert_eq!(me["user_id"], registered["user_id"]);

    // user-search is mounted too, verifying with the in-process keys.
    let found = get_json(&client, format!("{base}/users/search?q=NEW"), token).await;
    assert_eq!(found, json!({"users": [{"username": "newcomer", "user_id": registered["user_id"]}]}));

    let docs = client.get(format!("{base}/docs")).send().await.unwrap();
    assert_eq!(docs.status(), 200);
    let docs = docs.text().await.unwrap();
    assert!(docs.contains("swagger"));
    // The icon `/docs` names (a browser would ask for `/favicon.ico` anyway): it was a 404.
    assert!(docs.contains(r#"<link rel="icon" href="/favicon.ico" type="image/svg+xml">"#));
    let icon = client.get(format!("{base}/favicon.ico")).send().await.unwrap();
    assert_eq!((icon.status().as_u16(), &icon.headers()["content-type"]), (200, &"image/svg+xml".parse().unwrap()));
    let spec: Value = client.get(format!("{base}/openapi.json")).send().await.unwrap().json().await.unwrap();
    assert!(spec["paths"]["/register"]["post"].is_object());
    assert!(spec["paths"]["/users/search"]["get"].is_object());
    assert!(spec["paths"]["/chats/{chat_id}/messages"]["get"].is_object());
    assert!(spec["info"]["description"].as_str().unwrap().contains("[/asyncapi.json](/asyncapi.json)"));
    let asyncapi = client.get(format!("{base}/asyncapi.json")).send().await.unwrap();
    assert_eq!(asyncapi.status(), 200);
    assert_eq!(asyncapi.headers()["content-type"], "application/json");
    let asyncapi: Value = asyncapi.json().await.unwrap();
    assert_eq!(asyncapi["asyncapi"], "3.0.0");
    assert_eq!(asyncapi["channels"]["chat"]["address"], "/chat");
    // chat-suite's own, not the gateway's (which names chat-gateway and port 8083).
    assert_eq!(asyncapi["info"]["title"], "chat-suite: /chat over WebSocket and over Socket.IO");
    for server in ["gateway", "socketio"] {
        assert_eq!(asyncapi["servers"][server]["variables"]["host"]["default"], "localhost:8080", "{server}");
        assert!(asyncapi["servers"][server]["description"].as_str().unwrap().starts_with("chat-suite"), "{server}");
    }
    let (info, servers) = (asyncapi["info"].to_string(), asyncapi["servers"].to_string());
    assert!(!info.contains("chat-gateway") && !servers.contains("chat-gateway") && !servers.contains("8083"));
    // Password hashes and the signing key are for the user running it alone.
    let mode = |name: &str| std::fs::metadata(dir.path().join(name)).unwrap().permissions().mode() & 0o777;
    assert_eq!(
        ["data", "data/chat-suite.db", "data/chat-suite.db-wal", "data/chat-suite.db-shm", "data/jwt-signing-key.pem"]
            .map(mode),
        [0o700, 0o600, 0o600, 0o600, 0o600]
    );

    // A restart keeps the users and the signing key: the old access token still works.
    drop(suite);
    let suite = start(dir.path());
    let me = client
        .get(format!("{}/me", suite.base))
        .bearer_auth(refreshed["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 200);
}

/// SIGTERM right after start-up stops it cleanly too: the handlers are in place before the
/// listener is bound (they used to be installed only once serving began, and a SIGTERM in
/// between killed the process the default way).
#[tokio::test]
async fn sigterm_stops_it_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let mut suite = start(dir.path());
    let pid = suite.child.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = suite.child.try_wait().unwrap() {
            break status;
        }
        assert!(std::time::Instant::now() < deadline, "still running 10 s after SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status:?}");
}

/// A port another process holds stops the start-up with one line naming `LISTEN_ADDR`, and
/// before anything is created: it used to make `./data`, its signing key and its database
/// first, and leave them behind.
#[test]
fn a_busy_port_is_one_line_and_creates_nothing() {
    let mut suite = Command::new(env!("CARGO_BIN_EXE_chat-suite"));
    suite.env_clear();
    let (stderr, dir) = testkit::startup::assert_busy_port_refused("chat-suite", suite);
    assert!(stderr.contains("in use"), "{stderr}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "nothing is created");
}

/// Two newcomers chat over `/chat` on the embedded default (in-process bus, SQLite).
#[tokio::test]
async fn two_newcomers_chat_on_the_embedded_default() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;

    let dir = tempfile::tempdir().unwrap();
    let client = shared::http_client::builder().timeout(Duration::from_secs(30)).build().unwrap();
    let suite = start(dir.path());
    let base = suite.base.clone();
    let users = register(&client, &base, ["ada", "grace"]).await;
    let ws_base = base.replacen("http://", "ws://", 1);
    let mut sockets = Vec::new();
    for user in &users {
        let url = format!("{ws_base}/chat?access_token={}", user["access_token"].as_str().unwrap());
        let (ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
        sockets.push(ws);
    }
    async fn next(
        ws: &mut (impl StreamExt<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin),
        event: &str,
    ) -> Value {
        loop {
            let frame = tokio::time::timeout(Duration::from_secs(15), ws.next()).await.unwrap().unwrap().unwrap();
            if let Message::Text(text) = frame {
                let value: Value = serde_json::from_str(text.as_str()).unwrap();
                if value["event"] == event {
                    return value;
                }
            }
        }
    }
    let (ada, grace) = sockets.split_at_mut(1);
    let (ada, grace) = (&mut ada[0], &mut grace[0]);
    next(ada, "connected").await;
    next(grace, "connected").await;
    let start = json!({"event": "start_private_chat", "data": {"user_id": users[1]["user_id"]}});
    ada.send(Message::text(start.to_string())).await.unwrap();
    let created = next(grace, "private_chat_room_created").await;
    let chat_id = created["data"]["chat_id"].clone();
    let send = json!({"event": "send_message", "data": {"chat_id": chat_id, "content": "hello grace"}});
    ada.send(Message::text(send.to_string())).await.unwrap();
    let got = next(grace, "receive_message").await;
    assert_eq!(got["data"]["content"], "hello grace");
    assert_eq!(got["data"]["sender_id"], users[0]["user_id"]);
    let token = users[1]["access_token"].as_str().unwrap();
    let history = get_json(&client, format!("{base}/chats/{}/messages", chat_id.as_str().unwrap()), token).await;
    assert_eq!(history["messages"][0]["content"], "hello grace");
}

/// Browser pages: chat-suite's own (its web client) need no entry, being of its origin, and
/// may open `/chat`; a listed origin's preflights are answered; another site's page gets
/// neither.
#[tokio::test]
async fn its_own_pages_and_listed_origins_may_call_it_from_a_browser() {
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::{self, client::IntoClientRequest};

    const APP: &str = "https://app.example.com";
    let dir = tempfile::tempdir().unwrap();
    let client = shared::http_client::builder().timeout(Duration::from_secs(30)).build().unwrap();
    let suite = start_with(dir.path(), &[("CORS_ALLOWED_ORIGINS", APP)]);
    let base = suite.base.clone();

    let body = json!({"username": "pagey", "password": "correct horse battery", "email": "pagey@example.com"});
    let resp = client.post(format!("{base}/register")).header("origin", &base).json(&body).send().await.unwrap();
    assert_eq!(resp.status(), 201);
    assert!(!resp.headers().contains_key("access-control-allow-origin"), "same origin: no CORS needed");
    let token = resp.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_owned();

    for (origin, status, allowed) in [(APP, 204, Some(APP)), ("https://evil.example", 403, None)] {
        let preflight = client
            .request(reqwest::Method::OPTIONS, format!("{base}/login"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type")
            .send()
            .await
            .unwrap();
        assert_eq!(preflight.status(), status, "{origin}");
        let header = preflight.headers().get("access-control-allow-origin").map(|v| v.to_str().unwrap().to_owned());
        assert_eq!(header.as_deref(), allowed, "{origin}");
    }

    let ws_url = format!("{}/chat?access_token={token}", base.replacen("http://", "ws://", 1));
    for (origin, accepted) in [(base.as_str(), true), (APP, true), ("https://evil.example", false)] {
        let mut request = ws_url.as_str().into_client_request().unwrap();
        request.headers_mut().insert("origin", origin.parse().unwrap());
        match tokio_tungstenite::connect_async(request).await {
            Ok((mut ws, _)) => {
                assert!(accepted, "{origin} was let in");
                let first = ws.next().await.unwrap().unwrap();
                assert!(first.to_text().unwrap().contains("\"connected\""), "{first}");
            }
            Err(tungstenite::Error::Http(resp)) => {
                assert!(!accepted, "{origin} was refused");
                assert_eq!(resp.status().as_u16(), 403);
            }
            Err(other) => panic!("{origin}: {other}"),
        }
    }
}

/// Socket.IO on the embedded default too: a Socket.IO client (its WebSocket transport, by
/// hand) and a `/chat` client chat through the one process.
#[tokio::test]
async fn socketio_is_served_beside_chat_on_the_embedded_default() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;

    let dir = tempfile::tempdir().unwrap();
    let client = shared::http_client::builder().timeout(Duration::from_secs(30)).build().unwrap();
    let suite = start(dir.path());
    let base = suite.base.clone();
    let users = register(&client, &base, ["linus", "margaret"]).await;
    let ws_base = base.replacen("http://", "ws://", 1);
    let (mut sio, _) =
        tokio_tungstenite::connect_async(format!("{ws_base}/socket.io/?EIO=4&transport=websocket")).await.unwrap();
    let open = tokio::time::timeout(Duration::from_secs(15), sio.next()).await.unwrap().unwrap().unwrap();
    assert!(open.to_text().unwrap().starts_with('0'), "Engine.IO's open packet: {open:?}");
    let join = format!("40/chat,{}", json!({"token": users[0]["access_token"]}));
    sio.send(Message::text(join)).await.unwrap();
    // As a client does, emit only once the namespace has acknowledged the join: an event
    // before it reaches no socket of the namespace.
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(15), sio.next()).await.unwrap().unwrap().unwrap();
        match frame.to_text().unwrap() {
            "2" => sio.send(Message::text("3")).await.unwrap(),
            text if text.starts_with("40/chat,") => break,
            text => panic!("before the namespace's acknowledgement: {text}"),
        }
    }
    let url = format!("{ws_base}/chat?access_token={}", users[1]["access_token"].as_str().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();

    let start = format!("42/chat,{}", json!(["start_private_chat", {"user_id": users[1]["user_id"]}]));
    sio.send(Message::text(start)).await.unwrap();
    let created = loop {
        let frame = tokio::time::timeout(Duration::from_secs(15), ws.next()).await.unwrap().unwrap().unwrap();
        let Message::Text(text) = frame else { continue };
        let value: Value = serde_json::from_str(text.as_str()).unwrap();
        if value["event"] == "private_chat_room_created" {
            break value;
        }
    };
    let send = json!({"event": "send_message", "data": {"chat_id": created["data"]["chat_id"], "content": "hi linus"}});
    ws.send(Message::text(send.to_string())).await.unwrap();
    let received = loop {
        let frame = tokio::time::timeout(Duration::from_secs(15), sio.next()).await.unwrap().unwrap().unwrap();
        let Message::Text(text) = frame else { continue };
        if let Some(args) = text.as_str().strip_prefix("42/chat,") {
            let args: Value = serde_json::from_str(args).unwrap();
            if args[0] == "receive_message" {
                break args[1].clone();
            }
        }
    };
    assert_eq!((&received["content"], &received["sender_id"]), (&json!("hi linus"), &users[1]["user_id"]));
}

/// The embedded default pushes too, once a provider is configured: no broker, the notifier
/// in the process, fed by the outbox relay. Grace never connects: her phone hears of Ada's
/// message, and of her own registration.
#[tokio::test]
async fn the_embedded_default_pushes_to_an_offline_phone() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;

    let fcm = testkit::push::fcm::FcmStandIn::start().await;
    let dir = tempfile::tempdir().unwrap();
    let client = shared::http_client::builder().timeout(Duration::from_secs(30)).build().unwrap();
    let account = fcm.service_account_file().display().to_string();
    let suite = start_with(dir.path(), &[("FCM_SERVICE_ACCOUNT_FILE", &account), ("FCM_API_URL", &fcm.url())]);
    let base = suite.base.clone();
    let (status, ada) = post(
        &client,
        format!("{base}/register"),
        json!({
            "username": "ada", "password": "correct horse battery", "email": "ada@example.com"
        }),
    )
    .await;
    assert_eq!(status, 201, "{ada}");
    let (status, grace) = post(
        &client,
        format!("{base}/register"),
        json!({
            "username": "grace", "password": "correct horse battery", "email": "grace@example.com",
            "fcm_token": "graces-phone"
        }),
    )
    .await;
    assert_eq!(status, 201, "{grace}");

    let url =
        format!("{}/chat?access_token={}", base.replacen("http://", "ws://", 1), ada["access_token"].as_str().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    let start = json!({"event": "start_private_chat", "data": {"user_id": grace["user_id"]}, "id": 1});
    ws.send(Message::text(start.to_string())).await.unwrap();
    let chat_id = loop {
        let frame = tokio::time::timeout(Duration::from_secs(15), ws.next()).await.unwrap().unwrap().unwrap();
        let Message::Text(text) = frame else { continue };
        let value: Value = serde_json::from_str(text.as_str()).unwrap();
        if value["id"] == 1 {
            break value["data"]["chat_id"].as_str().unwrap().to_owned();
        }
    };
    let send = json!({"event": "send_message", "data": {"chat_id": chat_id, "content": "are you there?"}});
    ws.send(Message::text(send.to_string())).await.unwrap();

    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while fcm.received().len() < 2 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let received = fcm.received();
    assert_eq!(received.len(), 2, "{received:?} (refused: {:?})", fcm.refused());
    assert!(received.iter().all(|push| push.device == "graces-phone"));
    assert_eq!(received[0].title, "Welcome to chat application: grace");
    assert_eq!((received[1].title.as_str(), received[1].body.as_str()), ("New message from: ada", "are you there?"));
    assert_eq!(received[1].data["chat_id"], chat_id);
}
