use sea_orm::entity::prelude::*;

use crate::domain::{Content, Message};

/// A message. `id` is its `message_id`; `seq` numbers it within its chat's sequence (shared
/// with the chat's changes, without gaps). A deleted one is a tombstone: `deleted_at` set,
/// `content` erased to the empty string.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "messages")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub chat_id: Uuid,
    pub seq: i64,
    pub sender_id: Uuid,
    pub kind: String,
    pub content: String,
    pub client_msg_id: Option<String>,
    pub sent_at: DateTimeUtc,
    pub reply_to: Option<i64>,
    pub edited_at: Option<DateTimeUtc>,
    pub deleted_at: Option<DateTimeUtc>,
    pub deleted_by: Option<Uuid>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

impl From<Model> for Message {
    fn from(row: Model) -> Self {
        Self {
            id: row.id,
            chat_id: row.chat_id,
            seq: row.seq,
            sender_id: row.sender_id,
            kind: row.kind,
            content: Content::stored(row.content),
            client_msg_id: row.client_msg_id,
            sent_at: row.sent_at,
            reply_to: row.reply_to,
            edited_at: row.edited_at,
            deleted: row.deleted_at.is_some(),
        }
    }
}
