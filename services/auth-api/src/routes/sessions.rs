use std::sync::Arc;

use poem::{Request, web::Data};
use poem_openapi::{ApiResponse, Object, OpenApi, payload::Json};
use shared::{
    ApiError, ApiResult,
    http::{
        Refusal, Refusals, Refused, Text, client_ip,
        refusals::{DEPENDENCIES, INVALID_FIELD, JSON_BODY},
    },
    username_key::{NameText, UsernameKey},
};

use super::{JsonBody, Tag, TokenPair};
use crate::{
    domain::{FieldError, OfferedPassword, Password},
    passwords::{HashError, OVERLOADED, Verdict},
    rate_limit::LOGIN_RATE_LIMITED,
    refresh_tokens::RefreshError,
    state::{AuthState, ip_key},
    users,
};

pub struct SessionsApi;

#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct LoginRequest {
    /// The username as registered, without regard to case (an imported account's name may
    /// be outside today's alphabet).
    pub username: Text<NameText>,
    /// The account's password.
    pub password: Text<OfferedPassword>,
}

#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct RefreshRequest {
    /// The refresh token of the current session; it is spent by this call.
    pub refresh_token: Text,
}

#[derive(Debug, ApiResponse)]
pub enum LoggedOut {
    /// The session is revoked (or was never valid).
    #[oai(status = 204)]
    NoContent,
}

/// The same for an unknown username and a wrong password.
const INVALID_CREDENTIALS: Refusal = Refusal::new(401, "invalid_credentials", "Invalid username or password.");

fn invalid_credentials() -> ApiError {
    ApiError::unauthorized(INVALID_CREDENTIALS.code, "invalid username or password")
}

/// What `POST /login` refuses.
pub enum LoginRefusals {}

impl Refusals for LoginRefusals {
    const LIST: &'static [&'static [Refusal]] =
        &[JSON_BODY, &[INVALID_FIELD, INVALID_CREDENTIALS, LOGIN_RATE_LIMITED, OVERLOADED], DEPENDENCIES];
}

/// A refresh token refused (`From<RefreshError>` below): each code says what to do next.
const REFRESH_REFUSED: &[Refusal] = &[
    Refusal::new(
        401,
        "invalid_refresh_token",
        "Not a refresh token of ours, revoked (by logout or reuse), or its account is gone: log in again.",
    ),
    Refusal::new(
        401,
        "refresh_token_reused",
        "Already spent: its session is now revoked, as a stolen token would be; log in again.",
    ),
    Refusal::new(401, "refresh_token_expired", "Expired: log in again."),
];

/// What `POST /token/refresh` refuses.
pub enum RefreshRefusals {}

impl Refusals for RefreshRefusals {
    const LIST: &'static [&'static [Refusal]] = &[JSON_BODY, REFRESH_REFUSED, DEPENDENCIES];
}

/// What `POST /logout` refuses: a token it does not know is already logged out.
pub enum LogoutRefusals {}

impl Refusals for LogoutRefusals {
    const LIST: &'static [&'static [Refusal]] = &[JSON_BODY, DEPENDENCIES];
}

