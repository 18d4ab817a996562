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

    #[command(flatten)]
    pub search: SearchSettings,

    /// auth-api's key set, e.g. `http://auth-api:8081/.well-known/jwks.json`. Keys are cached
    /// and fetched again when a token names one we do not hold (a key rotation).
    #[arg(long, env = "JWKS_URL", value_parser = shared::config::parse_http_url)]
    pub jwks_url: Option<String>,

    #[command(subcommand)]
    pub command: Option<ServiceCommand>,
}

/// How user-search answers. `chat-suite` takes the same settings.
#[derive(Debug, Clone, clap::Args)]
pub struct SearchSettings {
    /// Exact lookups (by username or id) each replica remembers, answered again without the
    /// database; forgotten on every replica when the account is deleted. 0: none. Postgres
    /// only (`lookup_cache.rs`).
    #[arg(long, env = "LOOKUP_CACHE_ENTRIES", default_value_t = 100_000, value_parser = clap::value_parser!(u32).range(0..=10_000_000))]
    pub lookup_cache_entries: u32,
}
