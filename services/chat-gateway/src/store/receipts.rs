//! Receipts: how far each member has received and read a chat, as watermarks (message ids).

use sea_orm::{ColumnTrait, Condition, DatabaseConnection, EntityTrait, QueryFilter, sea_query::Expr};
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
/// Returns the sender to tell, when this moved the watermark for another member's message.
#[tracing::instrument(skip(db))]
pub async fn acknowledge(
    db: &DatabaseConnection,
    user: Uuid,
    chat_id: Uuid,
    message_id: i64,
    receipt: Receipt,
) -> Result<Option<Uuid>, ChatError> {
    // Membership first: a non-member learns nothing about which messages exist.
    let is_member = chat_members::Entity::find_by_id((chat_id, user)).one(db).await?.is_some();
    if !is_member {
        return Err(ChatError::NotMember);
    }
    let message = messages::Entity::find_by_id(message_id)
        .filter(messages::Column::ChatId.eq(chat_id))
        .one(db)
        .await?
        .ok_or(ChatError::NoSuchMessage)?;
    if message.sender_id == user {
        return Ok(None);
    }
    let column = match receipt {
        Receipt::Delivered => chat_members::Column::DeliveredUpTo,
        Receipt::Seen => chat_members::Column::SeenUpTo,
    };
    let moved = chat_members::Entity::update_many()
        .col_expr(column, Expr::value(message_id))
        .filter(chat_members::Column::ChatId.eq(chat_id))
        .filter(chat_members::Column::UserId.eq(user))
        .filter(Condition::any().add(column.is_null()).add(column.lt(message_id)))
        .exec(db)
        .await?;
    Ok((moved.rows_affected > 0).then_some(message.sender_id))
}
