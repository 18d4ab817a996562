//! Storing messages, with their offline pushes, in one statement per batch.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveValue::Set,
    ColumnTrait, Condition, ConnectionTrait, DatabaseBackend, DatabaseConnection, DatabaseTransaction, DbErr,
    EntityTrait, QueryFilter, QuerySelect, SqlErr, Statement, TransactionTrait,
    sea_query::{Expr, ExprTrait},
};
use shared::{
    entities::users,
    outbox::{self, NotificationEvent},
};
use uuid::Uuid;

use super::{
    batch_sql::NUMBERED_INSERT,
    blocks,
    durability::Durability,
    entities::{chats, messages},
    locks, mutes,
};
use crate::{
    domain::{Content, Message},
    error::ChatError,
};

/// A message a member wants to send, already parsed, with who gets it and who of them has no
/// live connection (and so gets a push).
#[derive(Debug, Clone)]
pub struct Draft {
    pub chat_id: Uuid,
    pub sender_id: Uuid,
    pub sender_username: String,
    pub kind: String,
    pub content: Content,
    pub client_msg_id: Option<String>,
    /// The message of the same chat it answers, checked to be there.
    pub reply_to: Option<i64>,
    /// A private chat's other member: the message is refused when either blocked the other.
    pub peer: Option<Uuid>,
    pub members: Vec<Uuid>,
    pub offline: Vec<Uuid>,
}

/// What sending did.
#[derive(Debug)]
pub enum Sent {
    /// Stored now; `pushes` offline recipients got a `message.created` event.
    New { message: Message, pushes: usize },
    /// The sender already sent this `client_msg_id`: the original, unchanged.
    Existing(Message),
}

/// Whether message `message_id` of `chat_id` may be answered: it is there, not deleted.
pub async fn answerable(db: &DatabaseConnection, chat_id: Uuid, message_id: i64) -> Result<(), ChatError> {
    let deleted: Option<Option<DateTime<Utc>>> = messages::Entity::find_by_id(message_id)
        .select_only()
        .column(messages::Column::DeletedAt)
        .filter(messages::Column::ChatId.eq(chat_id))
        .into_tuple()
        .one(db)
        .await?;
    match deleted {
        None => Err(ChatError::Invalid("reply_to: no such message in this chat".into())),
        Some(Some(_)) => Err(ChatError::MessageDeleted),
        Some(None) => Ok(()),
    }
}

/// Stores `drafts`, answering each in order. All of them go in one transaction when they can
/// ([`store_batch`]); a batch that fails is stored again draft by draft, so one bad draft
/// fails only itself. A resend (same sender, same `client_msg_id`) gets its original back
/// instead of a copy, found beforehand in one query, or afterwards when it raced the original
/// and the unique index let only one through.
pub(crate) async fn store(
    db: &DatabaseConnection,
    drafts: &[Draft],
    durability: Durability,
) -> Vec<Result<Sent, ChatError>> {
    let originals = match originals(db, drafts).await {
        Ok(found) => found,
        Err(_) if drafts.len() > 1 => return one_by_one(db, drafts, durability).await,
        Err(err) => return vec![Err(err.into())],
    };
    let mut answers: Vec<Option<Result<Sent, ChatError>>> = Vec::with_capacity(drafts.len());
    let (mut fresh, mut fresh_at) = (Vec::new(), Vec::new());
    for (at, draft) in drafts.iter().enumerate() {
        match original_of(draft, &originals) {
            Ok(Some(original)) => answers.push(Some(Ok(Sent::Existing(original.into())))),
            Ok(None) => {
                answers.push(None);
                fresh.push(draft.clone());
                fresh_at.push(at);
            }
            Err(err) => answers.push(Some(Err(err))),
        }
    }
    if !fresh.is_empty() {
        let stored = match store_batch(db, &fresh, durability).await {
            Ok(sent) => sent.into_iter().map(Ok).collect(),
            Err(err) if fresh.len() > 1 => {
                tracing::debug!(error = %err, size = fresh.len(), "batch failed; storing its messages one by one");
                one_by_one(db, &fresh, durability).await
            }
            Err(err) if matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
                let original = originals_of(db, &fresh[0]).await;
                vec![original.and_then(|found| found.map(|m| Sent::Existing(m.into())).ok_or(ChatError::Database(err)))]
            }
            Err(DbErr::RecordNotInserted) => vec![Err(refusal_of(db, &fresh[0]).await)],
            Err(err) => vec![Err(err.into())],
        };
        for (at, answer) in fresh_at.into_iter().zip(stored) {
            answers[at] = Some(answer);
        }
    }
    answers.into_iter().map(|answer| answer.unwrap_or_else(|| Err(DbErr::RecordNotInserted.into()))).collect()
}

