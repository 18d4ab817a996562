//! Refresh tokens: 32 random bytes, handed out base64url, stored only as their SHA-256.
//! Every use spends the token and issues its successor in the same family. Presenting a spent
//! token again means it was copied: the whole family is revoked, unless it comes within the
//! grace window, when it is taken for a concurrent refresh (two tabs, a retried request) and
//! gets the same successor back. The successor is stored sealed under the spent token (XOR
//! with a hash of it), so only a holder of the spent token can open it.

use std::time::Duration;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::Utc;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter,
    TransactionTrait, sea_query::Expr,
};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::entities::refresh_tokens::{self, Column, Entity as RefreshToken};

const TOKEN_BYTES: usize = 32;

#[derive(Debug, thiserror::Error)]
pub enum RefreshError {
    #[error("the refresh token is not valid")]
    Invalid,
    #[error("the refresh token has expired")]
    Expired,
    #[error("the refresh token was revoked")]
    Revoked,
    #[error("the refresh token was already used; the session is revoked")]
    Reused,
    #[error(transparent)]
    Db(#[from] DbErr),
}

pub struct RefreshTokens {
    ttl: Duration,
    grace: Duration,
}

/// The outcome of a rotation: whose session it is and the refresh token to hand out.
#[derive(Debug)]
pub struct Rotated {
    pub user_id: Uuid,
    pub refresh_token: String,
}

type Secret = [u8; TOKEN_BYTES];

impl RefreshTokens {
    pub fn new(ttl: Duration, grace: Duration) -> Self {
        Self { ttl, grace }
    }

    /// Starts a new family (a login or a registration) on `conn`.
    pub async fn issue(&self, conn: &impl ConnectionTrait, user_id: Uuid) -> Result<String, DbErr> {
        let secret = random_secret()?;
        self.insert(conn, Uuid::new_v4(), user_id, Uuid::new_v4(), &secret).await?;
        Ok(encode(&secret))
    }

    /// Spends `presented` and returns its successor (see the module comment for reuse).
    pub async fn rotate(&self, db: &DatabaseConnection, presented: &str) -> Result<Rotated, RefreshError> {
        let secret = decode(presented).ok_or(RefreshError::Invalid)?;
        let row = find(db, &secret).await?.ok_or(RefreshError::Invalid)?;
        let now = Utc::now();
        if row.revoked_at.is_some() {
            return Err(RefreshError::Revoked);
        }
        if row.expires_at <= now {
            return Err(RefreshError::Expired);
        }
        if row.spent_at.is_none()
            && let Some(rotated) = self.spend(db, &row, &secret).await?
        {
            return Ok(rotated);
        }
        // Spent, by us earlier or by a concurrent request just now: read what that left.
        let row = find(db, &secret).await?.ok_or(RefreshError::Invalid)?;
        self.reuse(db, row, &secret).await
    }

    /// Revokes the family of `presented` (logout). Unknown tokens are ignored: logging out
    /// twice is not an error.
    pub async fn revoke(&self, db: &DatabaseConnection, presented: &str) -> Result<(), DbErr> {
        let Some(secret) = decode(presented) else {
            return Ok(());
        };
        if let Some(row) = find(db, &secret).await? {
            revoke_family(db, row.family_id).await?;
        }
        Ok(())
    }

    /// Marks `row` spent and inserts its successor in one transaction. `None` when another
    /// request spent it first (the guarded update touched no row).
    async fn spend(
        &self,
        db: &DatabaseConnection,
        row: &refresh_tokens::Model,
        secret: &Secret,
    ) -> Result<Option<Rotated>, DbErr> {
        let successor = random_secret()?;
        let successor_id = Uuid::new_v4();
        let txn = db.begin().await?;
        let spent = RefreshToken::update_many()
            .col_expr(Column::SpentAt, Expr::value(Utc::now()))
            .col_expr(Column::SuccessorId, Expr::value(successor_id))
            .col_expr(Column::SuccessorSealed, Expr::value(hex::encode(seal(&successor, secret))))
            .filter(Column::Id.eq(row.id))
            .filter(Column::SpentAt.is_null())
            .filter(Column::RevokedAt.is_null())
            .exec(&txn)
            .await?;
        if spent.rows_affected != 1 {
            txn.rollback().await?;
            return Ok(None);
        }
        self.insert(&txn, successor_id, row.user_id, row.family_id, &successor).await?;
        txn.commit().await?;
        Ok(Some(Rotated { user_id: row.user_id, refresh_token: encode(&successor) }))
    }

