//! Where services reach Redis, and the connection they share for commands.
//!
//! `REDIS_URL` names one server (`redis://`) or a Redis Cluster by some of its nodes
//! (`redis+cluster://[user:password@]host:port[,host:port…]`; any node will do, the client
//! learns the rest from the cluster itself); over TLS, `rediss://` and `rediss+cluster://`,
//! with the CA and client certificate of [`RedisTls`] (`redis_tls.rs`).
//!
//! One server: a `ConnectionManager`, which reconnects on its own after Redis restarts, so
//! callers only ever see errors while it is really down. A cluster: redis-rs's cluster
//! connection, which follows slots as they move and fail over. Either way retries are kept
//! short: a caller waiting on Redis is a request (a login, a chat message) waiting, and every
//! caller has an answer for Redis being away that beats waiting for it.

use std::{fmt, str::FromStr, time::Duration};

use redis::{
    Cmd, ConnectionAddr, IntoConnectionInfo, Pipeline, RedisFuture, Value,
    aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig},
    cluster::ClusterClient,
    cluster_async::ClusterConnection,
};
use secrecy::{ExposeSecret, SecretString};

use crate::redis_tls::RedisTls;

/// A Redis URL the redis crate accepts (or a cluster of them); passwords are never printed.
#[derive(Clone)]
pub enum RedisUrl {
    Server(SecretString),
    /// A cluster, by its seed nodes, each as a `redis://` (or `rediss://`) URL.
    Cluster(Vec<SecretString>),
}

impl RedisUrl {
    /// The URL of each node named: one for a server.
    pub fn nodes(&self) -> Vec<&str> {
        match self {
            Self::Server(url) => vec![url.expose_secret()],
            Self::Cluster(nodes) => nodes.iter().map(ExposeSecret::expose_secret).collect(),
        }
    }

    /// Whether connections go over TLS (`rediss://`, `rediss+cluster://`).
    pub fn is_tls(&self) -> bool {
        self.nodes().iter().all(|node| node.starts_with("rediss://"))
    }
}

impl FromStr for RedisUrl {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let cluster = [("redis+cluster://", "redis://"), ("rediss+cluster://", "rediss://")]
            .into_iter()
            .find_map(|(prefix, scheme)| Some((s.strip_prefix(prefix)?, scheme)));
        let Some((rest, scheme)) = cluster else {
            check_node(s)?;
            return Ok(Self::Server(SecretString::from(s.to_owned())));
        };
        // `[userinfo@]host:port,host:port[/db][?query]`: the credentials, database and options
        // apply to every node.
        let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(authority_end);
        let (userinfo, hosts) = match authority.rfind('@') {
            Some(at) => authority.split_at(at + 1),
            None => ("", authority),
        };
        let mut nodes = Vec::new();
        for host in hosts.split(',') {
            if host.is_empty() {
                return Err("expected redis+cluster://[user:password@]host:port[,host:port…]".into());
            }
            let url = format!("{scheme}{userinfo}{host}{tail}");
            check_node(&url).map_err(|e| format!("{host}: {e}"))?;
            nodes.push(SecretString::from(url));
        }
        Ok(Self::Cluster(nodes))
    }
}

/// A URL of one node the redis crate can connect to, over TLS only with the server's
/// certificate checked: `#insecure` (any certificate for any name) is refused, the server's
/// CA belongs in REDIS_CA_FILE.
fn check_node(url: &str) -> Result<(), String> {
    let info = url.into_connection_info().map_err(|e| e.to_string())?;
    match info.addr() {
        ConnectionAddr::TcpTls { insecure: true, .. } => {
            Err("#insecure is not accepted: give the server's CA in REDIS_CA_FILE".into())
        }
        _ => Ok(()),
    }
}

/// Where Redis is and how connections to it are secured: REDIS_URL and the TLS files beside it.
#[derive(Debug, Clone)]
pub struct RedisTarget {
    pub url: RedisUrl,
    pub tls: RedisTls,
}

/// A URL alone: without TLS, or with the system's roots and no client certificate.
impl From<RedisUrl> for RedisTarget {
    fn from(url: RedisUrl) -> Self {
        Self { url, tls: RedisTls::default() }
    }
}

impl fmt::Debug for RedisUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Server(_) => f.write_str("RedisUrl(…)"),
            Self::Cluster(nodes) => write!(f, "RedisUrl(cluster of {} named nodes)", nodes.len()),
        }
    }
}

/// The command connection: every command of one service goes through it, pipelined.
#[derive(Clone)]
pub enum RedisConn {
    Server(ConnectionManager),
    Cluster(ClusterConnection),
}

impl RedisConn {
    pub fn is_cluster(&self) -> bool {
        matches!(self, Self::Cluster(_))
    }

    /// Whether Redis can serve: a server answers PING; a cluster node says the cluster is ok
    /// (every slot served), so one master down for good is seen, its failover is not.
    pub async fn check(&self) -> Result<(), String> {
        let mut conn = self.clone();
        match self {
            Self::Server(_) => redis::cmd("PING").query_async::<String>(&mut conn).await.map(drop),
            Self::Cluster(_) => {
                let info: String =
                    redis::cmd("CLUSTER").arg("INFO").query_async(&mut conn).await.map_err(|e| e.to_string())?;
                return match info.lines().find_map(|l| l.strip_prefix("cluster_state:")) {
                    Some("ok") => Ok(()),
                    Some(state) => Err(format!("cluster_state:{}", state.trim())),
                    None => Err("CLUSTER INFO without cluster_state".into()),
                };
            }
        }
        .map_err(|e| e.to_string())
    }
}

