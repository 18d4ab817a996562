//! Erasing what a user wrote, wherever the database holds it. chat-gateway erases one message
//! its sender (or a group's admin) deletes; auth-api erases everything of an account deleted,
//! in the transaction that deletes it. Both leave tombstones where the chats need them (a
//! message's row, numbered in its chat as a change) and withdraw the pushes the text set off.
//! Kafka keeps what it was sent until its retention runs out: that is the one copy out of reach.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseBackend, DbErr, EntityTrait,
    IntoActiveModel, QueryFilter, Statement,
};
use serde_json::Value;
use uuid::Uuid;

use crate::entities::notification_outbox;

/// The outbox events that push `message_id` (written with it, for the recipients it had):
/// keyed by those recipients, written in the message's transaction, a minute at most after
/// `sent_at` (the outbox's (key, created_at) index finds them).
pub async fn pushes_of_message(
    conn: &impl ConnectionTrait,
    recipients: Vec<String>,
    sent_at: DateTime<Utc>,
    message_id: i64,
) -> Result<Vec<notification_outbox::Model>, DbErr> {
    let events = notification_outbox::Entity::find()
        .filter(notification_outbox::Column::Key.is_in(recipients))
        .filter(notification_outbox::Column::CreatedAt.gte(sent_at))
        .filter(notification_outbox::Column::CreatedAt.lt(sent_at + chrono::Duration::seconds(60)))
        .filter(notification_outbox::Column::EventType.eq("message.created"))
        .all(conn)
        .await?;
    Ok(events.into_iter().filter(|e| e.payload.get("message_id") == Some(&Value::from(message_id))).collect())
}

/// Takes the text out of these push events: their preview (`body`) and who sent it (`header`
/// names them) in the outbox, and the push the notifier keeps for a retry, which is withdrawn
/// (a pushed one keeps no text). An event not relayed yet goes out without them.
pub async fn withdraw(conn: &impl ConnectionTrait, events: Vec<notification_outbox::Model>) -> Result<(), DbErr> {
    let ids: Vec<Uuid> = events.iter().map(|e| e.event_id).collect();
    for event in events {
        let mut payload = event.payload.clone();
        payload["header"] = Value::from("New message");
        payload["body"] = Value::from("");
        let mut row = event.into_active_model();
        row.payload = Set(payload);
        row.update(conn).await?;
    }
    for chunk in ids.chunks(500) {
        let placeholders = (1..=chunk.len()).map(|i| placeholder(conn, i)).collect::<Vec<_>>().join(", ");
        let sql = format!(
            "UPDATE push_deliveries SET push = NULL, state = 'withdrawn' \
             WHERE state IN ('retry', 'sending') AND event_id IN ({placeholders})"
        );
        let values: Vec<sea_orm::Value> = chunk.iter().map(|id| (*id).into()).collect();
        conn.execute_raw(Statement::from_sql_and_values(conn.get_database_backend(), sql, values)).await?;
    }
    Ok(())
}

/// The event that tells consumers to forget an account: the erasure keeps it, whenever it runs.
const USER_DELETED: &str = "user.deleted";

/// What an account's erasure did to its messages: each one deleted, numbered as a change in
/// its chat (`seq`), for the gateway to announce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tombstone {
    pub chat_id: Uuid,
    pub seq: i64,
    pub message_id: i64,
}

/// Erases everything `user` wrote, at `at`, on `conn` (the transaction deleting the account;
/// and again by a gateway afterwards, for a message that was being stored in that instant):
/// every message it sent becomes a tombstone deleted by it, numbered in its chat as a
/// `deleted` change (so connections and resumes hear of it as of any deletion); its reactions
/// and blocks go; the pushes its messages set off are withdrawn, and the events about the
/// account itself (its own notifications, which name it and quote others) are deleted.
pub async fn erase_account(
    conn: &impl ConnectionTrait,
    user: Uuid,
    at: DateTime<Utc>,
) -> Result<Vec<Tombstone>, DbErr> {
    let tombstones = match conn.get_database_backend() {
        DatabaseBackend::Postgres => tombstones_postgres(conn, user, at).await?,
        _ => tombstones_sqlite(conn, user, at).await?,
    };
    let backend = conn.get_database_backend();
    for sql in [
        "DELETE FROM message_reactions WHERE user_id = $1",
        "DELETE FROM user_blocks WHERE blocker_id = $1 OR blocked_id = $1",
    ] {
        conn.execute_raw(Statement::from_sql_and_values(backend, dialect(conn, sql), [user.into()])).await?;
    }
    notification_outbox::Entity::delete_many()
        .filter(notification_outbox::Column::Key.eq(user.to_string()))
        .filter(notification_outbox::Column::EventType.ne(USER_DELETED))
        .exec(conn)
        .await?;
    withdraw(conn, pushes_from(conn, user).await?).await?;
    Ok(tombstones)
}

