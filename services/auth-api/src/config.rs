//! auth-api's settings: the common ones plus signing, token lifetimes, hashing cost and rate
//! limits. `AuthSettings` is flattened into `chat-suite`'s command line too.

use std::{net::SocketAddr, path::PathBuf};

use clap::{Parser, Subcommand};
use secrecy::SecretString;
use shared::{config::CommonConfig, outbox::relay::RelaySettings, webpush::WebPushSettings};

#[derive(Debug, Parser)]
#[command(
    name = "auth-api",
    version,
    about = "chat-suite registration, login, tokens and JWKS",
    args_override_self = true
)]
pub struct Cli {
    /// host:port to bind.
    #[arg(long, env = "LISTEN_ADDR", default_value = "0.0.0.0:8081")]
    pub listen_addr: SocketAddr,

    #[command(flatten)]
    pub common: CommonConfig,

    #[command(flatten)]
    pub auth: AuthSettings,

    #[command(flatten)]
    pub relay: RelaySettings,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// Serve the API (the default).
    Serve,
    /// Apply pending database migrations, then exit (a Kubernetes Job or Helm hook).
    Migrate,
    /// Copy the original Flask service's `user` table into ours; running it again is harmless.
    ImportUsers {
        /// The original database, `postgres://…`.
        #[arg(long)]
        from: String,
    },
    /// Print the OpenAPI document of this service.
    Openapi,
}

#[derive(Debug, Clone, clap::Args)]
pub struct AuthSettings {
    /// The Ed25519 private key that signs access tokens, PKCS#8 PEM. Every replica must have
    /// the same one. Unset with SQLite: generated once and kept in DATA_DIR.
    #[arg(long, env = "JWT_SIGNING_KEY", hide_env_values = true)]
    pub jwt_signing_key: Option<SecretString>,

    /// A file holding JWT_SIGNING_KEY (a mounted Secret).
    #[arg(long, env = "JWT_SIGNING_KEY_FILE", conflicts_with = "jwt_signing_key")]
    pub jwt_signing_key_file: Option<PathBuf>,

    /// Public keys (PEM, as many as needed) of signing keys retired in a rotation. They stay in
    /// the JWKS, so tokens they signed verify until they expire; drop them after
    /// ACCESS_TOKEN_TTL_SECONDS.
    #[arg(long, env = "JWT_RETIRED_PUBLIC_KEYS", default_value = "", hide_default_value = true)]
    pub jwt_retired_public_keys: String,

    /// Lifetime of access tokens, in seconds.
    #[arg(long, env = "ACCESS_TOKEN_TTL_SECONDS", default_value_t = 900, value_parser = clap::value_parser!(u64).range(30..=86_400))]
    pub access_token_ttl_seconds: u64,

    /// Lifetime of a refresh token from its issue (each rotation issues a new one), in seconds.
    #[arg(long, env = "REFRESH_TOKEN_TTL_SECONDS", default_value_t = 30 * 86_400, value_parser = clap::value_parser!(u64).range(60..=365 * 86_400))]
    pub refresh_token_ttl_seconds: u64,

    /// Seconds after a rotation during which presenting the spent refresh token again returns
    /// the same successor (two tabs refreshing at once) instead of revoking the session.
    #[arg(long, env = "REFRESH_REUSE_GRACE_SECONDS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(0..=60))]
    pub refresh_reuse_grace_seconds: u64,

    /// argon2id memory cost in KiB; OWASP's minimum (19 MiB) is the floor.
    #[arg(long, env = "ARGON2_MEMORY_KIB", default_value_t = 19_456, value_parser = clap::value_parser!(u32).range(19_456..=4_194_304))]
    pub argon2_memory_kib: u32,

    /// argon2id passes; OWASP's minimum (2) is the floor.
    #[arg(long, env = "ARGON2_ITERATIONS", default_value_t = 2, value_parser = clap::value_parser!(u32).range(2..=64))]
    pub argon2_iterations: u32,

    /// argon2id lanes.
    #[arg(long, env = "ARGON2_PARALLELISM", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub argon2_parallelism: u32,

    /// Logins and registrations that may wait for a core to hash on (one hashes per core at a
    /// time); past that they get a 503 with `Retry-After` at once instead of a longer wait.
    #[arg(long, env = "PASSWORD_HASH_QUEUE", default_value_t = 64, value_parser = clap::value_parser!(u32).range(0..=100_000))]
    pub password_hash_queue: u32,

    /// Login and registration attempts allowed per client address per minute (0: no limit).
    #[arg(long, env = "RATE_LIMIT_PER_IP_PER_MINUTE", default_value_t = 30)]
    pub rate_limit_per_ip_per_minute: u32,

    /// Failed logins allowed per username from one client address per minute (0: no limit).
    /// Hammering a name from one address locks out that address, not the name's owner.
    #[arg(long, env = "RATE_LIMIT_PER_USERNAME_AND_IP_PER_MINUTE", default_value_t = 10)]
    pub rate_limit_per_username_and_ip_per_minute: u32,

    /// Failed logins allowed per username from all addresses together per minute, and
    /// registration attempts per username (0: no limit). Looser than the limit per address:
    /// when it is used up, the owner is refused too.
    #[arg(long, env = "RATE_LIMIT_PER_USERNAME_PER_MINUTE", default_value_t = 100)]
    pub rate_limit_per_username_per_minute: u32,

    #[command(flatten)]
    pub webpush: WebPushSettings,
}
