//! chat-gateway: one-to-one chat over WebSockets (`/chat`), with history and chat lists over
//! REST. Any user may be on any replica: replicas pass events through Redis pub/sub, each
//! subscribed only to the users it serves; messages are stored before they are delivered, so
//! a client that reconnects and resumes has lost nothing.

pub mod bus;
pub mod chats;
pub mod close;
pub mod config;
pub mod entities;
pub mod error;
pub mod hub;
pub mod messages;
pub mod metrics;
pub mod order;
pub mod presence;
pub mod protocol;
pub mod routes;
pub mod session;
pub mod slots;
pub mod socket;
pub mod startup;
pub mod state;
pub mod writer;

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