/// Why a message that stored nothing was refused: a block, a peer deleted, or else its chat
/// is gone.
async fn refusal_of(db: &DatabaseConnection, draft: &Draft) -> ChatError {
    let Some(peer) = draft.peer else { return ChatError::NoSuchChat };
    match blocks::between(db, draft.sender_id, peer).await {
        Ok(true) => return ChatError::Blocked,
        Ok(false) => {}
        Err(err) => return err,
    }
    match users::Entity::find_by_id(peer).one(db).await {
        Ok(Some(user)) if user.deleted_at.is_some() => ChatError::NoSuchUser,
        Ok(_) => ChatError::NoSuchChat,
        Err(err) => err.into(),
    }
}

async fn one_by_one(db: &DatabaseConnection, drafts: &[Draft], durability: Durability) -> Vec<Result<Sent, ChatError>> {
    let mut answers = Vec::with_capacity(drafts.len());
    for draft in drafts {
        let mut answer = Box::pin(store(db, std::slice::from_ref(draft), durability)).await;
        answers.push(answer.pop().unwrap_or_else(|| Err(DbErr::RecordNotInserted.into())));
    }
    answers
}

/// The messages that `drafts` resend (same sender, same `client_msg_id`), in one query.
async fn originals(db: &impl ConnectionTrait, drafts: &[Draft]) -> Result<Vec<messages::Model>, DbErr> {
    let wanted = drafts.iter().filter_map(|d| Some((d.sender_id, d.client_msg_id.as_deref()?))).fold(
        Condition::any(),
        |cond, (sender, client_msg_id)| {
            cond.add(
                Condition::all()
                    .add(messages::Column::SenderId.eq(sender))
                    .add(messages::Column::ClientMsgId.eq(client_msg_id)),
            )
        },
    );
    if wanted.is_empty() {
        return Ok(Vec::new());
    }
    messages::Entity::find().filter(wanted).all(db).await
}

/// The original `draft` resends, if it is among `originals`; an error if that one was sent
/// to another chat.
fn original_of(draft: &Draft, originals: &[messages::Model]) -> Result<Option<messages::Model>, ChatError> {
    let Some(client_msg_id) = draft.client_msg_id.as_deref() else { return Ok(None) };
    let found =
        originals.iter().find(|m| m.sender_id == draft.sender_id && m.client_msg_id.as_deref() == Some(client_msg_id));
    match found {
        Some(original) => same_chat(original.clone(), draft.chat_id).map(Some),
        None => Ok(None),
    }
}

/// The original of one draft, looked up again.
async fn originals_of(db: &impl ConnectionTrait, draft: &Draft) -> Result<Option<messages::Model>, ChatError> {
    original_of(draft, &originals(db, std::slice::from_ref(draft)).await?)
}

fn same_chat(original: messages::Model, chat_id: Uuid) -> Result<messages::Model, ChatError> {
    if original.chat_id == chat_id {
        Ok(original)
    } else {
        Err(ChatError::Invalid("client_msg_id: already used for a message in another chat".into()))
    }
}

/// Stores messages from members in one transaction (one commit, one fsync, for all of them),
/// numbering each within its chat, with a `message.created` outbox event for each offline
/// recipient. All or nothing: one failure (a resend racing its original) fails the batch.
///
/// Every message involving a user is written while holding that user's lock (Postgres advisory
/// locks on every member of the batch, or on their stripes for a large group: `locks.rs`;
/// SQLite has one writer anyway), so a user's messages commit in `id` order: a client that has
/// every message up to id n has missed none below it.
///
/// On Postgres a batch without pushes is one statement, which is its own transaction: one
/// round trip in all. With pushes, that statement, the recipients and the outbox share one
/// transaction. Either way the statement sets the transaction's durability.
pub async fn store_batch(
    db: &DatabaseConnection,
    drafts: &[Draft],
    durability: Durability,
) -> Result<Vec<Sent>, DbErr> {
    let now = Utc::now();
    let postgres = db.get_database_backend() == DatabaseBackend::Postgres;
    if postgres && drafts.iter().all(|d| d.offline.is_empty()) {
        let stored = in_draft_order(drafts, all_of(drafts, numbered_insert(db, drafts, now, durability).await?)?)?;
        return Ok(stored.into_iter().map(|row| Sent::New { message: row.into(), pushes: 0 }).collect());
    }
    let txn = db.begin().await?;
    let stored = if postgres {
        numbered_insert(&txn, drafts, now, durability).await?
    } else {
        sqlite_insert(&txn, drafts, now).await?
    };
    let sent = with_pushes(&txn, drafts, in_draft_order(drafts, all_of(drafts, stored)?)?, now).await?;
    txn.commit().await?;
    Ok(sent)
}

