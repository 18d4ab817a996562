//! The `chat` channel: `/chat` over WebSocket, its server, how a client is admitted (the
//! upgrade's query and headers, the security schemes) and the close codes.

use poem_openapi::{registry::Registry, types::Type};
use serde_json::{Value, json};
use strum::{EnumMessage, IntoEnumIterator};

use super::{prose, to_json_schema, to_value};
use crate::{
    protocol::MAX_CLIENT_ID_CHARS,
    session::CloseReason,
    transport::websocket::{MAX_FRAME_BYTES, UpgradeQuery},
};

pub(super) fn overview() -> String {
    format!(
        "Text frames, each one JSON object `{{\"event\": NAME, \"data\": {{...}}, \"id\": OPTIONAL}}`; the frames of \
         each event are this channel's messages. A client frame that carries `id` (a string of at most \
         {MAX_CLIENT_ID_CHARS} characters, or a number) gets exactly one reply carrying the same `id`: the result \
         its operation's `reply` names, or `error`.\n\n\
         Connecting: a WebSocket upgrade of `GET /chat` with auth-api's access token in the `Authorization` header \
         or the `access_token` query parameter; to get what was missed, `since` or `last_message_ids` (the \
         channel's `ws` binding). The token, the connection limit and the resume point are checked before the \
         upgrade, and refused with an HTTP error `{{error, code}}`: 401 without a valid token, 429 \
         `too_many_connections` past `WS_CONNECTIONS_PER_USER`, 400 for a bad resume point or a plain GET \
         (`not_websocket`), 403 for a chat the caller is not in, 503 while the replica restarts, and 503 \
         `replica_full` (with `Retry-After`, before the token is read) while it holds all the connections it can \
         (`WS_MAX_CONNECTIONS`).\n\n\
         Frames are at most {} KiB. A connection may send `WS_RATE_LIMIT_PER_SECOND` frames a second, in bursts \
         of `WS_RATE_LIMIT_BURST`. The server pings; a connection silent for `WS_IDLE_TIMEOUT_SECONDS` is closed, \
         and so is one whose access token expires without a `refresh_token`. The close codes are in the channel's \
         description.",
        MAX_FRAME_BYTES / 1024
    )
}

pub(super) fn server() -> Value {
    json!({
        "host": "{host}",
        "protocol": "ws",
        "description": "chat-gateway, or chat-suite (every service on one port); `wss` behind a TLS ingress.",
        "variables": {
            "host": {
                "default": "localhost:8083",
                "description": "chat-gateway's `LISTEN_ADDR` (chat-suite's: `localhost:8080`), or the ingress's host.",
            },
        },
        "security": [
            {"$ref": "#/components/securitySchemes/bearer"},
            {"$ref": "#/components/securitySchemes/accessTokenQuery"},
        ],
    })
}

pub(super) fn security_schemes() -> Value {
    json!({
        "bearer": {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": "auth-api's access token (`POST /register`, `/login`, `/token/refresh`) in `Authorization: Bearer …`.",
        },
        "accessTokenQuery": {
            "type": "httpApiKey",
            "name": "access_token",
            "in": "query",
            "description": "The same token as the `access_token` query parameter, for clients that cannot set headers.",
        },
    })
}

/// Inline, not a `$ref`: AsyncAPI's own schema cannot tell a reference from a schema there.
pub(super) fn query() -> Value {
    let mut registry = Registry::new();
    UpgradeQuery::register(&mut registry);
    let mut query = registry.schemas.remove(&*UpgradeQuery::name()).map(|schema| to_value(&schema)).unwrap_or_default();
    to_json_schema(&mut query);
    query
}

pub(super) fn headers() -> Value {
    json!({
        "type": "object",
        "properties": {
            "Authorization": {
                "type": "string",
                "description": "`Bearer ` and the access token; or the `access_token` query parameter instead.",
            },
        },
    })
}

pub(super) fn close_codes() -> Vec<Value> {
    CloseReason::iter()
        .map(|reason| {
            json!({"code": reason.code(), "reason": reason.text(), "description": prose(reason.get_documentation())})
        })
        .collect()
}

pub(super) fn close_codes_table() -> String {
    let rows: String = CloseReason::iter()
        .map(|reason| format!("\n| {} | {} | {} |", reason.code(), reason.text(), prose(reason.get_documentation())))
        .collect();
    format!(
        "The server closes a connection with one of these codes (also in `x-close-codes`); a close the client \
         starts is answered in kind.\n\n| code | reason | when |\n| --- | --- | --- |{rows}"
    )
}
