//! auth-api's routes: one `#[OpenApi]` impl per resource.

mod accounts;
mod devices;
mod json_body;
mod keys;
mod sessions;

use poem_openapi::{Object, Tags, types::Example};
use shared::{ApiError, ApiResult};
use uuid::Uuid;

use self::json_body::JsonBody;
pub use self::{accounts::AccountsApi, devices::DevicesApi, keys::KeysApi, sessions::SessionsApi};
use crate::tokens::TokenIssuer;

#[derive(Tags)]
enum Tag {
    /// Registration and the caller's own account.
    Accounts,
    /// Login, token refresh and logout.
    Sessions,
    /// Public keys that verify access tokens.
    Keys,
    /// The caller's devices that get pushes, and the key browsers subscribe with.
    Devices,
}

/// Every auth-api route, for one `OpenApiService` (here, or joined with the others in
/// `chat-suite`).
/// Handlers find `Arc<AuthState>` in the request data.
pub fn apis() -> (AccountsApi, DevicesApi, SessionsApi, KeysApi) {
    (AccountsApi, DevicesApi, SessionsApi, KeysApi)
}

/// A session: a short-lived access token and the refresh token that renews it.
#[derive(Debug, Object)]
#[oai(example)]
pub struct TokenPair {
    /// EdDSA-signed JWT; send as `Authorization: Bearer …`.
    pub access_token: String,
    /// Opaque; exchange at `/token/refresh`. Each use spends it.
    pub refresh_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    /// The account's username, as spelled at registration.
    pub username: String,
    /// The account's id (a UUIDv4), the access token's `sub`.
    pub user_id: Uuid,
}

impl TokenPair {
    /// The body of a successful register, login or refresh: a new access token for the user,
    /// beside `refresh_token`.
    pub(crate) fn issued(
        issuer: &TokenIssuer,
        user_id: Uuid,
        username: &str,
        refresh_token: String,
    ) -> ApiResult<Self> {
        let access_token = issuer.issue(user_id, username).map_err(|e| ApiError::internal(&e))?;
        Ok(Self {
            access_token,
            refresh_token,
            token_type: "Bearer".into(),
            expires_in: issuer.ttl().as_secs(),
            username: username.to_owned(),
            user_id,
        })
    }
}

impl Example for TokenPair {
    fn example() -> Self {
        Self {
            access_token: "eyJhbGciOiJFZERTQSIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIzZmE4NWY2NCJ9.c2lnbmF0dXJl".into(),
            refresh_token: "q3Jm0Yk2Vb9tWc4xN7pLr1sHd8eFg6uZaXy5Tn0Ko2E".into(),
            token_type: "Bearer".into(),
            expires_in: 900,
            username: "alice".into(),
            user_id: Uuid::from_u128(0x3fa8_5f64_5717_4562_b3fc_2c96_3f66_afa6),
        }
    }
}
