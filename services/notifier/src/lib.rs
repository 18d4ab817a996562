//! notifier: pushes the notification events of the topic to the recipients' phones and
//! browsers, through FCM, APNs and Web Push; each event to each device once, across restarts
//! and replicas; a provider that is down does not hold up the others.

pub mod config;
mod consumer;
mod deliveries;
mod dispatch;
mod event;
mod local;
mod metrics;
pub mod providers;
pub mod push;
mod retry;
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
