//! Deleting an account, all of it in one transaction: its name and address freed (the row
//! stays, so that the chats keep a tombstone of each message it sent), its password and push
//! tokens gone, every session ended, everything it wrote erased (shared's `erasure`), and a
//! `user.deleted` event for consumers to forget it. Gateways hear of it at the commit (Postgres
//! `NOTIFY`; they also look for deletions on their own) and close its connections.

use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseBackend, DatabaseConnection, DbErr, EntityTrait, QueryFilter,
    TransactionTrait, sea_query::Expr,
};
use shared::{
    account_deletions,
    entities::{devices, users},
    erasure,
    outbox::{self, NotificationEvent},
};
use uuid::Uuid;

use crate::entities::refresh_tokens;

/// What a deleted account's unique columns hold instead: no name or address a person can
/// register (`:` is in neither alphabet), and unique.
fn vacated(user: Uuid) -> String {
    format!("deleted:{}", user.simple())
}

/// How often a deletion that lost a deadlock is tried again: it takes the row of every chat the
/// account wrote in, in no order a concurrent message batch could share.
const ATTEMPTS: usize = 3;

/// Deletes `user`'s account at `at`; false when it was deleted already.
#[tracing::instrument(skip(db))]
pub async fn delete_account(db: &DatabaseConnection, user: Uuid, at: DateTime<Utc>) -> Result<bool, DbErr> {
    let mut attempt = 1;
    loop {
        match delete_once(db, user, at).await {
            Err(err) if attempt < ATTEMPTS && shared::db::is_transient(&err) => {
                tracing::debug!(error = %err, attempt, "account deletion lost a deadlock; again");
                attempt += 1;
            }
            done => return done,
        }
    }
}

async fn delete_once(db: &DatabaseConnection, user: Uuid, at: DateTime<Utc>) -> Result<bool, DbErr> {
    let txn = db.begin().await?;
    let gone = vacated(user);
    let vacated_row = users::Entity::update_many()
        .col_expr(users::Column::Username, Expr::value(gone.clone()))
        .col_expr(users::Column::UsernameKey, Expr::value(gone.clone()))
        .col_expr(users::Column::Email, Expr::value(gone.clone()))
        .col_expr(users::Column::EmailKey, Expr::value(gone))
        .col_expr(users::Column::PasswordHash, Expr::value(""))
        .col_expr(users::Column::FcmToken, Expr::value(Option::<String>::None))
        .col_expr(users::Column::DeletedAt, Expr::value(at))
        .filter(users::Column::Id.eq(user))
        .filter(users::Column::DeletedAt.is_null())
        .exec(&txn)
        .await?;
    if vacated_row.rows_affected == 0 {
        return Ok(false);
    }
    refresh_tokens::Entity::delete_many().filter(refresh_tokens::Column::UserId.eq(user)).exec(&txn).await?;
    devices::Entity::delete_many().filter(devices::Column::UserId.eq(user)).exec(&txn).await?;
    erasure::erase_account(&txn, user, at).await?;
    outbox::enqueue(&txn, &NotificationEvent::user_deleted(user, at)).await?;
    if txn.get_database_backend() == DatabaseBackend::Postgres {
        // Heard at the commit by every gateway and user-search replica.
        txn.execute_unprepared(&format!("NOTIFY {}, '{user}'", account_deletions::CHANNEL)).await?;
    }
    txn.commit().await?;
    Ok(true)
}
