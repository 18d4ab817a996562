use std::sync::Arc;

use chrono::Utc;
use poem::{Request, web::Data};
use poem_openapi::{ApiResponse, Object, OpenApi, payload::Json, types::Example};
use shared::{
    ApiError, ApiResult,
    http::{
        BearerAuth, Refusal, Refusals, Refused, Text, client_ip,
        refusals::{BEARER, DEPENDENCIES, INVALID_FIELD, JSON_BODY},
    },
    text_rule::{Alphabet, TextRule},
    timestamp::{Timestamp, timestamp},
    username_key::UsernameKey,
};
use uuid::Uuid;

use super::{JsonBody, Tag, TokenPair};
use crate::{
    deletion, devices,
    domain::{Email, EmailText, NewPassword, NewUsername, OfferedPassword, Password, Username},
    passwords::{OVERLOADED, Verdict},
    rate_limit::{LOGIN_RATE_LIMITED, REGISTER_RATE_LIMITED},
    state::{AuthState, ip_key},
    users::{self, EMAIL_TAKEN, NewUser, USERNAME_TAKEN},
};

pub struct AccountsApi;

#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct RegisterRequest {
    /// 3 to 32 characters of `A-Z a-z 0-9 _ . -`; unique without regard to case.
    pub username: Text<NewUsername>,
    /// 8 to 128 characters.
    pub password: Text<NewPassword>,
    /// A valid address; unique without regard to case.
    pub email: Text<EmailText>,
    /// Firebase Cloud Messaging token of the device, for push notifications.
    #[oai(nullable)]
    pub fcm_token: Option<Text<FcmToken>>,
}

#[derive(Debug, ApiResponse)]
pub enum Registered {
    /// The account exists and this is its first session.
    #[oai(status = 201)]
    Created(Json<TokenPair>),
}

/// What `POST /register` refuses.
pub enum RegisterRefusals {}

impl Refusals for RegisterRefusals {
    const LIST: &'static [&'static [Refusal]] =
        &[JSON_BODY, &[INVALID_FIELD, USERNAME_TAKEN, EMAIL_TAKEN, REGISTER_RATE_LIMITED, OVERLOADED], DEPENDENCIES];
}

/// The caller's account.
#[derive(Debug, Object)]
#[oai(example)]
pub struct Me {
    /// The account's id (a UUIDv4): `user_id` everywhere else, `sub` in its access tokens.
    pub user_id: Uuid,
    /// As spelled at registration.
    pub username: String,
    /// As given at registration.
    pub email: String,
    /// RFC 3339, UTC, milliseconds.
    pub created_at: Text<Timestamp>,
}

impl Example for Me {
    fn example() -> Self {
        Self {
            user_id: Uuid::from_u128(0x3fa8_5f64_5717_4562_b3fc_2c96_3f66_afa6),
            username: "alice".into(),
            email: "alice@example.com".into(),
            created_at: "2026-01-05T09:50:00.000Z".into(),
        }
    }
}

/// The token is valid, but its account was deleted since it was issued.
pub(super) const ACCOUNT_GONE: Refusal =
    Refusal::new(401, "invalid_token", "The account of this token no longer exists.");

/// The password that confirms deleting the account.
#[derive(Debug, Object)]
#[oai(deny_unknown_fields, example)]
pub struct DeleteAccountRequest {
    /// The account's password.
    pub password: Text<OfferedPassword>,
}

impl Example for DeleteAccountRequest {
    fn example() -> Self {
        Self { password: "correct horse battery staple".into() }
    }
}

#[derive(Debug, ApiResponse)]
pub enum AccountDeleted {
    /// The account is gone, and everything it wrote erased.
    #[oai(status = 204)]
    NoContent,
}

/// The password given to confirm a deletion is not the account's.
const WRONG_PASSWORD: Refusal = Refusal::new(403, "invalid_credentials", "The password is wrong.");

/// What `DELETE /me` refuses.
pub enum DeleteRefusals {}

impl Refusals for DeleteRefusals {
    const LIST: &'static [&'static [Refusal]] = &[
        BEARER,
        JSON_BODY,
        &[INVALID_FIELD, ACCOUNT_GONE, WRONG_PASSWORD, LOGIN_RATE_LIMITED, OVERLOADED],
        DEPENDENCIES,
    ];
}

