//! Exact lookups per second and their latency, next to the ceiling measured in the same run:
//! pgbench running the same SELECT over as many connections, with the same choice of users.
//! Run by `scripts/bench`, which builds the release binaries and passes their paths; the
//! database has a million users.
//!
//! The load generator is this process: `CLIENTS` keep-alive clients asking for users by name
//! for `BENCH_SECONDS` after a warm-up, twice: as people look each other up (a few names
//! often, most rarely: Zipf's law over the million), and a different user every time (the
//! database path, which the lookup cache cannot help).
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
/// Zipf's exponent: pgbench's `random_zipfian` takes 1.001 at the least, so a hair above 1.
const ZIPF_S: f64 = 1.01;
/// user-search's lookup cache as it ships.
const CACHE_ENTRIES: u64 = 100_000;

/// Which users a run asks for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Choice {
    /// User n with probability proportional to 1 / n^ZIPF_S.
    Zipf,
    /// A different user each time, spread over the table.
    EveryOne,
}

impl Choice {
    fn pgbench_line(self) -> String {
        match self {
            Self::Zipf => format!("\\set id random_zipfian(1, {USERS}, {ZIPF_S})"),
            Self::EveryOne => format!("\\set id random(1, {USERS})"),
        }
    }
}

/// The Zipf distribution's cumulative weights, for inverse sampling.
fn zipf_table() -> Arc<Vec<f64>> {
    let mut total = 0.0;
    let cumulative: Vec<f64> = (1..=USERS)
        .map(|n| {
            total += 1.0 / (n as f64).powf(ZIPF_S);
            total
        })
        .collect();
    Arc::new(cumulative.into_iter().map(|c| c / total).collect())
}

