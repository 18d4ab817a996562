//! Logins and registrations per second against the ceiling argon2id sets on this machine:
//! cores / the time of one hash with the configured parameters, timed in the same run.
//! Run by `scripts/bench`, which builds the release binaries and passes their paths.
//!
//! Logins: the release `auth-api` (Postgres, Redis rate limits set high enough not to refuse,
//! a real broker), a closed loop of 1, 2, 3, … clients logging in as registered users. The
//! knee is the concurrency of the most power (throughput / median latency, Kleinrock's
//! optimal operating point); the goals are read there. Registrations: the same loop at the knee, alternately with the broker running and
//! killed (two rounds each, so drift on a shared machine falls on both sides), then the broker
//! back and the events that waited counted out of the outbox.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use auth_api::{config::AuthSettings, domain::Password, passwords::Hasher, tokens::SigningKey};
use clap::Parser;
use serde_json::json;
use testkit::{
    bench::{self, Latencies, Process, Profile, Report, Row, Run, closed_loop, percent},
    broker::Broker,
};

const PORT: u16 = 18191;
const BASE: &str = "http://127.0.0.1:18191";
const CLIENTS: [usize; 8] = [1, 2, 3, 4, 6, 8, 16, 32];
const PASSWORD: &str = "correct horse battery staple";

/// The argon2 parameters as auth-api reads them (its defaults, or `ARGON2_*`).
#[derive(Parser)]
struct Settings {
    #[command(flatten)]
    auth: AuthSettings,
}

/// The median of `n` hashes, one after another (after three not counted), through auth-api's
/// own hasher.
async fn single_hash(hasher: &Hasher, n: usize) -> Duration {
    let password = Password::parse(PASSWORD).unwrap();
    let mut times = Vec::with_capacity(n);
    for i in 0..n + 3 {
        let start = Instant::now();
        hasher.hash(&password).await.unwrap();
        if i >= 3 {
            times.push(start.elapsed());
        }
    }
    Latencies::new(times).p50()
}

/// Hashes per second with every core hashing at once, `rounds` each: what the machine gives
/// auth-api, which hashes on every core at most. Below cores / single hash when the hashes
/// share something (the L3 cache, the memory bus: each one walks 19 MiB).
async fn parallel_hashes(hasher: &Hasher, cores: usize, rounds: usize) -> f64 {
    let password = Password::parse(PASSWORD).unwrap();
    let start = Instant::now();
    futures_util::future::join_all((0..cores).map(|_| async {
        for _ in 0..rounds {
            hasher.hash(&password).await.unwrap();
        }
    }))
    .await;
    (cores * rounds) as f64 / start.elapsed().as_secs_f64()
}

async fn register(client: reqwest::Client, name: String) {
    let body = json!({"username": name, "password": PASSWORD, "email": format!("{name}@bench.example.com")});
    let resp = client.post(format!("{BASE}/register")).json(&body).send().await.unwrap();
    assert_eq!(resp.status(), 201, "{}", resp.text().await.unwrap_or_default());
    resp.bytes().await.unwrap();
}

async fn logins(clients: usize, users: usize, warmup: Duration, window: Duration) -> Run {
    closed_loop(clients, warmup, window, move |client, n| async move {
        let body = json!({"username": format!("login{}", n % users as u64), "password": PASSWORD});
        let resp = client.post(format!("{BASE}/login")).json(&body).send().await.unwrap();
        assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap_or_default());
        resp.bytes().await.unwrap();
    })
    .await
}

async fn registrations(round: &'static str, clients: usize, warmup: Duration, window: Duration) -> Run {
    closed_loop(clients, warmup, window, move |client, n| register(client, format!("{round}{n:x}"))).await
}

