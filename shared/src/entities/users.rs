use sea_orm::entity::prelude::*;

/// A registered person. `username_key` and `email_key` are the lowercased forms that carry
/// the unique indexes; `username` and `email` keep the spelling the user chose.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "users")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub username: String,
    pub username_key: String,
    pub email: String,
    pub email_key: String,
    pub password_hash: String,
    pub fcm_token: Option<String>,
    pub created_at: DateTimeUtc,
    /// The account was deleted: the row stays (its messages stay tombstones), its name, address
    /// and secrets gone.
    pub deleted_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
