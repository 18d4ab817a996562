//! The `push_deliveries` table: the notifier's record of each event pushed to each device.
//!
//! A push is claimed (one row per event and device) before it is sent: a row that exists was
//! somebody's, so the same `event_id` reaches a device once however often Kafka hands the
//! event over (a restart, a rebalance, a second replica). The claim holds a lease and the
//! push itself; a replica that dies while sending leaves rows whose lease runs out, and any
//! replica sends them then ([`Deliveries::claim_due`]). A push the provider asked us to retry
//! waits here too, with the time of its next attempt, so no provider that is down holds up the
//! topic: the event is settled once its pushes are sent, gone, refused, or waiting here.

use std::{collections::HashSet, time::Duration};

use chrono::{DateTime, Utc};
use sea_orm::{
    ConnectionTrait, DatabaseBackend, DatabaseConnection, DbErr, FromQueryResult, Statement,
    sea_query::{Alias, Expr, ExprTrait, OnConflict, Query, ReturningClause},
};
use uuid::Uuid;

use crate::push::Push;

/// Rows per statement: well under Postgres's 65,535 parameters.
const CHUNK: usize = 1000;

/// Where a row stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Claimed by `claimed_by` until `claimed_until`, being sent.
    Sending,
    /// Waiting for `next_attempt_at`.
    Retry,
    /// The provider took it.
    Sent,
    /// Another event's push to the device said it (a burst of one chat).
    Collapsed,
    /// The provider said the device is gone; the device was deleted.
    Gone,
    /// The provider refused it for good, or no provider serves the device.
    Rejected,
    /// Not delivered within `PUSH_TTL_SECONDS`.
    Expired,
}

impl State {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Sending => "sending",
            Self::Retry => "retry",
            Self::Sent => "sent",
            Self::Collapsed => "collapsed",
            Self::Gone => "gone",
            Self::Rejected => "rejected",
            Self::Expired => "expired",
        }
    }
}

/// One event for one device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Key {
    pub event_id: Uuid,
    pub device_id: Uuid,
}

/// A push waiting to be sent again, or left by a replica that died sending it.
#[derive(Debug)]
pub struct Due {
    pub key: Key,
    pub push: Option<Push>,
    pub attempts: i32,
    pub created_at: DateTime<Utc>,
}

#[derive(Clone)]
pub struct Deliveries {
    db: DatabaseConnection,
    lease: Duration,
    /// This replica, in `claimed_by`.
    me: String,
}

#[derive(Debug, FromQueryResult)]
struct KeyRow {
    event_id: Uuid,
    device_id: Uuid,
}

#[derive(Debug, FromQueryResult)]
struct DueRow {
    event_id: Uuid,
    device_id: Uuid,
    push: Option<serde_json::Value>,
    attempts: i32,
    created_at: DateTime<Utc>,
}

fn table() -> Alias {
    Alias::new("push_deliveries")
}

fn col(name: &'static str) -> Alias {
    Alias::new(name)
}

impl Deliveries {
    pub fn new(db: DatabaseConnection, lease: Duration, me: String) -> Self {
        Self { db, lease, me }
    }

    fn lease_end(&self) -> DateTime<Utc> {
        Utc::now() + chrono::Duration::from_std(self.lease).unwrap_or(chrono::Duration::seconds(30))
    }

    /// Claims each (key, push) not claimed before; answers the keys now ours to send.
    pub async fn claim(&self, rows: &[(Key, &Push)]) -> Result<HashSet<Key>, DbErr> {
        let now = Utc::now();
        let until = self.lease_end();
        let mut ours = HashSet::with_capacity(rows.len());
        for chunk in rows.chunks(CHUNK) {
            let mut insert = Query::insert();
            insert.into_table(table()).columns(
                [
                    "event_id",
                    "device_id",
                    "state",
                    "attempts",
                    "push",
                    "claimed_until",
                    "claimed_by",
                    "created_at",
                    "updated_at",
                ]
                .map(col),
            );
            for (key, push) in chunk {
                let push = serde_json::to_value(push).map_err(|e| DbErr::Custom(e.to_string()))?;
                insert.values_panic([
                    key.event_id.into(),
                    key.device_id.into(),
                    State::Sending.as_str().into(),
                    1.into(),
                    push.into(),
                    until.into(),
                    self.me.clone().into(),
                    now.into(),
                    now.into(),
                ]);
            }
            insert
                .on_conflict(OnConflict::columns([col("event_id"), col("device_id")]).do_nothing().to_owned())
                .returning(ReturningClause::Columns(vec![col("event_id").into(), col("device_id").into()]));
            for row in self.db.query_all(&insert).await? {
                let row = KeyRow::from_query_result(&row, "")?;
                ours.insert(Key { event_id: row.event_id, device_id: row.device_id });
            }
        }
        Ok(ours)
    }

