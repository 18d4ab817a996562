//! What the benchmarks share: the services as processes, a closed-loop HTTP load, latency
//! percentiles, CPU time per process, the report section each benchmark writes, and a profile of the machine taken
//! while a load runs. `scripts/bench` builds the release binaries, starts what they need,
//! runs every benchmark and joins their sections into `BENCHMARKS.md`.

mod cpu;
mod load;
mod process;
mod profile;
mod report;

use std::time::Duration;

pub use cpu::CpuTimes;
pub use load::{Latencies, Run, closed_loop};
pub use process::Process;
pub use profile::Profile;
pub use report::{Machine, Report, Row, percent};

/// A variable `scripts/bench` sets.
pub fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set: run scripts/bench"))
}

/// A figure of the benchmark's own that a variable may change for a quick look while
/// profiling (`BENCH_SECONDS=5`, say); the report is written with the defaults.
pub fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

pub fn seconds(name: &str, default: u64) -> Duration {
    Duration::from_secs(setting(name, default))
}

/// `cargo test --all-targets` runs bench targets too, without `--bench`: they do nothing then.
pub fn invoked_by_cargo_bench() -> bool {
    std::env::args().any(|arg| arg == "--bench")
}

/// A fresh database of the benchmark's own on the benchmarks' Postgres, migrated; its URL.
pub async fn fresh_database(name: &str) -> String {
    use sea_orm::{ConnectionTrait, Database};
    let admin_url = env("BENCH_POSTGRES_ADMIN_URL");
    let admin = Database::connect(&admin_url).await.unwrap();
    admin.execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await.unwrap();
    admin.execute_unprepared(&format!("CREATE DATABASE {name}")).await.unwrap();
    admin.close().await.unwrap();
    let url = format!("{}/{name}", admin_url.rsplit_once('/').unwrap().0);
    let db = Database::connect(&url).await.unwrap();
    shared::db::migrate(&db).await.unwrap();
    db.close().await.unwrap();
    url
}

/// `count` users named `user1`… (`User1`… as spelled), with a password hash nobody can match;
/// analysed, so the planner knows the table's size.
pub async fn insert_users(db: &sea_orm::DatabaseConnection, count: u64) {
    use sea_orm::ConnectionTrait;
    db.execute_unprepared(&format!(
        "INSERT INTO users (id, username, username_key, email, email_key, password_hash, created_at) \
         SELECT gen_random_uuid(), 'User' || i, 'user' || i, 'user' || i || '@bench.example.com', \
         'user' || i || '@bench.example.com', 'x', now() FROM generate_series(1, {count}) AS i"
    ))
    .await
    .unwrap();
    db.execute_unprepared("ANALYZE users").await.unwrap();
}
