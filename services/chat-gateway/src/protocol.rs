//! The `/chat` wire protocol: every frame is one JSON object `{"event", "data", "id"?}`.
//! Client frames are parsed here, once, into typed requests; whatever cannot be parsed becomes
//! a [`WsError`] the connection answers with an `error` event and survives.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use serde_json::Value;
use uuid::Uuid;

/// Longest message content, in characters.
pub const MAX_CONTENT_CHARS: usize = 4000;
/// Longest `client_msg_id` and frame `id`, in characters.
pub const MAX_CLIENT_ID_CHARS: usize = 128;

/// An error event's code and message; `id` is added when the frame that caused it had one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WsError {
    pub code: &'static str,
    pub message: String,
}

impl WsError {
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self { code, message: message.into() }
    }

    pub fn invalid_data(message: impl Into<String>) -> Self {
        Self::new("invalid_data", message)
    }

    pub fn forbidden() -> Self {
        Self::new("forbidden", "you are not a member of this chat")
    }

    pub fn internal() -> Self {
        Self::new("internal", "internal error, try again")
    }

    pub fn unavailable() -> Self {
        Self::new("unavailable", "the database is unreachable, try again")
    }
}

/// The `id` a client put on a frame, echoed on the reply: a string or a number.
pub type FrameId = Value;

/// A client frame, parsed.
#[derive(Debug)]
pub struct ClientFrame {
    pub id: Option<FrameId>,
    pub request: Request,
}

#[derive(Debug)]
pub enum Request {
    StartPrivateChat { user_id: Uuid },
    SendMessage(SendMessage),
    ReceiveMessage(MessageRef),
    Seen(MessageRef),
    Typing { chat_id: Uuid },
    RefreshToken { access_token: String },
}

