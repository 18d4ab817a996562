//! Accounts deleted (auth-api's `DELETE /me`): their access tokens, still valid until they
//! expire, open nothing here any more, and their connections close at once on every replica.
//! auth-api erased what they wrote in its transaction; what is left is the chats' side
//! (`commands::accounts`): their groups, and telling the connections open here.
//!
//! Each replica hears of a deletion by itself: on Postgres through `LISTEN` on shared's
//! `erasure::ACCOUNTS_CHANNEL` (notified in the deleting transaction), and, in case a
//! notification was missed while the listener reconnected, by looking at `users.deleted_at`
//! now and then; on SQLite (one process) by looking often.

use std::{sync::Arc, time::Duration};

use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, DatabaseBackend, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QuerySelect};
use shared::{entities::users, erasure::ACCOUNTS_CHANNEL, server::Stopping};
use uuid::Uuid;

use crate::{commands, state::ChatState};

/// How far back a replica that starts looks for deletions: longer than any access token lives
/// (`ACCESS_TOKEN_TTL_SECONDS` is at most a day).
const REMEMBERED: chrono::Duration = chrono::Duration::hours(25);

/// How often deletions are looked for: with `LISTEN` only to catch a notification missed; on
/// SQLite, how soon a deleted account's connections close.
const LOOK_EVERY_LISTENING: Duration = Duration::from_secs(30);
const LOOK_EVERY_SQLITE: Duration = Duration::from_millis(500);

/// Watches for deleted accounts until the replica stops.
pub(crate) async fn watch(state: Arc<ChatState>, mut stopping: Stopping) {
    let db = state.db.clone();
    let postgres = db.get_database_backend() == DatabaseBackend::Postgres;
    let (tx, mut heard) = tokio::sync::mpsc::unbounded_channel::<Uuid>();
    if postgres {
        let listening = stopping.clone();
        tokio::spawn(listen(db.clone(), tx, listening));
    }
    let every = if postgres { LOOK_EVERY_LISTENING } else { LOOK_EVERY_SQLITE };
    loop {
        // The whole window each time: an account whose chats could not be settled is tried
        // again (one settled is skipped at once).
        match deleted_since(&db, Utc::now() - REMEMBERED).await {
            Ok(found) => {
                for user in found {
                    ended(&state, user).await;
                }
            }
            Err(err) => tracing::debug!(error = %err, "deleted accounts unreadable; looking again later"),
        }
        let wait = tokio::time::sleep(every);
        tokio::pin!(wait);
        loop {
            tokio::select! {
                () = stopping.wait() => return,
                () = &mut wait => break,
                Some(user) = heard.recv() => ended(&state, user).await,
            }
        }
    }
}

/// Accounts deleted since `since` (`users.deleted_at` has an index of its own).
async fn deleted_since(db: &DatabaseConnection, since: DateTime<Utc>) -> Result<Vec<Uuid>, DbErr> {
    users::Entity::find()
        .select_only()
        .column(users::Column::Id)
        .filter(users::Column::DeletedAt.gte(since))
        .into_tuple()
        .all(db)
        .await
}

/// `LISTEN`s for deletions, reconnecting after a second when the connection is lost.
async fn listen(db: DatabaseConnection, heard: tokio::sync::mpsc::UnboundedSender<Uuid>, mut stopping: Stopping) {
    use sea_orm::sqlx::postgres::PgListener;
    loop {
        let listening = async {
            let mut listener = PgListener::connect_with(db.get_postgres_connection_pool()).await?;
            listener.listen(ACCOUNTS_CHANNEL).await?;
            loop {
                let notification = listener.recv().await?;
                if let Ok(user) = notification.payload().parse::<Uuid>() {
                    let _ = heard.send(user);
                }
            }
        };
        let result: Result<(), sea_orm::sqlx::Error> = tokio::select! {
            () = stopping.wait() => return,
            result = listening => result,
        };
        if let Err(err) = result {
            tracing::debug!(error = %err, "accounts LISTEN lost, reconnecting");
        }
        tokio::select! {
            () = stopping.wait() => return,
            () = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    }
}

/// `user`'s account is gone: its connections here close, and its chats are settled (until
/// that succeeds once on this replica; one that finds them settled by another does nothing).
async fn ended(state: &ChatState, user: Uuid) {
    if state.deleted.insert(user) {
        state.node.end_account(user);
    }
    if state.deleted.is_settled(user) {
        return;
    }
    match commands::accounts::settle(state, user).await {
        Ok(()) => {
            state.deleted.settled(user);
        }
        Err(err) => {
            tracing::warn!(error = %err, %user, "a deleted account's chats are not settled yet; trying again later");
        }
    }
}
