use std::net::SocketAddr;

use clap::Parser;
use shared::config::{CommonConfig, ReadReplicaConfig, ServiceCommand};

#[derive(Debug, Parser)]
#[command(name = "user-search", version, about = "chat-suite user listing and search", args_override_self = true)]
pub struct Cli {
    /// host:port to bind.
    #[arg(long, env = "LISTEN_ADDR", default_value = "0.0.0.0:8082")]
    pub listen_addr: SocketAddr,

    #[command(flatten)]
    pub common: CommonConfig,

    #[command(flatten)]
    pub reads: ReadReplicaConfig,

    /// auth-api's key set, e.g. `http://auth-api:8081/.well-known/jwks.json`. Keys are cached
    /// and fetched again when a token names one we do not hold (a key rotation).
    #[arg(long, env = "JWKS_URL", value_parser = shared::config::parse_http_url)]
    pub jwks_url: Option<String>,

    #[command(subcommand)]
    pub command: Option<ServiceCommand>,
}