    async fn reuse(
        &self,
        db: &DatabaseConnection,
        row: refresh_tokens::Model,
        secret: &Secret,
    ) -> Result<Rotated, RefreshError> {
        // Measured now, not when the request began: a concurrent request may have spent the
        // token after this one started.
        let within_grace = row
            .spent_at
            .is_some_and(|spent| Utc::now().signed_duration_since(spent).to_std().unwrap_or_default() <= self.grace);
        if within_grace
            && row.revoked_at.is_none()
            && let (Some(successor_id), Some(sealed)) = (row.successor_id, row.successor_sealed.as_deref())
            && let Some(successor) = RefreshToken::find_by_id(successor_id).one(db).await?
            && successor.spent_at.is_none()
            && successor.revoked_at.is_none()
            && let Some(successor_secret) = hex::decode(sealed).ok().and_then(|s| Secret::try_from(s).ok())
        {
            return Ok(Rotated { user_id: row.user_id, refresh_token: encode(&seal(&successor_secret, secret)) });
        }
        tracing::warn!(user_id = %row.user_id, family_id = %row.family_id, "refresh token reused, revoking its family");
        revoke_family(db, row.family_id).await?;
        Err(RefreshError::Reused)
    }

    async fn insert(
        &self,
        conn: &impl ConnectionTrait,
        id: Uuid,
        user_id: Uuid,
        family_id: Uuid,
        secret: &Secret,
    ) -> Result<(), DbErr> {
        let now = Utc::now();
        let ttl = chrono::Duration::from_std(self.ttl).map_err(|e| DbErr::Custom(e.to_string()))?;
        let row = refresh_tokens::ActiveModel {
            id: Set(id),
            user_id: Set(user_id),
            family_id: Set(family_id),
            token_hash: Set(hash(secret)),
            successor_id: Set(None),
            successor_sealed: Set(None),
            created_at: Set(now),
            expires_at: Set(now + ttl),
            spent_at: Set(None),
            revoked_at: Set(None),
        };
        RefreshToken::insert(row).exec_without_returning(conn).await?;
        Ok(())
    }
}

async fn find(db: &DatabaseConnection, secret: &Secret) -> Result<Option<refresh_tokens::Model>, DbErr> {
    RefreshToken::find().filter(Column::TokenHash.eq(hash(secret))).one(db).await
}

async fn revoke_family(db: &DatabaseConnection, family_id: Uuid) -> Result<(), DbErr> {
    RefreshToken::update_many()
        .col_expr(Column::RevokedAt, Expr::value(Utc::now()))
        .filter(Column::FamilyId.eq(family_id))
        .filter(Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(())
}

fn random_secret() -> Result<Secret, DbErr> {
    let mut secret = [0u8; TOKEN_BYTES];
    getrandom::fill(&mut secret).map_err(|e| DbErr::Custom(format!("no randomness: {e}")))?;
    Ok(secret)
}

fn encode(secret: &Secret) -> String {
    URL_SAFE_NO_PAD.encode(secret)
}

fn decode(presented: &str) -> Option<Secret> {
    URL_SAFE_NO_PAD.decode(presented.trim()).ok().and_then(|bytes| Secret::try_from(bytes).ok())
}

fn hash(secret: &Secret) -> String {
    hex::encode(Sha256::digest(secret))
}

/// XOR with a pad derived from `key`; its own inverse. Domain-separated from `hash`, so the
/// stored hash of a token says nothing about the pad.
fn seal(secret: &Secret, key: &Secret) -> Secret {
    let pad = Sha256::new().chain_update(b"chat-suite refresh successor seal").chain_update(key).finalize();
    std::array::from_fn(|i| secret[i] ^ pad[i])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealing_twice_opens_and_the_pad_is_not_the_stored_hash() {
        let (secret, key) = ([7u8; 32], [9u8; 32]);
        assert_eq!(seal(&seal(&secret, &key), &key), secret);
        assert_ne!(hex::encode(seal(&[0u8; 32], &key)), hash(&key));
    }

    #[test]
    fn only_32_byte_base64url_values_decode() {
        let secret = [1u8; 32];
        assert_eq!(decode(&encode(&secret)), Some(secret));
        assert_eq!(decode("short"), None);
        assert_eq!(decode(&URL_SAFE_NO_PAD.encode([1u8; 31])), None);
    }
}
