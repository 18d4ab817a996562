//! A sent message changed: edited, deleted, reacted to. Each change takes the next number of
//! its chat's sequence under the chat row's lock, as a message does, and is written to
//! `message_changes` in the same transaction: changes and messages of a chat commit in the
//! order of their numbers, and a connection replays what it missed from the database exactly
//! as it replays messages. A change holds no text (an edit replays the text as it stands), so
//! erasing a message's text erases it everywhere: a deleted message keeps a tombstone, its
//! reactions go, and its pushes are withdrawn (through shared's `erasure`, which auth-api's
//! erasure of an account shares).

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveValue::Set,
    ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction, EntityTrait, QueryFilter, QuerySelect,
    TransactionTrait,
    sea_query::{Expr, ExprTrait},
};
use shared::erasure;
use uuid::Uuid;

use super::{
    blocks,
    entities::{chat_members, chats, message_changes, message_reactions, messages},
};
use crate::{
    domain::{ChatKind, Content, Emoji, Role},
    error::ChatError,
};

/// What a member asks to change of a message.
#[derive(Debug, Clone)]
pub enum Change {
    Edit(Content),
    Delete,
    React { emoji: Emoji, add: bool },
}

impl Change {
    /// The `message_changes.kind` it is stored as.
    fn kind(&self) -> &'static str {
        match self {
            Self::Edit(_) => ChangeKind::EDITED,
            Self::Delete => ChangeKind::DELETED,
            Self::React { add: true, .. } => ChangeKind::REACTION_ADDED,
            Self::React { add: false, .. } => ChangeKind::REACTION_REMOVED,
        }
    }
}

/// The kinds a change is stored as.
pub struct ChangeKind;

impl ChangeKind {
    pub const EDITED: &'static str = "edited";
    pub const DELETED: &'static str = "deleted";
    pub const REACTION_ADDED: &'static str = "reaction_added";
    pub const REACTION_REMOVED: &'static str = "reaction_removed";
}

/// A change made: its number in the chat, when, and the group's membership then.
#[derive(Debug, Clone, Copy)]
pub struct Applied {
    pub seq: i64,
    pub at: DateTime<Utc>,
    /// The group's membership epoch (a private chat's stays 0).
    pub members_epoch: i64,
}

/// What asking for a change did.
#[derive(Debug, Clone, Copy)]
pub enum Outcome {
    Applied(Applied),
    /// Nothing to change: the reaction was there already, or was not there to take back.
    Unchanged,
}

/// Changes message `message_id` of `chat_id` as `by` asks, if `by` may: only the sender
/// edits (a text message), the sender or a group's owner and admins delete, any member
/// reacts; nothing changes a deleted message, a group's member sees (and changes) only the
/// messages from after they joined, and nothing changes in a private chat where either
/// blocked the other.
#[tracing::instrument(skip(db, change))]
pub async fn apply(
    db: &DatabaseConnection,
    chat_id: Uuid,
    by: Uuid,
    message_id: i64,
    change: &Change,
) -> Result<Outcome, ChatError> {
    // What a stranger asks is refused before the lock, so that a stranger cannot hold it.
    member(db, chat_id, by).await?;
    let txn = db.begin().await?;
    let chat = lock(&txn, chat_id).await?;
    let (role, joined_seq) = member(&txn, chat_id, by).await?;
    if ChatKind::stored(&chat.kind) == ChatKind::Private {
        let peer: Option<Uuid> = chat_members::Entity::find()
            .select_only()
            .column(chat_members::Column::UserId)
            .filter(chat_members::Column::ChatId.eq(chat_id))
            .filter(chat_members::Column::UserId.ne(by))
            .into_tuple()
            .one(&txn)
            .await?;
        if let Some(peer) = peer {
            blocks::refuse_if_blocked(&txn, by, peer).await?;
        }
    }
    let message = messages::Entity::find_by_id(message_id)
        .filter(messages::Column::ChatId.eq(chat_id))
        .filter(messages::Column::Seq.gt(joined_seq))
        .one(&txn)
        .await?
        .ok_or(ChatError::NoSuchMessage)?;
    if message.deleted_at.is_some() {
        return Err(ChatError::MessageDeleted);
    }
    let at = Utc::now();
    match change {
        Change::Edit(content) => {
            if message.sender_id != by {
                return Err(ChatError::Refused("only its sender may edit a message".into()));
            }
            if message.kind != "text" {
                return Err(ChatError::Refused("only text messages may be edited".into()));
            }
            set(
                &txn,
                message_id,
                [
                    (messages::Column::Content, Expr::value(content.as_str())),
                    (messages::Column::EditedAt, Expr::value(at)),
                ],
            )
            .await?;
        }
        Change::Delete => {
            if message.sender_id != by && !(ChatKind::stored(&chat.kind) == ChatKind::Group && role.may_manage()) {
                return Err(ChatError::Refused(
                    "only its sender, or a group's owner and admins, may delete a message".into(),
                ));
            }
            erase_message(&txn, &message, by, at).await?;
        }
        Change::React { emoji, add: true } => {
            let key = (message_id, by, emoji.as_str().to_owned());
            if message_reactions::Entity::find_by_id(key).one(&txn).await?.is_some() {
                return Ok(Outcome::Unchanged);
            }
            message_reactions::Entity::insert(message_reactions::ActiveModel {
                message_id: Set(message_id),
                user_id: Set(by),
                emoji: Set(emoji.as_str().to_owned()),
                reacted_at: Set(at),
            })
            .exec(&txn)
            .await?;
        }
        Change::React { emoji, add: false } => {
            let key = (message_id, by, emoji.as_str().to_owned());
            if message_reactions::Entity::delete_by_id(key).exec(&txn).await?.rows_affected == 0 {
                return Ok(Outcome::Unchanged);
            }
        }
    }
    let emoji = match change {
        Change::React { emoji, .. } => Some(emoji.as_str().to_owned()),
        Change::Edit(_) | Change::Delete => None,
    };
    message_changes::Entity::insert(message_changes::ActiveModel {
        chat_id: Set(chat_id),
        seq: Set(chat.last_seq),
        message_id: Set(message_id),
        kind: Set(change.kind().to_owned()),
        user_id: Set(by),
        emoji: Set(emoji),
        at: Set(at),
    })
    .exec(&txn)
    .await?;
    txn.commit().await?;
    Ok(Outcome::Applied(Applied { seq: chat.last_seq, at, members_epoch: chat.members_epoch }))
}

