//! chat-gateway: one-to-one chat over WebSockets (`/chat`), with history and chat lists over
//! REST. Any user may be on any replica: replicas pass events through Redis pub/sub, each
//! subscribed only to the users it serves; messages are stored before they are delivered, so
//! a client that reconnects and resumes has lost nothing.

mod accounts;
mod commands;
pub mod config;
mod deleted_accounts;
mod domain;
mod error;
mod metrics;
mod node;
mod protocol;
mod session;
pub mod startup;
mod state;
mod store;
mod transport;
mod views;

/// The tables, for tests that set a database up by hand.
pub use store::entities;
/// Every REST route, for one `OpenApiService` (chat-suite joins it with the others).
pub use transport::rest::apis;
/// What another replica would publish, for tests that publish as one.
pub use views::message_envelope;

use config::{Cli, GatewayCommand};
use shared::config::ServiceCommand;

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command.clone().unwrap_or(GatewayCommand::Service(ServiceCommand::Serve)) {
        GatewayCommand::Service(ServiceCommand::Serve) => {
            let stop = shared::server::termination_signal();
            startup::build(&cli).await?.run_until_stopped(stop).await?
        }
        GatewayCommand::Service(ServiceCommand::Openapi) => {
            println!("{}", shared::http::openapi_document(&startup::openapi()))
        }
        GatewayCommand::Service(ServiceCommand::Migrate) => shared::db::migrate_command(&cli.common).await?,
        GatewayCommand::Asyncapi => println!("{}", startup::asyncapi()),
    }
    Ok(())
}
