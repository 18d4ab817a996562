//! Message delivery across two replicas, next to the ceiling measured in the same run
//! (`redis-benchmark` PUBLISH on the same Redis), and the memory an idle connection costs.
//! Run by `scripts/bench`, which builds the release binaries and passes their paths.
//!
//! Delivery: `PAIRS` pairs of users, one of each pair on each of two chat-gateway processes
//! sharing one Redis and one Postgres; every user sends to its peer at a fixed rate, so the
//! total is `BENCH_RATE` messages per second, for `BENCH_SECONDS` after a warm-up (the pools
//! fill, the caches warm). Each message carries its send time; the receiver measures
//! send-to-receive latency and checks that every message arrived once.
//!
//! Memory: `BENCH_IDLE` users each open one connection to one gateway and stay silent; the gateway's
//! resident memory before and after, divided by the connections.
//!
//! Both once over `/chat` and once over Socket.IO (its WebSocket transport, spoken by hand:
//! `42/chat,["event",data]` packets, pings answered), the same load on the same replicas.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    collections::HashSet,
    process::Command,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use auth_api::tokens::{SigningKey, TokenIssuer};
use futures_util::{SinkExt, StreamExt};
use sea_orm::{ConnectionTrait, Database};
use serde_json::{Value, json};
use shared::config::TokenSettings;
use testkit::bench::{self, Process, Profile, Report, Row, percent, setting};
use tokio_tungstenite::tungstenite::Message;
use uuid::Uuid;

const PAIRS: usize = 100;

/// A fresh database with `count` users; its URL and their ids.
async fn seed(count: usize) -> (String, Vec<Uuid>) {
    let url = bench::fresh_database("chat_suite_bench_chat").await;
    let db = Database::connect(&url).await.unwrap();
    let ids: Vec<Uuid> = (0..count).map(|_| Uuid::new_v4()).collect();
    for (n, chunk) in ids.chunks(1000).enumerate() {
        let values: Vec<String> = chunk
            .iter()
            .enumerate()
            .map(|(i, id)| {
                let name = format!("bench{}", n * 1000 + i);
                format!(
                    "('{id}', '{name}', '{name}', '{name}@bench.example.com', '{name}@bench.example.com', 'x', now())"
                )
            })
            .collect();
        db.execute_unprepared(&format!(
            "INSERT INTO users (id, username, username_key, email, email_key, password_hash, created_at) VALUES {}",
            values.join(",")
        ))
        .await
        .unwrap();
    }
    (url, ids)
}

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The protocol the benchmark's clients speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wire {
    Chat,
    SocketIo,
}

/// What a text frame from the server is.
enum Read {
    Event(String, Value),
    /// Engine.IO's ping, which the client must answer.
    Ping,
    Other,
}

impl Wire {
    async fn connect(self, port: u16, token: &str) -> Ws {
        let url = match self {
            Self::Chat => format!("ws://127.0.0.1:{port}/chat?access_token={token}"),
            Self::SocketIo => format!("ws://127.0.0.1:{port}/socket.io/?EIO=4&transport=websocket"),
        };
        let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
        if self == Self::SocketIo {
            let open = ws.next().await.unwrap().unwrap();
            assert!(open.to_text().unwrap().starts_with('0'), "{open:?}");
            ws.send(Message::text(format!("40/chat,{}", json!({"token": token})))).await.unwrap();
        }
        self.next_event(&mut ws, "connected").await;
        ws
    }

    /// A client event, without a reply id or callback: the server pushes the result as an event.
    fn frame(self, event: &str, data: Value) -> Message {
        Message::text(match self {
            Self::Chat => json!({"event": event, "data": data}).to_string(),
            Self::SocketIo => format!("42/chat,{}", json!([event, data])),
        })
    }

