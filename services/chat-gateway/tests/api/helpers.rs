//! Each test starts a real auth-api and one or more real chat-gateways on one fresh database;
//! the gateways verify tokens with the keys they fetch from that auth-api, and (with Redis)
//! talk to each other through a Redis server of the test's own.

use std::{sync::Arc, time::Duration};

use auth_api::tokens::{SigningKey, TokenIssuer};
use clap::Parser;
use futures_util::{SinkExt, StreamExt};
use sea_orm::DatabaseConnection;
use serde_json::{Value, json};
pub use testkit::{
    Backend, Response, Running, TestDatabase,
    redis_cluster::{Master, RedisCluster},
    redis_server::RedisServer,
    redis_tls::RedisTlsFiles,
};
use tokio::net::TcpStream;
use tokio_tungstenite::{
    MaybeTlsStream, WebSocketStream,
    tungstenite::{self, Message, protocol::CloseFrame},
};

/// How the gateways of a test coordinate.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Bus {
    /// A Redis server of the test's own.
    Redis,
    /// A Redis Cluster of the test's own (three masters, a replica each).
    RedisCluster,
    /// A Redis server over TLS alone that requires a client certificate.
    RedisTls,
    /// A Redis Cluster over TLS alone (clients, replication, the bus) that requires a client
    /// certificate.
    RedisClusterTls,
    /// None: the in-process bus of one replica.
    InProcess,
}

pub struct Suite {
    pub auth: Running,
    pub gateways: Vec<Running>,
    pub redis: Option<RedisServer>,
    /// Taken out by a test that changes it while the gateways run (it blocks meanwhile).
    pub cluster: Option<RedisCluster>,
    pub client: reqwest::Client,
    pub db: DatabaseConnection,
    pub database: Arc<TestDatabase>,
    pub extra_args: Vec<String>,
    /// auth-api's signing key, to mint tokens auth-api would not (a short life, say).
    pub key: SigningKey,
}

/// Tests of `fn(Bus)`, run on one Redis server and on a Redis Cluster.
#[macro_export]
macro_rules! on_both_buses {
    ($($name:ident),* $(,)?) => {
        mod one_redis {
            $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
               async fn $name() { super::$name($crate::helpers::Bus::Redis).await } )*
        }
        mod redis_cluster {
            $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
               async fn $name() { super::$name($crate::helpers::Bus::RedisCluster).await } )*
        }
    };
}

/// The value of a series of the `/metrics` of the server at `address`; 0 when it is not there
/// (yet).
pub async fn metric_at(client: &reqwest::Client, address: &str, series: &str) -> f64 {
    let metrics = testkit::get(client, &format!("{address}/metrics"), None).await;
    let metrics = metrics.body.as_str().unwrap();
    metrics
        .lines()
        .find(|l| l.split(' ').next() == Some(series))
        .map_or(0.0, |line| line.rsplit(' ').next().unwrap().parse().unwrap())
}

/// Settings loose enough that only the tests about limits meet them.
pub const ROOMY: [&str; 2] = ["--ws-rate-limit-per-second=10000", "--ws-rate-limit-burst=10000"];

pub async fn spawn(backend: Backend, bus: Bus, replicas: usize) -> Suite {
    spawn_with(backend, bus, replicas, &ROOMY).await
}

pub async fn spawn_with(backend: Backend, bus: Bus, replicas: usize, args: &[&str]) -> Suite {
    spawn_on(Arc::new(TestDatabase::create(backend).await), bus, replicas, args).await
}

/// On `database` (a database of a server of the test's own, say).
pub async fn spawn_on(database: Arc<TestDatabase>, bus: Bus, replicas: usize, args: &[&str]) -> Suite {
    let key = SigningKey::generate().unwrap();
    let auth = testkit::auth::spawn_auth(&database, "127.0.0.1:0".parse().unwrap(), &key).await;
    let redis = match bus {
        Bus::Redis => Some(RedisServer::start()),
        Bus::RedisTls => {
            Some(tokio::task::spawn_blocking(|| RedisServer::start_tls(RedisTlsFiles::new(true))).await.unwrap())
        }
        _ => None,
    };
    let cluster = match bus {
        Bus::RedisCluster => Some(tokio::task::spawn_blocking(RedisCluster::start).await.unwrap()),
        Bus::RedisClusterTls => {
            Some(tokio::task::spawn_blocking(|| RedisCluster::start_tls(RedisTlsFiles::new(true))).await.unwrap())
        }
        _ => None,
    };
    let mut suite = Suite {
        auth,
        gateways: Vec::new(),
        redis,
        cluster,
        client: shared::http_client::builder().timeout(Duration::from_secs(30)).build().unwrap(),
        db: database.connect().await,
        database,
        extra_args: args.iter().map(|a| (*a).to_owned()).collect(),
        key,
    };
    for _ in 0..replicas {
        let gateway = suite.spawn_gateway().await;
        suite.gateways.push(gateway);
    }
    suite
}