/// The `n`th request's user (1-based): a uniform draw from `n`'s bits, through the table.
fn zipf_user(table: &[f64], n: u64) -> u64 {
    // splitmix64: a well-spread draw from a counter.
    let mut x = n.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^= x >> 31;
    let u = (x >> 11) as f64 / (1u64 << 53) as f64;
    table.partition_point(|&c| c < u) as u64 + 1
}

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
fn ceiling(url: &str, window: Duration, choice: Choice) -> f64 {
    let script = std::env::temp_dir().join("chat-suite-lookup.sql");
    std::fs::write(&script, format!("{}\n{QUERY}\n", choice.pgbench_line())).unwrap();
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

async fn lookups(token: Arc<String>, choice: Choice, warmup: Duration, window: Duration) -> Run {
    let table = zipf_table();
    closed_loop(CLIENTS, warmup, window, move |client, n| {
        let (token, table) = (token.clone(), table.clone());
        async move {
            let user = match choice {
                Choice::Zipf => zipf_user(&table, n),
                Choice::EveryOne => n.wrapping_mul(0x9E37_79B9_7F4A_7C15) % USERS + 1,
            };
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
    let search = Process::start(
        &bench::env("USER_SEARCH_BIN"),
        SEARCH_PORT,
        &[
            ("DATABASE_URL", url.clone()),
            ("DATA_DIR", data_dir),
            ("JWKS_URL", format!("http://127.0.0.1:{AUTH_PORT}/.well-known/jwks.json")),
        ],
    );
    let token = Arc::new(issuer.issue(Uuid::new_v4(), "bench").unwrap());

    let search_rss_idle = search.rss_kib();
    let hits_before = cache_counts().await;
    let zipf = lookups(token.clone(), Choice::Zipf, Duration::from_secs(3), window).await;
    let hits_after = cache_counts().await;
    let entries = metric(&metrics().await, "chat_suite_lookup_cache_entries");
    let search_rss_warm = search.rss_kib();
    let zipf_tps = ceiling(&url, window, Choice::Zipf);
    let every = lookups(token.clone(), Choice::EveryOne, Duration::from_secs(3), window).await;
    let every_tps = ceiling(&url, window, Choice::EveryOne);
    let ms = |d: Duration| format!("{:.2} ms", d.as_secs_f64() * 1000.0);
    let (hits, misses) = (hits_after.0 - hits_before.0, hits_after.1 - hits_before.1);

    let mut report = Report::new(
        "2-user-search-lookup",
        "user-search: exact lookup by username among 1,000,000 users",
        format!(
            "`scripts/bench` → `services/user-search/benches/lookup.rs`. A million users (kept in \
             the `chat_suite_bench` database between runs), the release `auth-api` (for the JWKS) \
             and `user-search` (its lookup cache as shipped: {CACHE_ENTRIES} entries) as separate \
             processes; {CLIENTS} keep-alive clients ask `GET /users/username/user<n>` with a token \
             for {} s after 3 s of warm-up, twice: first as people look each other up, user n with \
             probability proportional to 1/n^{ZIPF_S} (Zipf's law: a few names often, most rarely), \
             then a different user every time (the database path; the cache cannot help). Each \
             ceiling: `pgbench -M prepared -c {CLIENTS} -j 2` running the same SELECT \
             (`WHERE username_key = …`) straight against PostgreSQL for as long, with the same \
             choice of users (`random_zipfian(1, {USERS}, {ZIPF_S})`, then `random`).",
            window.as_secs()
        ),
    );
    report
        .row(Row {
            measure: format!("exact lookups, Zipf's law ({CLIENTS} clients)"),
            figure: format!("{:.0} /s", zipf.rate()),
            ceiling: format!("{zipf_tps:.0} /s (pgbench, same SELECT, same users)"),
            ratio: percent(zipf.rate() / zipf_tps),
            goal: "≥ 100 %".into(),
            met: Some(zipf.rate() >= zipf_tps),
        })
        .row(Row {
            measure: "lookup p99, Zipf's law".into(),
            figure: ms(zipf.latencies.p99()),
            ceiling: format!("p50 {}", ms(zipf.latencies.p50())),
            ratio: String::new(),
            goal: "< 10 ms".into(),
            met: Some(zipf.latencies.p99() < Duration::from_millis(10)),
        })
        .row(Row::info(
            "answered from memory, Zipf's law (warm-up included)",
            format!("{} of {} ({})", hits, hits + misses, percent(hits / (hits + misses).max(1.0))),
        ))
        .row(Row::info(
            "user-search's memory after the Zipf run, and per entry held",
            format!(
                "{:.0} MiB for {entries:.0} entries ({:.0} MiB before it: {:.0} bytes per entry)",
                search_rss_warm as f64 / 1024.0,
                search_rss_idle as f64 / 1024.0,
                search_rss_warm.saturating_sub(search_rss_idle) as f64 * 1024.0 / entries.max(1.0)
            ),
        ))
        .row(Row {
            measure: format!("exact lookups, a different user every time ({CLIENTS} clients)"),
            figure: format!(
                "{:.0} /s (p50 {}, p99 {})",
                every.rate(),
                ms(every.latencies.p50()),
                ms(every.latencies.p99())
            ),
            ceiling: format!("{every_tps:.0} /s (pgbench, same SELECT, same users)"),
            ratio: percent(every.rate() / every_tps),
            goal: String::new(),
            met: None,
        })
        .explanation(include_str!("lookup.md"));
    if report.missed() {
        let load = lookups(token, Choice::Zipf, Duration::ZERO, Duration::from_secs(8));
        report.profile(Profile::during(Duration::from_secs(1), Duration::from_secs(6), load).await);
    }
    report.write();
}

async fn metrics() -> String {
    let client = shared::http_client::builder().build().unwrap();
    client.get(format!("http://127.0.0.1:{SEARCH_PORT}/metrics")).send().await.unwrap().text().await.unwrap()
}

/// A series' value in a `/metrics` text, 0 when it is not there.
fn metric(text: &str, series: &str) -> f64 {
    text.lines().find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.trim().parse().ok()).unwrap_or(0.0)
}

/// (hits, misses) of the lookup cache so far.
async fn cache_counts() -> (f64, f64) {
    let text = metrics().await;
    let count = |result: &str| metric(&text, &format!("chat_suite_lookup_cache_lookups_total{{result=\"{result}\"}}"));
    (count("hit"), count("miss"))
}