impl Request {
    /// The event name the client used, for logs and traces.
    pub fn event(&self) -> &'static str {
        match self {
            Self::StartPrivateChat { .. } => "start_private_chat",
            Self::SendMessage(_) => "send_message",
            Self::ReceiveMessage(_) => "receive_message",
            Self::Seen(_) => "seen",
            Self::Typing { .. } => "typing",
            Self::RefreshToken { .. } => "refresh_token",
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SendMessage {
    pub chat_id: Uuid,
    pub content: String,
    #[serde(rename = "type", default = "text_kind")]
    pub kind: String,
    #[serde(default)]
    pub client_msg_id: Option<String>,
}

fn text_kind() -> String {
    "text".into()
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MessageRef {
    pub chat_id: Uuid,
    pub message_id: i64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Envelope {
    event: String,
    #[serde(default)]
    data: Option<Value>,
    #[serde(default)]
    id: Option<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UserRef {
    user_id: Uuid,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ChatRef {
    chat_id: Uuid,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FreshToken {
    access_token: String,
}

/// Parses a text frame. The error carries the frame's `id` when that much could be read, so
/// the error reply can carry it too.
pub fn parse(text: &str) -> Result<ClientFrame, (Option<FrameId>, WsError)> {
    let envelope: Envelope = serde_json::from_str(text).map_err(|e| {
        // A frame that is an object with a usable id still gets its id back.
        let id = serde_json::from_str::<Value>(text).ok().and_then(|v| v.get("id").cloned()).filter(valid_id);
        (id, WsError::new("invalid_frame", format!("expected {{\"event\", \"data\", \"id\"?}}: {e}")))
    })?;
    let id = match envelope.id {
        Some(id) if !valid_id(&id) => {
            return Err((
                None,
                WsError::new("invalid_frame", "id: must be a string (at most 128 characters) or a number"),
            ));
        }
        id => id,
    };
    let data = envelope.data.unwrap_or(Value::Null);
    let request = request(&envelope.event, data).map_err(|e| (id.clone(), e))?;
    Ok(ClientFrame { id, request })
}

fn valid_id(id: &Value) -> bool {
    match id {
        Value::String(s) => s.chars().count() <= MAX_CLIENT_ID_CHARS,
        Value::Number(_) => true,
        _ => false,
    }
}

fn request(event: &str, data: Value) -> Result<Request, WsError> {
    Ok(match event {
        "start_private_chat" => Request::StartPrivateChat { user_id: data_of::<UserRef>(event, data)?.user_id },
        "send_message" => Request::SendMessage(checked(data_of::<SendMessage>(event, data)?)?),
        "receive_message" => Request::ReceiveMessage(data_of(event, data)?),
        "seen" => Request::Seen(data_of(event, data)?),
        "typing" => Request::Typing { chat_id: data_of::<ChatRef>(event, data)?.chat_id },
        "refresh_token" => Request::RefreshToken { access_token: data_of::<FreshToken>(event, data)?.access_token },
        other => {
            let shown: String = other.chars().take(64).collect();
            return Err(WsError::new("unknown_event", format!("unknown event {shown:?}")));
        }
    })
}

fn data_of<T: DeserializeOwned>(event: &str, data: Value) -> Result<T, WsError> {
    serde_json::from_value(data).map_err(|e| WsError::invalid_data(format!("{event}: {e}")))
}

/// What serde cannot check: lengths, and text Postgres can store.
fn checked(message: SendMessage) -> Result<SendMessage, WsError> {
    let chars = message.content.chars().count();
    if chars == 0 || message.content.trim().is_empty() {
        return Err(WsError::invalid_data("content: must not be empty"));
    }
    if chars > MAX_CONTENT_CHARS {
        return Err(WsError::new(
            "content_too_long",
            format!("content: at most {MAX_CONTENT_CHARS} characters (got {chars})"),
        ));
    }
    // NUL cannot be stored in Postgres text; other control characters but line breaks and tabs
    // have no business in a chat message.
    if message.content.chars().any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t')) {
        return Err(WsError::invalid_data("content: control characters are not allowed"));
    }
    let kind_ok = (1..=32).contains(&message.kind.len())
        && message.kind.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if !kind_ok {
        return Err(WsError::invalid_data("type: 1 to 32 of a-z, 0-9 and _"));
    }
    if let Some(client_msg_id) = &message.client_msg_id {
        let ok = (1..=MAX_CLIENT_ID_CHARS).contains(&client_msg_id.chars().count())
            && !client_msg_id.chars().any(char::is_control);
        if !ok {
            return Err(WsError::invalid_data("client_msg_id: 1 to 128 characters, no control characters"));
        }
    }
    Ok(message)
}

/// A message as clients see it, on the socket (`receive_message`) and in history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, poem_openapi::Object)]
pub struct MessageView {
    /// Increases with every message; within a chat it follows the order messages were stored.
    pub message_id: i64,
    pub chat_id: Uuid,
    pub sender_id: Uuid,
    pub content: String,
    /// `text` unless the sender said otherwise.
    #[serde(rename = "type")]
    #[oai(rename = "type")]
    pub kind: String,
    /// RFC 3339, UTC, milliseconds.
    pub sent_at: String,
    /// The sender's own id for the message, if it gave one.
    #[oai(nullable)]
    pub client_msg_id: Option<String>,
}

impl From<crate::store::entities::messages::Model> for MessageView {
    fn from(m: crate::store::entities::messages::Model) -> Self {
        Self {
            message_id: m.id,
            chat_id: m.chat_id,
            sender_id: m.sender_id,
            content: m.content,
            kind: m.kind,
            sent_at: timestamp(m.sent_at),
            client_msg_id: m.client_msg_id,
        }
    }
}

pub fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Every event the server sends.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", content = "data", rename_all = "snake_case")]
pub enum ServerEvent {
    Connected {
        user_id: Uuid,
    },
    PrivateChatRoomCreated {
        chat_id: Uuid,
        user_ids: Vec<Uuid>,
    },
    ReceiveMessage(MessageView),
    MessageReceived {
        chat_id: Uuid,
        message_id: i64,
        user_id: Uuid,
    },
    MessageSeen {
        chat_id: Uuid,
        message_id: i64,
        user_id: Uuid,
    },
    Typing {
        chat_id: Uuid,
        user_id: Uuid,
    },
    Online {
        user_id: Uuid,
    },
    Offline {
        user_id: Uuid,
    },
    TokenRefreshed {
        expires_at: i64,
    },
    /// The result of a frame (with an `id`) that has nothing else to answer.
    Ack {},
    Error(WsError),
}

impl ServerEvent {
    /// The frame text, with `id` when it answers a client frame that had one.
    pub fn to_text(&self, id: Option<&FrameId>) -> String {
        let mut value = serde_json::to_value(self).unwrap_or(Value::Null);
        if let (Some(id), Value::Object(map)) = (id, &mut value) {
            map.insert("id".into(), id.clone());
        }
        value.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_have_the_contract_shape() {
        let user_id = Uuid::nil();
        let text = ServerEvent::Connected { user_id }.to_text(Some(&Value::from(7)));
        assert_eq!(text, r#"{"event":"connected","data":{"user_id":"00000000-0000-0000-0000-000000000000"},"id":7}"#);
        let err = ServerEvent::Error(WsError::forbidden()).to_text(None);
        assert_eq!(
            err,
            r#"{"event":"error","data":{"code":"forbidden","message":"you are not a member of this chat"}}"#
        );
    }

    #[test]
    fn garbage_is_an_error_that_keeps_a_readable_id() {
        let (id, err) = parse(r#"{"event": "typing", "data": {"chat_id": 5}, "id": "a"}"#).unwrap_err();
        assert_eq!(id, Some(Value::from("a")));
        assert_eq!(err.code, "invalid_data");
        let (id, err) = parse("not json").unwrap_err();
        assert_eq!((id, err.code), (None, "invalid_frame"));
        let (id, err) = parse(r#"{"event": "dance", "id": 1}"#).unwrap_err();
        assert_eq!((id, err.code), (Some(Value::from(1)), "unknown_event"));
        let (_, err) =
            parse(r#"{"event": "typing", "data": {"chat_id": "00000000-0000-0000-0000-000000000000", "x": 1}}"#)
                .unwrap_err();
        assert!(err.message.contains("unknown field"), "{}", err.message);
    }

    #[test]
    fn content_is_checked() {
        let chat = Uuid::nil();
        let frame = |content: &str| {
            format!(
                r#"{{"event":"send_message","data":{{"chat_id":"{chat}","content":{}}}}}"#,
                serde_json::to_string(content).unwrap()
            )
        };
        assert_eq!(parse(&frame(&"é".repeat(4000))).map(|_| ()).map_err(|e| e.1.code), Ok(()));
        assert_eq!(parse(&frame(&"é".repeat(4001))).map(|_| ()).map_err(|e| e.1.code), Err("content_too_long"));
        assert_eq!(parse(&frame("a\u{0}b")).map(|_| ()).map_err(|e| e.1.code), Err("invalid_data"));
        assert_eq!(parse(&frame("  ")).map(|_| ()).map_err(|e| e.1.code), Err("invalid_data"));
    }
}