/// The batch in one Postgres statement: the members' locks, the chats' counters moved on,
/// the messages numbered from them and inserted, returned. What can be worked out without the
/// database is worked out here (each chat's count, each message's place among its chat's in
/// the batch), so that the statement is a short plan: the database runs it a thousand times a
/// second, and setting up each node of a plan costs it on every run.
async fn numbered_insert(
    conn: &impl ConnectionTrait,
    drafts: &[Draft],
    now: DateTime<Utc>,
    durability: Durability,
) -> Result<Vec<messages::Model>, DbErr> {
    let locks = locks::for_batch(drafts.iter().map(|d| d.members.as_slice()));
    let mut counts: Vec<(Uuid, i64)> = Vec::new();
    let places: Vec<i64> = drafts
        .iter()
        .map(|draft| match counts.iter_mut().find(|(chat, _)| *chat == draft.chat_id) {
            Some((_, n)) => {
                *n += 1;
                *n
            }
            None => {
                counts.push((draft.chat_id, 1));
                1
            }
        })
        .collect();
    let column = |f: fn(&Draft) -> String| drafts.iter().map(f).collect::<Vec<String>>();
    let pairs: Vec<(Uuid, Uuid)> = drafts.iter().filter_map(|d| Some((d.sender_id, d.peer?))).collect();
    let values: [sea_orm::Value; 16] = [
        locks.classes.into(),
        locks.keys.into(),
        locks.shared.into(),
        counts.iter().map(|(chat, _)| *chat).collect::<Vec<Uuid>>().into(),
        counts.iter().map(|(_, n)| *n).collect::<Vec<i64>>().into(),
        drafts.iter().map(|d| d.chat_id).collect::<Vec<Uuid>>().into(),
        places.into(),
        drafts.iter().map(|d| d.sender_id).collect::<Vec<Uuid>>().into(),
        column(|d| d.kind.clone()).into(),
        column(|d| d.content.as_str().to_owned()).into(),
        // The driver binds text arrays without NULLs; a client_msg_id is never empty.
        column(|d| d.client_msg_id.clone().unwrap_or_default()).into(),
        now.into(),
        // Nor without NULLs in integer arrays; a message id is never 0.
        drafts.iter().map(|d| d.reply_to.unwrap_or(0)).collect::<Vec<i64>>().into(),
        pairs.iter().map(|(sender, _)| *sender).collect::<Vec<Uuid>>().into(),
        pairs.iter().map(|(_, peer)| *peer).collect::<Vec<Uuid>>().into(),
        (durability == Durability::Async).into(),
    ];
    messages::Entity::find()
        .from_raw_sql(Statement::from_sql_and_values(DatabaseBackend::Postgres, NUMBERED_INSERT, values))
        .all(conn)
        .await
}

/// The batch's rows, unless it stored none (a block refused it).
fn all_of(drafts: &[Draft], stored: Vec<messages::Model>) -> Result<Vec<messages::Model>, DbErr> {
    if stored.is_empty() && !drafts.is_empty() { Err(DbErr::RecordNotInserted) } else { Ok(stored) }
}

fn into_db(err: ChatError) -> DbErr {
    match err {
        ChatError::Database(err) => err,
        other => DbErr::Custom(other.to_string()),
    }
}

