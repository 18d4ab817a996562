//! Many concurrent `/chat` connections across gateway replicas on this machine, each of a
//! user of its own: what one costs in memory and in idle CPU, how fast they connect and what
//! bounds it, and a replica filled to its limit refusing at once while its probes answer. Run
//! by `scripts/bench connections`, which builds the release binaries and passes their paths.
//!
//! A process may hold as many descriptors as its hard limit (20,000 on these machines): each
//! gateway replica takes what its limit allows less its reserve, so `BENCH_CONNECTIONS` (100,000)
//! are spread over as many replicas as that needs, and held by as many client processes, one per
//! replica: this benchmark's own executable started again as a holder (`HOLDER_TOKENS` names its
//! users' tokens), which the benchmark tells over its stdin how many connections to hold, and
//! which keeps reading each one (answering the gateway's pings) until told to close them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "common/seed.rs"]
mod seed;
// Only connecting is used here: the rest of the wire serves the delivery benchmarks.
#[path = "common/wire.rs"]
#[allow(dead_code)]
mod wire;

use std::{
    process::Stdio,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use auth_api::tokens::{SigningKey, TokenIssuer};
use futures_util::StreamExt;
use shared::{config::TokenSettings, server::descriptors};
use testkit::bench::{self, CpuTimes, Process, Report, Row, setting};
use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    process::{Child, ChildStdin, ChildStdout, Command},
};
use wire::Wire;

const AUTH_PORT: u16 = 18479;
const FIRST_GATEWAY_PORT: u16 = 18480;
/// Each gateway's database pool: small, so that every replica's fits in Postgres's 100.
const DATABASE_MAX_CONNECTIONS: u32 = 8;
/// Connections each holder opens at once.
const CONNECTING_AT_ONCE: usize = 32;
/// The first step's connections per replica, where memory is read the first time.
const FIRST_STEP: u64 = 10_000;
/// The idle window: three of the gateway's 20 s ping periods.
const IDLE: Duration = Duration::from_secs(60);
const PING_PERIOD: Duration = Duration::from_secs(20);