/// What `GET /me` and `DELETE /me/device` refuse.
pub enum CallerRefusals {}

impl Refusals for CallerRefusals {
    const LIST: &'static [&'static [Refusal]] = &[BEARER, &[ACCOUNT_GONE], DEPENDENCIES];
}

#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct DeviceRequest {
    /// Firebase Cloud Messaging token of the device the user is on now.
    pub fcm_token: Text<FcmToken>,
}

#[derive(Debug, ApiResponse)]
pub enum DeviceSaved {
    /// Stored; later notification events for this user carry it.
    #[oai(status = 204)]
    NoContent,
}

/// What `PUT /me/device` refuses.
pub enum PutDeviceRefusals {}

impl Refusals for PutDeviceRefusals {
    const LIST: &'static [&'static [Refusal]] = &[BEARER, JSON_BODY, &[INVALID_FIELD, ACCOUNT_GONE], DEPENDENCIES];
}

/// Longer than any real FCM token (about 160 characters).
const MAX_FCM_TOKEN_CHARS: usize = 4096;

/// An FCM token as [`parse_fcm_token`] accepts it.
pub struct FcmToken;

impl TextRule for FcmToken {
    const MIN_CHARS: usize = 1;
    const MAX_CHARS: Option<usize> = Some(MAX_FCM_TOKEN_CHARS);
    /// FCM tokens are letters, digits and `:_-`; anything printable is let through, but no
    /// spaces or control characters (Postgres cannot even store a NUL).
    const ALPHABET: Option<Alphabet> = Some(Alphabet::VISIBLE_ASCII);
    const EXAMPLE: Option<&'static str> = Some("fcm-token-of-this-device");
}

#[OpenApi(tag = "Tag::Accounts")]
impl AccountsApi {
    /// Create an account and log it in.
    #[oai(path = "/register", method = "post", operation_id = "register")]
    #[tracing::instrument(name = "register", skip_all)]
    async fn register(
        &self,
        state: Data<&Arc<AuthState>>,
        req: &Request,
        body: JsonBody<RegisterRequest>,
    ) -> Result<Registered, Refused<RegisterRefusals>> {
        let state = state.0;
        state.limits.register_from(&ip_key(client_ip(req, state.trusted_proxy_hops))).await?;
        let username = Username::parse(&body.username)?;
        let email = Email::parse(&body.email)?;
        let password = Password::parse(&body.password)?;
        let fcm_token = parse_fcm_token(body.0.fcm_token.map(Text::into_string))?;
        state.limits.register_username(username.key()).await?;

        let password_hash = state.hasher.hash(&password).await?;
        let new = NewUser { username, email, password_hash, fcm_token };
        let (user, refresh_token) = users::register(&state.db, new, &state.refresh).await?;
        state.outbox.wake();
        tracing::info!(user_id = %user.id, "registered");
        Ok(Registered::Created(Json(TokenPair::issued(&state.issuer, user.id, &user.username, refresh_token)?)))
    }

    /// The caller's account.
    #[oai(path = "/me", method = "get", operation_id = "me")]
    async fn me(&self, state: Data<&Arc<AuthState>>, auth: BearerAuth) -> Result<Json<Me>, Refused<CallerRefusals>> {
        let user = caller(&state, &auth).await?;
        let created_at = timestamp(user.created_at);
        Ok(Json(Me { user_id: user.id, username: user.username, email: user.email, created_at }))
    }

