use sea_orm::entity::prelude::*;

/// A user in a chat, with their receipts as watermarks (message ids), their `role` (`owner`,
/// `admin`, `member`) and the chat's `last_seq` when they joined (`joined_seq`: they see the
/// messages after it).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "chat_members")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub chat_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub user_id: Uuid,
    pub joined_at: DateTimeUtc,
    pub delivered_up_to: Option<i64>,
    pub seen_up_to: Option<i64>,
    pub role: String,
    pub joined_seq: i64,
    /// No pushes from the chat before then.
    pub muted_until: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
