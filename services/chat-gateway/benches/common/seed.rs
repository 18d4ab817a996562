//! The benchmarks' users, inserted straight into a fresh database: registering thousands
//! through auth-api would measure argon2 instead.

use sea_orm::{ConnectionTrait, Database};
use testkit::bench;
use uuid::Uuid;

/// A fresh database `name` with `count` users (`bench0`…); its URL and their ids.
pub async fn users(name: &str, count: usize) -> (String, Vec<Uuid>) {
    let url = bench::fresh_database(name).await;
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
