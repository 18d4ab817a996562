//! The AsyncAPI 3.0 document of the `/chat` WebSocket and of Socket.IO's namespace `/chat`,
//! served at `GET /asyncapi.json` and committed as `openapi/chat-gateway.asyncapi.json`
//! (`scripts/openapi` regenerates it; a test fails when it is stale). Socket.IO carries the
//! same events under the same names, each one's data its one argument: the channel `socketio`
//! has a message per event like `chat`'s, without `/chat`'s envelope.
//!
//! It is made from the protocol's types, so it cannot tell another story than the code: one
//! message per variant of [`Request`] and of [`ServerEvent`], named as the wire names it and
//! described by the variant's doc comment, its data's schema from the payload's
//! `poem_openapi::Object` derive (the registry the OpenAPI document is made with, so the HTTP
//! and WebSocket documents share `MessageView`); the error codes from [`ErrorCode`], the close
//! codes from [`CloseReason`], the upgrade's query from [`UpgradeQuery`]. A new variant shows
//! up by itself, or stops the build until the exhaustive `match`es below give it a place.
//! Only which events answer which is said here alone; `tests/api/` drives each over a socket.
//!
//! AsyncAPI describes an application from its own side: the gateway `receive`s what clients
//! send and `send`s what they read.

use poem::{Endpoint, IntoResponse, Response, endpoint::make_sync};
use poem_openapi::{
    registry::{MetaSchemaRef, Registry},
    types::{ToJSON, Type},
};
use serde_json::{Map, Value, json};
use strum::{EnumMessage, IntoEnumIterator};

use super::websocket::{MAX_FRAME_BYTES, UpgradeQuery};
use crate::{
    protocol::{ErrorCode, MAX_CLIENT_ID_CHARS, Request, RequestKind, ServerEvent, ServerEventKind},
    session::CloseReason,
};

mod binary;

pub use binary::Binary;

/// `GET /asyncapi.json`: `binary`'s document, made once.
pub fn endpoint(binary: Binary) -> impl Endpoint<Output = Response> {
    let document = document(binary);
    make_sync(move |_| document.clone().with_content_type("application/json").into_response())
}

/// `binary`'s document, as served (chat-gateway's is the one committed).
pub fn document(binary: Binary) -> String {
    let mut document = build();
    binary.retarget(&mut document);
    serde_json::to_string_pretty(&document).unwrap_or_default()
}

/// Who writes a frame.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Side {
    Client,
    Server,
}

impl Side {
    /// Message and operation ids: `receive_message` goes both ways.
    fn key(self, event: &str) -> String {
        match self {
            Self::Client => format!("client_{event}"),
            Self::Server => format!("server_{event}"),
        }
    }
}

fn build() -> Value {
    let mut registry = Registry::new();
    let (mut messages, mut sio_messages, mut operations) = (Map::new(), Map::new(), Map::new());
    // Socket.IO's client messages, made once the schemas they derive forms from are.
    let mut sio_clients = Vec::new();
    // The server refuses unknown fields in every client event's data (serde's
    // `deny_unknown_fields` on each payload), which poem-openapi's schemas do not say.
    let mut closed = Vec::new();
    for kind in RequestKind::iter() {
        let (data, replies) = request(kind, &mut registry);
        if let MetaSchemaRef::Reference(schema) = &data {
            closed.push(schema.clone());
        }
        let (name, key) = (<&str>::from(kind), Side::Client.key(kind.into()));
        messages.insert(key.clone(), message(name, prose(kind.get_documentation()), frame(name, &data, Side::Client)));
        sio_clients.push((kind, key.clone(), to_value(&data)));
        for (channel, key) in [(CHAT, &key), (SOCKETIO, &format!("{SOCKETIO}_{key}"))] {
            let replies: Vec<Value> = replies
                .iter()
                .chain([&ServerEventKind::Error])
                .map(|reply| message_ref(channel, &Side::Server.key((*reply).into())))
                .collect();
            let mut operation = operation(channel, "receive", &format!("A client sends `{name}`"), &key_of(key));
            operation["reply"] = json!({"channel": {"$ref": format!("#/channels/{channel}")}, "messages": replies});
            operations.insert(key.clone(), operation);
        }
    }
    for kind in ServerEventKind::iter() {
        let data = event(kind, &mut registry);
        let (name, key) = (<&str>::from(kind), Side::Server.key(kind.into()));
        let mut description = prose(kind.get_documentation());
        if kind == ServerEventKind::Error {
            description.push_str(&error_codes());
        }
        messages.insert(key.clone(), message(name, description.clone(), frame(name, &data, Side::Server)));
        sio_messages.insert(key.clone(), socketio::server_message(name, description, &to_value(&data)));
        let title = format!("The server sends `{name}`");
        operations.insert(key.clone(), operation(CHAT, "send", &title, &key));
        operations.insert(format!("{SOCKETIO}_{key}"), operation(SOCKETIO, "send", &title, &key));
    }
    sio_messages.insert(Side::Server.key("closing"), socketio::closing());
    let key = Side::Server.key("closing");
    let title = "The server says why it disconnects a Socket.IO client";
    operations.insert(format!("{SOCKETIO}_{key}"), operation(SOCKETIO, "send", title, &key));
    let mut schemas = to_value(&registry.schemas);
    for name in closed {
        schemas[name]["additionalProperties"] = Value::Bool(false);
    }
    schemas["FrameId"] = frame_id();
    if let Some(schemas) = schemas.as_object_mut() {
        schemas.values_mut().for_each(to_json_schema);
    }
    for (kind, key, reference) in sio_clients {
        let ours = reference["$ref"].as_str().and_then(|r| r.rsplit('/').next()).map_or(&Value::Null, |n| &schemas[n]);
        let description = prose(kind.get_documentation());
        sio_messages.insert(key, socketio::client_message(kind, description, &reference, ours));
    }
    json!({
        "asyncapi": "3.0.0",
        "info": {
            "title": "chat-gateway: /chat over WebSocket and over Socket.IO",
            "version": env!("CARGO_PKG_VERSION"),
            "description": overview(),
        },
        "defaultContentType": "application/json",
        "servers": {"gateway": server(), "socketio": socketio::server()},
        "channels": {
            "chat": {
                "address": "/chat",
                "title": "/chat",
                "description": close_codes_table(),
                "servers": [{"$ref": "#/servers/gateway"}],
                "messages": messages,
                "bindings": {
                    "ws": {"method": "GET", "query": query(), "headers": headers(), "bindingVersion": "0.1.0"},
                },
                "x-close-codes": close_codes(),
            },
            "socketio": {
                "address": "/socket.io/",
                "title": "Socket.IO, namespace /chat",
                "description": socketio::overview(),
                "servers": [{"$ref": "#/servers/socketio"}],
                "messages": sio_messages,
            },
        },
        "operations": operations,
        "components": {
            "schemas": schemas,
            "securitySchemes": security_schemes(),
            "correlationIds": {
                "frameId": {
                    "description": "A client frame that carries `id` gets exactly one reply carrying the same `id`.",
                    "location": "$message.payload#/id",
                },
            },
        },
    })
}

