//! Exact lookups per second and their latency, next to the ceiling measured in the same run:
//! pgbench running the same SELECT over as many connections. Run by `scripts/bench`, which
//! builds the release binaries and passes their paths; the database has a million users.
//!
//! The load generator is this process: `CLIENTS` keep-alive clients asking for users by name
//! (a different one each time, spread over the table) for `BENCH_SECONDS` after a warm-up.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{process::Command, sync::Arc, time::Duration};

use auth_api::tokens::{SigningKey, TokenIssuer};
use sea_orm::{ConnectionTrait, Database};
use shared::config::TokenSettings;
use testkit::bench::{self, Process, Profile, Report, Row, Run, closed_loop, percent};
use uuid::Uuid;

const USERS: u64 = 1_000_000;
const CLIENTS: usize = 64;
const AUTH_PORT: u16 = 18181;
const SEARCH_PORT: u16 = 18182;
const QUERY: &str = "SELECT id, username, username_key FROM users WHERE username_key = 'user' || :id LIMIT 1;";

/// The million users are kept in their own database between runs: seeding takes a minute.
async fn seed(url: &str) {
    let admin = Database::connect(bench::env("BENCH_POSTGRES_ADMIN_URL")).await.unwrap();
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
    if count < USERS as i64 {
        eprintln!("seeding {USERS} users (once; the database is kept for later runs)");
        db.execute_unprepared("TRUNCATE users CASCADE").await.unwrap();
        bench::insert_users(&db, USERS).await;
    }
}

/// pgbench: transactions per second of the bare SELECT, `CLIENTS` clients.
fn ceiling(url: &str, window: Duration) -> f64 {
    let script = std::env::temp_dir().join("chat-suite-lookup.sql");
    std::fs::write(&script, format!("\\set id random(1, {USERS})\n{QUERY}\n")).unwrap();
    let out = Command::new("pgbench")
        .args(["-n", "-c", &CLIENTS.to_string(), "-j", "2", "-T", &window.as_secs().to_string(), "-M", "prepared"])
        .arg("-f")
        .arg(&script)
        .arg(url)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find_map(|line| line.strip_prefix("tps = ")?.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("no tps in pgbench output:\n{text}\n{}", String::from_utf8_lossy(&out.stderr)))
}

async fn lookups(token: Arc<String>, warmup: Duration, window: Duration) -> Run {
    closed_loop(CLIENTS, warmup, window, move |client, n| {
        let token = token.clone();
        async move {
            let user = n.wrapping_mul(0x9E37_79B9_7F4A_7C15) % USERS + 1;
            let resp = client
                .get(format!("http://127.0.0.1:{SEARCH_PORT}/users/username/user{user}"))
                .bearer_auth(token.as_str())
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), 200);
            resp.bytes().await.unwrap();
        }
    })
    .await
}

#[tokio::main]
async fn main() {
    if !bench::invoked_by_cargo_bench() {
        println!("the lookup benchmark runs with scripts/bench");
        return;
    }
    let window = bench::seconds("BENCH_SECONDS", 15);
    let url = bench::env("BENCH_LOOKUP_DATABASE_URL");
    seed(&url).await;

    let key = SigningKey::generate().unwrap();
    let issuer = TokenIssuer::new(
        SigningKey::from_pem(key.to_pem()).unwrap(),
        TokenSettings { issuer: "chat-suite".into(), audience: "chat-suite".into() },
        Duration::from_secs(3600),
    );
    let data_dir = std::env::temp_dir().display().to_string();
    let _auth = Process::start(
        &bench::env("AUTH_API_BIN"),
        AUTH_PORT,
        &[("DATABASE_URL", url.clone()), ("DATA_DIR", data_dir.clone()), ("JWT_SIGNING_KEY", key.to_pem().to_owned())],
    );
    let _search = Process::start(
        &bench::env("USER_SEARCH_BIN"),
        SEARCH_PORT,
        &[
            ("DATABASE_URL", url.clone()),
            ("DATA_DIR", data_dir),
            ("JWKS_URL", format!("http://127.0.0.1:{AUTH_PORT}/.well-known/jwks.json")),
        ],
    );
    let token = Arc::new(issuer.issue(Uuid::new_v4(), "bench").unwrap());

    let run = lookups(token.clone(), Duration::from_secs(3), window).await;
    let tps = ceiling(&url, window);
    let (p50, p99) = (run.latencies.p50(), run.latencies.p99());
    let ms = |d: Duration| format!("{:.2} ms", d.as_secs_f64() * 1000.0);

    let mut report = Report::new(
        "2-user-search-lookup",
        "user-search: exact lookup by username among 1,000,000 users",
        format!(
            "`scripts/bench` → `services/user-search/benches/lookup.rs`. A million users (kept in \
             the `chat_suite_bench` database between runs), the release `auth-api` (for the JWKS) \
             and `user-search` as separate processes; {CLIENTS} keep-alive clients ask \
             `GET /users/username/user<n>` with a token, a different user each time, for {} s after \
             3 s of warm-up. The ceiling: `pgbench -M prepared -c {CLIENTS} -j 2` running the same \
             SELECT (`WHERE username_key = …`) straight against PostgreSQL for as long.",
            window.as_secs()
        ),
    );
    report
        .row(Row {
            measure: format!("exact lookups through user-search ({CLIENTS} clients)"),
            figure: format!("{:.0} /s", run.rate()),
            ceiling: format!("{tps:.0} /s (pgbench, same SELECT)"),
            ratio: percent(run.rate() / tps),
            goal: "≥ 50 %".into(),
            met: Some(run.rate() >= 0.5 * tps),
        })
        .row(Row {
            measure: "lookup p99".into(),
            figure: ms(p99),
            ceiling: format!("p50 {}", ms(p50)),
            ratio: String::new(),
            goal: "< 10 ms".into(),
            met: Some(p99 < Duration::from_millis(10)),
        })
        .explanation(include_str!("lookup.md"));
    if report.missed() {
        let load = lookups(token, Duration::ZERO, Duration::from_secs(8));
        report.profile(Profile::during(Duration::from_secs(1), Duration::from_secs(6), load).await);
    }
    report.write();
}
