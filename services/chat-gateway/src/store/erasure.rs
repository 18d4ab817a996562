//! Erasing a deleted message's text wherever the database holds it: the message (a
//! tombstone stays), its reactions, and its pushes (through shared's `erasure`, which
//! auth-api's erasure of an account shares).

use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, DatabaseTransaction, EntityTrait, QueryFilter, QuerySelect, sea_query::Expr};
use shared::erasure;
use uuid::Uuid;

use super::{
    changes::set,
    entities::{chat_members, message_reactions, messages},
};
use crate::error::ChatError;

/// Makes `message` a tombstone deleted by `by` at `at`: its text erased, its reactions gone,
/// and the previews of its pushes in the outbox erased (a push not relayed yet goes out
/// without the text).
pub(super) async fn erase_message(
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