/// What a client event carries, and what answers it besides `error`.
fn request(kind: RequestKind, registry: &mut Registry) -> (MetaSchemaRef, &'static [ServerEventKind]) {
    use ServerEventKind as Reply;
    match kind {
        RequestKind::StartPrivateChat => (data(registry, Request::StartPrivateChat), &[Reply::PrivateChatRoomCreated]),
        RequestKind::SendMessage => (data(registry, Request::SendMessage), &[Reply::ReceiveMessage]),
        RequestKind::ReceiveMessage => (data(registry, Request::ReceiveMessage), &[Reply::Ack]),
        RequestKind::Seen => (data(registry, Request::Seen), &[Reply::Ack]),
        RequestKind::Typing => (data(registry, Request::Typing), &[Reply::Ack]),
        RequestKind::RefreshToken => (data(registry, Request::RefreshToken), &[Reply::TokenRefreshed]),
    }
}

/// What a server event carries.
fn event(kind: ServerEventKind, registry: &mut Registry) -> MetaSchemaRef {
    match kind {
        ServerEventKind::Connected => data(registry, ServerEvent::Connected),
        ServerEventKind::PrivateChatRoomCreated => data(registry, ServerEvent::PrivateChatRoomCreated),
        ServerEventKind::ReceiveMessage => data(registry, ServerEvent::ReceiveMessage),
        ServerEventKind::MessageReceived => data(registry, ServerEvent::MessageReceived),
        ServerEventKind::MessageSeen => data(registry, ServerEvent::MessageSeen),
        ServerEventKind::Typing => data(registry, ServerEvent::Typing),
        ServerEventKind::Online => data(registry, ServerEvent::Online),
        ServerEventKind::Offline => data(registry, ServerEvent::Offline),
        ServerEventKind::TokenRefreshed => data(registry, ServerEvent::TokenRefreshed),
        ServerEventKind::Ack => data(registry, ServerEvent::Ack),
        ServerEventKind::Error => data(registry, ServerEvent::Error),
    }
}

/// The schema of a variant's data, found through the variant's constructor: the document
/// cannot name another type than the one the variant holds.
fn data<T: Type, E>(registry: &mut Registry, _variant: fn(T) -> E) -> MetaSchemaRef {
    T::register(registry);
    T::schema_ref()
}

/// A whole frame of one event: the envelope around its data.
fn frame(name: &str, data: &MetaSchemaRef, from: Side) -> Value {
    let mut frame = json!({
        "type": "object",
        "required": ["event", "data"],
        "properties": {
            "event": {"type": "string", "const": name},
            "data": to_value(data),
            "id": {"$ref": "#/components/schemas/FrameId"},
        },
    });
    // The server refuses unknown top-level fields; clients should read past new ones.
    if from == Side::Client {
        frame["additionalProperties"] = Value::Bool(false);
    }
    frame
}

