//! Message delivery across two replicas, side by side with a Socket.IO peer driven the same
//! way in the same run, and the memory an idle connection costs. Run by `scripts/bench`,
//! which builds the release binaries, installs the peer and passes their paths.
//!
//! Delivery: `PAIRS` pairs of users, one of each pair on each of two server processes; every
//! user sends to its peer at a fixed rate, the sends spread evenly over each period, so the
//! total is the offered rate. Each message carries its send time; the receiver measures
//! send-to-receive latency and checks that every message arrived once. The load generator is
//! this process, outside every server: it drives chat-suite's two gateways (over `/chat`, then
//! over Socket.IO) and the peer's two Node processes (Socket.IO 4 with the Redis adapter,
//! `testkit/socketio-peer`) with the same code and the same pacing. While the load runs, the
//! CPU time of every process involved is read from `/proc`, so each system's cost per delivered
//! message is known, program by program. Then the offered rate climbs until p99 passes 100 ms,
//! for both systems, and chat-suite is driven past that point to see how it bears overload.
//!
//! Memory: `BENCH_IDLE` users each open one connection to one gateway and stay silent; the
//! gateway's resident memory before and after, divided by the connections.
//!
//! Redis Cluster: the main load again on two more gateways whose Redis is a cluster of three
//! masters and three replicas, and what crossed the cluster's bus (`delivery/cluster.rs`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "delivery/cluster.rs"]
mod cluster;
#[path = "common/seed.rs"]
mod seed;
#[path = "common/wire.rs"]
mod wire;

