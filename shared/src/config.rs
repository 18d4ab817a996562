//! Configuration read once at start-up. Every setting is a flag and an environment variable
//! (clap), so `--help` documents them all; a bad value ends the process with one line naming
//! the variable and what is wrong with it (`config_error.rs`).

use std::{fmt, path::PathBuf, str::FromStr};

use secrecy::{ExposeSecret, SecretString};

pub use crate::config_error::{ConfigError, exit_with_config_error, parse_or_exit};
use crate::origins::AllowedOrigins;
pub use crate::redis_conn::RedisUrl;
use crate::{
    redis_conn::RedisTarget,
    redis_tls::{PemCertificates, PemKey, RedisTls},
};

/// Settings every service shares.
#[derive(Debug, Clone, clap::Args)]
pub struct CommonConfig {
    /// Database: `postgres://…` or `sqlite://…`. Unset: an embedded SQLite file in DATA_DIR.
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: Option<DatabaseUrl>,

    /// Connections kept in the database pool of this process.
    #[arg(long, env = "DATABASE_MAX_CONNECTIONS", default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub database_max_connections: u32,

    /// Redis for cross-replica rooms, presence and rate limits: one server (`redis://…`) or a
    /// Redis Cluster by some of its nodes (`redis+cluster://host:port,host:port`); over TLS,
    /// `rediss://…` and `rediss+cluster://…`. Unset: in-process, which is correct for one
    /// replica only.
    #[arg(long, env = "REDIS_URL")]
    pub redis_url: Option<RedisUrl>,

    /// PEM file of the CA (or CAs) that signed the certificates of a `rediss://` REDIS_URL's
    /// servers, trusted instead of the system's roots. Unset: the system's roots.
    #[arg(long, env = "REDIS_CA_FILE")]
    pub redis_ca_file: Option<PemCertificates>,

    /// PEM certificate (and its chain) shown to Redis servers that require one
    /// (`tls-auth-clients yes`); needs REDIS_CLIENT_KEY_FILE. Unset: none shown.
    #[arg(long, env = "REDIS_CLIENT_CERT_FILE")]
    pub redis_client_cert_file: Option<PemCertificates>,

    /// PEM private key (PKCS#8, PKCS#1 or SEC1) of REDIS_CLIENT_CERT_FILE.
    #[arg(long, env = "REDIS_CLIENT_KEY_FILE")]
    pub redis_client_key_file: Option<PemKey>,

    /// Where the embedded default keeps its files (SQLite database, generated signing key).
    #[arg(long, env = "DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,

    /// OTLP/HTTP collector for traces, e.g. `http://otel-collector:4318`. Unset: no export.
    #[arg(long, env = "OTEL_EXPORTER_OTLP_ENDPOINT")]
    pub otlp_endpoint: Option<String>,

    /// Seconds in-flight requests get to finish after SIGTERM or SIGINT.
    #[arg(long, env = "SHUTDOWN_GRACE_SECONDS", default_value_t = 25, value_parser = clap::value_parser!(u64).range(0..=3600))]
    pub shutdown_grace_seconds: u64,

    /// Seconds a client gets to send a request's headers (counted from when the connection
    /// waits for a request, so it also closes idle keep-alive connections). Past it the
    /// connection is closed: a client sending its headers a byte at a time cannot hold a
    /// connection for ever. A proxy in front must drop idle upstream connections sooner
    /// (ingress-nginx: `upstream-keepalive-timeout`, 60 by default).
    #[arg(long, env = "HEADER_READ_TIMEOUT_SECONDS", default_value_t = 75, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub header_read_timeout_seconds: u64,

    /// Number of reverse proxies (the ingress) in front of this service whose
    /// `X-Forwarded-For` entries are trusted to name the client. 0 uses the peer address.
    #[arg(long, env = "TRUSTED_PROXY_HOPS", default_value_t = 0)]
    pub trusted_proxy_hops: usize,

    /// Origins whose pages may call the HTTP API from a browser, comma separated, each
    /// `scheme://host[:port]` as the browser sends it in `Origin` (no path). Empty: none; a
    /// page served by the service itself needs no entry. `*` is not accepted.
    #[arg(long, env = "CORS_ALLOWED_ORIGINS", default_value = "", hide_default_value = true)]
    pub cors_allowed_origins: AllowedOrigins,

    #[command(flatten)]
    pub tokens: TokenSettings,
}