    /// Marks `keys` finished in `state` (anything but `Sending` and `Retry`).
    pub async fn settle(&self, keys: &[Key], state: State, error: Option<&str>) -> Result<(), DbErr> {
        for chunk in keys.chunks(CHUNK) {
            let update = Query::update()
                .table(table())
                .value(col("state"), state.as_str())
                .value(col("push"), Expr::null())
                .value(col("claimed_until"), Expr::null())
                .value(col("claimed_by"), Expr::null())
                .value(col("last_error"), error.map(str::to_owned))
                .value(col("updated_at"), Utc::now())
                .and_where(in_keys(chunk))
                .to_owned();
            self.db.execute(&update).await?;
        }
        Ok(())
    }

    /// Schedules `keys` for another attempt at `at` (their push stays with them).
    pub async fn retry_at(&self, keys: &[Key], at: DateTime<Utc>, error: &str) -> Result<(), DbErr> {
        for chunk in keys.chunks(CHUNK) {
            let update = Query::update()
                .table(table())
                .value(col("state"), State::Retry.as_str())
                .value(col("next_attempt_at"), at)
                .value(col("claimed_until"), Expr::null())
                .value(col("claimed_by"), Expr::null())
                .value(col("last_error"), error.to_owned())
                .value(col("updated_at"), Utc::now())
                .and_where(in_keys(chunk))
                .to_owned();
            self.db.execute(&update).await?;
        }
        Ok(())
    }

    /// Claims up to `limit` pushes that are due: retries whose time came, and claims whose
    /// replica let the lease run out. Each claim counts an attempt.
    pub async fn claim_due(&self, limit: u64) -> Result<Vec<Due>, DbErr> {
        let backend = self.db.get_database_backend();
        let now = Utc::now();
        let until = self.lease_end();
        // One statement, so two replicas never claim the same row: Postgres skips the rows
        // another is claiming, SQLite has one writer at a time anyway.
        let postgres = backend == DatabaseBackend::Postgres;
        let lock = if postgres { " FOR UPDATE SKIP LOCKED" } else { "" };
        let p = |n: usize| if postgres { format!("${n}") } else { "?".to_owned() };
        let text = format!(
            "UPDATE push_deliveries SET state = 'sending', claimed_until = {until}, claimed_by = {me}, \
             attempts = attempts + 1, updated_at = {now1} \
             WHERE (event_id, device_id) IN (SELECT event_id, device_id FROM push_deliveries \
               WHERE (state = 'retry' AND next_attempt_at <= {now2}) \
                  OR (state = 'sending' AND claimed_until < {now3}) \
               ORDER BY created_at LIMIT {limit}{lock}) \
             RETURNING event_id, device_id, push, attempts, created_at",
            until = p(1),
            me = p(2),
            now1 = p(3),
            now2 = p(4),
            now3 = p(5),
        );
        let values = [until.into(), self.me.clone().into(), now.into(), now.into(), now.into()];
        let rows = self.db.query_all_raw(Statement::from_sql_and_values(backend, text, values)).await?;
        rows.iter()
            .map(|row| {
                let row = DueRow::from_query_result(row, "")?;
                Ok(Due {
                    key: Key { event_id: row.event_id, device_id: row.device_id },
                    push: row.push.and_then(|push| serde_json::from_value(push).ok()),
                    attempts: row.attempts,
                    created_at: row.created_at,
                })
            })
            .collect()
    }

