//! A replica holding all the connections it can (`WS_MAX_CONNECTIONS`, or what its open-file
//! limit allows) refuses the next upgrade at once, on both protocols, with 503 `replica_full`
//! and `Retry-After`, before it reads the client's token; its probes, metrics and REST routes
//! answer meanwhile; a place freed is taken again. Out of descriptors altogether (a flood of
//! plain TCP connections), its accept loop waits instead of spinning and logging.

use std::{
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use serde_json::json;
use tokio_tungstenite::tungstenite;

use crate::{
    helpers::{Backend, Bus, PATIENCE, ROOMY, Suite, Ws, metric_at, spawn, spawn_with},
    socketio::raw::RawSio,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_replica_refuses_upgrades_at_once_and_answers_its_probes() {
    let args = [ROOMY[0], ROOMY[1], "--ws-max-connections=3"];
    let suite = spawn_with(Backend::Postgres, Bus::InProcess, 1, &args).await;
    let users = [suite.user("full_a").await, suite.user("full_b").await, suite.user("full_c").await];
    let first = suite.connect(0, &users[0]).await;
    let _second = suite.connect(0, &users[1]).await;
    // Both protocols count together.
    let _third = RawSio::connect(&suite, 0, &users[2]).await;

    // Refused whatever the client is: a token that is none is not even read.
    let refused = match tokio_tungstenite::connect_async(suite.socket_url(0, "access_token=not-a-token")).await {
        Err(tungstenite::Error::Http(response)) => response,
        other => panic!("the upgrade was not refused: {:?}", other.map(|(_, response)| response.status())),
    };
    assert_eq!(refused.status(), 503);
    assert_eq!(refused.headers()["retry-after"], "5");
    let body: serde_json::Value = serde_json::from_slice(refused.body().as_deref().unwrap_or_default()).unwrap();
    assert_eq!(body["code"], "replica_full", "{body}");
    let mut sio = RawSio::open(&suite, 0).await;
    sio.send(format!("40/chat,{}", json!({"token": users[0].token}))).await;
    assert_eq!(sio.next_text().await.unwrap(), format!("44/chat,{}", json!({"message": "replica_full"})));

    for path in ["/healthz", "/readyz", "/metrics"] {
        let answer = suite.get(0, path, None).await;
        assert_eq!(answer.status, 200, "{path}: {}", answer.body);
    }
    assert_eq!(suite.get(0, "/chats", Some(&users[0].token)).await.status, 200, "REST is not refused");
    assert_eq!(suite.metric(0, "chat_suite_ws_connection_capacity").await, 3.0);
    assert_eq!(suite.metric(0, "chat_suite_ws_refused_full_total").await, 2.0);

    first.close().await;
    wait_for_a_place(&suite, &users[0].token).await;
    let _again = suite.connect(0, &users[0]).await;
}

/// A place is free once the server has seen the close: until then, 503.
async fn wait_for_a_place(suite: &Suite, token: &str) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let probe = suite.get(0, &format!("/chat?access_token={token}"), None).await;
        if probe.status == 400 {
            assert_eq!(probe.body["code"], "not_websocket", "the place is free: only the missing upgrade is wrong");
            return;
        }
        assert_eq!((probe.status, probe.body["code"].as_str()), (503, Some("replica_full")));
        assert!(Instant::now() < deadline, "the closed connection's place never came free");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The real binary under an open-file limit of 300 (soft) and 400 (hard): it raises the soft
/// limit, holds what the hard one allows less its reserve (`node/slots.rs`), refuses the next
/// upgrade and stays healthy; then plain TCP connections take every descriptor left, and the
/// accept loop backs off (one log line, not one every few milliseconds) until they go.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_its_open_file_limit_the_real_binary_stays_healthy() {
    let suite = spawn(Backend::Postgres, Bus::InProcess, 0).await;
    let user = suite.user("crowd").await;
    let gateway = LimitedGateway::start(&suite, "--nofile=300:400");
    let address = format!("127.0.0.1:{}", gateway.port);
    gateway.wait_until_healthy(&suite).await;

    let capacity = gateway.metric(&suite, "chat_suite_ws_connection_capacity").await;
    // 400 less two descriptors per database connection (4) and 256 for the rest.
    assert_eq!(capacity, 136.0, "the capacity follows the hard limit, the soft one raised to it");
    let url = format!("ws://{address}/chat?access_token={}", user.token);
    let mut held = Vec::new();
    for _ in 0..136 {
        let mut ws = Ws::open(&url).await;
        assert_eq!(ws.next().await["event"], "connected");
        held.push(ws);
    }
    match tokio_tungstenite::connect_async(&url).await {
        Err(tungstenite::Error::Http(response)) => assert_eq!(response.status(), 503),
        other => panic!("the upgrade past the capacity was not refused: {:?}", other.map(|(_, r)| r.status())),
    }
    for path in ["/healthz", "/readyz", "/metrics"] {
        let answer = testkit::get(&suite.client, &format!("http://{address}{path}"), None).await;
        assert_eq!(answer.status, 200, "{path}: {}", answer.body);
    }

    // Connections that never send a request, more than there are descriptors left: the
    // kernel completes them, the gateway cannot accept them all.
    let mut flood = Vec::new();
    for _ in 0..300 {
        flood.push(tokio::net::TcpStream::connect(&address).await.unwrap());
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let failures = gateway.log_lines("accept failed");
    assert!(failures >= 1, "the flood never exhausted the descriptors");
    assert!(failures <= 2, "{failures} log lines of failed accepts in 3 s: the loop spins");
    drop(flood);
    gateway.wait_until_healthy(&suite).await;
    let deadline = Instant::now() + PATIENCE;
    while gateway.log_lines("accepting connections again") == 0 {
        assert!(Instant::now() < deadline, "the end of the failures was never logged");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(held);
}

/// chat-gateway's binary started under `prlimit`, its log kept.
struct LimitedGateway {
    child: Child,
    port: u16,
    log: Arc<Mutex<Vec<String>>>,
}

impl LimitedGateway {
    fn start(suite: &Suite, nofile: &str) -> Self {
        let port = testkit::free_port();
        let mut child = Command::new("prlimit")
            .arg(nofile)
            .arg(env!("CARGO_BIN_EXE_chat-gateway"))
            .env("LISTEN_ADDR", format!("127.0.0.1:{port}"))
            .env("DATABASE_URL", &suite.database.url)
            .env("DATABASE_MAX_CONNECTIONS", "4")
            .env("JWKS_URL", format!("{}/.well-known/jwks.json", suite.auth.address))
            .env("WS_CONNECTIONS_PER_USER", "1000")
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("prlimit (util-linux) starts chat-gateway");
        let log = Arc::new(Mutex::new(Vec::new()));
        let (stderr, lines) = (child.stderr.take().unwrap(), log.clone());
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                lines.lock().unwrap().push(line);
            }
        });
        Self { child, port, log }
    }

    async fn wait_until_healthy(&self, suite: &Suite) {
        let healthz = format!("http://127.0.0.1:{}/healthz", self.port);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let answered = tokio::time::timeout(Duration::from_secs(1), suite.client.get(&healthz).send()).await;
            if matches!(answered, Ok(Ok(response)) if response.status() == 200) {
                return;
            }
            assert!(Instant::now() < deadline, "chat-gateway never answered /healthz");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn metric(&self, suite: &Suite, series: &str) -> f64 {
        metric_at(&suite.client, &format!("http://127.0.0.1:{}", self.port), series).await
    }

    fn log_lines(&self, containing: &str) -> usize {
        self.log.lock().unwrap().iter().filter(|line| line.contains(containing)).count()
    }
}

impl Drop for LimitedGateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