    fn read(self, text: &str) -> Read {
        match self {
            Self::Chat => {
                let mut value: Value = serde_json::from_str(text).unwrap();
                match value["event"].as_str() {
                    Some(event) => Read::Event(event.to_owned(), value["data"].take()),
                    None => Read::Other,
                }
            }
            Self::SocketIo if text == "2" => Read::Ping,
            Self::SocketIo => match text.strip_prefix("42/chat,") {
                Some(args) => {
                    let mut args: Value = serde_json::from_str(args).unwrap();
                    Read::Event(args[0].as_str().unwrap().to_owned(), args[1].take())
                }
                None => Read::Other,
            },
        }
    }

    /// The data of the next `event`, answering pings on the way.
    async fn next_event(self, ws: &mut Ws, event: &str) -> Value {
        loop {
            let message = tokio::time::timeout(Duration::from_secs(30), ws.next()).await.unwrap().unwrap().unwrap();
            let Message::Text(text) = message else { continue };
            match self.read(text.as_str()) {
                Read::Event(name, data) if name == event => return data,
                Read::Ping => ws.send(Message::text("3")).await.unwrap(),
                _ => {}
            }
        }
    }
}

/// What the receivers saw: latencies (µs) of messages sent in the measured window, and which
/// (sender, number) arrived, to find losses and duplicates.
#[derive(Default)]
struct Seen {
    latencies: Vec<u64>,
    /// Messages received while the window lasted, whenever sent: the delivery rate.
    received_in_window: u64,
    arrived: HashSet<(usize, u64)>,
    duplicates: u64,
}

