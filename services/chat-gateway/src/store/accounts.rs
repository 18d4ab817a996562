//! What a deleted account left in the chats: a message stored as it was deleted, the groups
//! it is still in, and the newest tombstone of its messages in each chat.

use chrono::Utc;
use sea_orm::{
    ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QuerySelect, TransactionTrait, sea_query::Query,
};
use shared::erasure;
use uuid::Uuid;

use super::{
    changes::ChangeKind,
    entities::{chat_members, chats, message_changes, messages},
};
use crate::{
    domain::{Changed, ChatKind, What},
    error::ChatError,
};

/// A chat's newest tombstone of a deleted account, and whom it is told to: a private chat's
/// other member, or (none) a group's room.
pub(crate) struct NewestTombstone {
    pub(crate) change: Changed,
    pub(crate) peer: Option<Uuid>,
}

/// Erases what a deleted `user` wrote that its account's erasure did not find (a message that
/// was being stored at that instant): shared's erasure again, in a transaction of its own.
pub async fn erase_stragglers(db: &DatabaseConnection, user: Uuid) -> Result<(), ChatError> {
    // Looked for first (the (sender_id, client_msg_id) index finds them): almost always none,
    // and the erasure reads the whole outbox for the account's pushes.
    let straggler = messages::Entity::find()
        .select_only()
        .column(messages::Column::Id)
        .filter(messages::Column::SenderId.eq(user))
        .filter(messages::Column::DeletedAt.is_null())
        .into_tuple::<i64>()
        .one(db)
        .await?;
    if straggler.is_none() {
        return Ok(());
    }
    let txn = db.begin().await?;
    erasure::erase_account(&txn, user, Utc::now()).await?;
    txn.commit().await?;
    Ok(())
}

/// The groups `user` is a member of.
pub async fn groups_of(db: &DatabaseConnection, user: Uuid) -> Result<Vec<Uuid>, ChatError> {
    let groups = Query::select()
        .column(chats::Column::Id)
        .from(chats::Entity)
        .and_where(chats::Column::Kind.eq(ChatKind::Group.as_str()))
        .to_owned();
    Ok(chat_members::Entity::find()
        .select_only()
        .column(chat_members::Column::ChatId)
        .filter(chat_members::Column::UserId.eq(user))
        .filter(chat_members::Column::ChatId.in_subquery(groups))
        .into_tuple()
        .all(db)
        .await?)
}

/// Per chat, the newest message of `user` deleted by `user` (as its account's erasure deletes
/// them), with the chat's other member when it is a private chat.
pub async fn newest_tombstones(db: &DatabaseConnection, user: Uuid) -> Result<Vec<NewestTombstone>, ChatError> {
    let newest: Vec<(Uuid, Option<i64>)> = message_changes::Entity::find()
        .select_only()
        .column(message_changes::Column::ChatId)
        .column_as(message_changes::Column::Seq.max(), "seq")
        .filter(message_changes::Column::UserId.eq(user))
        .filter(message_changes::Column::Kind.eq(ChangeKind::DELETED))
        .group_by(message_changes::Column::ChatId)
        .into_tuple()
        .all(db)
        .await?;
    let mut found = Vec::with_capacity(newest.len());
    for (chat_id, seq) in newest {
        let Some(seq) = seq else { continue };
        let Some(change) = message_changes::Entity::find_by_id((chat_id, seq)).one(db).await? else { continue };
        let chat = chats::Entity::find_by_id(chat_id).one(db).await?;
        let peer = match chat.map(|c| ChatKind::stored(&c.kind)) {
            Some(ChatKind::Private) => {
                chat_members::Entity::find()
                    .select_only()
                    .column(chat_members::Column::UserId)
                    .filter(chat_members::Column::ChatId.eq(chat_id))
                    .filter(chat_members::Column::UserId.ne(user))
                    .into_tuple()
                    .one(db)
                    .await?
            }
            Some(ChatKind::Group) => None,
            None => continue,
        };
        let change = Changed { chat_id, seq, message_id: change.message_id, by: user, what: What::Deleted };
        found.push(NewestTombstone { change, peer });
    }
    Ok(found)
}