#[OpenApi(tag = "Tag::Sessions")]
impl SessionsApi {
    /// Log in with username and password. An unknown username and a wrong password get the
    /// same answer, after the same work.
    #[oai(path = "/login", method = "post", operation_id = "login")]
    #[tracing::instrument(name = "login", skip_all)]
    async fn login(
        &self,
        state: Data<&Arc<AuthState>>,
        req: &Request,
        body: JsonBody<LoginRequest>,
    ) -> Result<Json<TokenPair>, Refused<LoginRefusals>> {
        let state = state.0;
        let ip = ip_key(client_ip(req, state.trusted_proxy_hops));
        state.limits.login_from(&ip).await?;
        // Names of imported accounts may be outside today's alphabet, so only what cannot be a
        // name at all is refused, before any work.
        let key = UsernameKey::parse(&body.username).ok_or_else(|| FieldError {
            field: "username",
            reason: format!("must be 1 to {} characters long, without control characters", UsernameKey::MAX_CHARS),
        })?;
        let password = Password::parse_offered(&body.password)?;
        let charge = state.limits.charge_failed_login(&key, &ip).await?;

        let checked = check_credentials(state, &key, &password).await;
        // Only wrong credentials are charged: not a success, nor a fault of ours.
        if !matches!(checked, Ok(None)) {
            charge.forgive().await;
        }
        let Some((user, needs_upgrade)) = checked? else {
            return Err(invalid_credentials().into());
        };
        if needs_upgrade {
            match state.hasher.hash(&password).await {
                Ok(upgraded) => {
                    users::upgrade_password_hash(&state.db, user.id, &user.password_hash, upgraded).await?;
                    tracing::info!(user_id = %user.id, "password hash upgraded");
                }
                // The login stands; the upgrade waits for the next one.
                Err(HashError::Busy(_)) => {}
                Err(other) => return Err(other.into()),
            }
        }
        let refresh_token = state.refresh.issue(&state.db, user.id).await?;
        Ok(Json(TokenPair::issued(&state.issuer, user.id, &user.username, refresh_token)?))
    }

    /// Exchange a refresh token for a new pair. The presented token is spent; presenting it
    /// again later revokes the session (within a few seconds it returns the same new pair's
    /// refresh token instead, for concurrent refreshes).
    #[oai(path = "/token/refresh", method = "post", operation_id = "refresh_token")]
    #[tracing::instrument(name = "refresh", skip_all)]
    async fn refresh(
        &self,
        state: Data<&Arc<AuthState>>,
        body: JsonBody<RefreshRequest>,
    ) -> Result<Json<TokenPair>, Refused<RefreshRefusals>> {
        let state = state.0;
        let rotated = state.refresh.rotate(&state.db, &body.refresh_token).await?;
        let user = users::find_by_id(&state.db, rotated.user_id)
            .await?
            .ok_or_else(|| ApiError::unauthorized("invalid_refresh_token", "the account no longer exists"))?;
        Ok(Json(TokenPair::issued(&state.issuer, user.id, &user.username, rotated.refresh_token)?))
    }

    /// End the session of this refresh token (every token of its family).
    #[oai(path = "/logout", method = "post", operation_id = "logout")]
    async fn logout(
        &self,
        state: Data<&Arc<AuthState>>,
        body: JsonBody<RefreshRequest>,
    ) -> Result<LoggedOut, Refused<LogoutRefusals>> {
        state.refresh.revoke(&state.db, &body.refresh_token).await?;
        Ok(LoggedOut::NoContent)
    }
}

/// The account of `key` when `password` is its password (and whether its hash wants
/// upgrading); `None` for an unknown name or a wrong password, after the same work.
async fn check_credentials(
    state: &AuthState,
    key: &UsernameKey,
    password: &Password,
) -> ApiResult<Option<(shared::entities::users::Model, bool)>> {
    let user = users::find_by_username_key(&state.db, key.as_str()).await?;
    let verdict = state.hasher.verify(password, user.as_ref().map(|u| u.password_hash.as_str())).await?;
    Ok(match (user, verdict) {
        (Some(user), Verdict::Match { needs_upgrade }) => Some((user, needs_upgrade)),
        _ => None,
    })
}

impl From<RefreshError> for ApiError {
    fn from(err: RefreshError) -> Self {
        match err {
            RefreshError::Db(err) => err.into(),
            RefreshError::Reused => ApiError::unauthorized("refresh_token_reused", err.to_string()),
            RefreshError::Expired => ApiError::unauthorized("refresh_token_expired", err.to_string()),
            RefreshError::Invalid | RefreshError::Revoked => {
                ApiError::unauthorized("invalid_refresh_token", err.to_string())
            }
        }
    }
}