impl ConnectionLike for RedisConn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Server(conn) => conn.req_packed_command(cmd),
            Self::Cluster(conn) => conn.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Self::Server(conn) => conn.req_packed_commands(cmd, offset, count),
            Self::Cluster(conn) => conn.req_packed_commands(cmd, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Server(conn) => conn.get_db(),
            Self::Cluster(conn) => conn.get_db(),
        }
    }
}

/// How long one command may take to connect and to be answered.
const TIMEOUT: Duration = Duration::from_secs(1);

/// The command connection, once Redis has answered. A TLS handshake refused for want of trust
/// names the setting to mend (`REDIS_CA_FILE`, `REDIS_CLIENT_CERT_FILE`, `REDIS_URL`).
pub async fn connect(target: &RedisTarget) -> anyhow::Result<RedisConn> {
    let RedisTarget { url, tls } = target;
    crate::tls_provider::install();
    let conn = match url {
        RedisUrl::Server(url) => {
            let config = ConnectionManagerConfig::new()
                .set_connection_timeout(Some(TIMEOUT))
                .set_response_timeout(Some(TIMEOUT))
                .set_number_of_retries(1)
                .set_max_delay(Duration::from_millis(200));
            match tls.client(url.expose_secret()) {
                Ok(client) => ConnectionManager::new_with_config(client, config).await.map(RedisConn::Server),
                Err(e) => Err(e),
            }
        }
        RedisUrl::Cluster(_) => {
            // A moved slot or a failover is retried (the client refreshes its slot map first),
            // within a few hundred milliseconds.
            let mut builder = ClusterClient::builder(url.nodes())
                .connection_timeout(TIMEOUT)
                .response_timeout(TIMEOUT)
                .retries(3)
                .min_retry_wait(50)
                .max_retry_wait(400);
            if let Some(certificates) = tls.certificates() {
                builder = builder.certs(certificates);
            }
            match builder.build() {
                Ok(client) => client.get_async_connection().await.map(RedisConn::Cluster),
                Err(e) => Err(e),
            }
        }
    };
    conn.map_err(|e| {
        let error = e.to_string();
        anyhow::anyhow!(tls.blame(&error).unwrap_or_else(|| format!("REDIS_URL: cannot connect: {error}")))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cluster_is_named_by_its_nodes_with_one_set_of_credentials() {
        let url: RedisUrl = "redis+cluster://app:s3cret@10.0.0.1:7000,10.0.0.2:7001/?protocol=resp3".parse().unwrap();
        assert!(matches!(url, RedisUrl::Cluster(_)));
        assert_eq!(
            url.nodes(),
            ["redis://app:s3cret@10.0.0.1:7000/?protocol=resp3", "redis://app:s3cret@10.0.0.2:7001/?protocol=resp3"]
        );
        assert!(!format!("{url:?}").contains("s3cret"));
    }

    #[test]
    fn a_cluster_url_without_a_node_is_refused() {
        for url in ["redis+cluster://", "redis+cluster://a:1,,b:2", "redis+cluster://:pw@"] {
            assert!(url.parse::<RedisUrl>().is_err(), "{url}");
        }
    }

    #[test]
    fn tls_is_rediss_for_one_server_or_a_cluster() {
        let url: RedisUrl = "rediss+cluster://:s3cret@10.0.0.1:7000,10.0.0.2:7001".parse().unwrap();
        assert_eq!(url.nodes(), ["rediss://:s3cret@10.0.0.1:7000", "rediss://:s3cret@10.0.0.2:7001"]);
        assert!(url.is_tls());
        let url: RedisUrl = "rediss://redis.example.com:6380/0".parse().unwrap();
        assert!(matches!(url, RedisUrl::Server(_)) && url.is_tls());
        assert!(!"redis+cluster://10.0.0.1:7000".parse::<RedisUrl>().unwrap().is_tls());
        assert!(!"redis://redis:6379".parse::<RedisUrl>().unwrap().is_tls());
    }

    /// `#insecure` would accept any certificate for any name: a private CA goes in
    /// REDIS_CA_FILE instead.
    #[test]
    fn tls_without_checking_the_certificate_is_refused() {
        for url in ["rediss://redis:6380/#insecure", "rediss+cluster://a:1,b:2/#insecure"] {
            let err = url.parse::<RedisUrl>().unwrap_err();
            assert!(err.contains("#insecure is not accepted"), "{url}: {err}");
        }
    }

    #[test]
    fn one_server_stays_one_server() {
        let url: RedisUrl = "redis://:hunter2@redis:6379/2".parse().unwrap();
        assert!(matches!(url, RedisUrl::Server(_)));
        assert_eq!(url.nodes(), ["redis://:hunter2@redis:6379/2"]);
        assert!("http://redis".parse::<RedisUrl>().is_err());
    }
}