fn frame_id() -> Value {
    json!({
        "description": "Optional on every client frame (`null` counts as absent): the reply (the event's result, or \
                        `error`) carries the same `id`. Absent from events nobody asked for.",
        "oneOf": [{"type": "string", "maxLength": MAX_CLIENT_ID_CHARS}, {"type": "number"}],
    })
}

fn message(name: &str, description: String, payload: Value) -> Value {
    json!({
        "name": name,
        "title": name,
        "description": description,
        "contentType": "application/json",
        "correlationId": {"$ref": "#/components/correlationIds/frameId"},
        "payload": payload,
    })
}

/// The channels, as the document names them.
const CHAT: &str = "chat";
const SOCKETIO: &str = "socketio";

/// A message's key from its operation's (`socketio_client_typing` → `client_typing`).
fn key_of(operation: &str) -> String {
    operation.strip_prefix(&format!("{SOCKETIO}_")).unwrap_or(operation).to_owned()
}

fn operation(channel: &str, action: &str, title: &str, message: &str) -> Value {
    json!({
        "action": action,
        "channel": {"$ref": format!("#/channels/{channel}")},
        "title": title,
        "messages": [message_ref(channel, message)],
    })
}

fn message_ref(channel: &str, key: &str) -> Value {
    json!({"$ref": format!("#/channels/{channel}/messages/{key}")})
}

fn overview() -> String {
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
         (`not_websocket`), 403 for a chat the caller is not in, 503 while the replica restarts.\n\n\
         Frames are at most {} KiB. A connection may send `WS_RATE_LIMIT_PER_SECOND` frames a second, in bursts \
         of `WS_RATE_LIMIT_BURST`. The server pings; a connection silent for `WS_IDLE_TIMEOUT_SECONDS` is closed, \
         and so is one whose access token expires without a `refresh_token`. The close codes are in the channel's \
         description.",
        MAX_FRAME_BYTES / 1024
    )
}

fn server() -> Value {
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

fn security_schemes() -> Value {
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
fn query() -> Value {
    let mut registry = Registry::new();
    UpgradeQuery::register(&mut registry);
    let mut query = registry.schemas.remove(&*UpgradeQuery::name()).map(|schema| to_value(&schema)).unwrap_or_default();
    to_json_schema(&mut query);
    query
}

fn headers() -> Value {
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

fn error_codes() -> String {
    let rows: String = ErrorCode::iter()
        .map(|code| format!("\n| `{}` | {} |", wire_name(&code), prose(code.get_documentation())))
        .collect();
    format!("\n\n| `code` | meaning |\n| --- | --- |{rows}")
}

fn close_codes() -> Vec<Value> {
    CloseReason::iter()
        .map(|reason| {
            json!({"code": reason.code(), "reason": reason.text(), "description": prose(reason.get_documentation())})
        })
        .collect()
}

fn close_codes_table() -> String {
    let rows: String = CloseReason::iter()
        .map(|reason| format!("\n| {} | {} | {} |", reason.code(), reason.text(), prose(reason.get_documentation())))
        .collect();
    format!(
        "The server closes a connection with one of these codes (also in `x-close-codes`); a close the client \
         starts is answered in kind.\n\n| code | reason | when |\n| --- | --- | --- |{rows}"
    )
}

/// A value as it reads on the wire.
fn wire_name(value: &impl ToJSON) -> String {
    value.to_json().and_then(|name| name.as_str().map(str::to_owned)).unwrap_or_default()
}

/// A doc comment as one line of Markdown.
fn prose(doc: Option<&str>) -> String {
    doc.unwrap_or_default().split_whitespace().collect::<Vec<_>>().join(" ")
}

fn to_value(value: &impl serde::Serialize) -> Value {
    serde_json::to_value(value).unwrap_or_default()
}

/// poem-openapi writes OpenAPI 3.0 schemas; AsyncAPI's are JSON Schema (draft 7), which says
/// "or null" with the type and has `examples` instead of `example`.
fn to_json_schema(schema: &mut Value) {
    let Value::Object(map) = schema else { return };
    if map.get("nullable") == Some(&Value::Bool(true)) {
        map.remove("nullable");
        match map.get("type").cloned() {
            Some(Value::String(ty)) => {
                map.insert("type".into(), json!([ty, "null"]));
            }
            _ => {
                let inner = Value::Object(std::mem::take(map));
                map.insert("anyOf".into(), json!([inner, {"type": "null"}]));
            }
        }
    }
    if let Some(example) = map.remove("example") {
        map.insert("examples".into(), json!([example]));
    }
    for key in ["items", "additionalProperties"] {
        if let Some(inner) = map.get_mut(key) {
            to_json_schema(inner);
        }
    }
    for key in ["allOf", "anyOf", "oneOf"] {
        if let Some(Value::Array(list)) = map.get_mut(key) {
            list.iter_mut().for_each(to_json_schema);
        }
    }
    if let Some(Value::Object(properties)) = map.get_mut("properties") {
        properties.values_mut().for_each(to_json_schema);
    }
}

mod socketio;
#[cfg(test)]
mod tests;