impl Suite {
    /// The arguments a gateway of this suite starts with.
    pub fn gateway_args(&self) -> Vec<String> {
        let dir = std::env::temp_dir();
        let mut args = vec![
            "chat-gateway".to_owned(),
            "--listen-addr=127.0.0.1:0".to_owned(),
            format!("--database-url={}", self.database.url),
            format!("--data-dir={}", dir.display()),
            format!("--jwks-url={}/.well-known/jwks.json", self.auth.address),
            "--shutdown-grace-seconds=5".to_owned(),
        ];
        match (&self.redis, &self.cluster) {
            (Some(redis), _) => args.extend(redis.service_args()),
            (None, Some(cluster)) => args.extend(cluster.service_args()),
            (None, None) => {}
        }
        args.extend(self.extra_args.iter().cloned());
        args
    }

    /// The `REDIS_URL` of this suite's gateways, if they have one.
    pub fn redis_url(&self) -> Option<String> {
        match (&self.redis, &self.cluster) {
            (Some(redis), _) => Some(redis.url()),
            (None, Some(cluster)) => Some(cluster.service_url()),
            (None, None) => None,
        }
    }

    pub async fn spawn_gateway(&self) -> Running {
        let cli = chat_gateway::config::Cli::try_parse_from(self.gateway_args()).unwrap();
        Running::start(chat_gateway::startup::build(&cli).await.unwrap())
    }

    /// Registers through auth-api.
    pub async fn user(&self, prefix: &str) -> User {
        let username = testkit::unique_name(prefix);
        let body = testkit::auth::register(&self.client, &self.auth.address, &username).await;
        User {
            token: body["access_token"].as_str().unwrap().to_owned(),
            id: body["user_id"].as_str().unwrap().to_owned(),
            username,
        }
    }

    /// An access token for `user` that lives `ttl`, signed with auth-api's key.
    pub fn token_for(&self, user: &User, ttl: Duration) -> String {
        let key = SigningKey::from_pem(self.key.to_pem()).unwrap();
        let settings = shared::config::TokenSettings { issuer: "chat-suite".into(), audience: "chat-suite".into() };
        let issuer = TokenIssuer::new(key, settings, ttl);
        issuer.issue(user.id.parse().unwrap(), &user.username).unwrap()
    }

    /// The URL of gateway `replica`'s socket with these query parameters.
    pub fn socket_url(&self, replica: usize, query: &str) -> String {
        format!("ws://127.0.0.1:{}/chat?{query}", self.gateways[replica].port)
    }

    /// A WebSocket to gateway `replica`, authenticated by query parameter, after `connected`.
    pub async fn connect(&self, replica: usize, user: &User) -> Ws {
        self.connect_with(replica, user, "").await
    }

    /// Same, with more query parameters (`&since=…`).
    pub async fn connect_with(&self, replica: usize, user: &User, query: &str) -> Ws {
        let url = format!("ws://127.0.0.1:{}/chat?access_token={}{query}", self.gateways[replica].port, user.token);
        let mut ws = Ws::open(&url).await;
        let connected = ws.next().await;
        assert_eq!(connected["event"], "connected", "{connected}");
        assert_eq!(connected["data"]["user_id"], user.id.as_str());
        ws
    }

    /// A WebSocket upgrade (with these query parameters) that the gateway refuses: the status
    /// and the JSON error body of its answer.
    pub async fn refused_upgrade(&self, replica: usize, query: &str) -> (u16, Value) {
        match tokio_tungstenite::connect_async(self.socket_url(replica, query)).await {
            Err(tungstenite::Error::Http(resp)) => {
                let body = resp.body().as_deref().map(|b| serde_json::from_slice(b).unwrap()).unwrap_or(Value::Null);
                (resp.status().as_u16(), body)
            }
            Ok(_) => panic!("the upgrade ({query}) was accepted"),
            Err(other) => panic!("the upgrade ({query}) failed otherwise: {other}"),
        }
    }

    /// `a` sends `total` messages of 3,900 characters to `chat_id` as fast as it can while
    /// `fast` reads: what each of them received, for a test whose third reader lags.
    pub async fn flood(a: &mut Ws, fast: &mut Ws, chat_id: &str, total: usize) -> (Vec<Value>, Vec<Value>) {
        let content = "x".repeat(3900);
        let sender = async {
            for _ in 0..total {
                a.send("send_message", json!({"chat_id": chat_id, "content": content})).await;
            }
            a.messages(total).await
        };
        tokio::join!(sender, fast.messages(total))
    }

    /// A TCP connection to gateway `replica` with a receive buffer of 4 KiB: a client that
    /// does not read stops the server's writes soon.
    pub async fn small_window(&self, replica: usize) -> TcpStream {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(4096).unwrap();
        socket.connect(format!("127.0.0.1:{}", self.gateways[replica].port).parse().unwrap()).await.unwrap()
    }

    pub async fn get(&self, replica: usize, path: &str, token: Option<&str>) -> Response {
        testkit::get(&self.client, &format!("{}{path}", self.gateways[replica].address), token).await
    }