/// Latencies (sorted, µs), messages sent in the window, of those delivered, received in the
/// window, duplicates.
async fn delivery(
    wire: Wire,
    ports: [u16; 2],
    tokens: &[String],
    ids: &[Uuid],
    rate: u64,
    warmup: u64,
    seconds: u64,
) -> (Vec<u64>, u64, u64, u64, u64) {
    let base = Instant::now();
    let seen = Arc::new(Mutex::new(Seen::default()));
    // Connect every pair (a on the first replica, b on the second) and make their chat.
    let mut sockets = Vec::new();
    for pair in 0..PAIRS {
        let (a, b) = (2 * pair, 2 * pair + 1);
        let mut wa = wire.connect(ports[0], &tokens[a]).await;
        let mut wb = wire.connect(ports[1], &tokens[b]).await;
        wa.send(wire.frame("start_private_chat", json!({"user_id": ids[b]}))).await.unwrap();
        let chat = wire.next_event(&mut wa, "private_chat_room_created").await["chat_id"].as_str().unwrap().to_owned();
        wire.next_event(&mut wb, "private_chat_room_created").await;
        sockets.push((a, wa, chat.clone()));
        sockets.push((b, wb, chat));
    }
    let per_user = rate as f64 / sockets.len() as f64;
    let measure_from = warmup * 1_000_000;
    let measure_to = measure_from + seconds * 1_000_000;
    let sent_measured = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut tasks = Vec::new();
    for (me, ws, chat) in sockets {
        let (mut sink, mut stream) = ws.split();
        let seen = seen.clone();
        let me_id = ids[me].to_string();
        // Engine.IO pings reach the reader; the writer answers them.
        let (pong, mut pongs) = tokio::sync::mpsc::unbounded_channel::<()>();
        // Reader: messages from the peer.
        tasks.push(tokio::spawn(async move {
            while let Ok(Some(Ok(message))) = tokio::time::timeout(Duration::from_secs(5), stream.next()).await {
                let Message::Text(text) = message else { continue };
                let received = base.elapsed().as_micros() as u64;
                let data = match wire.read(text.as_str()) {
                    Read::Event(event, data) if event == "receive_message" => data,
                    Read::Ping => {
                        let _ = pong.send(());
                        continue;
                    }
                    _ => continue,
                };
                if data["sender_id"] == me_id.as_str() {
                    continue;
                }
                let content = data["content"].as_str().unwrap();
                let mut parts = content.split(' ');
                let sender: usize = parts.next().unwrap().parse().unwrap();
                let number: u64 = parts.next().unwrap().parse().unwrap();
                let sent_at: u64 = parts.next().unwrap().parse().unwrap();
                let mut seen = seen.lock().unwrap();
                if !seen.arrived.insert((sender, number)) {
                    seen.duplicates += 1;
                }
                if (measure_from..measure_to).contains(&sent_at) {
                    seen.latencies.push(received.saturating_sub(sent_at));
                }
                if (measure_from..measure_to).contains(&received) {
                    seen.received_in_window += 1;
                }
            }
        }));
        // Writer: a fixed rate, spread over the second so the replicas see a steady load.
        let sent_measured = sent_measured.clone();
        tasks.push(tokio::spawn(async move {
            let period = Duration::from_secs_f64(1.0 / per_user);
            let offset = Duration::from_secs_f64(period.as_secs_f64() * (me as f64 / (2 * PAIRS) as f64));
            let mut tick = tokio::time::interval_at(tokio::time::Instant::from_std(base) + offset, period);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
            let mut number = 0u64;
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    Some(()) = pongs.recv() => {
                        sink.send(Message::text("3")).await.unwrap();
                        continue;
                    }
                }
                let now = base.elapsed().as_micros() as u64;
                if now >= measure_to {
                    break;
                }
                let content = format!("{me} {number} {now}");
                sink.send(wire.frame("send_message", json!({"chat_id": chat, "content": content}))).await.unwrap();
                if (measure_from..measure_to).contains(&now) {
                    sent_measured.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
                number += 1;
            }
            // Keep the connection open while the last messages arrive.
            tokio::time::sleep(Duration::from_secs(6)).await;
            drop(sink);
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let seen = std::mem::take(&mut *seen.lock().unwrap());
    let sent = sent_measured.load(std::sync::atomic::Ordering::Relaxed);
    let delivered = seen.latencies.len() as u64;
    (seen.latencies, sent, delivered, seen.received_in_window, seen.duplicates)
}

/// One protocol's delivery figures.
struct Measured {
    p50: Duration,
    p99: Duration,
    delivered_rate: f64,
    sent: u64,
    lost: u64,
    duplicates: u64,
}

async fn measure(wire: Wire, ports: [u16; 2], tokens: &[String], ids: &[Uuid], load: (u64, u64, u64)) -> Measured {
    let (rate, warmup, seconds) = load;
    let (latencies, sent, delivered, in_window, duplicates) =
        delivery(wire, ports, tokens, ids, rate, warmup, seconds).await;
    let latencies = bench::Latencies::new(latencies.into_iter().map(Duration::from_micros).collect());
    Measured {
        p50: latencies.p50(),
        p99: latencies.p99(),
        delivered_rate: in_window as f64 / seconds as f64,
        sent,
        lost: sent.saturating_sub(delivered),
        duplicates,
    }
}

async fn idle_memory(wire: Wire, port: u16, gateway: &Process, tokens: &[String]) -> (u64, u64, usize) {
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = gateway.rss_kib();
    let mut sockets = Vec::with_capacity(tokens.len());
    let mut pending = futures_util::stream::iter(tokens.iter().map(|t| wire.connect(port, t))).buffer_unordered(64);
    while let Some(ws) = pending.next().await {
        sockets.push(ws);
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after = gateway.rss_kib();
    let open = sockets.len();
    drop(sockets);
    (before, after, open)
}

/// `redis-benchmark` PUBLISH on the same Redis: the bus's ceiling.
fn publish_ceiling(port: &str) -> f64 {
    let out = Command::new("redis-benchmark")
        .args(["-p", port, "-n", "200000", "-c", "50", "-q", "PUBLISH", "chat:user:bench", "x".repeat(200).as_str()])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    text.split(['\r', '\n'])
        .filter_map(|line| line.split("requests per second").next()?.rsplit(':').next()?.trim().parse().ok())
        .next_back()
        .unwrap_or_else(|| panic!("no rate in redis-benchmark output:\n{text}"))
}

#[tokio::main]
async fn main() {
    if !bench::invoked_by_cargo_bench() {
        println!("the delivery benchmark runs with scripts/bench");
        return;
    }
    let redis_port = bench::env("BENCH_CHAT_REDIS_PORT");
    let (rate, warmup, seconds, idle) = (
        setting("BENCH_RATE", 2000),
        setting("BENCH_WARMUP_SECONDS", 10),
        setting("BENCH_SECONDS", 20),
        setting("BENCH_IDLE", 10_000),
    );
    let (url, users) = seed(2 * PAIRS + idle as usize).await;
    let key = SigningKey::generate().unwrap();
    let issuer = TokenIssuer::new(
        SigningKey::from_pem(key.to_pem()).unwrap(),
        TokenSettings { issuer: "chat-suite".into(), audience: "chat-suite".into() },
        Duration::from_secs(3600),
    );
    let tokens: Vec<String> =
        users.iter().enumerate().map(|(i, id)| issuer.issue(*id, &format!("bench{i}")).unwrap()).collect();

    let data_dir = std::env::temp_dir().display().to_string();
    let auth_env =
        [("DATABASE_URL", url.clone()), ("DATA_DIR", data_dir.clone()), ("JWT_SIGNING_KEY", key.to_pem().to_owned())];
    let _auth = Process::start(&bench::env("AUTH_API_BIN"), 18281, &auth_env);
    let gateway_env = [
        ("DATABASE_URL", url.clone()),
        ("DATA_DIR", data_dir),
        ("REDIS_URL", format!("redis://127.0.0.1:{redis_port}")),
        ("JWKS_URL", "http://127.0.0.1:18281/.well-known/jwks.json".to_owned()),
        ("WS_RATE_LIMIT_PER_SECOND", "1000".to_owned()),
        ("DATABASE_MAX_CONNECTIONS", "32".to_owned()),
    ];
    let bin = bench::env("CHAT_GATEWAY_BIN");
    let first = Process::start(&bin, 18283, &gateway_env);
    let second = Process::start(&bin, 18284, &gateway_env);
    let (pair_tokens, pair_users) = (&tokens[..2 * PAIRS], &users[..2 * PAIRS]);

    let chat = measure(Wire::Chat, [18283, 18284], pair_tokens, pair_users, (rate, warmup, seconds)).await;
    let latency_met = chat.p99 < Duration::from_millis(20);
    // The profile is taken right away, under the same load, before the idle connections.
    let profile = if latency_met {
        None
    } else {
        let load = delivery(Wire::Chat, [18283, 18284], pair_tokens, pair_users, rate, 4, 8);
        Some(Profile::during(Duration::from_secs(5), Duration::from_secs(6), load).await)
    };
    let sio = measure(Wire::SocketIo, [18283, 18284], pair_tokens, pair_users, (rate, warmup, seconds)).await;

    // Each protocol's idle connections on a replica of its own: memory one freed is not
    // counted against the other.
    let idle_tokens = &tokens[2 * PAIRS..];
    let (before, after, open) =
        if idle > 0 { idle_memory(Wire::Chat, 18283, &first, idle_tokens).await } else { (0, 0, 1) };
    let per_connection = (after.saturating_sub(before)) as f64 / open as f64;
    let (sio_before, sio_after, sio_open) =
        if idle > 0 { idle_memory(Wire::SocketIo, 18284, &second, idle_tokens).await } else { (0, 0, 1) };
    let sio_per_connection = (sio_after.saturating_sub(sio_before)) as f64 / sio_open as f64;
    let ceiling = publish_ceiling(&redis_port);

    let ms = |d: Duration| format!("{:.2} ms", d.as_secs_f64() * 1000.0);
    let mut report = Report::new(
        "4-chat-delivery",
        "chat-gateway: delivery across two replicas, and memory per idle connection",
        format!(
            "`scripts/bench` → `services/chat-gateway/benches/delivery.rs`. A fresh \
             `chat_suite_bench_chat` database, a Redis server of the benchmark's own, the release \
             `auth-api` (for the JWKS) and two release `chat-gateway` processes. {PAIRS} pairs of \
             users, one of each pair on each replica, each chat started over the socket; every user \
             sends to its peer at a fixed rate, {rate} messages/s in all, each message carrying its \
             send time; the receiver on the other replica measures send-to-receive latency and \
             checks that every message arrived once. {warmup} s of warm-up, {seconds} s measured. \
             The same again with the clients on Socket.IO (its WebSocket transport, namespace \
             `/chat`). Then {idle} more users each open one `/chat` connection to the first replica \
             and stay silent: the replica's resident memory before and after; and the same users \
             over Socket.IO to the second replica. The ceiling: `redis-benchmark -c 50 PUBLISH` on \
             the same Redis, in the same run."
        ),
    );
    report
        .row(Row {
            measure: format!("delivered ({rate} messages/s offered)"),
            figure: format!("{:.0} messages/s", chat.delivered_rate),
            ceiling: format!("{ceiling:.0} PUBLISH/s (redis-benchmark, same Redis)"),
            ratio: format!("{} (each message is 2 PUBLISHes)", percent(2.0 * chat.delivered_rate / ceiling)),
            goal: String::new(),
            met: None,
        })
        .row(Row {
            measure: "send-to-receive latency p99".into(),
            figure: ms(chat.p99),
            ceiling: format!("p50 {}", ms(chat.p50)),
            ratio: String::new(),
            goal: "< 20 ms".into(),
            met: Some(latency_met),
        })
        .row(Row {
            measure: "messages lost or duplicated".into(),
            figure: format!("{} lost, {} duplicated of {}", chat.lost, chat.duplicates, chat.sent),
            ceiling: String::new(),
            ratio: String::new(),
            goal: "none".into(),
            met: Some(chat.lost == 0 && chat.duplicates == 0),
        })
        .row(Row {
            measure: "memory per idle connection".into(),
            figure: format!("{per_connection:.1} KiB"),
            ceiling: format!("{open} connections: RSS {before} → {after} KiB"),
            ratio: String::new(),
            goal: "≤ 16 KiB".into(),
            met: Some(per_connection <= 16.0),
        })
        .row(Row {
            measure: "Socket.IO: delivered".into(),
            figure: format!("{:.0} messages/s", sio.delivered_rate),
            ceiling: format!("{:.0} messages/s over /chat", chat.delivered_rate),
            ratio: percent(sio.delivered_rate / chat.delivered_rate),
            goal: String::new(),
            met: None,
        })
        .row(Row {
            measure: "Socket.IO: send-to-receive latency p99".into(),
            figure: ms(sio.p99),
            ceiling: format!("p50 {}; /chat p50 {}, p99 {}", ms(sio.p50), ms(chat.p50), ms(chat.p99)),
            ratio: String::new(),
            goal: String::new(),
            met: None,
        })
        .row(Row {
            measure: "Socket.IO: messages lost or duplicated".into(),
            figure: format!("{} lost, {} duplicated of {}", sio.lost, sio.duplicates, sio.sent),
            ceiling: String::new(),
            ratio: String::new(),
            goal: "none".into(),
            met: Some(sio.lost == 0 && sio.duplicates == 0),
        })
        .row(Row {
            measure: "Socket.IO: memory per idle connection".into(),
            figure: format!("{sio_per_connection:.1} KiB"),
            ceiling: format!("{sio_open} connections: RSS {sio_before} → {sio_after} KiB"),
            ratio: String::new(),
            goal: String::new(),
            met: None,
        })
        .explanation(include_str!("delivery.md"));
    if let Some(profile) = profile {
        report.profile(profile);
    }
    report.write();
}