#[tokio::main]
async fn main() {
    if let Ok(tokens) = std::env::var("HOLDER_TOKENS") {
        return hold(&tokens, std::env::var("HOLDER_PORT").unwrap().parse().unwrap()).await;
    }
    if !bench::invoked_by_cargo_bench() {
        println!("the connections benchmark runs with scripts/bench");
        return;
    }
    let total = setting("BENCH_CONNECTIONS", 100_000);
    // What each replica will hold at most (as node/slots.rs reckons it; the gateway's own figure
    // is checked below), and what this run gives each: a tenth of it left free, which fills
    // replica 0 to its limit at the end.
    let hard_limit = descriptors::raise_open_file_limit().unwrap_or(u64::MAX);
    let capacity = descriptors::client_budget(Some(hard_limit), 256 + 2 * u64::from(DATABASE_MAX_CONNECTIONS));
    let replicas = total.div_ceil(capacity * 9 / 10);
    let per_replica = total.div_ceil(replicas);
    let fill = capacity - per_replica;
    eprintln!(
        "{total} connections: {replicas} replicas of {per_replica} (capacity {capacity}), then {fill} more on one"
    );

    let (url, users) = seed::users("chat_suite_bench_connections", (total + fill + 1) as usize).await;
    let key = SigningKey::generate().unwrap();
    let issuer = TokenIssuer::new(
        SigningKey::from_pem(key.to_pem()).unwrap(),
        TokenSettings { issuer: "chat-suite".into(), audience: "chat-suite".into() },
        Duration::from_secs(4 * 3600),
    );
    let tokens: Vec<String> =
        users.iter().enumerate().map(|(i, id)| issuer.issue(*id, &format!("bench{i}")).unwrap()).collect();
    let data_dir = std::env::temp_dir().display().to_string();
    let _auth = Process::start(
        &bench::env("AUTH_API_BIN"),
        AUTH_PORT,
        &[("DATABASE_URL", url.clone()), ("DATA_DIR", data_dir.clone()), ("JWT_SIGNING_KEY", key.to_pem().to_owned())],
    );
    let gateway_env = [
        ("DATABASE_URL", url.clone()),
        ("DATABASE_MAX_CONNECTIONS", DATABASE_MAX_CONNECTIONS.to_string()),
        ("DATA_DIR", data_dir),
        ("REDIS_URL", format!("redis://127.0.0.1:{}", bench::env("BENCH_CHAT_REDIS_PORT"))),
        ("JWKS_URL", format!("http://127.0.0.1:{AUTH_PORT}/.well-known/jwks.json")),
    ];
    let bin = bench::env("CHAT_GATEWAY_BIN");
    let ports: Vec<u16> = (0..replicas as u16).map(|r| FIRST_GATEWAY_PORT + r).collect();
    let gateways: Vec<Process> = ports.iter().map(|port| Process::start(&bin, *port, &gateway_env)).collect();
    let reported = metric(ports[0], "chat_suite_ws_connection_capacity").await as u64;
    assert_eq!(reported, capacity, "the gateway's capacity is not the one this benchmark expects");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_idle: Vec<u64> = gateways.iter().map(Process::rss_kib).collect();

    let mut holders = Vec::new();
    for (r, port) in ports.iter().enumerate() {
        let start = r * per_replica as usize;
        holders.push(Holder::start(*port, &tokens[start..start + per_replica as usize]).await);
    }
    let group = group_of(&gateways, &holders);

    // First step: FIRST_STEP on each replica; then the rest.
    let step = FIRST_STEP.min(per_replica);
    let first = connect_all(&mut holders, step, &group).await;
    let rss_first: Vec<u64> = gateways.iter().map(Process::rss_kib).collect();
    let rest = if per_replica > step { Some(connect_all(&mut holders, per_replica, &group).await) } else { None };
    let rss_all: Vec<u64> = gateways.iter().map(Process::rss_kib).collect();
    let held: u64 = holders.iter().map(|h| h.held).sum();

    // Idle: every connection open, nothing said but pings.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let before = CpuTimes::read();
    tokio::time::sleep(IDLE).await;
    let idle = CpuTimes::read().spent_since(&before, &group);
    let mut lost = 0;
    for holder in &mut holders {
        lost += holder.ask("status").await.lost;
    }

    // Replica 0 filled to its limit: the next upgrade is refused, its probes answer.
    let mut filler = Holder::start(ports[0], &tokens[total as usize..(total + fill) as usize]).await;
    let filled = filler.ask(&format!("connect {fill}")).await;
    let rss_full = gateways[0].rss_kib();
    let at_capacity = per_replica + filled.held;
    let refusals = refusals(ports[0], &tokens[(total + fill) as usize]).await;
    let probes = probes(ports[0]).await;

    // Everyone leaves: what the replicas keep.
    for holder in holders.iter_mut().chain([&mut filler]) {
        holder.ask("close").await;
    }
    tokio::time::sleep(Duration::from_secs(10)).await;
    let rss_left: Vec<u64> = gateways.iter().map(Process::rss_kib).collect();

    let per_connection = |rss: &[u64], held: u64| {
        let grown: u64 = rss.iter().zip(&rss_idle).map(|(now, idle)| now.saturating_sub(*idle)).sum();
        grown as f64 / (held * replicas) as f64
    };
    let kib_first = per_connection(&rss_first, step);
    let kib_all = per_connection(&rss_all, per_replica);
    let kib_full = rss_full.saturating_sub(rss_idle[0]) as f64 / at_capacity as f64;
    let mib = |kib: u64| kib as f64 / 1024.0;
    let idle_gateway: Duration = idle.iter().filter(|(g, _)| g == "chat-gateway").map(|(_, d)| *d).sum();
    let periods = IDLE.as_secs_f64() / PING_PERIOD.as_secs_f64();
    let idle_per_connection = idle_gateway.as_secs_f64() * 1e6 / (held as f64 * periods);
    let idle_share = idle_gateway.as_secs_f64() / IDLE.as_secs_f64();

    // Each replica's peak: replica 0's when it was full.
    let mut rss_peak = rss_all.clone();
    rss_peak[0] = rss_full;
    let mut report = Report::new(
        "4b-chat-connections",
        format!("chat-gateway: {total} concurrent /chat connections across {replicas} replica(s)"),
        format!(
            "`scripts/bench connections` → `services/chat-gateway/benches/connections.rs`. A fresh \
             `chat_suite_bench_connections` database of {} users, a Redis server of the \
             benchmark's own, the release `auth-api` (for the JWKS) and {replicas} release \
             `chat-gateway` replicas, every setting as shipped but `DATABASE_MAX_CONNECTIONS={}` \
             (so that every replica's pool fits in Postgres's 100). Each process may hold \
             {hard_limit} descriptors (the hard limit here), so a replica holds {capacity}. Each \
             replica's connections come from a client process of its own (this benchmark's \
             executable again), {CONNECTING_AT_ONCE} connecting at once, every one of a different \
             user, each read until it closes (the gateway's pings answered): first {step} on each \
             replica, then {per_replica}. Memory: each replica's resident memory before any \
             connection and after each step, the growth divided by the connections. Idle: the \
             CPU time of the replicas over {} s ({} ping periods of {} s) with every connection \
             open and silent. Then {fill} more connections fill replica 0 to its limit; one more \
             upgrade is tried 20 times (a valid token each time), and `/healthz`, `/readyz` and \
             `/metrics` asked 20 times each, timed from the client. Last, every client closes; \
             the replicas' memory 10 s later.",
            total + fill + 1,
            DATABASE_MAX_CONNECTIONS,
            IDLE.as_secs(),
            periods,
            PING_PERIOD.as_secs()
        ),
    );
    report
        .row(Row {
            measure: format!("/chat connections held at once, {replicas} replica(s)"),
            figure: format!("{held} ({lost} lost while idle)"),
            ceiling: format!("{total} asked"),
            ratio: String::new(),
            goal: format!("{total}, none lost"),
            met: Some(held >= total && lost == 0),
        })
        .row(Row {
            measure: format!("memory per connection, {step} per replica"),
            figure: format!("{kib_first:.1} KiB"),
            ceiling: String::new(),
            ratio: String::new(),
            goal: "≤ 7 KiB".into(),
            met: Some(kib_first <= 7.0),
        })
        .row(Row {
            measure: format!("memory per connection, {per_replica} per replica"),
            figure: format!("{kib_all:.1} KiB"),
            ceiling: String::new(),
            ratio: String::new(),
            goal: "≤ 7 KiB".into(),
            met: Some(kib_all <= 7.0),
        })
        .row(Row {
            measure: format!("memory per connection, replica 0 full ({at_capacity})"),
            figure: format!("{kib_full:.1} KiB"),
            ceiling: String::new(),
            ratio: String::new(),
            goal: "≤ 7 KiB".into(),
            met: Some(kib_full <= 7.0),
        })
        .row(Row::info(
            format!("connect rate, {replicas} replica(s) at once"),
            match &rest {
                Some(rest) => format!(
                    "{:.0} /s to {step} each; {:.0} /s on to {per_replica} each",
                    first.rate(step * replicas),
                    rest.rate((per_replica - step) * replicas)
                ),
                None => format!("{:.0} /s to {step} each", first.rate(step * replicas)),
            },
        ))
        .row(Row::info(
            "CPU while connecting, by program (share of the machine's cores)",
            rest.as_ref().unwrap_or(&first).cpu_shares(),
        ))
        .row(Row::info(
            "idle CPU of the replicas",
            format!(
                "{idle_per_connection:.1} µs per connection per ping period ({:.1} % of one core for {held})",
                idle_share * 100.0
            ),
        ))
        .row(Row {
            measure: "a full replica refuses an upgrade (503 replica_full)".into(),
            figure: format!("p50 {}, slowest {}", ms(refusals.0), ms(refusals.1)),
            ceiling: String::new(),
            ratio: String::new(),
            goal: "< 10 ms".into(),
            met: Some(refusals.1 < Duration::from_millis(10)),
        })
        .row(Row {
            measure: "a full replica's probes (/healthz, /readyz, /metrics): 200".into(),
            figure: format!("slowest {}", ms(probes)),
            ceiling: String::new(),
            ratio: String::new(),
            goal: "< 100 ms".into(),
            met: Some(probes < Duration::from_millis(100)),
        })
        .row(Row::info(
            "replicas' memory after every client left (10 s later)",
            rss_left
                .iter()
                .zip(&rss_peak)
                .zip(&rss_idle)
                .map(|((left, peak), idle)| {
                    format!("{:.0} MiB (peak {:.0}, before any {:.0})", mib(*left), mib(*peak), mib(*idle))
                })
                .collect::<Vec<_>>()
                .join(", "),
        ))
        .explanation(include_str!("connections.md"));
    report.write();
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

/// Names the processes of the CPU tables.
fn group_of(gateways: &[Process], holders: &[Holder]) -> impl Fn(u32, &str) -> Option<String> + use<> {
    let gateways: Vec<u32> = gateways.iter().map(Process::pid).collect();
    let holders: Vec<u32> = holders.iter().filter_map(|h| h.child.id()).collect();
    move |pid, name| {
        if gateways.contains(&pid) {
            Some("chat-gateway".to_owned())
        } else if holders.contains(&pid) {
            Some("clients".to_owned())
        } else if name == "postgres" || name == "redis-server" || name == "auth-api" {
            Some(name.to_owned())
        } else {
            None
        }
    }
}

/// One step of connecting: how long it took and what each program spent.
struct Step {
    took: Duration,
    cpu: Vec<(String, Duration)>,
}

impl Step {
    fn rate(&self, connections: u64) -> f64 {
        connections as f64 / self.took.as_secs_f64()
    }

    fn cpu_shares(&self) -> String {
        let cores = std::thread::available_parallelism().map_or(1, usize::from) as f64;
        let mut cpu = self.cpu.clone();
        cpu.sort_by_key(|(_, spent)| std::cmp::Reverse(*spent));
        cpu.iter()
            .map(|(name, spent)| {
                format!("{name} {:.0} %", 100.0 * spent.as_secs_f64() / self.took.as_secs_f64() / cores)
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Every holder to `upto` connections at once.
async fn connect_all(holders: &mut [Holder], upto: u64, group: &impl Fn(u32, &str) -> Option<String>) -> Step {
    let (started, before) = (Instant::now(), CpuTimes::read());
    let command = format!("connect {upto}");
    futures_util::future::join_all(holders.iter_mut().map(|h| h.ask(&command))).await;
    let took = started.elapsed();
    for holder in holders.iter() {
        assert_eq!(holder.held, upto, "a holder could not connect all it was asked to: {}", holder.last);
    }
    Step { took, cpu: CpuTimes::read().spent_since(&before, group) }
}

/// One more upgrade, 20 times, on the full replica: each must be refused; p50 and slowest.
async fn refusals(port: u16, token: &str) -> (Duration, Duration) {
    let mut took = Vec::new();
    for _ in 0..20 {
        let started = Instant::now();
        let answer = tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{port}/chat?access_token={token}")).await;
        took.push(started.elapsed());
        match answer {
            Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => assert_eq!(resp.status(), 503),
            other => panic!("the full replica did not refuse: {:?}", other.map(|_| ())),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    took.sort();
    (took[took.len() / 2], took[took.len() - 1])
}

/// The full replica's probes, 20 times each: the slowest.
async fn probes(port: u16) -> Duration {
    let client = shared::http_client::builder().build().unwrap();
    let mut slowest = Duration::ZERO;
    for _ in 0..20 {
        for path in ["/healthz", "/readyz", "/metrics"] {
            let started = Instant::now();
            let resp = client.get(format!("http://127.0.0.1:{port}{path}")).send().await.unwrap();
            assert_eq!(resp.status(), 200, "{path} on the full replica");
            resp.bytes().await.unwrap();
            slowest = slowest.max(started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    slowest
}

async fn metric(port: u16, name: &str) -> f64 {
    let client = shared::http_client::builder().build().unwrap();
    let text = client.get(format!("http://127.0.0.1:{port}/metrics")).send().await.unwrap().text().await.unwrap();
    text.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok()).unwrap_or(0.0)
}

/// A client process holding one replica's connections, driven over its stdin.
struct Holder {
    child: Child,
    stdin: ChildStdin,
    stdout: tokio::io::Lines<BufReader<ChildStdout>>,
    held: u64,
    last: String,
    _tokens: tempfile::TempPath,
}

/// A holder's answer: `held <n> lost <n>`.
struct Answer {
    held: u64,
    lost: u64,
}

impl Holder {
    async fn start(port: u16, tokens: &[String]) -> Self {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        std::io::Write::write_all(&mut file, tokens.join("\n").as_bytes()).unwrap();
        let path = file.into_temp_path();
        let mut child = Command::new(std::env::current_exe().unwrap())
            .env("HOLDER_TOKENS", &path)
            .env("HOLDER_PORT", port.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap()).lines();
        Self { child, stdin, stdout, held: 0, last: String::new(), _tokens: path }
    }

    async fn ask(&mut self, command: &str) -> Answer {
        self.stdin.write_all(format!("{command}\n").as_bytes()).await.unwrap();
        let line = self.stdout.next_line().await.unwrap().expect("the holder ended");
        let fields: Vec<&str> = line.split_whitespace().collect();
        let answer = Answer { held: fields[1].parse().unwrap(), lost: fields[3].parse().unwrap() };
        self.held = answer.held;
        self.last = line;
        answer
    }
}

/// A holder's life: `connect <n>` opens connections until it holds n (each read until it
/// closes); `status` says how many it holds; `close` closes them all. Every command is
/// answered with one line, `held <n> lost <n>` (lost: closed by the server).
async fn hold(tokens: &str, port: u16) {
    let tokens: Vec<String> = std::fs::read_to_string(tokens).unwrap().lines().map(str::to_owned).collect();
    let lost = Arc::new(AtomicU64::new(0));
    let mut open: Vec<tokio::task::JoinHandle<()>> = Vec::new();
    let mut failures = Vec::new();
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        let mut words = line.split_whitespace();
        match (words.next(), words.next().and_then(|n| n.parse::<usize>().ok())) {
            (Some("connect"), Some(upto)) => {
                let upto = upto.min(tokens.len());
                let mut connecting = futures_util::stream::iter(tokens[open.len()..upto].iter())
                    .map(|token| Wire::Chat.connect(port, token))
                    .buffer_unordered(CONNECTING_AT_ONCE);
                while let Some(connected) = connecting.next().await {
                    match connected {
                        Ok(mut ws) => {
                            let lost = lost.clone();
                            open.push(tokio::spawn(async move {
                                // Reading answers the gateway's pings; the end is the server's.
                                while let Some(Ok(_)) = ws.next().await {}
                                lost.fetch_add(1, Ordering::Relaxed);
                            }));
                        }
                        Err(err) => failures.push(err),
                    }
                }
            }
            (Some("close"), _) => {
                for task in open.drain(..) {
                    task.abort();
                }
                lost.store(0, Ordering::Relaxed);
            }
            _ => {}
        }
        if let Some(first) = failures.first() {
            eprintln!("holder on {port}: {} connections failed, the first: {first}", failures.len());
            failures.clear();
        }
        println!("held {} lost {}", open.len(), lost.load(Ordering::Relaxed));
    }
}