/// The numbers after each chat's `last_seq`, one per message of `user` not deleted yet, in one
/// statement: the chats' counters moved on, the changes written, the messages erased.
const TOMBSTONES: &str = "\
WITH doomed AS MATERIALIZED (
    SELECT id, chat_id, row_number() OVER (PARTITION BY chat_id ORDER BY seq) AS place
    FROM messages WHERE sender_id = $1 AND deleted_at IS NULL
),
counts AS (SELECT chat_id, count(*) AS n FROM doomed GROUP BY chat_id),
bumped AS (
    UPDATE chats SET last_seq = chats.last_seq + counts.n FROM counts WHERE chats.id = counts.chat_id
    RETURNING chats.id, chats.last_seq - counts.n AS before
),
changed AS (
    INSERT INTO message_changes (chat_id, seq, message_id, kind, user_id, emoji, at)
    SELECT d.chat_id, b.before + d.place, d.id, 'deleted', $1, NULL, $2
    FROM doomed d JOIN bumped b ON b.id = d.chat_id
    RETURNING chat_id, seq, message_id
)
UPDATE messages SET content = '', deleted_at = $2, deleted_by = $1
FROM changed WHERE messages.id = changed.message_id
RETURNING changed.chat_id, changed.seq, changed.message_id";

async fn tombstones_postgres(
    conn: &impl ConnectionTrait,
    user: Uuid,
    at: DateTime<Utc>,
) -> Result<Vec<Tombstone>, DbErr> {
    let rows = conn
        .query_all_raw(Statement::from_sql_and_values(DatabaseBackend::Postgres, TOMBSTONES, [user.into(), at.into()]))
        .await?;
    rows.iter().map(tombstone).collect()
}

/// SQLite has one writer: chat by chat, the counter moved on, then each message numbered.
async fn tombstones_sqlite(
    conn: &impl ConnectionTrait,
    user: Uuid,
    at: DateTime<Utc>,
) -> Result<Vec<Tombstone>, DbErr> {
    let backend = DatabaseBackend::Sqlite;
    let doomed = conn
        .query_all_raw(Statement::from_sql_and_values(
            backend,
            "SELECT id, chat_id FROM messages WHERE sender_id = ? AND deleted_at IS NULL ORDER BY chat_id, seq",
            [user.into()],
        ))
        .await?;
    let mut per_chat: Vec<(Uuid, Vec<i64>)> = Vec::new();
    for row in &doomed {
        let (id, chat_id): (i64, Uuid) = (row.try_get("", "id")?, row.try_get("", "chat_id")?);
        match per_chat.last_mut() {
            Some((chat, ids)) if *chat == chat_id => ids.push(id),
            _ => per_chat.push((chat_id, vec![id])),
        }
    }
    let mut tombstones = Vec::with_capacity(doomed.len());
    for (chat_id, ids) in per_chat {
        let n = i64::try_from(ids.len()).unwrap_or(i64::MAX);
        let top: i64 = conn
            .query_one_raw(Statement::from_sql_and_values(
                backend,
                "UPDATE chats SET last_seq = last_seq + ? WHERE id = ? RETURNING last_seq",
                [n.into(), chat_id.into()],
            ))
            .await?
            .ok_or_else(|| DbErr::RecordNotFound(format!("chat {chat_id}")))?
            .try_get("", "last_seq")?;
        for (place, message_id) in (1..).zip(ids) {
            let seq = top - n + place;
            conn.execute_raw(Statement::from_sql_and_values(
                backend,
                "INSERT INTO message_changes (chat_id, seq, message_id, kind, user_id, emoji, at) \
                 VALUES (?, ?, ?, 'deleted', ?, NULL, ?)",
                [chat_id.into(), seq.into(), message_id.into(), user.into(), at.into()],
            ))
            .await?;
            conn.execute_raw(Statement::from_sql_and_values(
                backend,
                "UPDATE messages SET content = '', deleted_at = ?, deleted_by = ? WHERE id = ?",
                [at.into(), user.into(), message_id.into()],
            ))
            .await?;
            tombstones.push(Tombstone { chat_id, seq, message_id });
        }
    }
    Ok(tombstones)
}

fn tombstone(row: &sea_orm::QueryResult) -> Result<Tombstone, DbErr> {
    Ok(Tombstone {
        chat_id: row.try_get("", "chat_id")?,
        seq: row.try_get("", "seq")?,
        message_id: row.try_get("", "message_id")?,
    })
}

/// The push events of messages `user` sent (each names its sender in the payload). Read once
/// per account deleted, so a scan of the outbox is bearable.
async fn pushes_from(conn: &impl ConnectionTrait, user: Uuid) -> Result<Vec<notification_outbox::Model>, DbErr> {
    let by_sender = match conn.get_database_backend() {
        DatabaseBackend::Postgres => "payload->>'sender_id' = $1",
        _ => "json_extract(payload, '$.sender_id') = ?",
    };
    notification_outbox::Entity::find()
        .filter(notification_outbox::Column::EventType.eq("message.created"))
        .filter(sea_orm::sea_query::Expr::cust_with_values(by_sender, [user.to_string()]))
        .all(conn)
        .await
}

/// `$n` on Postgres, `?` on SQLite.
fn placeholder(conn: &impl ConnectionTrait, n: usize) -> String {
    match conn.get_database_backend() {
        DatabaseBackend::Postgres => format!("${n}"),
        _ => "?".to_owned(),
    }
}

/// A statement written with `$1` for one value, as the backend takes it.
fn dialect(conn: &impl ConnectionTrait, sql: &str) -> String {
    match conn.get_database_backend() {
        DatabaseBackend::Postgres => sql.to_owned(),
        _ => sql.replace("$1", "?1"),
    }
}
