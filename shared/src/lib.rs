//! What two or more chat-suite services need, and nothing more: configuration, the JSON error
//! type of the contract, the database and its entities, the embedded default's private files,
//! the username key, erasing what a user wrote (a message, an account) and hearing of accounts
//! deleted, the outbox (and, with the `kafka` feature, its relay to Kafka and the Kafka
//! settings), the browser origins allowed to call us, the timestamp format clients read,
//! the rules of text fields (for the documents and the checks alike), access tokens and their
//! keys, telemetry, and the HTTP plumbing every service mounts (health, readiness, metrics,
//! request ids, CORS, body limits, graceful shutdown).

pub mod account_deletions;
pub mod config;
mod config_error;
pub mod data_dir;
pub mod db;
pub mod entities;
pub mod erasure;
pub mod error;
pub mod http;
pub mod http_client;
pub mod jwks;
#[cfg(feature = "kafka")]
pub mod kafka;
pub mod origins;
pub mod outbox;
pub mod paging;

pub mod read_replica;
pub mod readiness;
pub mod redact;
pub mod redis_conn;
pub mod redis_tls;
pub mod server;
pub mod telemetry;
pub mod text_rule;
pub mod timestamp;
pub mod tls_provider;
pub mod tokens;
pub mod username_key;
pub mod webpush;

pub use error::{ApiError, ApiResult};

/// The end of every binary's `main`: configuration mistakes found while starting
/// ([`config::ConfigError`]) print as the one-line configuration error, anything else as
/// one line with its causes; both exit non-zero.
pub async fn run_main(run: impl std::future::Future<Output = anyhow::Result<()>>) -> std::process::ExitCode {
    match run.await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            if let Some(config) = err.downcast_ref::<config::ConfigError>() {
                config::exit_with_config_error(config);
            }
            let bin = std::env::args().next().unwrap_or_default();
            eprintln!("{}: error: {err:#}", bin.rsplit('/').next().unwrap_or("chat-suite"));
            std::process::ExitCode::FAILURE
        }
    }
}
