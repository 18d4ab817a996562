//! The `socketio` channel: Socket.IO's namespace `/chat`, each event's data its one argument.
//! Clients of ours send `/chat`'s data; the original service's clients send other forms of
//! three events (`transport/socketio/events.rs` reads them), and a connection that speaks them
//! reads two events in the original's shapes (`transport/socketio/original.rs`). Each form is
//! derived from `/chat`'s schema with its fields renamed, so the limits stay the protocol's.

use serde_json::{Map, Value, json};

use crate::protocol::RequestKind;

/// Ids for the examples.
const ALICE: &str = "3fa85f64-5717-4562-b3fc-2c963f66afa6";
const BOB: &str = "9b2e4c1a-7d3f-4e8b-a5c6-1f2d3e4a5b6c";
const CHAT: &str = "5d1c8e2f-3a4b-4c6d-9e7f-0a1b2c3d4e5f";

/// The description of the caller's own `sender_id`, which the original clients send.
const OWN_SENDER: &str = "The caller's own user id, as the original service's clients send it; any other is refused \
                          with `forbidden` (the token says who sends).";

/// A client event's message: `/chat`'s data (`ours`, the component schema that `reference`
/// names), and every other form the server takes, with an example of each.
pub(super) fn client_message(kind: RequestKind, description: String, reference: &Value, ours: &Value) -> Value {
    let name = <&str>::from(kind);
    let (forms, examples) = match kind {
        RequestKind::StartPrivateChat => (
            vec![
                form("As on `/chat`", with_sender(ours.clone())),
                form("The other user as `receiver_id`", with_sender(renamed(ours, &[("user_id", "receiver_id")]))),
            ],
            vec![
                example("As on `/chat`", json!({"user_id": BOB})),
                example("The original service's", json!({"sender_id": ALICE, "receiver_id": BOB})),
            ],
        ),
        RequestKind::SendMessage => (
            vec![
                form("As on `/chat`", with_sender(ours.clone())),
                form(
                    "The original server's: `message` for `content`",
                    with_sender(renamed(ours, &[("content", "message")])),
                ),
                form(
                    "The original web page's: to a user, not a chat",
                    with_sender(renamed(ours, &[("chat_id", "receiver_id")])),
                ),
                form(
                    "To a user, with `message` for `content`",
                    with_sender(renamed(ours, &[("chat_id", "receiver_id"), ("content", "message")])),
                ),
            ],
            vec![
                example("As on `/chat`", json!({"chat_id": CHAT, "content": "hello", "client_msg_id": "c0ffee-1"})),
                example(
                    "The original server's",
                    json!({"chat_id": CHAT, "sender_id": ALICE, "message": "hello", "type": "text"}),
                ),
                example("The original web page's", json!({"sender_id": ALICE, "receiver_id": BOB, "content": "hello"})),
            ],
        ),
        RequestKind::ReceiveMessage => (
            vec![
                form("As on `/chat`", with_field(ours.clone(), "sender_id", uuid("Who sent the message; not read."))),
                form("The original service's: the pair's chat, up to the sender's newest message", pair()),
            ],
            vec![
                example("As on `/chat`", json!({"chat_id": CHAT, "message_id": 42})),
                example("The original service's", json!({"sender_id": BOB, "receiver_id": ALICE})),
            ],
        ),
        _ => (Vec::new(), Vec::new()),
    };
    let payload = if forms.is_empty() { reference.clone() } else { json!({"oneOf": forms}) };
    let mut message = sio_message(name, description, payload);
    if !examples.is_empty() {
        message["examples"] = Value::Array(examples);
    }
    message
}

/// A server event's message: `/chat`'s data, and the original's shape where it differs.
pub(super) fn server_message(name: &str, description: String, reference: &Value) -> Value {
    match name {
        "private_chat_room_created" => {
            let bare = uuid(
                "The chat's id alone: the original service's shape, for a connection that reads it (see the \
                 channel's description).",
            );
            let description =
                format!("{description} A connection reading the original's shapes gets the chat id alone.");
            sio_message(name, description, json!({"oneOf": [reference, bare]}))
        }
        "receive_message" => {
            let description =
                format!("{description} A connection reading the original's shapes also gets the text as `message`.");
            sio_message(name, description, reference.clone())
        }
        _ => sio_message(name, description, reference.clone()),
    }
}

fn sio_message(name: &str, description: String, payload: Value) -> Value {
    json!({"name": name, "title": name, "description": description, "contentType": "application/json", "payload": payload})
}

fn form(title: &str, mut schema: Value) -> Value {
    schema["title"] = json!(title);
    schema
}

