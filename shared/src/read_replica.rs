//! Where reads that may lag by a moment go: a streaming replica of the database when one is
//! configured (`DATABASE_READ_URL`), while it is up and close behind; the primary otherwise.
//!
//! A watcher asks the replica every second how far behind it is: nothing when it has replayed
//! all the primary has written (an idle primary leaves its replica 0 s behind, however long
//! ago its last transaction was), otherwise the time since the last transaction it replayed.
//! A replica that is down, or further behind than `DATABASE_READ_MAX_LAG_SECONDS`, is not a
//! reason to fail: its reads go to the primary until it is back, and `/readyz` and `/metrics`
//! say so. Writes, and reads a client must see its own writes in, take [`Reads::primary`].

use std::{
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use prometheus::{Gauge, IntCounterVec, IntGauge, Opts, Registry};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, Statement};

use crate::{config::ReadReplicaConfig, server::Stopping};

/// How often the replica is asked how far behind it is.
const WATCH_EVERY: Duration = Duration::from_secs(1);

#[derive(Clone)]
pub struct Reads {
    primary: DatabaseConnection,
    replica: Option<Arc<Replica>>,
}

struct Replica {
    conn: DatabaseConnection,
    max_lag: Duration,
    /// What the watcher found last: `None` until it has looked.
    state: Mutex<Option<Found>>,
    metrics: ReadMetrics,
}

/// What the watcher found.
#[derive(Debug, Clone)]
enum Found {
    Behind(Duration),
    Down(String),
}

struct ReadMetrics {
    served: IntCounterVec,
    serving: IntGauge,
    lag: Gauge,
}

impl Reads {
    /// Every read on the primary.
    pub fn primary_only(primary: DatabaseConnection) -> Self {
        Self { primary, replica: None }
    }

    /// With `config`'s replica, if it names one ([`ReadReplicaConfig::validate`]d). The replica
    /// is connected to lazily: one that is down when the service starts is watched until it is up.
    pub async fn new(
        primary: DatabaseConnection,
        config: &ReadReplicaConfig,
        max_connections: u32,
    ) -> anyhow::Result<Self> {
        let Some(url) = &config.database_read_url else { return Ok(Self::primary_only(primary)) };
        let conn = crate::db::connect_lazy(url, max_connections).await?;
        let replica = Replica {
            conn,
            max_lag: Duration::from_secs(config.database_read_max_lag_seconds),
            state: Mutex::new(None),
            metrics: ReadMetrics::new()?,
        };
        Ok(Self { primary, replica: Some(Arc::new(replica)) })
    }

    /// Where writes go, and reads that must see them.
    pub fn primary(&self) -> &DatabaseConnection {
        &self.primary
    }

    /// Where a read that may lag by a moment goes now.
    pub fn lagging(&self) -> &DatabaseConnection {
        let Some(replica) = &self.replica else { return &self.primary };
        self.served(replica, replica.serving())
    }

    /// Where a read that may lag goes, unless the replica has not yet got what the caller must
    /// see (`caught_up` says, given the primary and the replica; asked only while a replica
    /// serves): a client reading back its own write is served by the replica only once the
    /// replica has it.
    pub async fn lagging_unless<F>(&self, caught_up: F) -> &DatabaseConnection
    where
        F: AsyncFnOnce(&DatabaseConnection, &DatabaseConnection) -> bool,
    {
        let Some(replica) = &self.replica else { return &self.primary };
        let on_replica = replica.serving() && caught_up(&self.primary, &replica.conn).await;
        self.served(replica, on_replica)
    }

    /// The replica or the primary, counted.
    fn served<'a>(&'a self, replica: &'a Replica, on_replica: bool) -> &'a DatabaseConnection {
        let (conn, by) = if on_replica { (&replica.conn, "replica") } else { (&self.primary, "primary") };
        replica.metrics.served.with_label_values(&[by]).inc();
        conn
    }

    /// Whether a replica is configured.
    pub fn has_replica(&self) -> bool {
        self.replica.is_some()
    }