    /// Pushes waiting for a retry (a gauge).
    pub async fn backlog(&self) -> Result<i64, DbErr> {
        let query = Query::select()
            .expr(Expr::col(col("event_id")).count())
            .from(table())
            .and_where(Expr::col(col("state")).is_in([State::Retry.as_str(), State::Sending.as_str()]))
            .to_owned();
        let row = self.db.query_one(&query).await?;
        Ok(row.and_then(|row| row.try_get_by_index::<i64>(0).ok()).unwrap_or(0))
    }

    /// Forgets finished rows created before `before`: by then no redelivery of their event
    /// would push anyway (older events are not pushed).
    pub async fn prune(&self, before: DateTime<Utc>) -> Result<u64, DbErr> {
        let delete = Query::delete()
            .from_table(table())
            .and_where(Expr::col(col("created_at")).lt(before))
            .and_where(Expr::col(col("state")).is_not_in([State::Retry.as_str(), State::Sending.as_str()]))
            .to_owned();
        Ok(self.db.execute(&delete).await?.rows_affected())
    }
}

fn in_keys(keys: &[Key]) -> Expr {
    Expr::tuple([Expr::col(col("event_id")), Expr::col(col("device_id"))])
        .in_tuples(keys.iter().map(|k| (k.event_id, k.device_id)))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use testkit::{Backend, TestDatabase};

    use super::*;

    fn push(title: &str) -> Push {
        Push {
            title: title.into(),
            body: String::new(),
            data: BTreeMap::new(),
            collapse_key: None,
            ttl: Duration::from_secs(60),
        }
    }

    fn key() -> Key {
        Key { event_id: Uuid::new_v4(), device_id: Uuid::new_v4() }
    }

    /// Claims, retries, a dead replica's lease and pruning, on both databases.
    async fn a_push_is_claimed_once_and_comes_back_when_due(backend: Backend) {
        let database = TestDatabase::create(backend).await;
        let db = database.connect().await;
        shared::db::migrate(&db).await.unwrap();
        let (first, second) = (key(), key());
        let mine = Deliveries::new(db.clone(), Duration::from_secs(30), "a".into());
        let claimed = mine.claim(&[(first, &push("1")), (second, &push("2"))]).await.unwrap();
        assert_eq!(claimed, HashSet::from([first, second]));
        // The same event again, from a redelivery or another replica: nobody's to send.
        let other = Deliveries::new(db.clone(), Duration::from_secs(30), "b".into());
        assert!(other.claim(&[(first, &push("1"))]).await.unwrap().is_empty());
        assert!(other.claim_due(10).await.unwrap().is_empty(), "a live claim is not due");

        // A retry whose time has come is claimed again, with its push and one more attempt.
        mine.retry_at(&[first], Utc::now() - chrono::Duration::seconds(1), "429").await.unwrap();
        mine.settle(&[second], State::Sent, None).await.unwrap();
        let due = other.claim_due(10).await.unwrap();
        assert_eq!(due.len(), 1);
        assert_eq!((due[0].key, due[0].attempts), (first, 2));
        assert_eq!(due[0].push.as_ref().map(|p| p.title.as_str()), Some("1"));
        assert!(other.claim_due(10).await.unwrap().is_empty(), "claimed: not due twice");

        // A replica that dies holding a claim leaves it to the others when its lease runs out.
        let dying = Deliveries::new(db.clone(), Duration::ZERO, "c".into());
        let orphan = key();
        dying.claim(&[(orphan, &push("3"))]).await.unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
        let due = other.claim_due(10).await.unwrap();
        assert_eq!(due.iter().map(|d| d.key).collect::<Vec<_>>(), [orphan]);

        assert_eq!(other.backlog().await.unwrap(), 2, "the retried push and the orphan, both being sent");
        other.settle(&[first, orphan], State::Sent, None).await.unwrap();
        assert_eq!(other.backlog().await.unwrap(), 0);
        assert_eq!(other.prune(Utc::now() + chrono::Duration::seconds(1)).await.unwrap(), 3);
    }

    testkit::on_both_backends!(a_push_is_claimed_once_and_comes_back_when_due);
}
