//! Each test starts a real auth-api and a real user-search on one fresh database; user-search
//! verifies tokens with the keys it fetches from that auth-api's JWKS.

use std::{sync::Arc, time::Duration};

use auth_api::tokens::SigningKey;
use chrono::Utc;
use clap::Parser;
use sea_orm::{DatabaseConnection, EntityTrait};
use serde_json::Value;
use shared::{entities::users, username_key::UsernameKey};
pub use testkit::{Backend, Response, Running, TestDatabase, auth::spawn_auth};
use uuid::Uuid;

pub struct Suite {
    pub auth: Running,
    pub search: Running,
    pub client: reqwest::Client,
    pub db: DatabaseConnection,
    pub database: Arc<TestDatabase>,
}

pub async fn spawn(backend: Backend) -> Suite {
    spawn_with(backend, &[]).await
}

/// user-search with these arguments besides the usual ones.
pub async fn spawn_with(backend: Backend, extra: &[&str]) -> Suite {
    spawn_on(Arc::new(TestDatabase::create(backend).await), extra).await
}

/// On `database` (a database of a server of the test's own, say).
pub async fn spawn_on(database: Arc<TestDatabase>, extra: &[&str]) -> Suite {
    let auth = spawn_auth(&database, "127.0.0.1:0".parse().unwrap(), &SigningKey::generate().unwrap()).await;
    let search = spawn_search_with(&database, &format!("{}/.well-known/jwks.json", auth.address), extra).await;
    Suite {
        auth,
        search,
        client: shared::http_client::builder().timeout(Duration::from_secs(30)).build().unwrap(),
        db: database.connect().await,
        database,
    }
}

pub async fn spawn_search(database: &TestDatabase, jwks_url: &str) -> Running {
    spawn_search_with(database, jwks_url, &[]).await
}

async fn spawn_search_with(database: &TestDatabase, jwks_url: &str, extra: &[&str]) -> Running {
    let dir = tempfile::tempdir().unwrap();
    let args = [
        "user-search".to_owned(),
        "--listen-addr=127.0.0.1:0".to_owned(),
        format!("--database-url={}", database.url),
        format!("--data-dir={}", dir.path().display()),
        format!("--jwks-url={jwks_url}"),
        "--shutdown-grace-seconds=1".to_owned(),
    ];
    let cli = user_search::config::Cli::try_parse_from(args.into_iter().chain(extra.iter().map(|a| (*a).to_owned())))
        .unwrap();
    Running::start(user_search::startup::build(&cli).await.unwrap())
}

impl Suite {
    /// Registers through auth-api; returns (access token, user id).
    pub async fn register(&self, username: &str) -> (String, String) {
        let body = testkit::auth::register(&self.client, &self.auth.address, username).await;
        (body["access_token"].as_str().unwrap().to_owned(), body["user_id"].as_str().unwrap().to_owned())
    }

    /// The value of a metric of user-search (`name{labels}` as the exposition writes it), 0
    /// when it is not there yet.
    pub async fn metric(&self, series: &str) -> f64 {
        let metrics = self.get("/metrics", None).await;
        let metrics = metrics.body.as_str().unwrap().to_owned();
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(series).and_then(|rest| rest.strip_prefix(' ')))
            .map_or(0.0, |v| v.trim().parse().unwrap())
    }

    pub async fn get(&self, path_and_query: &str, token: Option<&str>) -> Response {
        testkit::get(&self.client, &format!("{}{path_and_query}", self.search.address), token).await
    }

    /// Writes users straight into the table (hashing thousands of passwords would only slow
    /// the test down); returns their ids by name.
    pub async fn seed(&self, names: &[String]) -> Vec<(String, Uuid)> {
        let rows: Vec<users::Model> = names
            .iter()
            .map(|name| users::Model {
                id: Uuid::new_v4(),
                username: name.clone(),
                username_key: UsernameKey::parse(name).unwrap().into_string(),
                email: format!("{name}@seed.example.com"),
                email_key: format!("{}@seed.example.com", name.to_ascii_lowercase()),
                password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2VlZHNlZWQ$c2VlZA".into(),
                fcm_token: None,
                created_at: Utc::now(),
                deleted_at: None,
            })
            .collect();
        for chunk in rows.chunks(500) {
            users::Entity::insert_many(chunk.iter().cloned().map(users::ActiveModel::from))
                .exec_without_returning(&self.db)
                .await
                .unwrap();
        }
        rows.into_iter().map(|row| (row.username, row.id)).collect()
    }
}

/// The keys of a JSON object, sorted.
pub fn keys(value: &Value) -> Vec<String> {
    let mut keys: Vec<String> = value.as_object().unwrap().keys().cloned().collect();
    keys.sort();
    keys
}