    /// `/readyz`'s word on reads: `None` without a replica. Never a failure: the primary serves
    /// while the replica cannot.
    pub fn status(&self) -> Option<String> {
        let replica = self.replica.as_ref()?;
        Some(match replica.found() {
            _ if replica.serving() => "replica".to_owned(),
            None => "primary: the replica has not been reached yet".to_owned(),
            Some(Found::Down(why)) => format!("primary: the replica is down: {why}"),
            Some(Found::Behind(lag)) => {
                format!(
                    "primary: the replica is {:.1} s behind (at most {} s)",
                    lag.as_secs_f64(),
                    replica.max_lag.as_secs()
                )
            }
        })
    }

    /// Adds the read metrics to `registry` (nothing without a replica).
    pub fn register(&self, registry: &Registry) -> prometheus::Result<()> {
        let Some(replica) = &self.replica else { return Ok(()) };
        let metrics = &replica.metrics;
        registry.register(Box::new(metrics.served.clone()))?;
        registry.register(Box::new(metrics.serving.clone()))?;
        registry.register(Box::new(metrics.lag.clone()))
    }

    /// Watches the replica until the application stops (returns at once without one).
    pub async fn watch(self, mut stopping: Stopping) {
        let Some(replica) = self.replica else { return };
        let mut tick = tokio::time::interval(WATCH_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                () = stopping.wait() => return,
            }
            let found = match tokio::time::timeout(WATCH_EVERY * 2, lag(&self.primary, &replica.conn)).await {
                Ok(Ok(lag)) => Found::Behind(lag),
                Ok(Err(err)) => Found::Down(err.to_string()),
                Err(_) => Found::Down(format!("no answer within {} s", (WATCH_EVERY * 2).as_secs())),
            };
            replica.record(found);
        }
    }
}

impl Replica {
    fn found(&self) -> Option<Found> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    fn serving(&self) -> bool {
        matches!(self.found(), Some(Found::Behind(lag)) if lag <= self.max_lag)
    }

    fn record(&self, found: Found) {
        let was_serving = self.serving();
        match &found {
            Found::Behind(lag) => self.metrics.lag.set(lag.as_secs_f64()),
            Found::Down(why) => tracing::warn!(why, "read replica down; its reads go to the primary"),
        }
        *self.state.lock().unwrap_or_else(PoisonError::into_inner) = Some(found);
        let serving = self.serving();
        self.metrics.serving.set(i64::from(serving));
        if was_serving && !serving {
            tracing::warn!(status = ?self.found(), "reads leave the replica for the primary");
        } else if serving && !was_serving {
            tracing::info!("reads go to the replica");
        }
    }
}

/// How far `replica` is behind `primary`.
async fn lag(primary: &DatabaseConnection, replica: &DatabaseConnection) -> Result<Duration, DbErr> {
    let written = primary
        .query_one_raw(Statement::from_string(DbBackend::Postgres, "SELECT pg_current_wal_lsn()::text AS lsn"))
        .await?
        .ok_or_else(|| DbErr::Custom("pg_current_wal_lsn: no row".into()))?
        .try_get::<String>("", "lsn")?;
    // Bytes of the primary's WAL not replayed yet, and the age of the last transaction that
    // was; a server that is not a replica (promoted, say) is never behind.
    let sql = "SELECT CASE WHEN NOT pg_is_in_recovery() THEN 0.0
                           WHEN pg_wal_lsn_diff($1::pg_lsn, pg_last_wal_replay_lsn()) <= 0 THEN 0.0
                           ELSE COALESCE(EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp())::float8, 'Infinity')
                      END AS lag";
    let lag = replica
        .query_one_raw(Statement::from_sql_and_values(DbBackend::Postgres, sql, [written.into()]))
        .await?
        .ok_or_else(|| DbErr::Custom("replica lag: no row".into()))?
        .try_get::<f64>("", "lag")?;
    Ok(Duration::try_from_secs_f64(lag.max(0.0)).unwrap_or(Duration::MAX))
}

impl ReadMetrics {
    fn new() -> prometheus::Result<Self> {
        Ok(Self {
            served: IntCounterVec::new(
                Opts::new("chat_suite_db_reads_total", "Reads that may lag, by the server that served them"),
                &["served_by"],
            )?,
            serving: IntGauge::new(
                "chat_suite_db_read_replica_serving",
                "1 while reads that may lag go to the replica, 0 while they go to the primary",
            )?,
            lag: Gauge::new(
                "chat_suite_db_read_replica_lag_seconds",
                "How far the replica was behind when last asked",
            )?,
        })
    }
}