use std::{
    collections::HashSet,
    process::Command,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use auth_api::tokens::{SigningKey, TokenIssuer};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use shared::config::TokenSettings;
use testkit::bench::{self, CpuTimes, Process, Profile, Report, Row, percent, setting};
use tokio_tungstenite::tungstenite::Message;
use uuid::Uuid;
use wire::{Read, Wire};

const PAIRS: usize = 100;
/// The latency the rate sweep looks for: past it, a chat feels slow.
const SLOW: Duration = Duration::from_millis(100);
/// Offered rates of the sweep, messages/s in all.
const SWEEP: [u64; 8] = [1000, 2000, 3000, 4000, 6000, 8000, 12000, 16000];

/// A system under load: two server processes and the protocol to speak to them.
struct Target {
    name: &'static str,
    wire: Wire,
    ports: [u16; 2],
    /// The server processes' ids, and what to call them in the CPU table.
    servers: [u32; 2],
    program: &'static str,
}

impl Target {
    /// Which group of the CPU table a process belongs to, if any: the servers, what they use
    /// (PostgreSQL's processes, Redis), and this load generator.
    fn group(&self, pid: u32, name: &str) -> Option<String> {
        if pid == std::process::id() {
            Some("load generator".to_owned())
        } else if self.servers.contains(&pid) {
            Some(self.program.to_owned())
        } else if name == "postgres" || name == "redis-server" {
            Some(name.to_owned())
        } else {
            None
        }
    }
}

/// The offered load: messages per second in all, seconds of warm-up, seconds measured.
#[derive(Debug, Clone, Copy)]
struct Load {
    rate: u64,
    warmup: u64,
    seconds: u64,
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
    /// Sends the server refused as overloaded (not stored, the client told).
    refused: u64,
}

/// What one load measured.
struct Outcome {
    load: Load,
    p50: Duration,
    p99: Duration,
    /// Messages received per second of the window.
    delivered_rate: f64,
    /// Messages sent in the window.
    sent: u64,
    /// Sent in the window, neither delivered nor refused.
    lost: u64,
    duplicates: u64,
    refused: u64,
    /// CPU time per group of processes over the window, largest first.
    cpu: Vec<(String, Duration)>,
}

impl Outcome {
    /// CPU time of every process involved per message delivered in the window.
    fn cpu_per_message(&self) -> Duration {
        self.cpu_of(|_| true)
    }

    fn cpu_of(&self, wanted: impl Fn(&str) -> bool) -> Duration {
        let spent: Duration = self.cpu.iter().filter(|(name, _)| wanted(name)).map(|(_, d)| *d).sum();
        let delivered = (self.delivered_rate * self.load.seconds as f64).max(1.0);
        spent.div_f64(delivered)
    }

    fn kept_up(&self) -> bool {
        self.p99 <= SLOW && self.delivered_rate >= 0.95 * self.load.rate as f64
    }
}

/// Runs `load` against `target`: connects every pair (a on the first process, b on the
/// second), makes their chats, sends, waits until nothing more arrives. `None` when the
/// target does not take the connections (a peer that fell over).
async fn deliver(target: &Target, tokens: &[String], ids: &[Uuid], load: Load) -> Option<Outcome> {
    let wire = target.wire;
    let seen = Arc::new(Mutex::new(Seen::default()));
    let mut sockets = Vec::new();
    for pair in 0..PAIRS {
        let (a, b) = (2 * pair, 2 * pair + 1);
        let mut wa =
            wire.connect(target.ports[0], &tokens[a]).await.map_err(|e| eprintln!("{}: {e}", target.name)).ok()?;
        let mut wb =
            wire.connect(target.ports[1], &tokens[b]).await.map_err(|e| eprintln!("{}: {e}", target.name)).ok()?;
        wa.send(wire.frame("start_private_chat", json!({"user_id": ids[b]}))).await.ok()?;
        let chat = wire.next_event(&mut wa, "private_chat_room_created").await.ok()?["chat_id"].as_str()?.to_owned();
        wire.next_event(&mut wb, "private_chat_room_created").await.ok()?;
        sockets.push((a, wa, chat.clone()));
        sockets.push((b, wb, chat));
    }
    // The clock starts once everyone is connected.
    let base = Instant::now();
    let per_user = load.rate as f64 / sockets.len() as f64;
    let measure_from = load.warmup * 1_000_000;
    let measure_to = measure_from + load.seconds * 1_000_000;
    let sent_measured = Arc::new(AtomicU64::new(0));
    let cpu = {
        let (from, to) = (base + Duration::from_secs(load.warmup), base + Duration::from_micros(measure_to));
        tokio::spawn(async move {
            tokio::time::sleep_until(from.into()).await;
            let before = tokio::task::spawn_blocking(CpuTimes::read).await.unwrap();
            tokio::time::sleep_until(to.into()).await;
            let after = tokio::task::spawn_blocking(CpuTimes::read).await.unwrap();
            (before, after)
        })
    };
    let mut tasks = Vec::new();
    let users = sockets.len();
    for (me, ws, chat) in sockets {
        let (mut sink, mut stream) = ws.split();
        let (seen, window) = (seen.clone(), measure_from..measure_to);
        let me_id = ids[me].to_string();
        // Engine.IO pings reach the reader; the writer answers them.
        let (pong, mut pongs) = tokio::sync::mpsc::unbounded_channel::<()>();
        // Reader: messages from the peer, until the connection has been quiet for 5 s.
        tasks.push(tokio::spawn(async move {
            while let Ok(Some(Ok(message))) = tokio::time::timeout(Duration::from_secs(5), stream.next()).await {
                let Message::Text(text) = message else { continue };
                let received = base.elapsed().as_micros() as u64;
                let data = match wire.read(text.as_str()) {
                    Read::Event(event, data) if event == "receive_message" => data,
                    Read::Event(event, data) if event == "error" && data["code"] == "overloaded" => {
                        seen.lock().unwrap().refused += 1;
                        continue;
                    }
                    Read::Ping => {
                        let _ = pong.send(());
                        continue;
                    }
                    _ => continue,
                };
                if data["sender_id"] == me_id.as_str() {
                    continue;
                }
                let mut parts = data["content"].as_str().unwrap_or_default().split(' ');
                let mut field = || parts.next().and_then(|p| p.parse::<u64>().ok());
                let (Some(sender), Some(number), Some(sent_at)) = (field(), field(), field()) else { continue };
                let mut seen = seen.lock().unwrap();
                if !seen.arrived.insert((sender as usize, number)) {
                    seen.duplicates += 1;
                }
                if window.contains(&sent_at) {
                    seen.latencies.push(received.saturating_sub(sent_at));
                }
                if window.contains(&received) {
                    seen.received_in_window += 1;
                }
            }
        }));
        // Writer: a fixed rate, spread over the period so the servers see a steady load.
        let (sent_measured, window) = (sent_measured.clone(), measure_from..measure_to);
        tasks.push(tokio::spawn(async move {
            let period = Duration::from_secs_f64(1.0 / per_user);
            let offset = period.mul_f64(me as f64 / users as f64);
            let mut tick = tokio::time::interval_at(tokio::time::Instant::from_std(base) + offset, period);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
            let mut number = 0u64;
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    Some(()) = pongs.recv() => {
                        if sink.send(Message::text("3")).await.is_err() { break }
                        continue;
                    }
                }
                let now = base.elapsed().as_micros() as u64;
                if now >= measure_to {
                    break;
                }
                let content = format!("{me} {number} {now}");
                if sink.send(wire.frame("send_message", json!({"chat_id": chat, "content": content}))).await.is_err() {
                    break;
                }
                if window.contains(&now) {
                    sent_measured.fetch_add(1, Ordering::Relaxed);
                }
                number += 1;
            }
            // Pings keep being answered while the last messages arrive.
            let quiet = tokio::time::sleep(Duration::from_secs(30));
            tokio::pin!(quiet);
            loop {
                tokio::select! {
                    () = &mut quiet => break,
                    pong = pongs.recv() => match pong {
                        Some(()) => if sink.send(Message::text("3")).await.is_err() { break },
                        None => break,
                    },
                }
            }
        }));
    }
    // The readers end when the connections go quiet; the writers with them.
    let (readers, writers): (Vec<_>, Vec<_>) = tasks.into_iter().enumerate().partition(|(i, _)| i % 2 == 0);
    for (_, reader) in readers {
        reader.await.unwrap();
    }
    for (_, writer) in writers {
        writer.abort();
    }
    let (before, after) = cpu.await.unwrap();
    let mut cpu = after.spent_since(&before, |pid, name| target.group(pid, name));
    cpu.sort_by_key(|(_, spent)| std::cmp::Reverse(*spent));
    let seen = std::mem::take(&mut *seen.lock().unwrap());
    let sent = sent_measured.load(Ordering::Relaxed);
    let delivered = seen.latencies.len() as u64;
    let latencies = bench::Latencies::new(seen.latencies.into_iter().map(Duration::from_micros).collect());
    Some(Outcome {
        load,
        p50: latencies.p50(),
        p99: latencies.p99(),
        delivered_rate: seen.received_in_window as f64 / load.seconds as f64,
        sent,
        lost: sent.saturating_sub(delivered + seen.refused),
        duplicates: seen.duplicates,
        refused: seen.refused,
        cpu,
    })
}

