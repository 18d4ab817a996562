//! Accounts deleted (auth-api's `DELETE /me`): their access tokens, still valid until they
//! expire, open nothing here any more, and their connections close at once on every replica.
//! auth-api erased what they wrote in its transaction; what is left is the chats' side
//! (`commands::accounts`): their groups, and telling the connections open here.
//!
//! Each replica hears of a deletion by itself: on Postgres through shared's
//! `account_deletions` (notified in the deleting transaction), and, in case a notification was
//! missed while the listener reconnected, by looking at `users.deleted_at` whenever it starts
//! listening and now and then; on SQLite (one process) by looking often.

use std::{sync::Arc, time::Duration};

use chrono::Utc;
use sea_orm::DatabaseBackend;
use shared::{
    account_deletions::{self, Heard},
    server::Stopping,
};
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
    let (tx, mut heard) = tokio::sync::mpsc::unbounded_channel();
    if postgres {
        tokio::spawn(account_deletions::listen(db.clone(), tx, stopping.clone()));
    }
    let every = if postgres { LOOK_EVERY_LISTENING } else { LOOK_EVERY_SQLITE };
    loop {
        // The whole window each time: an account whose chats could not be settled is tried
        // again (one settled is skipped at once).
        match account_deletions::deleted_since(&db, Utc::now() - REMEMBERED).await {
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
                Some(news) = heard.recv() => match news {
                    Heard::Deleted(user) => ended(&state, user).await,
                    // Listening again: what was notified while it was not is looked for now.
                    Heard::Listening => break,
                    Heard::Lost => {}
                },
            }
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
