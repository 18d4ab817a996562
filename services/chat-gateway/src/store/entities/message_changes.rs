use sea_orm::entity::prelude::*;

/// A change of a message (an edit, a deletion, a reaction added or removed), numbered in its
/// chat's sequence like a message. It holds no content: replaying an edit reads the message's
/// text as it stands, so an erased text stays erased.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "message_changes")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub chat_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub seq: i64,
    pub message_id: i64,
    /// `edited`, `deleted`, `reaction_added`, `reaction_removed`.
    pub kind: String,
    /// Who made the change.
    pub user_id: Uuid,
    /// A reaction's.
    pub emoji: Option<String>,
    pub at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