/// What the Node load generator (`testkit/socketio-peer/loadgen.cjs`) measured.
struct NodeOutcome {
    p50: Duration,
    p99: Duration,
    sent: u64,
    lost: u64,
    /// The generator's own event-loop delay, p99: its own queueing, counted in the latencies.
    loop_delay: Duration,
}

/// The same load from the Node generator: what a client written in Node measures.
fn deliver_from_node(
    target: &Target,
    peer_dir: &str,
    tokens: &[String],
    ids: &[Uuid],
    load: Load,
) -> Option<NodeOutcome> {
    let user = |i: usize| json!({"id": ids[i], "token": tokens[i]});
    let config = json!({
        "wire": match target.wire { Wire::Chat => "chat", Wire::SocketIo => "socketio" },
        "ports": target.ports,
        "pairs": (0..PAIRS).map(|p| json!({"a": user(2 * p), "b": user(2 * p + 1)})).collect::<Vec<_>>(),
        "rate": load.rate,
        "warmup": load.warmup,
        "seconds": load.seconds,
    });
    let file = std::env::temp_dir().join(format!("chat-suite-loadgen-{}.json", std::process::id()));
    std::fs::write(&file, config.to_string()).unwrap();
    let out = Command::new("node").arg(format!("{peer_dir}/loadgen.cjs")).arg(&file).output().unwrap();
    let _ = std::fs::remove_file(&file);
    if !out.status.success() {
        eprintln!("{}: the Node load generator failed: {}", target.name, String::from_utf8_lossy(&out.stderr));
        return None;
    }
    let report: Value = serde_json::from_slice(&out.stdout).ok()?;
    let micros = |key: &str| Duration::from_micros(report[key].as_u64().unwrap_or(0));
    Some(NodeOutcome {
        p50: micros("p50_us"),
        p99: micros("p99_us"),
        sent: report["sent"].as_u64()?,
        lost: report["lost"].as_u64()?,
        loop_delay: Duration::from_secs_f64(report["event_loop_p99_ms"].as_f64().unwrap_or(0.0) / 1000.0),
    })
}

/// The offered rate climbs until p99 passes `SLOW` (or delivery falls behind): the points
/// measured, the last one past it. A target that stops taking connections ends the sweep.
async fn sweep(target: &Target, tokens: &[String], ids: &[Uuid], warmup: u64, seconds: u64) -> Vec<Outcome> {
    let mut points = Vec::new();
    for rate in SWEEP {
        let Some(point) = deliver(target, tokens, ids, Load { rate, warmup, seconds }).await else { break };
        let kept_up = point.kept_up();
        points.push(point);
        if !kept_up {
            break;
        }
    }
    points
}

/// The highest rate of a sweep at which p99 stayed within `SLOW`, and the one past it.
fn knee(points: &[Outcome]) -> (u64, Option<u64>) {
    let held = points.iter().take_while(|p| p.kept_up()).map(|p| p.load.rate).last().unwrap_or(0);
    (held, points.iter().find(|p| !p.kept_up()).map(|p| p.load.rate))
}

