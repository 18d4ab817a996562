//! `GET /chat`: checks a browser page's origin, the access token (the `Authorization` header
//! or the `access_token` query parameter) and the resume point *before* the upgrade, so a bad
//! request is an HTTP status a client library can show, then hands the socket to a session.

use std::{collections::HashMap, sync::Arc};

use poem::{
    FromRequest, IntoResponse, Request, Response, handler,
    web::{
        Data,
        websocket::{WebSocket, WebSocketConfig},
    },
};
use poem_openapi::Object;
use serde::Deserialize;
use shared::{ApiError, http::bearer_claims};
use uuid::Uuid;

use crate::{
    error::ChatError,
    session::{self, Resume},
    state::ChatState,
    store::{chats, messages},
};

/// Largest frame (and message) a client may send; beyond it the connection closes with 1009.
pub const MAX_FRAME_BYTES: usize = 64 * 1024;
/// Most chats a client may name in `last_message_ids`.
const MAX_RESUME_CHATS: usize = 500;

/// The upgrade's query: the token, and where to resume (`since` or `last_message_ids`, not
/// both; neither is live traffic only). The missed messages come right after `connected`,
/// oldest first, as `receive_message` events, and meet live traffic without a gap or a
/// duplicate.
#[derive(Debug, Deserialize, Object)]
pub(super) struct UpgradeQuery {
    /// The access token, for clients that cannot set the `Authorization` header (browsers).
    access_token: Option<String>,
    /// A message id: replay every message after it, in every chat of the caller.
    #[oai(validator(minimum(value = "0")))]
    since: Option<i64>,
    /// `chat_id:message_id` pairs, comma separated, at most 500: replay each chat after its
    /// message (`0` for the whole chat); other chats live only. A chat the caller is not in is
    /// a `403`, a message of another chat a `400`.
    last_message_ids: Option<String>,
}

#[handler]
pub async fn chat(req: &Request, state: Data<&Arc<ChatState>>) -> Response {
    match prepare(req, &state).await {
        Ok(upgrade) => upgrade,
        Err(err) => err.into_response(),
    }
}

async fn prepare(req: &Request, state: &Arc<ChatState>) -> Result<Response, ApiError> {
    // First: another site's page is turned away before its token costs a verification.
    state.origins.admit_socket(req)?;
    let params: UpgradeQuery =
        req.params().map_err(|e| ApiError::bad_request("invalid_query", format!("query: {e}")))?;
    let token = bearer_from_header(req).or(params.access_token.as_deref()).ok_or_else(|| {
        ApiError::unauthorized(
            "missing_token",
            "an access token is required (Authorization header or access_token parameter)",
        )
    })?;
    let claims = bearer_claims(req, token).await?;
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
    let asked = ResumeRequest::parse(&params)?;
    // Before any query: a plain GET costs no database work, whatever its parameters.
    let websocket = WebSocket::from_request_without_body(req)
        .await
        .map_err(|_| ApiError::bad_request("not_websocket", "GET /chat must be a WebSocket upgrade"))?;
    let resume = asked.resolve(state, claims.sub).await?;
    // Buffers sized for many idle connections rather than bulk transfer: the read buffer is
    // allocated up front for every connection (tungstenite's default is 128 KiB), and writes go
    // out at once instead of collecting.
    let config = WebSocketConfig::default()
        .read_buffer_size(1024)
        .write_buffer_size(0)
        .max_message_size(Some(MAX_FRAME_BYTES))
        .max_frame_size(Some(MAX_FRAME_BYTES));
    let state = state.clone();
    Ok(websocket
        .config(config)
        .on_upgrade(move |socket| session::run(state, claims, resume, socket, slot))
        .into_response())
}

fn bearer_from_header(req: &Request) -> Option<&str> {
    let value = req.headers().get(poem::http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then_some(token.trim())
}

/// The resume point as the client wrote it, checked without the database.
enum ResumeRequest {
    Live,
    Since(i64),
    /// Distinct `(chat_id, message_id)` pairs, one per chat.
    Chats(Vec<(Uuid, i64)>),
}

impl ResumeRequest {
    fn parse(params: &UpgradeQuery) -> Result<Self, ApiError> {
        match (params.since, params.last_message_ids.as_deref()) {
            (Some(_), Some(_)) => {
                Err(ApiError::bad_request("invalid_query", "give since or last_message_ids, not both"))
            }
            (Some(since), None) if since < 0 => Err(ApiError::invalid_field("since", "since: a message id, 0 or more")),
            (Some(since), None) => Ok(Self::Since(since)),
            (None, Some(list)) => {
                let entries: Vec<&str> = list.split(',').filter(|p| !p.is_empty()).collect();
                // Counted as written, repeats included: each entry is work to parse.
                if entries.len() > MAX_RESUME_CHATS {
                    return Err(ApiError::invalid_field(
                        "last_message_ids",
                        format!("last_message_ids: at most {MAX_RESUME_CHATS} chats"),
                    ));
                }
                let mut pairs: Vec<(Uuid, i64)> = Vec::with_capacity(entries.len());
                for entry in entries {
                    let pair = parse_pair(entry)?;
                    match pairs.iter().find(|(known, _)| *known == pair.0) {
                        Some(known) if *known == pair => {}
                        Some(_) => {
                            return Err(ApiError::invalid_field(
                                "last_message_ids",
                                format!("last_message_ids: chat {} named twice with different messages", pair.0),
                            ));
                        }
                        None => pairs.push(pair),
                    }
                }
                Ok(Self::Chats(pairs))
            }
            (None, None) => Ok(Self::Live),
        }
    }

    /// Where each named chat stands for `user`: two queries however many chats.
    async fn resolve(self, state: &ChatState, user: Uuid) -> Result<Resume, ApiError> {
        let pairs = match self {
            Self::Live => return Ok(Resume::Live),
            Self::Since(since) => return Ok(Resume::Since(since)),
            Self::Chats(pairs) => pairs,
        };
        let chat_ids: Vec<Uuid> = pairs.iter().map(|(chat_id, _)| *chat_id).collect();
        let member_of = chats::memberships(&state.db, user, &chat_ids).await?;
        if chat_ids.iter().any(|chat_id| !member_of.contains(chat_id)) {
            return Err(ChatError::NotMember.into());
        }
        let named: Vec<(Uuid, i64)> = pairs.iter().copied().filter(|(_, message)| *message != 0).collect();
        let seqs = messages::seqs_of(&state.db, &named).await?;
        let mut positions = HashMap::with_capacity(pairs.len());
        for (chat_id, message_id) in pairs {
            let seq = match message_id {
                0 => 0,
                _ => *seqs.get(&(chat_id, message_id)).ok_or_else(|| {
                    ApiError::invalid_field("last_message_ids", format!("no message {message_id} in chat {chat_id}"))
                })?,
            };
            positions.insert(chat_id, seq);
        }
        Ok(Resume::Chats(positions))
    }
}

fn parse_pair(pair: &str) -> Result<(Uuid, i64), ApiError> {
    let invalid =
        || ApiError::invalid_field("last_message_ids", "last_message_ids: chat_id:message_id pairs, comma separated");
    let (chat_id, message) = pair.split_once(':').ok_or_else(invalid)?;
    let chat_id = Uuid::parse_str(chat_id).map_err(|_| invalid())?;
    let message: i64 = message.parse().map_err(|_| invalid())?;
    if message < 0 {
        return Err(invalid());
    }
    Ok((chat_id, message))
}
