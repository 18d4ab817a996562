//! chat-gateway: one-to-one chat over WebSockets (`/chat`), with history and chat lists over
//! REST. Any user may be on any replica: replicas pass events through Redis pub/sub, each
//! subscribed only to the users it serves; messages are stored before they are delivered, so
//! a client that reconnects and resumes has lost nothing.

mod commands;
pub mod config;
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

/// What tests and benchmarks need of the inside: the tables, and what another replica would
/// publish.
pub use node::message_envelope;
pub use protocol::MessageView;
pub use store::entities;
/// Every REST route, for one `OpenApiService` (chat-suite joins it with the others).
pub use transport::rest::apis;

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
