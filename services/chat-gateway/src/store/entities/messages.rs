use sea_orm::entity::prelude::*;

/// A message. `id` is its `message_id`; `seq` numbers it within its chat without gaps.
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
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