/// A streaming replica for reads that may lag by a moment (user-search and chat-gateway).
#[derive(Debug, Clone, clap::Args)]
pub struct ReadReplicaConfig {
    /// A streaming replica of DATABASE_URL (`postgres://…`) for reads that may lag by a
    /// moment: user lookups and listings, chat lists, history pages. Writes, and what a client
    /// must read back at once, stay on DATABASE_URL; so do reads while the replica is down or
    /// too far behind. Unset: every read goes to DATABASE_URL.
    #[arg(long, env = "DATABASE_READ_URL")]
    pub database_read_url: Option<DatabaseUrl>,

    /// Seconds the replica may be behind DATABASE_URL before its reads go to DATABASE_URL.
    #[arg(long, env = "DATABASE_READ_MAX_LAG_SECONDS", default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub database_read_max_lag_seconds: u64,
}

impl ReadReplicaConfig {
    /// A replica is of a Postgres primary: checked before anything is opened.
    pub fn validate(&self, common: &CommonConfig) -> Result<(), ConfigError> {
        match &self.database_read_url {
            Some(url) if url.is_sqlite() || common.database().is_sqlite() => Err(ConfigError::new(
                "DATABASE_READ_URL",
                "a read replica is a Postgres streaming replica of a Postgres DATABASE_URL",
            )),
            _ => Ok(()),
        }
    }
}

/// The subcommands of a service that only serves (user-search, chat-gateway).
#[derive(Debug, Clone, clap::Subcommand)]
pub enum ServiceCommand {
    /// Serve the API (the default).
    Serve,
    /// Apply pending database migrations, then exit.
    Migrate,
    /// Print the OpenAPI document of this service.
    Openapi,
}

/// Who issues access tokens and for whom: checked on every verification.
#[derive(Debug, Clone, clap::Args)]
pub struct TokenSettings {
    /// `iss` of access tokens: signed into them by auth-api, required by every verifier.
    #[arg(long, env = "JWT_ISSUER", default_value = "chat-suite")]
    pub issuer: String,

    /// `aud` of access tokens: signed into them by auth-api, required by every verifier.
    #[arg(long, env = "JWT_AUDIENCE", default_value = "chat-suite")]
    pub audience: String,
}

impl CommonConfig {
    /// The database this process uses: the configured one, or the embedded SQLite file.
    pub fn database(&self) -> DatabaseUrl {
        self.database_url.clone().unwrap_or_else(|| {
            let path = self.embedded_database_file();
            DatabaseUrl(SecretString::from(format!("sqlite://{}?mode=rwc", path.display())))
        })
    }

    /// Where the embedded default keeps its database (used when DATABASE_URL is unset).
    pub fn embedded_database_file(&self) -> PathBuf {
        self.data_dir.join("chat-suite.db")
    }

    /// Redis with its TLS settings, when REDIS_URL is set. TLS files that would go unused (no
    /// REDIS_URL, or one without TLS) and half a client certificate are refused, not ignored.
    pub fn redis(&self) -> Result<Option<RedisTarget>, ConfigError> {
        let files = [
            ("REDIS_CA_FILE", self.redis_ca_file.is_some()),
            ("REDIS_CLIENT_CERT_FILE", self.redis_client_cert_file.is_some()),
            ("REDIS_CLIENT_KEY_FILE", self.redis_client_key_file.is_some()),
        ];
        let unused = files.iter().find(|(_, set)| *set).map(|(variable, _)| *variable);
        let Some(url) = &self.redis_url else {
            return match unused {
                Some(variable) => Err(ConfigError::new(variable, "set, but REDIS_URL is not")),
                None => Ok(None),
            };
        };
        if let (Some(variable), false) = (unused, url.is_tls()) {
            return Err(ConfigError::new(
                variable,
                "set, but REDIS_URL is not a TLS one (rediss:// or rediss+cluster://)",
            ));
        }
        let client = match (&self.redis_client_cert_file, &self.redis_client_key_file) {
            (Some(certificate), Some(key)) => Some((certificate, key)),
            (Some(_), None) => {
                return Err(ConfigError::new("REDIS_CLIENT_KEY_FILE", "required with REDIS_CLIENT_CERT_FILE"));
            }
            (None, Some(_)) => {
                return Err(ConfigError::new("REDIS_CLIENT_CERT_FILE", "required with REDIS_CLIENT_KEY_FILE"));
            }
            (None, None) => None,
        };
        let tls = RedisTls::new(self.redis_ca_file.as_ref(), client)
            .map_err(|reason| ConfigError::new("REDIS_CLIENT_KEY_FILE", reason))?;
        Ok(Some(RedisTarget { url: url.clone(), tls }))
    }
}

/// A database URL, checked for a scheme we can serve; the password in it is never printed.
#[derive(Clone)]
pub struct DatabaseUrl(SecretString);

impl DatabaseUrl {
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    pub fn is_sqlite(&self) -> bool {
        self.expose().starts_with("sqlite:")
    }
}

