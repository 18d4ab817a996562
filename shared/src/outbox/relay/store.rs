//! The outbox as the relay sees it. Only the oldest pending event of a key may be claimed, so
//! events of one key are published one after the other, in write order, whichever replica
//! does it. On Postgres claims are row locks taken with SKIP LOCKED plus a lease written in
//! the row (replicas never wait on each other, and a dead replica's claims expire); SQLite
//! serves one process, whose single relay needs no lock.

use std::{collections::HashSet, time::Duration};

use chrono::Utc;
use sea_orm::{
    ColumnTrait, DatabaseBackend, DatabaseConnection, DbErr, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect, Statement,
    sea_query::{Expr, ExprTrait},
};
use uuid::Uuid;

use crate::entities::notification_outbox::{Column, Entity as Outbox, Model};

#[derive(Clone)]
pub struct Store {
    db: DatabaseConnection,
    /// Names this process's claims, for the operator reading the table.
    relay_id: String,
    lease: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stats {
    pub pending: i64,
    pub parked: i64,
    pub oldest_pending_age: Duration,
}

const CLAIM_POSTGRES: &str = r#"
WITH heads AS (
    SELECT o.id FROM notification_outbox o
    WHERE o.delivered_at IS NULL AND o.parked_at IS NULL
      AND (o.claimed_until IS NULL OR o.claimed_until < now())
      AND NOT EXISTS (
          SELECT 1 FROM notification_outbox earlier
          WHERE earlier.key = o.key AND earlier.id < o.id
            AND earlier.delivered_at IS NULL AND earlier.parked_at IS NULL)
    ORDER BY o.id
    LIMIT $1
    FOR UPDATE SKIP LOCKED
)
UPDATE notification_outbox SET claimed_until = now() + make_interval(secs => $2), claimed_by = $3
WHERE id IN (SELECT id FROM heads)
RETURNING *"#;

impl Store {
    pub fn new(db: DatabaseConnection, lease: Duration) -> Self {
        Self { db, relay_id: format!("relay-{}", Uuid::new_v4()), lease }
    }

    /// Claims up to `limit` events, the oldest pending one of each key, in write order.
    pub async fn claim(&self, limit: u64) -> Result<Vec<Model>, DbErr> {
        let mut rows = match self.db.get_database_backend() {
            DatabaseBackend::Postgres => {
                let statement = Statement::from_sql_and_values(
                    DatabaseBackend::Postgres,
                    CLAIM_POSTGRES,
                    [(limit as i64).into(), self.lease.as_secs_f64().into(), self.relay_id.clone().into()],
                );
                Outbox::find().from_raw_sql(statement).all(&self.db).await?
            }
            _ => self.claim_single(limit).await?,
        };
        rows.sort_by_key(|row| row.id);
        Ok(rows)
    }

    async fn claim_single(&self, limit: u64) -> Result<Vec<Model>, DbErr> {
        let now = Utc::now();
        let pending = Outbox::find()
            .filter(Column::DeliveredAt.is_null())
            .filter(Column::ParkedAt.is_null())
            .order_by_asc(Column::Id)
            .limit(limit.saturating_mul(16))
            .all(&self.db)
            .await?;
        let mut seen_keys = HashSet::new();
        let heads: Vec<Model> = pending
            .into_iter()
            .filter(|row| seen_keys.insert(row.key.clone()))
            .filter(|row| row.claimed_until.is_none_or(|until| until < now))
            .take(usize::try_from(limit).unwrap_or(usize::MAX))
            .collect();
        if !heads.is_empty() {
            let until = now + chrono::Duration::from_std(self.lease).unwrap_or_default();
            Outbox::update_many()
                .col_expr(Column::ClaimedUntil, Expr::value(until))
                .col_expr(Column::ClaimedBy, Expr::value(self.relay_id.clone()))
                .filter(Column::Id.is_in(heads.iter().map(|row| row.id)))
                .exec(&self.db)
                .await?;
        }
        Ok(heads)
    }

    /// The broker acknowledged these.
    pub async fn delivered(&self, ids: &[i64]) -> Result<(), DbErr> {
        Outbox::update_many()
            .col_expr(Column::DeliveredAt, Expr::value(Utc::now()))
            .col_expr(Column::Attempts, Expr::col(Column::Attempts).add(1))
            .col_expr(Column::ClaimedUntil, Expr::value(Option::<chrono::DateTime<Utc>>::None))
            .col_expr(Column::ClaimedBy, Expr::value(Option::<String>::None))
            .filter(Column::Id.is_in(ids.iter().copied()))
            .exec(&self.db)
            .await?;
        Ok(())
    }

    /// A failed attempt: not claimable (and its key held back) until `retry_in` has passed.
    pub async fn retry_later(&self, row: &Model, error: &str, retry_in: Duration) -> Result<(), DbErr> {
        let until = Utc::now() + chrono::Duration::from_std(retry_in).unwrap_or_default();
        Outbox::update_many()
            .col_expr(Column::Attempts, Expr::col(Column::Attempts).add(1))
            .col_expr(Column::LastError, Expr::value(truncate(error)))
            .col_expr(Column::ClaimedUntil, Expr::value(until))
            .col_expr(Column::ClaimedBy, Expr::value(Option::<String>::None))
            .filter(Column::Id.eq(row.id))
            .exec(&self.db)
            .await?;
        Ok(())
    }

    /// The broker will never take this event: keep it, out of the way of its key.
    pub async fn park(&self, row: &Model, error: &str) -> Result<(), DbErr> {
        Outbox::update_many()
            .col_expr(Column::Attempts, Expr::col(Column::Attempts).add(1))
            .col_expr(Column::LastError, Expr::value(truncate(error)))
            .col_expr(Column::ParkedAt, Expr::value(Utc::now()))
            .col_expr(Column::ClaimedBy, Expr::value(Option::<String>::None))
            .filter(Column::Id.eq(row.id))
            .exec(&self.db)
            .await?;
        Ok(())
    }

    pub async fn stats(&self) -> Result<Stats, DbErr> {
        let pending_rows = || Outbox::find().filter(Column::DeliveredAt.is_null()).filter(Column::ParkedAt.is_null());
        let pending = pending_rows().count(&self.db).await?;
        let parked = Outbox::find().filter(Column::ParkedAt.is_not_null()).count(&self.db).await?;
        let oldest = pending_rows().order_by_asc(Column::Id).one(&self.db).await?;
        let oldest_pending_age = oldest
            .map(|row| Utc::now().signed_duration_since(row.created_at).to_std().unwrap_or_default())
            .unwrap_or_default();
        Ok(Stats {
            pending: i64::try_from(pending).unwrap_or(i64::MAX),
            parked: i64::try_from(parked).unwrap_or(i64::MAX),
            oldest_pending_age,
        })
    }
}

/// Errors are for people reading the table; a kilobyte says all they need.
fn truncate(error: &str) -> String {
    error.chars().take(1024).collect()
}
