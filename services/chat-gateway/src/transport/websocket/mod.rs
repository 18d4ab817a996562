//! `GET /chat`: checks a browser page's origin, the access token (the `Authorization` header
//! or the `access_token` query parameter) and the resume point *before* the upgrade, so a bad
//! request is an HTTP status a client library can show, then hands the socket to a session.

use std::{sync::Arc, time::Duration};

use poem::{
    FromRequest, IntoResponse, Request, Response, handler,
    web::{
        Data,
        websocket::{WebSocket, WebSocketConfig},
    },
};
use poem_openapi::Object;
use serde::Deserialize;
use shared::ApiError;

mod link;

use link::ChatLink;

use super::admission::{TokenPlaces, admit};
use crate::state::ChatState;

/// Largest frame (and message) a client may send; beyond it the connection closes with 1009.
pub const MAX_FRAME_BYTES: usize = 64 * 1024;

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
    state.origins.admit_socket(req.headers(), req.uri())?;
    let params: UpgradeQuery =
        req.params().map_err(|e| ApiError::bad_request("invalid_query", format!("query: {e}")))?;
    let places = TokenPlaces("Authorization header or access_token parameter");
    let since = params.since;
    let last = params.last_message_ids.as_deref();
    let admitted = admit(state, req.headers(), params.access_token.as_deref(), places, since, last).await?;
    // Before any query: a plain GET costs no database work, whatever its parameters.
    let websocket = WebSocket::from_request_without_body(req)
        .await
        .map_err(|_| ApiError::bad_request("not_websocket", "GET /chat must be a WebSocket upgrade"))?;
    let admission = admitted.enter(state).await?;
    // Buffers sized for many idle connections rather than bulk transfer: the read buffer is
    // allocated up front for every connection (tungstenite's default is 128 KiB), and writes go
    // out at once instead of collecting.
    let config = WebSocketConfig::default()
        .read_buffer_size(1024)
        .write_buffer_size(0)
        .max_message_size(Some(MAX_FRAME_BYTES))
        .max_frame_size(Some(MAX_FRAME_BYTES));
    let write_timeout = Duration::from_secs(state.settings.ws_write_timeout_seconds);
    Ok(websocket
        .config(config)
        .on_upgrade(move |socket| admission.serve(ChatLink::new(socket, write_timeout)))
        .into_response())
}