async fn idle_memory(wire: Wire, port: u16, gateway: &Process, tokens: &[String]) -> (u64, u64, usize) {
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = gateway.rss_kib();
    let mut sockets = Vec::with_capacity(tokens.len());
    let mut pending = futures_util::stream::iter(tokens.iter().map(|t| wire.connect(port, t))).buffer_unordered(64);
    while let Some(ws) = pending.next().await {
        sockets.push(ws.unwrap());
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

async fn metrics_text(port: u16) -> String {
    let client = shared::http_client::builder().build().unwrap();
    client.get(format!("http://127.0.0.1:{port}/metrics")).send().await.unwrap().text().await.unwrap()
}

/// A gateway's counter from its `/metrics` (0 when absent).
async fn metric(port: u16, name: &str) -> f64 {
    metrics_text(port)
        .await
        .lines()
        .filter(|line| line.split([' ', '{']).next() == Some(name))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// The gateways' own account of storing, from their `/metrics`: how long messages took from
/// their frame to their commit (`chat_suite_ws_store_seconds`), and how many shared a batch.
#[derive(Debug, Default)]
struct Storing {
    /// Cumulative counts by upper bound, in seconds.
    buckets: Vec<(f64, f64)>,
    sum: f64,
    count: f64,
    messages: f64,
    batches: f64,
}

impl Storing {
    async fn read(ports: [u16; 2]) -> Self {
        let mut total = Self::default();
        for port in ports {
            for line in metrics_text(port).await.lines() {
                let Some((key, value)) = line.rsplit_once(' ') else { continue };
                let Ok(value) = value.parse::<f64>() else { continue };
                if let Some(le) = key.strip_prefix("chat_suite_ws_store_seconds_bucket{le=\"") {
                    let le = le.trim_end_matches("\"}").parse().unwrap_or(f64::INFINITY);
                    match total.buckets.iter_mut().find(|(bound, _)| *bound == le) {
                        Some((_, n)) => *n += value,
                        None => total.buckets.push((le, value)),
                    }
                    continue;
                }
                match key {
                    "chat_suite_ws_store_seconds_sum" => total.sum += value,
                    "chat_suite_ws_store_seconds_count" => total.count += value,
                    "chat_suite_ws_messages_total" => total.messages += value,
                    "chat_suite_ws_batches_total" => total.batches += value,
                    _ => {}
                }
            }
        }
        total.buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
        total
    }

    /// What happened between `before` and this reading.
    fn since(mut self, before: &Self) -> Self {
        for (bound, n) in &mut self.buckets {
            *n -= before.buckets.iter().find(|(b, _)| b == bound).map_or(0.0, |(_, n)| *n);
        }
        self.sum -= before.sum;
        self.count -= before.count;
        self.messages -= before.messages;
        self.batches -= before.batches;
        self
    }

    /// The bucket bound under which a share `q` of the messages were stored.
    fn quantile_bound(&self, q: f64) -> String {
        match self.buckets.iter().find(|(_, n)| *n >= q * self.count) {
            Some((bound, _)) if bound.is_finite() => format!("≤ {}", ms(Duration::from_secs_f64(*bound))),
            _ => "over the last bucket".into(),
        }
    }

    fn summary(&self) -> String {
        format!(
            "p50 {}, p99 {}, mean {}",
            self.quantile_bound(0.5),
            self.quantile_bound(0.99),
            ms(Duration::from_secs_f64(self.sum / self.count.max(1.0)))
        )
    }
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn us(d: Duration) -> String {
    format!("{:.0} µs", d.as_secs_f64() * 1e6)
}

/// The side-by-side table of the main load: one column per system.
fn side_by_side(columns: &[(&str, &Outcome)]) -> String {
    let mut out = String::from("| | ");
    out.push_str(&columns.iter().map(|(name, _)| *name).collect::<Vec<_>>().join(" | "));
    out.push_str(" |\n| --- |");
    out.push_str(&" --- |".repeat(columns.len()));
    out.push('\n');
    let row = |out: &mut String, label: &str, cell: &dyn Fn(&Outcome) -> String| {
        out.push_str(&format!("| {label} | "));
        out.push_str(&columns.iter().map(|(_, o)| cell(o)).collect::<Vec<_>>().join(" | "));
        out.push_str(" |\n");
    };
    row(&mut out, "delivered", &|o| format!("{:.0} /s", o.delivered_rate));
    row(&mut out, "p50", &|o| ms(o.p50));
    row(&mut out, "p99", &|o| ms(o.p99));
    row(&mut out, "lost, duplicated, refused as overloaded", &|o| {
        format!("{}, {}, {} of {}", o.lost, o.duplicates, o.refused, o.sent)
    });
    row(&mut out, "**CPU per delivered message, all processes**", &|o| format!("**{}**", us(o.cpu_per_message())));
    let mut programs: Vec<&str> = Vec::new();
    for (_, o) in columns {
        for (name, _) in &o.cpu {
            if !programs.contains(&name.as_str()) {
                programs.push(name);
            }
        }
    }
    for program in programs {
        row(&mut out, &format!("… {program}"), &|o| us(o.cpu_of(|name| name == program)));
    }
    out
}

/// What 1 M connected users and 50,000 messages/s would take, from this run's per-message and
/// per-connection figures: a first sizing, linear, before any headroom.
fn capacity_model(
    main: &Outcome,
    storing: &Storing,
    kib_per_connection: f64,
    publish_ceiling: f64,
    publishes_per_message: f64,
) -> String {
    const USERS: f64 = 1_000_000.0;
    const RATE: f64 = 50_000.0;
    let cores = |program: &str| main.cpu_of(|name| name == program).as_secs_f64() * RATE;
    let per_batch = storing.messages / storing.batches.max(1.0);
    let memory_gib = USERS * kib_per_connection / (1024.0 * 1024.0);
    let publishes = RATE * publishes_per_message;
    format!(
        "Capacity model, from this run (linear, no headroom): what 1,000,000 connected users and \
         50,000 messages/s would need.\n\n\
         | part | measured here | for 1 M users, 50,000 messages/s |\n| --- | --- | --- |\n\
         | gateway memory | {kib_per_connection:.1} KiB per idle connection | {memory_gib:.1} GiB in all: 20 replicas of 50,000 connections, {:.2} GiB each |\n\
         | gateway CPU | {} per message | {:.1} cores |\n\
         | Redis | {publishes_per_message:.2} publishes per message; one server took {publish_ceiling:.0} PUBLISH/s (`redis-benchmark`) | {publishes:.0} publishes/s: {:.1} servers' worth at their ceiling, so a cluster (24 partitions spread them; keep each master under half its ceiling: {:.0} masters) |\n\
         | Redis CPU | {} per message | {:.1} cores |\n\
         | Postgres | {} per message, {per_batch:.1} messages per commit | {:.1} cores and {:.0} commits/s on the primary (writes do not spread over read replicas) |\n\n\
         Writes stay on one primary: past what one can commit, chats would be spread over several \
         databases, which the per-chat resume positions already allow.",
        memory_gib / 20.0,
        us(main.cpu_of(|name| name == "chat-gateway")),
        cores("chat-gateway"),
        publishes / publish_ceiling.max(1.0),
        (2.0 * publishes / publish_ceiling.max(1.0)).ceil().max(3.0),
        us(main.cpu_of(|name| name == "redis-server")),
        cores("redis-server"),
        us(main.cpu_of(|name| name == "postgres")),
        cores("postgres"),
        RATE / per_batch.max(1.0),
    )
}

fn node_table(runs: &[(&str, Option<NodeOutcome>)]) -> String {
    let mut out = String::from(
        "| system | p50 | p99 | lost | the generator's event-loop delay, p99 |\n| --- | --- | --- | --- | --- |\n",
    );
    for (name, run) in runs {
        match run {
            Some(o) => out.push_str(&format!(
                "| {name} | {} | {} | {} of {} | {} |\n",
                ms(o.p50),
                ms(o.p99),
                o.lost,
                o.sent,
                ms(o.loop_delay)
            )),
            None => out.push_str(&format!("| {name} | the generator failed (see the run's output) | | | |\n")),
        }
    }
    out
}

fn sweep_table(columns: &[(&str, &[Outcome])]) -> String {
    let mut out = String::from(
        "| offered | system | delivered | p50 | p99 | lost | refused | CPU per message |\n| --- | --- | --- | --- | --- | --- | --- | --- |\n",
    );
    for rate in SWEEP {
        for (name, points) in columns {
            if let Some(o) = points.iter().find(|p| p.load.rate == rate) {
                out.push_str(&format!(
                    "| {rate} /s | {name} | {:.0} /s | {} | {} | {} | {} | {} |\n",
                    o.delivered_rate,
                    ms(o.p50),
                    ms(o.p99),
                    o.lost,
                    o.refused,
                    us(o.cpu_per_message())
                ));
            }
        }
    }
    out
}

#[tokio::main]
async fn main() {
    if !bench::invoked_by_cargo_bench() {
        println!("the delivery benchmark runs with scripts/bench");
        return;
    }
    let redis_port = bench::env("BENCH_CHAT_REDIS_PORT");
    let peer_dir = bench::env("BENCH_SOCKETIO_PEER");
    let (rate, warmup, seconds, idle) = (
        setting("BENCH_RATE", 2000),
        setting("BENCH_WARMUP_SECONDS", 10),
        setting("BENCH_SECONDS", 20),
        setting("BENCH_IDLE", 10_000),
    );
    let (sweep_warmup, sweep_seconds) = (setting("BENCH_SWEEP_WARMUP_SECONDS", 3), setting("BENCH_SWEEP_SECONDS", 8));
    let (url, users) = seed::users("chat_suite_bench_chat", 2 * PAIRS + idle as usize).await;
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
    // Every setting as shipped but the per-connection frame limit: the sweep's top rate is
    // 40 frames a second per user, twice the default.
    let gateway_env = [
        ("DATABASE_URL", url.clone()),
        ("DATA_DIR", data_dir),
        ("REDIS_URL", format!("redis://127.0.0.1:{redis_port}")),
        ("JWKS_URL", "http://127.0.0.1:18281/.well-known/jwks.json".to_owned()),
        ("WS_RATE_LIMIT_PER_SECOND", "1000".to_owned()),
    ];
    let bin = bench::env("CHAT_GATEWAY_BIN");
    let first = Process::start(&bin, 18283, &gateway_env);
    let second = Process::start(&bin, 18284, &gateway_env);
    let redis_url = format!("redis://127.0.0.1:{redis_port}");
    let peer = |port: u16| {
        let mut node = Command::new("node");
        node.arg(format!("{peer_dir}/server.cjs")).arg(port.to_string()).arg(&redis_url);
        Process::spawn(node, port)
    };
    let (peer_a, peer_b) = (peer(18390), peer(18391));
    let chat_suite = |name, wire| Target {
        name,
        wire,
        ports: [18283, 18284],
        servers: [first.pid(), second.pid()],
        program: "chat-gateway",
    };
    let ours = chat_suite("chat-suite /chat", Wire::Chat);
    let ours_sio = chat_suite("chat-suite Socket.IO", Wire::SocketIo);
    let theirs = Target {
        name: "Socket.IO peer",
        wire: Wire::SocketIo,
        ports: [18390, 18391],
        servers: [peer_a.pid(), peer_b.pid()],
        program: "node (Socket.IO peer)",
    };
    let (pair_tokens, pair_users) = (&tokens[..2 * PAIRS], &users[..2 * PAIRS]);
    let main_load = Load { rate, warmup, seconds };

    // The main load, each system in turn; then the sweeps, the same order.
    let storing_before = Storing::read(ours.ports).await;
    let chat = deliver(&ours, pair_tokens, pair_users, main_load).await.expect("chat-suite took no connections");
    let storing = Storing::read(ours.ports).await.since(&storing_before);
    let sio = deliver(&ours_sio, pair_tokens, pair_users, main_load).await.expect("chat-suite took no connections");
    let peer_main = deliver(&theirs, pair_tokens, pair_users, main_load).await.expect("the peer took no connections");
    // The same load again from the Node generator, for both systems.
    let node_load = Load { rate, warmup, seconds: seconds.min(10) };
    let from_node = [
        ("chat-suite /chat", deliver_from_node(&ours, &peer_dir, pair_tokens, pair_users, node_load)),
        ("Socket.IO peer", deliver_from_node(&theirs, &peer_dir, pair_tokens, pair_users, node_load)),
    ];
    // The main load once more, on two more gateways whose Redis is a cluster; then classic
    // PUBLISH of as many messages on the same cluster, for what a broadcast costs its bus.
    let bus = tokio::task::spawn_blocking(|| cluster::Bus::start(10)).await.unwrap();
    let cluster_env: Vec<(&str, String)> = gateway_env
        .iter()
        .map(|(k, v)| (*k, if *k == "REDIS_URL" { bus.cluster.service_url() } else { v.clone() }))
        .collect();
    let (third, fourth) = (Process::start(&bin, 18285, &cluster_env), Process::start(&bin, 18286, &cluster_env));
    let on_cluster = Target {
        name: "chat-suite /chat, Redis Cluster",
        wire: Wire::Chat,
        ports: [18285, 18286],
        servers: [third.pid(), fourth.pid()],
        program: "chat-gateway",
    };
    let mark = bus.mark("SPUBLISH");
    let clustered =
        deliver(&on_cluster, pair_tokens, pair_users, main_load).await.expect("chat-suite took no connections");
    let sharded = bus.since(&mark, "SPUBLISH");
    // The same size as ours, less the command's framing (about 80 bytes with the channel).
    let classic =
        bus.classic_publish(sharded.publishes, (sharded.bytes_in_per_publish as usize).saturating_sub(80).max(1));
    drop((third, fourth, bus));

    let our_sweep = sweep(&ours, pair_tokens, pair_users, sweep_warmup, sweep_seconds).await;
    let peer_sweep = sweep(&theirs, pair_tokens, pair_users, sweep_warmup, sweep_seconds).await;
    // Past the knee: twice the rate ours held, or the sweep's top.
    let (our_knee, our_past) = knee(&our_sweep);
    let (peer_knee, peer_past) = knee(&peer_sweep);
    let overload_rate = (2 * our_knee).clamp(SWEEP[1], SWEEP[SWEEP.len() - 1]);
    let overloaded_before =
        metric(18283, "chat_suite_ws_overloaded_total").await + metric(18284, "chat_suite_ws_overloaded_total").await;
    let overload = deliver(
        &ours,
        pair_tokens,
        pair_users,
        Load { rate: overload_rate, warmup: sweep_warmup, seconds: sweep_seconds },
    )
    .await
    .expect("chat-suite took no connections");
    let overloaded_metric = metric(18283, "chat_suite_ws_overloaded_total").await
        + metric(18284, "chat_suite_ws_overloaded_total").await
        - overloaded_before;

    let latency_met = chat.p99 <= peer_main.p99;
    let cpu_ratio = chat.cpu_per_message().as_secs_f64() / peer_main.cpu_per_message().as_secs_f64().max(1e-9);
    let cpu_met = cpu_ratio <= 1.2;
    let knee_met = our_knee >= peer_knee;
    let overload_met = overload.lost == 0 && overload.duplicates == 0 && (overload.kept_up() || overload.refused > 0);
    // The profile is taken when a goal is missed, under the main load, before the idle connections.
    let profile = if latency_met && cpu_met && knee_met {
        None
    } else {
        let load = deliver(&ours, pair_tokens, pair_users, Load { rate, warmup: 4, seconds: 8 });
        Some(Profile::during(Duration::from_secs(5), Duration::from_secs(6), load).await)
    };
    drop((peer_a, peer_b));

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

    let mut report = Report::new(
        "4-chat-delivery",
        "chat-gateway: delivery across two replicas next to a Socket.IO peer, and memory per idle connection",
        format!(
            "`scripts/bench` → `services/chat-gateway/benches/delivery.rs`. A fresh \
             `chat_suite_bench_chat` database, a Redis server of the benchmark's own, the release \
             `auth-api` (for the JWKS) and two release `chat-gateway` processes, every setting as \
             shipped but `WS_RATE_LIMIT_PER_SECOND`; next to them the Socket.IO peer: two Node \
             processes of `testkit/socketio-peer/server.cjs` (Socket.IO 4 with \
             `@socket.io/redis-adapter` on the same Redis; it stores nothing). The load generator \
             is the benchmark's process, outside every server, the same code for every system: \
             {PAIRS} pairs of users, one of each pair on each process, each chat started over \
             the socket; every user sends to its peer at a fixed rate, sends spread evenly over \
             the period, each message carrying its send time; the receiver on the other process \
             measures send-to-receive latency and checks that every message arrived once. Main \
             load: {rate} messages/s, {warmup} s of warm-up, {seconds} s measured, chat-suite over \
             `/chat`, over Socket.IO, then the peer. CPU: user and system time of every process \
             of each system (servers, every PostgreSQL process, Redis, the load generator) from \
             `/proc` over the measured window, divided by the messages delivered in it. Sweep: \
             {SWEEP:?} messages/s ({sweep_warmup} s + {sweep_seconds} s each) until p99 passes \
             {} ms or delivery falls below 95 % of the offer; then chat-suite at twice the rate \
             it held. Memory: {idle} more users each open one `/chat` connection to the first \
             replica and stay silent; the replica's resident memory before and after; the same \
             over Socket.IO to the second. The bus's ceiling: `redis-benchmark -c 50 PUBLISH` on \
             the same Redis.",
            SLOW.as_millis()
        ),
    );
    let past = |p: Option<u64>| p.map_or("not reached".to_owned(), |r| format!("passed at {r} /s"));
    report
        .row(Row {
            measure: format!("/chat p99 at {rate} messages/s, against the Socket.IO peer's"),
            figure: ms(chat.p99),
            ceiling: format!("{} (peer)", ms(peer_main.p99)),
            ratio: percent(chat.p99.as_secs_f64() / peer_main.p99.as_secs_f64().max(1e-9)),
            goal: "≤ 100 %".into(),
            met: Some(latency_met),
        })
        .row(Row {
            measure: format!("/chat at {rate} messages/s: from a frame read to its commit (the gateways' histogram)"),
            figure: storing.summary(),
            ceiling: format!("p50 {}, p99 {} (delivery)", ms(chat.p50), ms(chat.p99)),
            ratio: format!("{:.1} messages per batch", storing.messages / storing.batches.max(1.0)),
            goal: String::new(),
            met: None,
        })
        .row(Row {
            measure: "CPU per delivered message, all processes, against the peer's".into(),
            figure: us(chat.cpu_per_message()),
            ceiling: format!("{} (peer)", us(peer_main.cpu_per_message())),
            ratio: format!("{cpu_ratio:.2}×"),
            goal: "≤ 1.2×".into(),
            met: Some(cpu_met),
        })
        .row(Row {
            measure: format!("highest rate with p99 ≤ {} ms", SLOW.as_millis()),
            figure: format!("{our_knee} /s ({})", past(our_past)),
            ceiling: format!("{peer_knee} /s (peer; {})", past(peer_past)),
            ratio: percent(our_knee as f64 / (peer_knee as f64).max(1.0)),
            goal: "≥ 100 %".into(),
            met: Some(knee_met),
        })
        .row(Row {
            measure: format!("overload ({overload_rate} messages/s offered): lost, told"),
            figure: format!(
                "{} lost, {} duplicated, {} refused as `overloaded` of {} (metric: {overloaded_metric:.0})",
                overload.lost, overload.duplicates, overload.refused, overload.sent
            ),
            ceiling: format!("p99 {}, {:.0} delivered/s", ms(overload.p99), overload.delivered_rate),
            ratio: String::new(),
            goal: "none lost; the excess refused".into(),
            met: Some(overload_met),
        })
        .row(Row {
            measure: "messages lost or duplicated (main load, both transports)".into(),
            figure: format!(
                "{} lost, {} duplicated of {}",
                chat.lost + sio.lost,
                chat.duplicates + sio.duplicates,
                chat.sent + sio.sent
            ),
            ceiling: String::new(),
            ratio: String::new(),
            goal: "none".into(),
            met: Some(chat.lost + sio.lost + chat.duplicates + sio.duplicates == 0),
        })
        .row(Row {
            measure: "delivered, /chat".into(),
            figure: format!("{:.0} messages/s", chat.delivered_rate),
            ceiling: format!("{ceiling:.0} PUBLISH/s (redis-benchmark, same Redis)"),
            ratio: format!("{} (each message is 2 PUBLISHes)", percent(2.0 * chat.delivered_rate / ceiling)),
            goal: String::new(),
            met: None,
        })
        .row(Row {
            measure: format!(
                "/chat p99 at {rate} messages/s on a Redis Cluster (3 masters, 3 replicas), against one Redis"
            ),
            figure: ms(clustered.p99),
            ceiling: format!("{} (one Redis)", ms(chat.p99)),
            ratio: percent(clustered.p99.as_secs_f64() / chat.p99.as_secs_f64().max(1e-9)),
            goal: String::new(),
            met: None,
        })
        .row(Row {
            measure: "messages lost or duplicated on the Redis Cluster".into(),
            figure: format!("{} lost, {} duplicated of {}", clustered.lost, clustered.duplicates, clustered.sent),
            ceiling: String::new(),
            ratio: String::new(),
            goal: "none".into(),
            met: Some(clustered.lost + clustered.duplicates == 0),
        })
        .row(Row {
            measure: "cluster bus bytes per publish: sharded (ours) against classic PUBLISH of as many".into(),
            figure: format!("{:.0} B ({} SPUBLISH)", sharded.per_publish(), sharded.publishes),
            ceiling: format!("{:.0} B (classic)", classic.per_publish()),
            ratio: percent(sharded.per_publish() / classic.per_publish().max(1e-9)),
            goal: String::new(),
            met: None,
        })
        .row(Row {
            measure: "publishes served per master (the 24 partitions over 3 masters)".into(),
            figure: sharded.per_master.iter().map(u64::to_string).collect::<Vec<_>>().join(" / "),
            ceiling: format!("{} in all", sharded.publishes),
            ratio: format!(
                "busiest {} of an even share",
                percent(
                    sharded.per_master.iter().copied().max().unwrap_or(0) as f64 * sharded.per_master.len() as f64
                        / sharded.publishes.max(1) as f64
                )
            ),
            goal: String::new(),
            met: None,
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
            measure: "Socket.IO: memory per idle connection".into(),
            figure: format!("{sio_per_connection:.1} KiB"),
            ceiling: format!("{sio_open} connections: RSS {sio_before} → {sio_after} KiB"),
            ratio: String::new(),
            goal: String::new(),
            met: None,
        })
        .extra(format!(
            "Side by side at {rate} messages/s ({seconds} s measured); CPU is time on one core per \
             delivered message:\n\n{}",
            side_by_side(&[
                ("chat-suite /chat", &chat),
                ("chat-suite Socket.IO", &sio),
                ("Socket.IO peer", &peer_main)
            ])
        ))
        .extra(format!(
            "On one Redis and on a Redis Cluster of 3 masters and 3 replicas, the same {rate} messages/s \
             ({seconds} s measured). The cluster's bus carried {:.1} MB/s above its idle gossip during our \
             run ({:.0} B per publish: a sharded publish goes to the replica of its master only) against \
             {:.0} B per classic PUBLISH of the same size (a broadcast to every other node):\n\n{}",
            sharded.bytes / (main_load.warmup + main_load.seconds) as f64 / 1e6,
            sharded.per_publish(),
            classic.per_publish(),
            side_by_side(&[("one Redis", &chat), ("Redis Cluster", &clustered)])
        ))
        .extra(capacity_model(
            &chat,
            &storing,
            per_connection,
            ceiling,
            sharded.publishes as f64 / (rate * (warmup + seconds)) as f64,
        ))
        .extra(format!(
            "The same {rate} messages/s from a Node load generator instead (`testkit/socketio-peer/loadgen.cjs`: \
             `ws` for `/chat`, `socket.io-client` for the peer; {} s measured), as a client written in Node \
             measures it; its own event-loop delay is part of every latency it reports:\n\n{}",
            node_load.seconds,
            node_table(&from_node)
        ))
        .extra(format!(
            "The sweep ({sweep_seconds} s measured per rate), and chat-suite past its knee:\n\n{}",
            sweep_table(&[
                ("chat-suite /chat", &our_sweep),
                ("Socket.IO peer", &peer_sweep),
                ("chat-suite /chat, overload", std::slice::from_ref(&overload)),
            ])
        ))
        .explanation(include_str!("delivery.md"));
    if let Some(profile) = profile {
        report.profile(profile);
    }
    report.write();
}