/// The batch on SQLite, which has one writer: each chat's counter moved on, then the messages
/// inserted with the numbers just below it.
async fn sqlite_insert(
    txn: &DatabaseTransaction,
    drafts: &[Draft],
    now: DateTime<Utc>,
) -> Result<Vec<messages::Model>, DbErr> {
    for draft in drafts {
        if let Some(peer) = draft.peer {
            let deleted = users::Entity::find_by_id(peer).one(txn).await?.is_none_or(|u| u.deleted_at.is_some());
            if deleted || blocks::between(txn, draft.sender_id, peer).await.map_err(into_db)? {
                return Err(DbErr::RecordNotInserted);
            }
        }
    }
    let mut per_chat: Vec<(Uuid, i64)> = Vec::new();
    for draft in drafts {
        match per_chat.iter_mut().find(|(chat, _)| *chat == draft.chat_id) {
            Some((_, n)) => *n += 1,
            None => per_chat.push((draft.chat_id, 1)),
        }
    }
    // Each chat's counter after the batch; its messages take the numbers just below, in order.
    let mut last = HashMap::new();
    for (chat_id, n) in &per_chat {
        let bumped = chats::Entity::update_many()
            .col_expr(chats::Column::LastSeq, Expr::col(chats::Column::LastSeq).add(*n))
            .col_expr(chats::Column::LastMessageSeq, Expr::col(chats::Column::LastSeq).add(*n))
            .col_expr(chats::Column::LastActivityAt, Expr::value(now))
            .filter(chats::Column::Id.eq(*chat_id))
            .exec_with_returning(txn)
            .await?;
        if let Some(chat) = bumped.first() {
            last.insert(chat.id, chat.last_seq);
        }
    }
    let mut rows = Vec::with_capacity(drafts.len());
    for draft in drafts {
        let n = per_chat.iter_mut().find(|(c, _)| *c == draft.chat_id).map(|(_, n)| n);
        let (Some(n), Some(top)) = (n, last.get(&draft.chat_id)) else {
            return Err(DbErr::RecordNotFound(format!("chat {}", draft.chat_id)));
        };
        let seq = *top - *n + 1;
        *n -= 1;
        rows.push(messages::ActiveModel {
            chat_id: Set(draft.chat_id),
            seq: Set(seq),
            sender_id: Set(draft.sender_id),
            kind: Set(draft.kind.clone()),
            content: Set(draft.content.as_str().to_owned()),
            client_msg_id: Set(draft.client_msg_id.clone()),
            sent_at: Set(now),
            reply_to: Set(draft.reply_to),
            ..Default::default()
        });
    }
    messages::Entity::insert_many(rows).exec_with_returning(txn).await
}

/// The stored rows in the order of their drafts (neither RETURNING nor a join promises an
/// order): within a chat, numbers were given in draft order.
fn in_draft_order(drafts: &[Draft], mut stored: Vec<messages::Model>) -> Result<Vec<messages::Model>, DbErr> {
    stored.sort_by_key(|m| (m.chat_id, m.seq));
    let mut ordered = Vec::with_capacity(drafts.len());
    let mut taken: HashMap<Uuid, usize> = HashMap::new();
    for draft in drafts {
        let start = stored.partition_point(|m| m.chat_id < draft.chat_id);
        let k = taken.entry(draft.chat_id).or_insert(0);
        let message = stored.get(start + *k).filter(|m| m.chat_id == draft.chat_id).cloned();
        *k += 1;
        // A draft without its row: its chat is gone.
        ordered.push(message.ok_or_else(|| DbErr::RecordNotFound(format!("chat {}", draft.chat_id)))?);
    }
    Ok(ordered)
}

/// A `message.created` outbox event for each offline recipient of each stored message who has
/// not muted its chat, in the same transaction.
async fn with_pushes(
    txn: &DatabaseTransaction,
    drafts: &[Draft],
    stored: Vec<messages::Model>,
    now: DateTime<Utc>,
) -> Result<Vec<Sent>, DbErr> {
    let wanted: Vec<(Uuid, Uuid)> = drafts.iter().flat_map(|d| d.offline.iter().map(|u| (d.chat_id, *u))).collect();
    let muted = mutes::muted_among(txn, &wanted, now).await?;
    let offline: Vec<Uuid> = wanted.iter().filter(|pair| !muted.contains(pair)).map(|(_, user)| *user).collect();
    let recipients: HashMap<Uuid, users::Model> = if offline.is_empty() {
        HashMap::new()
    } else {
        let found = users::Entity::find().filter(users::Column::Id.is_in(offline)).all(txn).await?;
        found.into_iter().map(|u| (u.id, u)).collect()
    };
    let mut sent = Vec::with_capacity(drafts.len());
    for (draft, message) in drafts.iter().zip(stored) {
        let mut pushes = 0;
        let unmuted = draft.offline.iter().filter(|id| !muted.contains(&(draft.chat_id, **id)));
        for recipient in unmuted.filter_map(|id| recipients.get(id)) {
            let about =
                outbox::MessageRef { chat_id: message.chat_id, message_id: message.id, sender_id: draft.sender_id };
            let event = NotificationEvent::message_created(
                recipient,
                &draft.sender_username,
                draft.content.as_str(),
                about,
                now,
            );
            outbox::enqueue(txn, &event).await?;
            pushes += 1;
        }
        sent.push(Sent::New { message: message.into(), pushes });
    }
    Ok(sent)
}
