//! Erasing a deleted message's text wherever the database holds it: the message (a
//! tombstone stays), its reactions, and the previews of the pushes it set off, in the outbox.

use chrono::{DateTime, Duration, Utc};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, DatabaseTransaction, EntityTrait, IntoActiveModel, QueryFilter,
    QuerySelect, sea_query::Expr,
};
use serde_json::Value;
use shared::entities::notification_outbox;
use uuid::Uuid;

use super::{
    changes::set,
    entities::{chat_members, message_reactions, messages},
};
use crate::error::ChatError;

/// How long after a message its pushes may have been written: they are written in its
/// transaction, so well within this.
const PUSHES_WRITTEN_WITHIN: Duration = Duration::seconds(60);

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

/// The `message.created` events of `message` lose their preview (`body`): they are keyed by
/// their recipients, members of its chat, and written with it.
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
    let events = notification_outbox::Entity::find()
        .filter(notification_outbox::Column::Key.is_in(recipients))
        .filter(notification_outbox::Column::CreatedAt.gte(message.sent_at))
        .filter(notification_outbox::Column::CreatedAt.lt(message.sent_at + PUSHES_WRITTEN_WITHIN))
        .filter(notification_outbox::Column::EventType.eq("message.created"))
        .all(txn)
        .await?;
    for event in events {
        if event.payload.get("message_id") != Some(&Value::from(message.id)) {
            continue;
        }
        let mut payload = event.payload.clone();
        payload["body"] = Value::from("");
        let mut row = event.into_active_model();
        row.payload = Set(payload);
        row.update(txn).await?;
    }
    Ok(())
}
