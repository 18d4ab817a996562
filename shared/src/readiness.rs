//! What `/readyz` checks: every dependency a service cannot serve without. A 503 takes the
//! pod out of the Service until the dependency is back; `/healthz` stays 200 meanwhile, so
//! Kubernetes does not restart a pod for a fault that is not its own.

use std::{sync::Arc, time::Duration};

use sea_orm::DatabaseConnection;

use crate::{jwks::JwksClient, read_replica::Reads, redis_conn::RedisConn};

#[derive(Clone)]
pub enum Dependency {
    Database(DatabaseConnection),
    Redis(RedisConn),
    /// Verification keys from auth-api: ready once fetched (a fetch is tried if not).
    Jwks(Arc<JwksClient>),
    /// Where reads that may lag go: never a failure (the primary serves while the replica
    /// cannot), but it says which server serves them.
    Reads(Reads),
}

impl Dependency {
    /// The database, and where reads that may lag go when a replica takes them.
    pub fn databases(reads: &Reads) -> Vec<Self> {
        let mut dependencies = vec![Self::Database(reads.primary().clone())];
        if reads.has_replica() {
            dependencies.push(Self::Reads(reads.clone()));
        }
        dependencies
    }

    pub fn name(&self) -> &'static str {
        match self {
            Self::Database(_) => "database",
            Self::Redis(_) => "redis",
            Self::Jwks(_) => "jwks",
            Self::Reads(_) => "database_reads",
        }
    }

    /// Ok (with what `/readyz` shows of it: "ok" but for reads), or why not. Each check is
    /// bounded so a hung dependency cannot hang the probe.
    pub async fn check(&self) -> Result<String, String> {
        let probe = async {
            match self {
                Self::Database(db) => db.ping().await.map_err(|e| e.to_string()),
                Self::Redis(conn) => conn.check().await,
                Self::Jwks(client) if client.is_loaded() => Ok(()),
                Self::Jwks(client) => client.refetch().await.map(drop).map_err(|e| e.to_string()),
                Self::Reads(reads) => return Ok(reads.status().unwrap_or_else(|| "primary".into())),
            }
            .map(|()| "ok".to_owned())
        };
        tokio::time::timeout(Duration::from_secs(2), probe).await.unwrap_or_else(|_| Err("no answer within 2 s".into()))
    }
}
