//! Muted chats: a member who muted a chat gets no push for its messages until the time they
//! chose. The message is stored and delivered to their connections as ever; only the outbox
//! event, which becomes the push, is not written.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, QuerySelect, sea_query::Expr,
};
use uuid::Uuid;

use super::entities::chat_members;
use crate::error::ChatError;

/// `user` mutes `chat_id` until `until` (unmutes it with none).
pub async fn set(
    db: &DatabaseConnection,
    chat_id: Uuid,
    user: Uuid,
    until: Option<DateTime<Utc>>,
) -> Result<(), ChatError> {
    let updated = chat_members::Entity::update_many()
        .col_expr(chat_members::Column::MutedUntil, Expr::value(until))
        .filter(chat_members::Column::ChatId.eq(chat_id))
        .filter(chat_members::Column::UserId.eq(user))
        .exec(db)
        .await?;
    if updated.rows_affected == 0 {
        return Err(ChatError::NotMember);
    }
    Ok(())
}

/// Which of `recipients` (chat, user) have their chat muted at `now`.
pub async fn muted_among(
    db: &impl ConnectionTrait,
    recipients: &[(Uuid, Uuid)],
    now: DateTime<Utc>,
) -> Result<HashSet<(Uuid, Uuid)>, sea_orm::DbErr> {
    if recipients.is_empty() {
        return Ok(HashSet::new());
    }
    let found: Vec<(Uuid, Uuid)> = chat_members::Entity::find()
        .select_only()
        .column(chat_members::Column::ChatId)
        .column(chat_members::Column::UserId)
        .filter(chat_members::Column::ChatId.is_in(recipients.iter().map(|(chat, _)| *chat)))
        .filter(chat_members::Column::UserId.is_in(recipients.iter().map(|(_, user)| *user)))
        .filter(chat_members::Column::MutedUntil.gt(now))
        .into_tuple()
        .all(db)
        .await?;
    Ok(found.into_iter().filter(|pair| recipients.contains(pair)).collect())
}
