//! user-search: find any user by username (without regard to case) or id, list them with
//! keyset pagination, search them by prefix. Authenticated callers only; answers carry
//! `username` and `user_id` and nothing else.

pub mod config;
pub mod lookup_cache;
pub mod queries;
pub mod routes;
pub mod startup;

use config::Cli;
use shared::config::ServiceCommand as Command;

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command.clone().unwrap_or(Command::Serve) {
        Command::Serve => {
            let stop = shared::server::termination_signal();
            startup::build(&cli).await?.run_until_stopped(stop).await?
        }
        Command::Openapi => println!("{}", shared::http::openapi_document(&startup::openapi())),
        Command::Migrate => shared::db::migrate_command(&cli.common).await?,
    }
    Ok(())
}