impl FromStr for DatabaseUrl {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let known = ["postgres://", "postgresql://", "sqlite:"];
        if known.iter().any(|scheme| s.starts_with(scheme)) {
            Ok(Self(SecretString::from(s.to_owned())))
        } else {
            Err("expected a postgres://… or sqlite://… URL".into())
        }
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = self.expose().split(':').next().unwrap_or_default();
        write!(f, "DatabaseUrl({scheme}:…)")
    }
}

/// An `http://` or `https://` URL with a host (where a service fetches another's keys).
pub fn parse_http_url(raw: &str) -> Result<String, String> {
    let rest = raw.strip_prefix("http://").or_else(|| raw.strip_prefix("https://"));
    match rest {
        Some(rest) if !rest.is_empty() && !rest.starts_with('/') => Ok(raw.to_owned()),
        _ => Err("expected an http:// or https:// URL".into()),
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::config_error::one_line;

    #[test]
    fn an_error_shows_no_password() {
        let err = Probe::try_parse_from([
            "probe",
            "--listen-addr",
            "127.0.0.1:1",
            "--database-url",
            "mysql://app:hunter2@db/chat",
        ])
        .unwrap_err();
        assert_eq!(
            one_line(&err),
            "DATABASE_URL (--database-url) = \"mysql://app:***@db/chat\": expected a postgres://… or sqlite://… URL"
        );
    }

    #[derive(Debug, Parser)]
    struct Probe {
        #[arg(long, env = "PROBE_LISTEN_ADDR")]
        listen_addr: std::net::SocketAddr,
        #[command(flatten)]
        common: CommonConfig,
    }

    #[test]
    fn a_bad_value_is_one_line_naming_the_variable() {
        let err = Probe::try_parse_from(["probe", "--listen-addr", "nowhere"]).unwrap_err();
        let line = one_line(&err);
        assert!(!line.contains('\n'), "{line}");
        assert!(line.starts_with("LISTEN_ADDR (--listen-addr) = \"nowhere\": "), "{line}");
        assert!(line.contains("invalid socket address"), "{line}");
    }

    #[test]
    fn a_database_url_of_another_kind_is_refused() {
        let err = Probe::try_parse_from(["probe", "--listen-addr", "127.0.0.1:1", "--database-url", "mysql://x"])
            .unwrap_err();
        assert_eq!(
            one_line(&err),
            "DATABASE_URL (--database-url) = \"mysql://x\": expected a postgres://… or sqlite://… URL"
        );
    }

    #[test]
    fn a_malformed_allowed_origin_is_one_line_naming_the_variable() {
        let err = Probe::try_parse_from([
            "probe",
            "--listen-addr",
            "127.0.0.1:1",
            "--cors-allowed-origins",
            "https://chat.example.com,https://app.example.com/",
        ])
        .unwrap_err();
        assert_eq!(
            one_line(&err),
            "CORS_ALLOWED_ORIGINS (--cors-allowed-origins) = \"https://chat.example.com,https://app.example.com/\": \
             https://app.example.com/: must be scheme://host[:port], without a path (not even a trailing /)"
        );
        let err = Probe::try_parse_from(["probe", "--listen-addr", "127.0.0.1:1", "--cors-allowed-origins", "*"])
            .unwrap_err();
        assert_eq!(
            one_line(&err),
            "CORS_ALLOWED_ORIGINS (--cors-allowed-origins) = \"*\": \
             *: `*` is not accepted: list each origin (scheme://host[:port])"
        );
        let unset = Probe::try_parse_from(["probe", "--listen-addr", "127.0.0.1:1"]).unwrap();
        assert!(unset.common.cors_allowed_origins.is_empty());
    }

    #[test]
    fn a_redis_ca_file_that_is_not_there_is_one_line_naming_it() {
        let err =
            Probe::try_parse_from(["probe", "--listen-addr", "127.0.0.1:1", "--redis-ca-file", "/nonexistent/ca.pem"])
                .unwrap_err();
        assert_eq!(
            one_line(&err),
            "REDIS_CA_FILE (--redis-ca-file) = \"/nonexistent/ca.pem\": cannot read the file: No such file or directory (os error 2)"
        );
    }

    #[test]
    fn secrets_are_not_in_debug_output() {
        let url: DatabaseUrl = "postgres://app:hunter2@db/chat".parse().unwrap();
        assert_eq!(format!("{url:?}"), "DatabaseUrl(postgres:…)");
        let url: RedisUrl = "redis://:hunter2@redis:6379".parse().unwrap();
        assert!(!format!("{url:?}").contains("hunter2"));
    }
}
