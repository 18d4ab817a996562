//! The devices table as auth-api writes it: a device registered (or moved to the caller, when
//! another account held its token), listed, forgotten; and the legacy device the old single
//! `fcm_token` stands for.

use chrono::Utc;
use migrations::device_token_key;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, SqlErr, TransactionTrait,
};
use shared::entities::devices::{self, Column, Entity as Device, Platform};
use uuid::Uuid;

/// Devices kept per account; registering one more forgets the oldest (a phone replaced long
/// ago), as FCM's own guidance has servers drop stale tokens.
pub const MAX_DEVICES_PER_USER: u64 = 20;

/// A device as the caller registers it, checked.
pub struct NewDevice {
    pub platform: Platform,
    pub token: String,
    pub keys: Option<WebPushKeys>,
}

pub struct WebPushKeys {
    pub p256dh: String,
    pub auth: String,
}

/// Registers `new` for `user_id`: the same token again answers the device it already is (its
/// keys refreshed); a token another account held moves to this one, since a token reaches
/// one app install and whoever registered it last is the one logged in there.
pub async fn register(
    db: &DatabaseConnection,
    user_id: Uuid,
    new: &NewDevice,
    legacy: bool,
) -> Result<devices::Model, DbErr> {
    // Two registrations of one token at once: the loser's insert meets the unique key, and
    // its second attempt finds the winner's row.
    match register_once(db, user_id, new, legacy).await {
        Err(err) if matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
            register_once(db, user_id, new, legacy).await
        }
        other => other,
    }
}

async fn register_once(
    db: &DatabaseConnection,
    user_id: Uuid,
    new: &NewDevice,
    legacy: bool,
) -> Result<devices::Model, DbErr> {
    let txn = db.begin().await?;
    let device = register_on(&txn, user_id, new, legacy).await?;
    txn.commit().await?;
    Ok(device)
}

/// [`register`] inside the caller's transaction (registration's, the legacy token's).
pub async fn register_on(
    conn: &impl ConnectionTrait,
    user_id: Uuid,
    new: &NewDevice,
    legacy: bool,
) -> Result<devices::Model, DbErr> {
    let key = device_token_key(new.platform.as_str(), &new.token);
    if legacy {
        // The old API holds one token per account: a new one replaces it.
        Device::delete_many()
            .filter(Column::UserId.eq(user_id))
            .filter(Column::Legacy.eq(true))
            .filter(Column::TokenKey.ne(key.as_str()))
            .exec(conn)
            .await?;
    }
    let keys = new.keys.as_ref();
    match Device::find().filter(Column::TokenKey.eq(key.as_str())).one(conn).await? {
        Some(mine) if mine.user_id == user_id => {
            let mut row: devices::ActiveModel = mine.into();
            row.p256dh = Set(keys.map(|k| k.p256dh.clone()));
            row.auth = Set(keys.map(|k| k.auth.clone()));
            if legacy {
                row.legacy = Set(true);
            }
            Device::update(row).exec(conn).await
        }
        theirs => {
            if let Some(theirs) = theirs {
                Device::delete_by_id(theirs.id).exec(conn).await?;
            }
            let row = devices::Model {
                id: Uuid::new_v4(),
                user_id,
                platform: new.platform,
                token: new.token.clone(),
                p256dh: keys.map(|k| k.p256dh.clone()),
                auth: keys.map(|k| k.auth.clone()),
                token_key: key,
                legacy,
                created_at: Utc::now(),
            };
            Device::insert(devices::ActiveModel::from(row.clone())).exec_without_returning(conn).await?;
            forget_beyond_limit(conn, user_id, row.id).await?;
            Ok(row)
        }
    }
}

/// `PUT /me/device` and `DELETE /me/device`: the old single token, kept in `users.fcm_token`
/// (the events still carry it) and as the account's legacy `fcm` device.
pub async fn set_legacy_token(db: &DatabaseConnection, user_id: Uuid, token: Option<String>) -> Result<(), DbErr> {
    let txn = db.begin().await?;
    shared::entities::users::Entity::update_many()
        .col_expr(shared::entities::users::Column::FcmToken, sea_orm::sea_query::Expr::value(token.clone()))
        .filter(shared::entities::users::Column::Id.eq(user_id))
        .exec(&txn)
        .await?;
    match token {
        Some(token) => {
            register_on(&txn, user_id, &NewDevice { platform: Platform::Fcm, token, keys: None }, true).await?;
        }
        None => forget_legacy(&txn, user_id).await?,
    }
    txn.commit().await
}

/// Keeps the newest [`MAX_DEVICES_PER_USER`] devices of `user_id` (`kept` among them).
async fn forget_beyond_limit(conn: &impl ConnectionTrait, user_id: Uuid, kept: Uuid) -> Result<(), DbErr> {
    let stale: Vec<Uuid> = Device::find()
        .select_only()
        .column(Column::Id)
        .filter(Column::UserId.eq(user_id))
        .filter(Column::Id.ne(kept))
        .order_by_desc(Column::CreatedAt)
        .offset(MAX_DEVICES_PER_USER - 1)
        // SQLite takes no OFFSET without a LIMIT; one registration leaves at most one over.
        .limit(MAX_DEVICES_PER_USER)
        .into_tuple()
        .all(conn)
        .await?;
    if !stale.is_empty() {
        Device::delete_many().filter(Column::Id.is_in(stale)).exec(conn).await?;
    }
    Ok(())
}

/// The caller's devices, newest first.
pub async fn list(db: &DatabaseConnection, user_id: Uuid) -> Result<Vec<devices::Model>, DbErr> {
    Device::find()
        .filter(Column::UserId.eq(user_id))
        .order_by_desc(Column::CreatedAt)
        .order_by_desc(Column::Id)
        .all(db)
        .await
}

/// Forgets one of the caller's devices; false when the caller has no such device.
pub async fn forget(db: &DatabaseConnection, user_id: Uuid, device_id: Uuid) -> Result<bool, DbErr> {
    let deleted =
        Device::delete_many().filter(Column::Id.eq(device_id)).filter(Column::UserId.eq(user_id)).exec(db).await?;
    Ok(deleted.rows_affected > 0)
}

/// Forgets the legacy device (`DELETE /me/device`).
pub async fn forget_legacy(conn: &impl ConnectionTrait, user_id: Uuid) -> Result<(), DbErr> {
    Device::delete_many().filter(Column::UserId.eq(user_id)).filter(Column::Legacy.eq(true)).exec(conn).await?;
    Ok(())
}