    /// Delete the caller's account, confirmed with its password: the username and email are
    /// freed, every session and push device ends at once (open chat connections are closed),
    /// every message it sent becomes a tombstone in its chat, its reactions and blocks go, and
    /// a `user.deleted` event tells consumers to forget it. Wrong passwords count as failed
    /// logins.
    #[oai(path = "/me", method = "delete", operation_id = "delete_account")]
    #[tracing::instrument(name = "delete_account", skip_all)]
    async fn delete_account(
        &self,
        state: Data<&Arc<AuthState>>,
        req: &Request,
        auth: BearerAuth,
        body: JsonBody<DeleteAccountRequest>,
    ) -> Result<AccountDeleted, Refused<DeleteRefusals>> {
        let state = state.0;
        let ip = ip_key(client_ip(req, state.trusted_proxy_hops));
        state.limits.login_from(&ip).await?;
        let user = caller(state, &auth).await?;
        let password = Password::parse_offered(&body.password)?;
        let key = UsernameKey::parse(&user.username_key)
            .ok_or_else(|| ApiError::internal(&"a stored username key that is no key"))?;
        let charge = state.limits.charge_failed_login(&key, &ip).await?;
        let verdict = state.hasher.verify(&password, Some(&user.password_hash)).await;
        if !matches!(verdict, Ok(Verdict::Mismatch)) {
            charge.forgive().await;
        }
        if !matches!(verdict?, Verdict::Match { .. }) {
            return Err(ApiError::forbidden_as(WRONG_PASSWORD.code, "the password is wrong").into());
        }
        deletion::delete_account(&state.db, user.id, Utc::now()).await?;
        state.outbox.wake();
        tracing::info!(user_id = %user.id, "account deleted");
        Ok(AccountDeleted::NoContent)
    }

    /// Store or replace the push token of the caller's device (a user may log in on a new
    /// phone after registering).
    #[oai(path = "/me/device", method = "put", operation_id = "put_device")]
    async fn put_device(
        &self,
        state: Data<&Arc<AuthState>>,
        auth: BearerAuth,
        body: JsonBody<DeviceRequest>,
    ) -> Result<DeviceSaved, Refused<PutDeviceRefusals>> {
        let token = parse_fcm_token(Some(body.0.fcm_token.into_string()))?;
        let user = caller(&state, &auth).await?;
        devices::set_legacy_token(&state.db, user.id, token).await?;
        Ok(DeviceSaved::NoContent)
    }

    /// Forget the caller's push token: no more pushes until a new one is stored.
    #[oai(path = "/me/device", method = "delete", operation_id = "delete_device")]
    async fn delete_device(
        &self,
        state: Data<&Arc<AuthState>>,
        auth: BearerAuth,
    ) -> Result<DeviceSaved, Refused<CallerRefusals>> {
        let user = caller(&state, &auth).await?;
        devices::set_legacy_token(&state.db, user.id, None).await?;
        Ok(DeviceSaved::NoContent)
    }
}

/// The caller's account, or 401 when the token outlived it.
pub(super) async fn caller(state: &AuthState, auth: &BearerAuth) -> ApiResult<shared::entities::users::Model> {
    users::find_by_id(&state.db, auth.0.sub)
        .await?
        .ok_or_else(|| ApiError::unauthorized(ACCOUNT_GONE.code, "the account of this token no longer exists"))
}

fn parse_fcm_token(token: Option<String>) -> ApiResult<Option<String>> {
    match token {
        Some(t) if FcmToken::check(&t).is_err() => Err(ApiError::invalid_field(
            "fcm_token",
            format!("fcm_token: must be 1 to {MAX_FCM_TOKEN_CHARS} printable characters without spaces"),
        )),
        other => Ok(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_fcm_token_is_1_to_4096_printable_characters_without_spaces() {
        for good in [FcmToken::EXAMPLE.unwrap(), "a", "!~", &"a".repeat(4096)] {
            assert_eq!(parse_fcm_token(Some(good.to_owned())).unwrap().as_deref(), Some(good), "{good:?}");
        }
        assert_eq!(parse_fcm_token(None).unwrap(), None);
        for bad in ["", &"a".repeat(4097), "a b", "a\u{0}", "a\u{7f}", "é"] {
            let Err(ApiError::BadRequest(Json(body))) = parse_fcm_token(Some(bad.to_owned())) else {
                panic!("{bad:?} taken");
            };
            assert_eq!(
                (body.error.as_str(), body.code.as_str(), body.field.as_deref()),
                (
                    "fcm_token: must be 1 to 4096 printable characters without spaces",
                    "invalid_field",
                    Some("fcm_token")
                ),
                "{bad:?}"
            );
        }
    }
}
