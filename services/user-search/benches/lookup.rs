//! Exact lookups per second and their latency, next to the ceiling measured in the same run:
//! pgbench running the same SELECT over as many connections. Run by `scripts/bench-user-search`,
//! which builds the release binaries and passes their paths; the database has a million users.
//!
//! The load generator is this process: `CONNECTIONS` tasks, each with one keep-alive HTTP
//! connection, asking for random existing users by name for `SECONDS` seconds after a warm-up.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use rand::RngExt;
use sea_orm::{ConnectionTrait, Database};
use shared::tokens::SigningKey;

const USERS: i64 = 1_000_000;
const CONNECTIONS: usize = 64;
const SECONDS: u64 = 15;
const WARMUP: Duration = Duration::from_secs(3);
const QUERY: &str = "SELECT id, username, username_key FROM users WHERE username_key = 'user' || :id LIMIT 1;";

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set: run scripts/bench-user-search"))
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(bin: &str, port: u16, envs: &[(&str, String)]) -> Server {
    let mut cmd = Command::new(bin);
    cmd.env("LISTEN_ADDR", format!("127.0.0.1:{port}"))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let server = Server(cmd.spawn().unwrap());
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "{bin} did not listen");
        std::thread::sleep(Duration::from_millis(100));
    }
    server
}

async fn seed(admin_url: &str, url: &str) {
    let admin = Database::connect(admin_url).await.unwrap();
    let _ = admin.execute_unprepared("CREATE DATABASE chat_suite_bench").await;
    let db = Database::connect(url).await.unwrap();
    shared::db::migrate(&db).await.unwrap();
    let count: i64 = db
        .query_one_raw(sea_orm::Statement::from_string(db.get_database_backend(), "SELECT COUNT(*) FROM users"))
        .await
        .unwrap()
        .unwrap()
        .try_get_by_index(0)
        .unwrap();
    if count < USERS {
        eprintln!("seeding {USERS} users (once; the database is kept for later runs)");
        db.execute_unprepared("TRUNCATE users CASCADE").await.unwrap();
        db.execute_unprepared(&format!(
            "INSERT INTO users (id, username, username_key, email, email_key, password_hash, created_at) \
             SELECT gen_random_uuid(), 'User' || i, 'user' || i, 'user' || i || '@bench.example.com', \
             'user' || i || '@bench.example.com', '$argon2id$v=19$m=19456,t=2,p=1$YmVuY2hiZW5jaA$YmVuY2g', now() \
             FROM generate_series(1, {USERS}) AS i"
        ))
        .await
        .unwrap();
        db.execute_unprepared("ANALYZE users").await.unwrap();
    }
}

/// pgbench: transactions per second of the bare SELECT, `CONNECTIONS` clients.
fn ceiling(url: &str) -> f64 {
    let script = std::env::temp_dir().join("chat-suite-lookup.sql");
    std::fs::write(&script, format!("\\set id random(1, {USERS})\n{QUERY}\n")).unwrap();
    let out = Command::new("pgbench")
        .args(["-n", "-c", &CONNECTIONS.to_string(), "-j", "2", "-T", &SECONDS.to_string(), "-M", "prepared", "-f"])
        .arg(&script)
        .arg(url)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find_map(|line| line.strip_prefix("tps = ")?.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("no tps in pgbench output:\n{text}\n{}", String::from_utf8_lossy(&out.stderr)))
}

async fn load(base: String, token: String) -> (u64, Vec<u32>) {
    let start_measuring = Instant::now() + WARMUP;
    let stop = start_measuring + Duration::from_secs(SECONDS);
    let tasks: Vec<_> = (0..CONNECTIONS)
        .map(|_| {
            let (base, token) = (base.clone(), token.clone());
            tokio::spawn(async move {
                let client = reqwest::Client::builder().pool_max_idle_per_host(1).build().unwrap();
                let mut latencies = Vec::new();
                loop {
                    let id = rand::rng().random_range(1..=USERS);
                    let sent = Instant::now();
                    if sent >= stop {
                        break;
                    }
                    let resp =
                        client.get(format!("{base}/users/username/user{id}")).bearer_auth(&token).send().await.unwrap();
                    assert_eq!(resp.status(), 200);
                    resp.bytes().await.unwrap();
                    if sent >= start_measuring {
                        latencies.push(sent.elapsed().as_micros() as u32);
                    }
                }
                latencies
            })
        })
        .collect();
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.unwrap());
    }
    (all.len() as u64, all)
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize] as f64 / 1000.0
}

#[tokio::main]
async fn main() {
    // `cargo test --all-targets` runs bench targets too, without `--bench`: nothing to do then.
    if !std::env::args().any(|arg| arg == "--bench") {
        println!("the lookup benchmark runs with scripts/bench-user-search");
        return;
    }
    let admin_url = env("BENCH_POSTGRES_ADMIN_URL");
    let url = env("BENCH_DATABASE_URL");
    seed(&admin_url, &url).await;

    let key = SigningKey::generate().unwrap();
    let common = [("DATABASE_URL", url.clone()), ("DATA_DIR", std::env::temp_dir().display().to_string())];
    let mut auth_env = common.to_vec();
    auth_env.extend([("JWT_SIGNING_KEY", key.to_pem().to_owned()), ("RATE_LIMIT_PER_IP_PER_MINUTE", "0".into())]);
    let _auth = start(&env("AUTH_API_BIN"), 18181, &auth_env);
    let mut search_env = common.to_vec();
    search_env.push(("JWKS_URL", "http://127.0.0.1:18181/.well-known/jwks.json".into()));
    let _search = start(&env("USER_SEARCH_BIN"), 18182, &search_env);

    let client = reqwest::Client::new();
    let name = format!("bench{}", rand::rng().random_range(0..u32::MAX));
    let session: serde_json::Value = client
        .post("http://127.0.0.1:18181/register")
        .json(&serde_json::json!({"username": name, "password": "bench password", "email": format!("{name}@bench.example.com")}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = session["access_token"].as_str().unwrap().to_owned();

    let (count, mut latencies) = load("http://127.0.0.1:18182".into(), token).await;
    latencies.sort_unstable();
    let rps = count as f64 / SECONDS as f64;
    let (p50, p99) = (percentile(&latencies, 0.50), percentile(&latencies, 0.99));
    let tps = ceiling(&url);
    let ratio = rps / tps;
    println!("| measure | value |");
    println!("| --- | --- |");
    println!("| exact lookups through user-search (64 connections, {SECONDS} s) | {rps:.0} req/s |");
    println!("| p50 / p99 latency | {p50:.2} ms / {p99:.2} ms |");
    println!("| ceiling: pgbench, same SELECT, 64 connections | {tps:.0} tx/s |");
    println!("| ratio to the ceiling | {:.0} % (goal ≥ 50 %) |", ratio * 100.0);
    println!("| p99 goal | {} (goal < 10 ms) |", if p99 < 10.0 { "met" } else { "missed" });
}
