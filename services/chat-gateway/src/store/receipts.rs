//! Receipts: how far each member has received and read a chat, as watermarks (message ids).

use sea_orm::{ColumnTrait, Condition, DatabaseConnection, EntityTrait, QueryFilter, QuerySelect, sea_query::Expr};
use uuid::Uuid;

use super::entities::{chat_members, messages};
use crate::error::ChatError;

/// Which receipt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Receipt {
    Delivered,
    Seen,
}

/// Records that `user` has received (or seen) everything in the chat up to `message_id`.
/// Returns whom to tell, when this moved the watermark: the senders of the messages it now
/// covers (the other member of a private chat; in a group, everyone who sent one of them).
#[tracing::instrument(skip(db))]
pub async fn acknowledge(
    db: &DatabaseConnection,
    user: Uuid,
    chat_id: Uuid,
    message_id: i64,
    receipt: Receipt,
) -> Result<Vec<Uuid>, ChatError> {
    // Membership first: a non-member learns nothing about which messages exist.
    let member = chat_members::Entity::find_by_id((chat_id, user)).one(db).await?.ok_or(ChatError::NotMember)?;
    let message = messages::Entity::find_by_id(message_id)
        .filter(messages::Column::ChatId.eq(chat_id))
        // A group's messages from before the member joined are not theirs to acknowledge.
        .filter(messages::Column::Seq.gt(member.joined_seq))
        .one(db)
        .await?
        .ok_or(ChatError::NoSuchMessage)?;
    if message.sender_id == user {
        return Ok(Vec::new());
    }
    let (column, before) = match receipt {
        Receipt::Delivered => (chat_members::Column::DeliveredUpTo, member.delivered_up_to),
        Receipt::Seen => (chat_members::Column::SeenUpTo, member.seen_up_to),
    };
    let moved = chat_members::Entity::update_many()
        .col_expr(column, Expr::value(message_id))
        .filter(chat_members::Column::ChatId.eq(chat_id))
        .filter(chat_members::Column::UserId.eq(user))
        .filter(Condition::any().add(column.is_null()).add(column.lt(message_id)))
        .exec(db)
        .await?;
    if moved.rows_affected == 0 {
        return Ok(Vec::new());
    }
    let mut covered = messages::Entity::find()
        .select_only()
        .column(messages::Column::SenderId)
        .distinct()
        .filter(messages::Column::ChatId.eq(chat_id))
        .filter(messages::Column::Id.lte(message_id))
        .filter(messages::Column::Seq.gt(member.joined_seq))
        .filter(messages::Column::SenderId.ne(user));
    if let Some(before) = before {
        covered = covered.filter(messages::Column::Id.gt(before));
    }
    Ok(covered.into_tuple().all(db).await?)
}
