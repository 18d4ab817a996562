//! The four reads of user-search, each an index lookup or index range scan on the bytewise
//! `username_key` (or the primary key), selecting only the two public columns of accounts
//! not deleted.

use sea_orm::{
    ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    sea_query::{ExprTrait, IntoCondition},
};
use shared::entities::users::{Column, Entity as User};
use uuid::Uuid;

/// A user as anyone may see them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicUser {
    pub user_id: Uuid,
    pub username: String,
    pub username_key: String,
}

/// The accounts anyone may find: not the deleted ones.
fn public() -> sea_orm::Select<User> {
    User::find()
        .select_only()
        .columns([Column::Id, Column::Username, Column::UsernameKey])
        .filter(Column::DeletedAt.is_null())
}

async fn fetch(
    db: &DatabaseConnection,
    condition: impl IntoCondition,
    limit: Option<u64>,
) -> Result<Vec<PublicUser>, DbErr> {
    let rows: Vec<(Uuid, String, String)> =
        public().filter(condition).order_by_asc(Column::UsernameKey).limit(limit).into_tuple().all(db).await?;
    Ok(rows
        .into_iter()
        .map(|(user_id, username, username_key)| PublicUser { user_id, username, username_key })
        .collect())
}

pub async fn by_username_key(db: &DatabaseConnection, key: &str) -> Result<Option<PublicUser>, DbErr> {
    Ok(fetch(db, Column::UsernameKey.eq(key), Some(1)).await?.pop())
}

pub async fn by_id(db: &DatabaseConnection, id: Uuid) -> Result<Option<PublicUser>, DbErr> {
    Ok(fetch(db, Column::Id.eq(id), Some(1)).await?.pop())
}

/// Up to `limit` users after `after` (a username key) in username order.
pub async fn page_after(db: &DatabaseConnection, after: Option<&str>, limit: u64) -> Result<Vec<PublicUser>, DbErr> {
    let condition = match after {
        Some(key) => Column::UsernameKey.gt(key).into_condition(),
        None => sea_orm::Condition::all(),
    };
    fetch(db, condition, Some(limit)).await
}

/// Users whose lowercased name starts with `prefix_key`, in username order. A range on the
/// bytewise key, `[prefix, prefix + U+10FFFF)`: usernames are ASCII, so every name with the
/// prefix sorts below the bound, and the index serves the range.
pub async fn by_prefix(db: &DatabaseConnection, prefix_key: &str, limit: u64) -> Result<Vec<PublicUser>, DbErr> {
    let upper = format!("{prefix_key}\u{10FFFF}");
    fetch(db, Column::UsernameKey.gte(prefix_key).and(Column::UsernameKey.lt(upper)), Some(limit)).await
}
