use std::net::SocketAddr;

use clap::Parser;
use shared::config::{CommonConfig, ConfigError, ReadReplicaConfig, ServiceCommand};

use crate::store::durability::Durability;

#[derive(Debug, Parser)]
#[command(
    name = "chat-gateway",
    version,
    about = "chat-suite one-to-one chat over WebSockets",
    args_override_self = true
)]
pub struct Cli {
    /// host:port to bind.
    #[arg(long, env = "LISTEN_ADDR", default_value = "0.0.0.0:8083")]
    pub listen_addr: SocketAddr,

    #[command(flatten)]
    pub common: CommonConfig,

    #[command(flatten)]
    pub reads: ReadReplicaConfig,

    /// auth-api's key set, e.g. `http://auth-api:8081/.well-known/jwks.json`.
    #[arg(long, env = "JWKS_URL", value_parser = shared::config::parse_http_url)]
    pub jwks_url: Option<String>,

    #[command(flatten)]
    pub chat: ChatSettings,

    #[command(subcommand)]
    pub command: Option<GatewayCommand>,
}

/// What every service does, and the document only the gateway has.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum GatewayCommand {
    #[command(flatten)]
    Service(ServiceCommand),
    /// Print the AsyncAPI document of the `/chat` WebSocket.
    Asyncapi,
}

/// How each WebSocket connection is kept in check. `chat-suite` takes the same settings.
#[derive(Debug, Clone, clap::Args)]
pub struct ChatSettings {
    /// Seconds between the server's pings on an otherwise quiet connection.
    #[arg(long, env = "WS_PING_INTERVAL_SECONDS", default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..=300))]
    pub ws_ping_interval_seconds: u64,

    /// A connection from which nothing (not even a pong) arrived for this long is closed.
    /// Must be longer than WS_PING_INTERVAL_SECONDS.
    #[arg(long, env = "WS_IDLE_TIMEOUT_SECONDS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(2..=3600))]
    pub ws_idle_timeout_seconds: u64,

    /// Events waiting to be written to one connection. A reader that lets this many pile up
    /// is disconnected (close 1013) rather than allowed to grow the server's memory.
    #[arg(long, env = "WS_SEND_QUEUE", default_value_t = 256, value_parser = clap::value_parser!(u32).range(8..=65536))]
    pub ws_send_queue: u32,

    /// Seconds a write to one connection may take before the client counts as gone.
    #[arg(long, env = "WS_WRITE_TIMEOUT_SECONDS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=300))]
    pub ws_write_timeout_seconds: u64,

    /// Frames a connection may send per second, sustained (a burst of WS_RATE_LIMIT_BURST is
    /// allowed). A frame over the limit gets an error event; a client that keeps going is cut off.
    #[arg(long, env = "WS_RATE_LIMIT_PER_SECOND", default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub ws_rate_limit_per_second: u32,

    /// Frames a connection may send at once before WS_RATE_LIMIT_PER_SECOND applies.
    #[arg(long, env = "WS_RATE_LIMIT_BURST", default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub ws_rate_limit_burst: u32,

    /// Connections one user may hold on this replica at once (every device and tab is one);
    /// the next upgrade is refused with 429 `too_many_connections`.
    #[arg(long, env = "WS_CONNECTIONS_PER_USER", default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub ws_connections_per_user: u32,

    /// Connections this replica holds at most, of both protocols together; the next upgrade is
    /// refused with 503 `replica_full` before any database work. Unset: as many as its open-file
    /// limit allows, less a reserve for its database, Redis and probes (`node/slots.rs`).
    #[arg(long, env = "WS_MAX_CONNECTIONS", value_parser = clap::value_parser!(u32).range(1..))]
    pub ws_max_connections: Option<u32>,

    /// Seconds a replica's presence entries live in Redis without being renewed: how long a
    /// crashed replica's users still look online.
    #[arg(long, env = "PRESENCE_TTL_SECONDS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(3..=3600))]
    pub presence_ttl_seconds: u64,

    /// Most members a group may have, its owner included. Every message costs a stored row
    /// and a receipt per member, and a push per member away: 1,024 is WhatsApp's limit, and
    /// what one group's fan-out was measured at (BENCHMARKS.md).
    #[arg(long, env = "GROUP_MAX_MEMBERS", default_value_t = 1024, value_parser = clap::value_parser!(u32).range(2..=100_000))]
    pub group_max_members: u32,

    /// How a message is committed before anyone hears of it: `sync`, flushed to disk; or
    /// `async`, flushed by Postgres's WAL writer a moment later (`synchronous_commit = off` for
    /// message transactions only), so a crash of Postgres can lose the last moment's messages.
    /// Postgres only.
    #[arg(long, env = "MESSAGE_DURABILITY", value_enum, default_value_t = Durability::Sync)]
    pub message_durability: Durability,
}

impl ChatSettings {
    /// What clap cannot check alone: how the settings relate, to each other and to the
    /// database of `common`.
    pub fn validate(&self, common: &CommonConfig) -> Result<(), ConfigError> {
        if self.message_durability == Durability::Async && common.database().is_sqlite() {
            return Err(ConfigError::new(
                "MESSAGE_DURABILITY",
                "async needs Postgres (DATABASE_URL); the embedded SQLite database commits every message to disk",
            ));
        }
        if self.ws_idle_timeout_seconds <= self.ws_ping_interval_seconds {
            return Err(ConfigError::new(
                "WS_IDLE_TIMEOUT_SECONDS",
                format!(
                    "must be longer than WS_PING_INTERVAL_SECONDS ({} s), or live clients are cut off between pings",
                    self.ws_ping_interval_seconds
                ),
            ));
        }
        Ok(())
    }
}
