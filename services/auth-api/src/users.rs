//! The users table as auth-api uses it: registration (user, its welcome event and its first
//! refresh token in one transaction), lookups, and password-hash upgrades.

use chrono::Utc;
use sea_orm::{
    ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, SqlErr, TransactionTrait, sea_query::Expr,
};
use shared::{
    ApiError,
    entities::{
        devices::Platform,
        users::{self, Column, Entity as User},
    },
    http::Refusal,
    outbox::{self, NotificationEvent},
};
use uuid::Uuid;

use crate::{
    devices::{self, NewDevice},
    domain::{Email, Username},
    refresh_tokens::RefreshTokens,
};

#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    #[error("username is taken")]
    UsernameTaken,
    #[error("email is already registered")]
    EmailTaken,
    #[error(transparent)]
    Db(DbErr),
}

impl From<DbErr> for RegisterError {
    /// Which unique index refused the row tells which field is taken; both databases name it
    /// in the message (`users_username_key_unique` or `users.username_key`).
    fn from(err: DbErr) -> Self {
        match err.sql_err() {
            Some(SqlErr::UniqueConstraintViolation(msg)) if msg.contains("username_key") => Self::UsernameTaken,
            Some(SqlErr::UniqueConstraintViolation(msg)) if msg.contains("email_key") => Self::EmailTaken,
            _ => Self::Db(err),
        }
    }
}

pub const USERNAME_TAKEN: Refusal =
    Refusal::new(409, "username_taken", "An account has this username (without regard to case).");
pub const EMAIL_TAKEN: Refusal =
    Refusal::new(409, "email_taken", "An account has this email address (without regard to case).");

impl From<RegisterError> for ApiError {
    fn from(err: RegisterError) -> Self {
        match err {
            RegisterError::UsernameTaken => ApiError::conflict(USERNAME_TAKEN.code, "this username is taken"),
            RegisterError::EmailTaken => ApiError::conflict(EMAIL_TAKEN.code, "this email is already registered"),
            RegisterError::Db(err) => err.into(),
        }
    }
}

pub struct NewUser {
    pub username: Username,
    pub email: Email,
    pub password_hash: String,
    pub fcm_token: Option<String>,
}

/// Creates the user, its `user.registered` event and its first refresh token, all or none.
///
/// A username and an email both taken is reported as `UsernameTaken`, whichever unique index
/// the database happened to check first: the username is what the form shows first, and the
/// answer no longer depends on the backend (Keycloak answers the same way).
#[tracing::instrument(skip_all, fields(username = new.username.as_str()))]
pub async fn register(
    db: &DatabaseConnection,
    new: NewUser,
    refresh: &RefreshTokens,
) -> Result<(users::Model, String), RegisterError> {
    let username_key = new.username.key().as_str().to_owned();
    match insert(db, new, refresh).await {
        Err(RegisterError::EmailTaken) if find_by_username_key(db, &username_key).await?.is_some() => {
            Err(RegisterError::UsernameTaken)
        }
        other => other,
    }
}

async fn insert(
    db: &DatabaseConnection,
    new: NewUser,
    refresh: &RefreshTokens,
) -> Result<(users::Model, String), RegisterError> {
    let now = Utc::now();
    let user = users::Model {
        id: Uuid::new_v4(),
        username: new.username.as_str().to_owned(),
        username_key: new.username.key().as_str().to_owned(),
        email: new.email.as_str().to_owned(),
        email_key: new.email.key(),
        password_hash: new.password_hash,
        fcm_token: new.fcm_token,
        created_at: now,
        deleted_at: None,
    };
    let txn = db.begin().await?;
    User::insert(users::ActiveModel::from(user.clone())).exec_without_returning(&txn).await?;
    if let Some(token) = &user.fcm_token {
        let device = NewDevice { platform: Platform::Fcm, token: token.clone(), keys: None };
        devices::register_on(&txn, user.id, &device, true).await?;
    }
    let event = NotificationEvent::user_registered(user.id, &user.username, user.fcm_token.clone(), now);
    outbox::enqueue(&txn, &event).await?;
    let refresh_token = refresh.issue(&txn, user.id).await?;
    txn.commit().await?;
    Ok((user, refresh_token))
}

pub async fn find_by_username_key(db: &DatabaseConnection, key: &str) -> Result<Option<users::Model>, DbErr> {
    User::find().filter(Column::UsernameKey.eq(key)).one(db).await
}

/// The account with this id, unless it was deleted.
pub async fn find_by_id(db: &DatabaseConnection, id: Uuid) -> Result<Option<users::Model>, DbErr> {
    User::find_by_id(id).filter(Column::DeletedAt.is_null()).one(db).await
}

/// Replaces the stored hash, unless it changed meanwhile (a concurrent upgrade or a password
/// change wins over us).
pub async fn upgrade_password_hash(db: &DatabaseConnection, id: Uuid, old: &str, new: String) -> Result<(), DbErr> {
    User::update_many()
        .col_expr(Column::PasswordHash, Expr::value(new))
        .filter(Column::Id.eq(id))
        .filter(Column::PasswordHash.eq(old))
        .exec(db)
        .await?;
    Ok(())
}
