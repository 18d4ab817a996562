//! What every transport checks before a client gets a session: its access token, that this
//! replica is not draining, a free connection slot, and a resume point that parses
//! ([`admit`], no database work); then, once the transport knows the client really connects,
//! the resume point resolved and the connection in the hub ([`Admitted::enter`]). The
//! transport checks the browser page's origin first, and hands the [`Admission`] its link.

use std::sync::Arc;

use poem::http::{HeaderMap, header::AUTHORIZATION};
use shared::{ApiError, tokens::AccessClaims};
use uuid::Uuid;

use super::resume::ResumeRequest;
use crate::{
    node::{NoSlot, Slot},
    session::{self, Joined, Link, Resume},
    state::ChatState,
};

/// A client that passed the checks, before any database work.
pub(crate) struct Admitted {
    claims: AccessClaims,
    slot: Slot,
    resume: ResumeRequest,
}

impl Admitted {
    /// Resolves the resume point and joins the connection to the hub. A transport enters
    /// before it tells the client it is connected (the WebSocket's 101, Socket.IO's namespace
    /// acknowledgement), so nothing stored after the client hears it is connected is missed.
    pub(crate) async fn enter(self, state: &Arc<ChatState>) -> Result<Admission, ApiError> {
        let resume = self.resume.resolve(state, self.claims.sub).await?;
        let joined = session::join(state, self.claims.sub).await?;
        Ok(Admission { state: state.clone(), claims: self.claims, slot: self.slot, resume, joined })
    }
}

/// A client with a place in the hub, waiting for its transport's link to start its session.
pub(crate) struct Admission {
    state: Arc<ChatState>,
    claims: AccessClaims,
    slot: Slot,
    resume: Resume,
    joined: Joined,
}

impl Admission {
    pub(crate) fn user(&self) -> Uuid {
        self.claims.sub
    }

    /// The session over `link`, until it ends; then the slot is given back.
    pub(crate) async fn serve<L: Link>(self, link: L) {
        session::run(self.state, self.claims, self.resume, link, self.slot, self.joined).await;
    }
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
    // First, and cheaply: a full replica refuses everyone alike, so a crowd reconnecting to it
    // costs it no signature checks.
    if state.slots.is_full() {
        return Err(replica_full(state));
    }
    let token = token.or_else(|| bearer_token(headers)).ok_or_else(|| {
        ApiError::unauthorized("missing_token", format!("an access token is required ({})", places.0))
    })?;
    let claims = state.verifier.verify(token).await.map_err(ApiError::from)?;
    if state.deleted.contains(claims.sub) {
        return Err(ApiError::unauthorized("invalid_token", "the account of this token was deleted"));
    }
    if state.node.is_draining() {
        return Err(ApiError::unavailable("this replica is restarting, connect again"));
    }
    let slot = state.slots.take(claims.sub).map_err(|no_slot| match no_slot {
        NoSlot::User => ApiError::too_many(
            "too_many_connections",
            format!("at most {} connections per user at once; close one first", state.slots.per_user()),
            RETRY_AFTER_SECONDS,
        ),
        NoSlot::Replica => replica_full(state),
    })?;
    let resume = ResumeRequest::parse(since, last_message_ids)?;
    Ok(Admitted { claims, slot, resume })
}

/// When a refused client may try again: a full replica frees places only as its clients leave,
/// and another replica (where the load balancer sends a retry) may have them now.
const RETRY_AFTER_SECONDS: u64 = 5;

fn replica_full(state: &ChatState) -> ApiError {
    state.metrics.refused_full.inc();
    ApiError::unavailable_as(
        "replica_full",
        format!("this replica holds as many connections as it can ({}); connect again", state.slots.capacity()),
        RETRY_AFTER_SECONDS,
    )
}

fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then_some(token.trim())
}