    /// The value of a series of gateway `replica`'s metrics (`name` or `name{labels}` as the
    /// exposition writes it); 0 when it is not there (yet).
    pub async fn metric(&self, replica: usize, series: &str) -> f64 {
        metric_at(&self.client, &self.gateways[replica].address, series).await
    }

    /// The chat between two users, started by `a` (on `a_ws`); `b_ws` hears of it too.
    pub async fn chat(&self, a_ws: &mut Ws, b: &User, b_ws: &mut Ws) -> String {
        let reply = a_ws.request("start_private_chat", json!({"user_id": b.id}), json!("start")).await;
        assert_eq!(reply["event"], "private_chat_room_created", "{reply}");
        let chat_id = reply["data"]["chat_id"].as_str().unwrap().to_owned();
        let pushed = b_ws.next_of("private_chat_room_created").await;
        assert_eq!(pushed["data"]["chat_id"], chat_id.as_str());
        chat_id
    }
}

pub struct User {
    pub token: String,
    pub id: String,
    pub username: String,
}

pub struct Ws {
    stream: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

/// How long a test waits for an event before it fails.
pub const PATIENCE: Duration = Duration::from_secs(15);

impl Ws {
    pub async fn open(url: &str) -> Self {
        let (stream, _) = tokio_tungstenite::connect_async(url).await.unwrap();
        Self { stream }
    }

    pub async fn open_on(stream: TcpStream, url: &str) -> Self {
        let (stream, _) = tokio_tungstenite::client_async(url, MaybeTlsStream::Plain(stream)).await.unwrap();
        Self { stream }
    }

    pub async fn send(&mut self, event: &str, data: Value) {
        self.send_raw(Message::text(json!({"event": event, "data": data}).to_string())).await;
    }

    pub async fn send_raw(&mut self, message: Message) {
        self.stream.send(message).await.unwrap();
    }

    /// Sends a frame with an `id` and returns the reply that carries it (other events that
    /// arrive meanwhile are skipped).
    pub async fn request(&mut self, event: &str, data: Value, id: Value) -> Value {
        self.send_raw(Message::text(json!({"event": event, "data": data, "id": id}).to_string())).await;
        loop {
            let frame = self.next().await;
            if frame.get("id") == Some(&id) {
                return frame;
            }
        }
    }

    /// Every frame that arrives before the reply to a frame with `id` (which ends the list):
    /// what a connection was sent before it read that frame.
    pub async fn frames_until_reply(&mut self, event: &str, data: Value, id: Value) -> Vec<Value> {
        self.send_raw(Message::text(json!({"event": event, "data": data, "id": id}).to_string())).await;
        let mut frames = Vec::new();
        loop {
            let frame = self.next().await;
            let done = frame.get("id") == Some(&id);
            frames.push(frame);
            if done {
                return frames;
            }
        }
    }

    /// The next JSON frame, whatever it is.
    pub async fn next(&mut self) -> Value {
        loop {
            let message = tokio::time::timeout(PATIENCE, self.stream.next())
                .await
                .expect("no frame within the test's patience")
                .expect("the connection ended")
                .expect("the connection failed");
            match message {
                Message::Text(text) => return serde_json::from_str(text.as_str()).unwrap(),
                Message::Ping(_) | Message::Pong(_) => continue,
                other => panic!("expected a text frame, got {other:?}"),
            }
        }
    }

    /// The next frame of this event, skipping others (presence, typing…).
    pub async fn next_of(&mut self, event: &str) -> Value {
        loop {
            let frame = self.next().await;
            if frame["event"] == event {
                return frame;
            }
        }
    }

    /// The next `n` messages (`receive_message` data), skipping other events.
    pub async fn messages(&mut self, n: usize) -> Vec<Value> {
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            out.push(self.next_of("receive_message").await["data"].clone());
        }
        out
    }

    /// Frames that arrive within `wait`.
    pub async fn drain_for(&mut self, wait: Duration) -> Vec<Value> {
        let mut out = Vec::new();
        let deadline = tokio::time::Instant::now() + wait;
        while let Ok(Some(Ok(message))) = tokio::time::timeout_at(deadline, self.stream.next()).await {
            if let Message::Text(text) = message {
                out.push(serde_json::from_str(text.as_str()).unwrap());
            }
        }
        out
    }

    /// Reads until the server closes; the close frame, if it sent one.
    pub async fn closed(&mut self) -> Option<CloseFrame> {
        loop {
            match tokio::time::timeout(PATIENCE, self.stream.next())
                .await
                .expect("not closed within the test's patience")
            {
                Some(Ok(Message::Close(frame))) => return frame,
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return None,
            }
        }
    }

    pub async fn close(mut self) {
        let _ = self.stream.close(None).await;
    }
}

/// The close code of a close frame.
pub fn code(frame: &Option<CloseFrame>) -> Option<u16> {
    frame.as_ref().map(|f| u16::from(f.code))
}

pub use tungstenite::Message as WsMessage;
