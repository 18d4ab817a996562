//! Hearing that accounts were deleted, on every replica of every service that keeps something
//! of them: auth-api notifies [`CHANNEL`] with the account's id in the deleting transaction, so
//! the notification arrives at the commit, and a listener that was not listening then never
//! hears it. [`listen`] therefore says when it starts listening (again): what a replica holds
//! from before that moment may be stale, and it must look for itself.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QuerySelect, sqlx::postgres::PgListener,
};
use tokio::sync::mpsc::UnboundedSender;
use uuid::Uuid;

use crate::{entities::users, server::Stopping};

/// The Postgres channel auth-api notifies with a deleted account's id.
pub const CHANNEL: &str = "chat_suite_accounts_deleted";

/// How long a listener whose connection was lost waits before connecting again.
const RECONNECT_AFTER: Duration = Duration::from_secs(1);

/// What a listener hears.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Heard {
    /// Listening from now on, the first time or after a lost connection: deletions committed
    /// before may not have been heard.
    Listening,
    /// The connection was lost: deletions committed from now until [`Heard::Listening`] may
    /// not be heard.
    Lost,
    /// This account was deleted.
    Deleted(Uuid),
}

/// `LISTEN`s on [`CHANNEL`] (Postgres only) and sends what it hears to `heard`, reconnecting a
/// second after a lost connection, until `stopping` or until nobody receives.
pub async fn listen(db: DatabaseConnection, heard: UnboundedSender<Heard>, mut stopping: Stopping) {
    loop {
        // `Ok` when nobody receives any more; an error when the connection was lost.
        let listening = async {
            let mut listener = PgListener::connect_with(db.get_postgres_connection_pool()).await?;
            listener.listen(CHANNEL).await?;
            if heard.send(Heard::Listening).is_err() {
                return Ok(());
            }
            loop {
                // Not `recv`: it reconnects by itself and says nothing of what was missed.
                let Some(notification) = listener.try_recv().await? else {
                    return Err(sea_orm::sqlx::Error::Protocol("the listening connection was lost".into()));
                };
                if let Ok(user) = notification.payload().parse::<Uuid>()
                    && heard.send(Heard::Deleted(user)).is_err()
                {
                    return Ok(());
                }
            }
        };
        let result: Result<(), sea_orm::sqlx::Error> = tokio::select! {
            () = stopping.wait() => return,
            result = listening => result,
        };
        match result {
            Ok(()) => return,
            Err(err) => tracing::debug!(error = %err, "accounts LISTEN lost, reconnecting"),
        }
        if heard.send(Heard::Lost).is_err() {
            return;
        }
        tokio::select! {
            () = stopping.wait() => return,
            () = tokio::time::sleep(RECONNECT_AFTER) => {}
        }
    }
}

/// Accounts deleted since `since`: what a listener looks for when it may have missed some
/// (`users.deleted_at` has an index of its own).
pub async fn deleted_since(db: &DatabaseConnection, since: DateTime<Utc>) -> Result<Vec<Uuid>, DbErr> {
    users::Entity::find()
        .select_only()
        .column(users::Column::Id)
        .filter(users::Column::DeletedAt.gte(since))
        .into_tuple()
        .all(db)
        .await
}