fn example(name: &str, payload: Value) -> Value {
    json!({"name": name, "payload": payload})
}

fn uuid(description: &str) -> Value {
    json!({"type": "string", "format": "uuid", "description": description})
}

fn with_sender(schema: Value) -> Value {
    with_field(schema, "sender_id", uuid(OWN_SENDER))
}

/// `schema` with an optional field more.
fn with_field(mut schema: Value, field: &str, property: Value) -> Value {
    schema["properties"][field] = property;
    schema
}

/// `schema` with fields renamed, required as they were.
fn renamed(schema: &Value, renames: &[(&str, &str)]) -> Value {
    let mut schema = schema.clone();
    for (from, to) in renames {
        if let Some(properties) = schema["properties"].as_object_mut()
            && let Some(property) = properties.remove(*from)
        {
            properties.insert((*to).to_owned(), property);
        }
        if let Some(required) = schema["required"].as_array_mut() {
            required.iter_mut().filter(|r| r.as_str() == Some(from)).for_each(|r| *r = json!(to));
        }
    }
    schema
}

/// The original acknowledgement: the two users of a private chat, one of them the caller.
fn pair() -> Value {
    let mut properties = Map::new();
    properties
        .insert("sender_id".into(), uuid("Who sent the messages acknowledged: the caller's peer (or the caller)."));
    properties.insert("receiver_id".into(), uuid("Who received them: the caller (or the caller's peer)."));
    json!({
        "type": "object",
        "required": ["sender_id", "receiver_id"],
        "properties": properties,
        "additionalProperties": false,
    })
}

pub(super) fn closing() -> Value {
    json!({
        "name": "closing",
        "title": "closing",
        "description": "Sent just before the server disconnects a Socket.IO client for a reason of its own, with the \
                        code and label `/chat` closes with for it (see the `chat` channel's close codes). A client \
                        disconnected by the server does not reconnect by itself: renew the token if that was the \
                        reason, then connect again. A restarting replica sends no `closing`: it closes the \
                        Engine.IO connection, and clients reconnect by themselves.",
        "contentType": "application/json",
        "payload": {
            "type": "object",
            "required": ["code", "reason", "message"],
            "properties": {
                "code": {"type": "integer", "description": "`/chat`'s close code for the same reason."},
                "reason": {"type": "string", "description": "Its label, as in `chat_suite_ws_closes_total{reason}`."},
                "message": {"type": "string", "description": "The same, in words."},
            },
        },
    })
}

pub(super) fn overview() -> &'static str {
    "Socket.IO protocol v5 over Engine.IO v4 (the JavaScript clients 3 and 4 and their ports), long-polling \
     then WebSocket, namespace `/chat`: `io(\"https://HOST/chat\", {auth: {token}})`. The token goes in \
     `auth.token`, the `access_token` query parameter or the `Authorization` header; resume positions in \
     `auth` as `since` or `last_message_ids` (as `/chat` takes it, or an object of chat ids to message ids). \
     A refused connection is the client's `connect_error`, whose message is the code `/chat` refuses with: \
     `missing_token`, `invalid_token`, `token_expired`, `too_many_connections`, `replica_full`, `unavailable`, \
     `invalid_field`, `forbidden`.\n\n\
     Each event's one argument is what `/chat` carries in `data`. An event sent with an acknowledgement \
     callback gets its result through it (the reply's data, `{}` for `ack`), or `{error: {code, \
     message}}`; without one the replies come as events, except `ack`.\n\n\
     The original service's clients work with a token added: the forms of `start_private_chat`, \
     `send_message` and `receive_message` they send are taken beside ours (each message lists its forms). \
     A connection reads the original's event shapes (`private_chat_room_created` as the chat id alone, \
     `receive_message` with the text as `message` too) from the first event it sends that names its \
     `sender_id`, or from the start with `auth.payloads` (or the `payloads` query parameter) set to \
     `original`. What still differs from the original: the token is required, `message_id` is an integer, \
     and an unknown event is answered with `error`.\n\n\
     The limits are `/chat`'s, but for the size of one Engine.IO message: up to 1 MB over either transport \
     an event is read and answered (a text over the limit is `content_too_long`); a WebSocket message over \
     it ends the connection, a long-polling request over it is a 413; a binary attachment ends the \
     connection too."
}

pub(super) fn server() -> Value {
    json!({
        "host": "{host}",
        "protocol": "socket.io",
        "protocolVersion": "5",
        "pathname": "/socket.io/",
        "description": "chat-gateway, or chat-suite; behind the ingress, long-polling needs its cookie affinity.",
        "variables": {"host": {"default": "localhost:8083", "description": "As for `gateway`."}},
    })
}