/// The caller's role in the chat and where they joined it.
async fn member(db: &impl ConnectionTrait, chat_id: Uuid, user: Uuid) -> Result<(Role, i64), ChatError> {
    let row = chat_members::Entity::find_by_id((chat_id, user)).one(db).await?.ok_or(ChatError::NotMember)?;
    Ok((Role::stored(&row.role), row.joined_seq))
}

/// The chat's next number, taken under its row's lock (held to the commit): messages and
/// changes of a chat commit in the order of their numbers.
async fn lock(txn: &DatabaseTransaction, chat_id: Uuid) -> Result<chats::Model, ChatError> {
    let bumped = chats::Entity::update_many()
        .col_expr(chats::Column::LastSeq, Expr::col(chats::Column::LastSeq).add(1))
        .filter(chats::Column::Id.eq(chat_id))
        .exec_with_returning(txn)
        .await?;
    bumped.into_iter().next().ok_or(ChatError::NotMember)
}

/// Sets columns of one message.
async fn set<const N: usize>(
    txn: &DatabaseTransaction,
    message_id: i64,
    columns: [(messages::Column, Expr); N],
) -> Result<(), ChatError> {
    let mut update = messages::Entity::update_many().filter(messages::Column::Id.eq(message_id));
    for (column, value) in columns {
        update = update.col_expr(column, value);
    }
    update.exec(txn).await?;
    Ok(())
}

/// Makes `message` a tombstone deleted by `by` at `at`: its text erased, its reactions gone,
/// and the previews of its pushes in the outbox erased (a push not relayed yet goes out
/// without the text).
async fn erase_message(
    txn: &DatabaseTransaction,
    message: &messages::Model,
    by: Uuid,
    at: DateTime<Utc>,
) -> Result<(), ChatError> {
    set(
        txn,
        message.id,
        [
            (messages::Column::Content, Expr::value("")),
            (messages::Column::DeletedAt, Expr::value(at)),
            (messages::Column::DeletedBy, Expr::value(by)),
        ],
    )
    .await?;
    message_reactions::Entity::delete_many()
        .filter(message_reactions::Column::MessageId.eq(message.id))
        .exec(txn)
        .await?;
    erase_previews(txn, message).await
}

/// The `message.created` events of `message` lose their preview: they are keyed by their
/// recipients, members of its chat.
async fn erase_previews(txn: &DatabaseTransaction, message: &messages::Model) -> Result<(), ChatError> {
    let recipients: Vec<String> = chat_members::Entity::find()
        .select_only()
        .column(chat_members::Column::UserId)
        .filter(chat_members::Column::ChatId.eq(message.chat_id))
        .filter(chat_members::Column::UserId.ne(message.sender_id))
        .into_tuple::<Uuid>()
        .all(txn)
        .await?
        .into_iter()
        .map(|user| user.to_string())
        .collect();
    let events = erasure::pushes_of_message(txn, recipients, message.sent_at, message.id).await?;
    Ok(erasure::withdraw(txn, events).await?)
}