/// `chat_suite_outbox_pending` from auth-api's metrics.
async fn outbox_pending() -> u64 {
    let client = shared::http_client::builder().build().unwrap();
    let text = client.get(format!("{BASE}/metrics")).send().await.unwrap().text().await.unwrap();
    text.lines()
        .find_map(|line| line.strip_prefix("chat_suite_outbox_pending ")?.trim().parse::<f64>().ok())
        .unwrap_or_else(|| panic!("no chat_suite_outbox_pending in the metrics")) as u64
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

#[tokio::main]
async fn main() {
    if !bench::invoked_by_cargo_bench() {
        println!("the login benchmark runs with scripts/bench");
        return;
    }
    let window = bench::seconds("BENCH_SECONDS", 6);
    let warmup = Duration::from_secs(1);
    let auth = Settings::parse_from(["login"]).auth;
    let (memory, iterations, lanes) = (auth.argon2_memory_kib, auth.argon2_iterations, auth.argon2_parallelism);
    let cores = std::thread::available_parallelism().map(usize::from).unwrap_or(1);

    // The ceiling, on a quiet machine before anything else starts, and again at the end: a
    // neighbour on a shared machine slows one of them; the faster is the machine's.
    let hasher = Hasher::new(memory, iterations, lanes, auth.password_hash_queue as usize).unwrap();
    let hash_before = single_hash(&hasher, 40).await;
    let parallel_before = parallel_hashes(&hasher, cores, 20).await;

    let url = bench::fresh_database("chat_suite_bench_auth").await;
    let mut broker = Broker::start();
    let key = SigningKey::generate().unwrap();
    let _auth = Process::start(
        &bench::env("AUTH_API_BIN"),
        PORT,
        &[
            ("DATABASE_URL", url),
            ("DATA_DIR", std::env::temp_dir().display().to_string()),
            ("REDIS_URL", bench::env("BENCH_REDIS_URL")),
            ("JWT_SIGNING_KEY", key.to_pem().to_owned()),
            ("KAFKA_BROKERS", broker.address()),
            ("KAFKA_PROPERTIES", broker.kafka_properties()),
            // High enough never to refuse, so the limiter still runs on every attempt.
            ("RATE_LIMIT_PER_IP_PER_MINUTE", "100000000".into()),
            ("RATE_LIMIT_PER_USERNAME_PER_MINUTE", "100000000".into()),
            ("RATE_LIMIT_PER_USERNAME_AND_IP_PER_MINUTE", "100000000".into()),
            ("ARGON2_MEMORY_KIB", memory.to_string()),
            ("ARGON2_ITERATIONS", iterations.to_string()),
            ("ARGON2_PARALLELISM", lanes.to_string()),
        ],
    );

    let users = *CLIENTS.iter().max().unwrap();
    let client = shared::http_client::builder().build().unwrap();
    futures_util::future::join_all((0..users).map(|i| register(client.clone(), format!("login{i}")))).await;

    let mut sweep = Vec::new();
    for clients in CLIENTS {
        let run = logins(clients, users, warmup, window).await;
        eprintln!("{clients} clients: {:.1} logins/s, p99 {}", run.rate(), ms(run.latencies.p99()));
        sweep.push(run);
    }
    let power = |run: &Run| run.rate() / run.latencies.p50().as_secs_f64();
    let knee = sweep.iter().max_by(|a, b| power(a).total_cmp(&power(b))).unwrap().clone();

    let mut running = Vec::new();
    let mut stopped = Vec::new();
    for (up, down) in [("ra", "rb"), ("rc", "rd")] {
        running.push(registrations(up, knee.clients, warmup, window).await);
        broker.kill();
        stopped.push(registrations(down, knee.clients, warmup, window).await);
        broker.resume();
    }
    let (running, stopped) = (running[0].merge(&running[1]), stopped[0].merge(&stopped[1]));
    let waiting = outbox_pending().await;
    let back = Instant::now();
    while outbox_pending().await > 0 {
        assert!(back.elapsed() < Duration::from_secs(120), "the outbox did not empty after the broker came back");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let drained = back.elapsed();
    let hash_after = single_hash(&hasher, 40).await;
    let parallel_after = parallel_hashes(&hasher, cores, 20).await;
    let hash = hash_before.min(hash_after);
    let ceiling = cores as f64 / hash.as_secs_f64();
    let parallel = parallel_before.max(parallel_after);

    let three_hashes = 3 * hash;
    let p99 = knee.latencies.p99();
    let mut report = Report::new(
        "1-login",
        "auth-api: logins and registrations against argon2id",
        format!(
            "`scripts/bench` → `services/auth-api/benches/login.rs`. One argon2id hash with the \
             configured parameters (m = {memory} KiB, t = {iterations}, p = {lanes}) through \
             auth-api's own hasher, timed 40 times on a quiet machine before the load and 40 times \
             after it: the lower of the two medians is the single-hash time, and cores / that time \
             the ceiling. The same with every core hashing at once (20 each, before and after; \
             the higher counts) shows what the cores give when they hash together. Then the release `auth-api` (PostgreSQL, the \
             Redis rate limiter set too high to refuse, a tansu broker) is driven by a closed loop \
             of {CLIENTS:?} clients logging in ({} s each after 1 s of warm-up); the knee is the \
             concurrency of the most power (logins per second / median latency: Kleinrock's \
             optimal operating point, past which latency grows faster than throughput). Registrations run at the knee, \
             {} s with the broker running, {} s with it killed, twice each in turn.",
            window.as_secs(),
            2 * window.as_secs(),
            2 * window.as_secs()
        ),
    );
    report
        .row(Row::info(
            "single argon2id hash (median of 40, before / after the load)",
            format!("{} / {}", ms(hash_before), ms(hash_after)),
        ))
        .row(Row {
            measure: format!("hashes with all {cores} cores hashing at once"),
            figure: format!("{parallel:.1} /s (before {parallel_before:.1}, after {parallel_after:.1})"),
            ceiling: format!("{ceiling:.1} /s"),
            ratio: percent(parallel / ceiling),
            goal: String::new(),
            met: None,
        })
        .row(Row {
            measure: format!("logins at the knee ({} clients)", knee.clients),
            figure: format!("{:.1} /s", knee.rate()),
            ceiling: format!("{ceiling:.1} /s ({cores} cores / {})", ms(hash)),
            ratio: percent(knee.rate() / ceiling),
            goal: "≥ 90 %".into(),
            met: Some(knee.rate() >= 0.9 * ceiling),
        })
        .row(Row {
            measure: "login p99 at the knee".into(),
            figure: ms(p99),
            ceiling: format!("{} (3 single hashes)", ms(three_hashes)),
            ratio: format!("{:.2} hashes", p99.as_secs_f64() / hash.as_secs_f64()),
            goal: "< 3 hashes".into(),
            met: Some(p99 < three_hashes),
        })
        .row(Row {
            measure: format!("registrations at {} clients, broker running", knee.clients),
            figure: format!(
                "{:.1} /s, p50 {}, p99 {}",
                running.rate(),
                ms(running.latencies.p50()),
                ms(running.latencies.p99())
            ),
            ceiling: format!("{ceiling:.1} /s"),
            ratio: percent(running.rate() / ceiling),
            goal: String::new(),
            met: None,
        });
    for (name, quantile) in [("p50", 0.5), ("p99", 0.99)] {
        let (up, down) = (running.latencies.quantile(quantile), stopped.latencies.quantile(quantile));
        report.row(Row {
            measure: format!("registration {name}, broker stopped"),
            figure: ms(down),
            ceiling: format!("{} (broker running)", ms(up)),
            ratio: percent(down.as_secs_f64() / up.as_secs_f64()),
            goal: "≤ 110 %".into(),
            met: Some(down.as_secs_f64() <= 1.1 * up.as_secs_f64()),
        });
    }
    report.row(Row::info(
        "events that waited for the broker",
        format!("{waiting} in the outbox when it came back, all published {:.1} s later", drained.as_secs_f64()),
    ));
    let mut table = String::from(
        "Logins by concurrency:\n\n| clients | logins/s | of the ceiling | p50 | p99 | p99 in hashes |\n| --- | --- | --- | --- | --- | --- |\n",
    );
    for run in &sweep {
        table.push_str(&format!(
            "| {}{} | {:.1} | {} | {} | {} | {:.2} |\n",
            run.clients,
            if run.clients == knee.clients { " (knee)" } else { "" },
            run.rate(),
            percent(run.rate() / ceiling),
            ms(run.latencies.p50()),
            ms(run.latencies.p99()),
            run.latencies.p99().as_secs_f64() / hash.as_secs_f64()
        ));
    }
    report.extra(table).explanation(include_str!("login.md"));
    if report.missed() {
        let load = logins(knee.clients, users, Duration::ZERO, Duration::from_secs(8));
        report.profile(Profile::during(Duration::from_secs(1), Duration::from_secs(6), load).await);
    }
    report.write();
}
