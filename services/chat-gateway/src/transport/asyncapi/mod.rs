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
//! codes from [`CloseReason`](crate::session::CloseReason), the upgrade's query from
//! [`UpgradeQuery`](super::websocket::UpgradeQuery). A new variant shows
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

use crate::protocol::{ErrorCode, MAX_CLIENT_ID_CHARS, Request, RequestKind, ServerEvent, ServerEventKind};

mod binary;
mod chat;
mod socketio;

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
            "description": chat::overview(),
        },
        "defaultContentType": "application/json",
        "servers": {"gateway": chat::server(), "socketio": socketio::server()},
        "channels": {
            "chat": {
                "address": "/chat",
                "title": "/chat",
                "description": chat::close_codes_table(),
                "servers": [{"$ref": "#/servers/gateway"}],
                "messages": messages,
                "bindings": {
                    "ws": {"method": "GET", "query": chat::query(), "headers": chat::headers(), "bindingVersion": "0.1.0"},
                },
                "x-close-codes": chat::close_codes(),
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
            "securitySchemes": chat::security_schemes(),
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
        RequestKind::CreateGroup => (data(registry, Request::CreateGroup), &[Reply::GroupCreated]),
        RequestKind::AddMembers => (data(registry, Request::AddMembers), &[Reply::MembersAdded]),
        RequestKind::RemoveMember => (data(registry, Request::RemoveMember), &[Reply::MemberRemoved]),
        RequestKind::LeaveChat => (data(registry, Request::LeaveChat), &[Reply::MemberRemoved]),
        RequestKind::SetRole => (data(registry, Request::SetRole), &[Reply::MemberRoleChanged]),
        RequestKind::RenameChat => (data(registry, Request::RenameChat), &[Reply::ChatRenamed]),
        RequestKind::EditMessage => (data(registry, Request::EditMessage), &[Reply::MessageEdited]),
        RequestKind::DeleteMessage => (data(registry, Request::DeleteMessage), &[Reply::MessageDeleted]),
        RequestKind::AddReaction => (data(registry, Request::AddReaction), &[Reply::ReactionAdded]),
        RequestKind::RemoveReaction => (data(registry, Request::RemoveReaction), &[Reply::ReactionRemoved]),
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
        ServerEventKind::GroupCreated => data(registry, ServerEvent::GroupCreated),
        ServerEventKind::MembersAdded => data(registry, ServerEvent::MembersAdded),
        ServerEventKind::MemberRemoved => data(registry, ServerEvent::MemberRemoved),
        ServerEventKind::MemberRoleChanged => data(registry, ServerEvent::MemberRoleChanged),
        ServerEventKind::ChatRenamed => data(registry, ServerEvent::ChatRenamed),
        ServerEventKind::MessageEdited => data(registry, ServerEvent::MessageEdited),
        ServerEventKind::MessageDeleted => data(registry, ServerEvent::MessageDeleted),
        ServerEventKind::ReactionAdded => data(registry, ServerEvent::ReactionAdded),
        ServerEventKind::ReactionRemoved => data(registry, ServerEvent::ReactionRemoved),
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

fn error_codes() -> String {
    let rows: String = ErrorCode::iter()
        .map(|code| format!("\n| `{}` | {} |", wire_name(&code), prose(code.get_documentation())))
        .collect();
    format!("\n\n| `code` | meaning |\n| --- | --- |{rows}")
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

#[cfg(test)]
mod tests;
