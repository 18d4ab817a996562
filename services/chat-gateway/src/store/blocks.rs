//! Who blocked whom. A block works both ways (neither starts a private chat with the other
//! or sends into theirs) and is told to nobody: the blocked user learns of it only from the
//! `blocked` refusal.

use chrono::Utc;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, sea_query::OnConflict,
};
use shared::entities::users;
use uuid::Uuid;

use super::entities::user_blocks;
use crate::error::ChatError;

/// `blocker` blocks `blocked` (again: nothing changes).
pub async fn block(db: &DatabaseConnection, blocker: Uuid, blocked: Uuid) -> Result<(), ChatError> {
    let exists = users::Entity::find_by_id(blocked)
        .filter(users::Column::DeletedAt.is_null())
        .select_only()
        .column(users::Column::Id)
        .into_tuple::<Uuid>()
        .one(db)
        .await?;
    if exists.is_none() {
        return Err(ChatError::NoSuchUserId(blocked));
    }
    let row =
        user_blocks::ActiveModel { blocker_id: Set(blocker), blocked_id: Set(blocked), created_at: Set(Utc::now()) };
    user_blocks::Entity::insert(row)
        .on_conflict(
            OnConflict::columns([user_blocks::Column::BlockerId, user_blocks::Column::BlockedId])
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// `blocker` takes a block back (none there: nothing changes).
pub async fn unblock(db: &DatabaseConnection, blocker: Uuid, blocked: Uuid) -> Result<(), ChatError> {
    user_blocks::Entity::delete_by_id((blocker, blocked)).exec(db).await?;
    Ok(())
}

/// Whom `blocker` blocked, longest-standing first.
pub async fn blocked_by(db: &impl ConnectionTrait, blocker: Uuid) -> Result<Vec<Uuid>, ChatError> {
    Ok(user_blocks::Entity::find()
        .select_only()
        .column(user_blocks::Column::BlockedId)
        .filter(user_blocks::Column::BlockerId.eq(blocker))
        .order_by_asc(user_blocks::Column::CreatedAt)
        .order_by_asc(user_blocks::Column::BlockedId)
        .into_tuple()
        .all(db)
        .await?)
}

/// Whether either of `one` and `other` blocked the other.
pub async fn between(db: &impl ConnectionTrait, one: Uuid, other: Uuid) -> Result<bool, ChatError> {
    let pair = |a: Uuid, b: Uuid| {
        Condition::all().add(user_blocks::Column::BlockerId.eq(a)).add(user_blocks::Column::BlockedId.eq(b))
    };
    let found = user_blocks::Entity::find()
        .filter(Condition::any().add(pair(one, other)).add(pair(other, one)))
        .select_only()
        .column(user_blocks::Column::BlockerId)
        .into_tuple::<Uuid>()
        .one(db)
        .await?;
    Ok(found.is_some())
}

/// Refuses when either of `one` and `other` blocked the other.
pub async fn refuse_if_blocked(db: &impl ConnectionTrait, one: Uuid, other: Uuid) -> Result<(), ChatError> {
    if between(db, one, other).await? { Err(ChatError::Blocked) } else { Ok(()) }
}
