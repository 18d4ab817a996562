//! The bearer access token of protected routes, verified with the service's `TokenVerifier`
//! (found in the request data) before the handler runs.

use std::sync::Arc;

use poem::{IntoResponse, Request};
use poem_openapi::{SecurityScheme, auth::Bearer};

use crate::{
    ApiError,
    tokens::{AccessClaims, TokenError, TokenVerifier},
};

/// The `access_token` of `/register`, `/login` or `/token/refresh`, which clients send as
/// `Authorization: Bearer <token>`. In Swagger UI's Authorize, paste the token alone,
/// without `Bearer `: the prefix is added for you.
#[derive(SecurityScheme)]
#[oai(ty = "bearer", bearer_format = "JWT", checker = "verify_bearer")]
pub struct BearerAuth(pub AccessClaims);

async fn verify_bearer(req: &Request, bearer: Bearer) -> poem::Result<AccessClaims> {
    bearer_claims(req, &bearer.token).await.map_err(|e| poem::Error::from_response(e.into_response()))
}

/// Verifies `token` with the verifier the app put in the request data; the error is the
/// response a client should get (401, or 503 when keys cannot be fetched).
pub async fn bearer_claims(req: &Request, token: &str) -> Result<AccessClaims, ApiError> {
    let Some(verifier) = req.data::<Arc<TokenVerifier>>() else {
        return Err(ApiError::internal(&"no TokenVerifier in the request data"));
    };
    verifier.verify(token).await.map_err(ApiError::from)
}

impl From<TokenError> for ApiError {
    fn from(err: TokenError) -> Self {
        match err {
            TokenError::Expired => ApiError::unauthorized("token_expired", "the access token has expired"),
            TokenError::KeysUnavailable(why) => {
                tracing::warn!(%why, "verification keys unavailable");
                ApiError::unavailable("verification keys unavailable")
            }
            TokenError::BadKey(why) => ApiError::internal(&why),
            other => ApiError::unauthorized("invalid_token", other.to_string()),
        }
    }
}
