//! What every transport checks before a client gets a session: its access token, that this
//! replica is not draining, a free connection slot, and a resume point that parses. The
//! transport checks the browser page's origin first and resolves the resume point last (it
//! reads the database).

use poem::http::{HeaderMap, header::AUTHORIZATION};
use shared::{ApiError, tokens::AccessClaims};

use super::resume::ResumeRequest;
use crate::{node::Slot, state::ChatState};

pub(crate) struct Admitted {
    pub(crate) claims: AccessClaims,
    pub(crate) slot: Slot,
    pub(crate) resume: ResumeRequest,
}

/// Where the client was to put its token, for the refusal when it did not.
pub(crate) struct TokenPlaces(pub(crate) &'static str);

/// Admits the holder of `token` (else of the `Authorization` header's bearer token), resuming
/// from `since` or `last_message_ids`.
pub(crate) async fn admit(
    state: &ChatState,
    headers: &HeaderMap,
    token: Option<&str>,
    places: TokenPlaces,
    since: Option<i64>,
    last_message_ids: Option<&str>,
) -> Result<Admitted, ApiError> {
    let token = token.or_else(|| bearer_token(headers)).ok_or_else(|| {
        ApiError::unauthorized("missing_token", format!("an access token is required ({})", places.0))
    })?;
    let claims = state.verifier.verify(token).await.map_err(ApiError::from)?;
    if state.node.is_draining() {
        return Err(ApiError::unavailable("this replica is restarting, connect again"));
    }
    let slot = state.slots.take(claims.sub).ok_or_else(|| {
        ApiError::too_many(
            "too_many_connections",
            format!("at most {} connections per user at once; close one first", state.slots.limit()),
            5,
        )
    })?;
    let resume = ResumeRequest::parse(since, last_message_ids)?;
    Ok(Admitted { claims, slot, resume })
}

fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then_some(token.trim())
}
