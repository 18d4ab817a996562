//! auth-api as every service's tests need it: the real one, started in the test, and users
//! registered through it the way a client registers.

use std::net::SocketAddr;

use auth_api::{config::Cli, tokens::SigningKey};
use clap::Parser;
use serde_json::{Value, json};

use crate::{Running, TestDatabase};

/// The password of every user [`register`] makes.
pub const PASSWORD: &str = "correct horse battery";

/// auth-api started from this command line (the program name first).
pub async fn start(args: impl IntoIterator<Item = String>) -> Running {
    let cli = Cli::try_parse_from(args).unwrap();
    Running::start(auth_api::startup::build(&cli).await.unwrap())
}

/// auth-api on `database`, listening on `addr`, signing with `key`, its rate limits off: the
/// token issuer of the tests of the services that verify its tokens.
pub async fn spawn_auth(database: &TestDatabase, addr: SocketAddr, key: &SigningKey) -> Running {
    let dir = tempfile::tempdir().unwrap();
    start([
        "auth-api".to_owned(),
        format!("--listen-addr={addr}"),
        format!("--database-url={}", database.url),
        format!("--data-dir={}", dir.path().display()),
        format!("--jwt-signing-key={}", key.to_pem()),
        "--rate-limit-per-ip-per-minute=0".to_owned(),
        "--rate-limit-per-username-per-minute=0".to_owned(),
        "--rate-limit-per-username-and-ip-per-minute=0".to_owned(),
        "--shutdown-grace-seconds=1".to_owned(),
    ])
    .await
}

/// Registers `username` (password [`PASSWORD`], email `<username>@example.com`) at the
/// auth-api at `address`; the 201 is asserted, its body returned.
pub async fn register(client: &reqwest::Client, address: &str, username: &str) -> Value {
    let resp = crate::read(client.post(format!("{address}/register")).json(&json!({
        "username": username, "password": PASSWORD, "email": format!("{username}@example.com")
    })))
    .await;
    assert_eq!(resp.status, 201, "{}", resp.body);
    resp.body
}
