use sea_orm::entity::prelude::*;

/// A chat: one-to-one (`kind` `private`, `pair_key` the two member ids sorted, unique per
/// pair) or a group (`kind` `group`, `pair_key` `group:<id>`, a `title`). `last_seq` is the
/// newest number of the chat's sequence (a message's or a change's), `last_message_seq` the
/// newest message's; `members_epoch` counts its membership changes.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "chats")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub pair_key: String,
    pub last_seq: i64,
    pub created_at: DateTimeUtc,
    pub last_activity_at: DateTimeUtc,
    pub kind: String,
    pub title: Option<String>,
    pub members_epoch: i64,
    pub member_count: i32,
    pub last_message_seq: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
