//! auth-api: registration, login, refresh tokens, and the JWKS that lets every other service
//! verify access tokens on its own.

pub mod config;
mod deletion;
mod devices;
// `domain` and `passwords` are public for the login benchmark (another crate), which times
// auth-api's own hasher alone.
pub mod domain;
mod entities;
pub mod import;
pub mod passwords;
mod rate_limit;
mod refresh_tokens;
pub mod routes;
mod signing_key;
pub mod startup;
mod state;
pub mod tokens;
mod users;

use config::{Cli, Command};
use shared::config::CommonConfig;

/// Runs what the command line asks for; `serve` until SIGTERM or SIGINT.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command.clone().unwrap_or(Command::Serve) {
        Command::Serve => {
            let stop = shared::server::termination_signal();
            startup::build(&cli).await?.run_until_stopped(stop).await?
        }
        Command::Openapi => println!("{}", shared::http::openapi_document(&startup::openapi())),
        other => run_command(other, &cli.common).await?,
    }
    Ok(())
}

/// The one-shot commands, shared with `chat-suite`.
pub async fn run_command(command: Command, common: &CommonConfig) -> anyhow::Result<()> {
    match command {
        Command::Migrate => shared::db::migrate_command(common).await?,
        Command::ImportUsers { from } => {
            let db = shared::db::prepare(common).await?;
            let report = import::import_users(&db, &from).await?;
            println!(
                "read {} users, imported {}, skipped {} already present",
                report.read, report.imported, report.skipped
            );
        }
        Command::Serve | Command::Openapi => anyhow::bail!("not a one-shot command"),
    }
    Ok(())
}
