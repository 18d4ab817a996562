//! Client to server: the frames a client sends, parsed into a [`Request`] each.

use poem_openapi::Object;
use serde::{Deserialize, de::DeserializeOwned};
use serde_json::Value;
use strum::{EnumDiscriminants, EnumIter, EnumMessage, EnumString, IntoStaticStr};
use uuid::Uuid;

use super::{ErrorCode, FrameId, UserRef, WsError};

/// Longest message content, in characters.
pub const MAX_CONTENT_CHARS: usize = 4000;
/// Longest `client_msg_id` and frame `id`, in characters.
pub const MAX_CLIENT_ID_CHARS: usize = 128;

/// A client frame, parsed.
#[derive(Debug)]
pub struct ClientFrame {
    pub id: Option<FrameId>,
    pub request: Request,
}

/// Every event a client may send, named on the wire by its [`RequestKind`] (the variant in
/// snake_case). Each variant's doc comment is its entry in the AsyncAPI document; the reply to
/// a frame with an `id` carries that `id`.
#[derive(Debug, EnumDiscriminants)]
#[strum_discriminants(
    name(RequestKind),
    derive(EnumIter, EnumString, IntoStaticStr, EnumMessage),
    strum(serialize_all = "snake_case")
)]
pub enum Request {
    /// Find or create the one chat between the caller and that user (atomically, whoever asks
    /// first). Replies `private_chat_room_created`; every other connection of both users gets
    /// the same event.
    StartPrivateChat(UserRef),
    /// Store a message, then deliver it as `receive_message` to every connection of both
    /// members on every replica, the sender's other devices included; a member with no live
    /// connection gets a push notification. Replies `receive_message` with the stored message;
    /// the same `client_msg_id` again replies the original instead of storing a copy.
    SendMessage(SendMessage),
    /// Acknowledge receipt of a message (and of every earlier one in the chat). Replies `ack`;
    /// the sender's connections get `message_received`.
    ReceiveMessage(MessageRef),
    /// Mark a message (and every earlier one in the chat) as read. Replies `ack`; the sender
    /// and the reader's other connections get `message_seen`.
    Seen(MessageRef),
    /// The caller is typing in the chat. Replies `ack`; the peer's connections get `typing`
    /// (nothing is stored).
    Typing(ChatRef),
    /// A fresh access token of the same user, before the current one expires: the connection
    /// then lives until the new token's expiry instead of closing with 4001. Replies
    /// `token_refreshed`.
    RefreshToken(FreshToken),
}

impl Request {
    /// The event name the client used, for logs and traces.
    pub fn event(&self) -> &'static str {
        RequestKind::from(self).into()
    }
}

/// A chat, by id.
#[derive(Debug, Clone, Copy, Deserialize, Object)]
#[serde(deny_unknown_fields)]
pub struct ChatRef {
    pub chat_id: Uuid,
}

/// A message of a chat.
#[derive(Debug, Clone, Copy, Deserialize, Object)]
#[serde(deny_unknown_fields)]
pub struct MessageRef {
    pub chat_id: Uuid,
    pub message_id: i64,
}

/// A message to store and deliver.
// The limits in `oai(validator)` are what `checked` enforces; `transport/asyncapi.rs` tests
// that the two agree.
#[derive(Debug, Deserialize, Object)]
#[serde(deny_unknown_fields)]
pub struct SendMessage {
    pub chat_id: Uuid,
    /// Not only whitespace; line breaks and tabs are the only control characters allowed.
    #[oai(validator(
        min_length = 1,
        max_length = 4000,
        pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$"
    ))]
    pub content: String,
    /// What kind of message, for clients to agree on.
    #[serde(rename = "type", default = "text_kind")]
    #[oai(rename = "type", default = "text_kind", validator(pattern = "^[a-z0-9_]{1,32}$"))]
    pub kind: String,
    /// The sender's own id for the message: sending it again returns the stored message
    /// instead of storing a copy, on any connection of the sender.
    #[serde(default)]
    #[oai(nullable, validator(min_length = 1, max_length = 128, pattern = r"^[^\u0000-\u001F\u007F-\u009F]*$"))]
    pub client_msg_id: Option<String>,
}

fn text_kind() -> String {
    "text".into()
}

/// An access token from auth-api (`POST /login`, `POST /token/refresh`).
#[derive(Deserialize, Object)]
#[serde(deny_unknown_fields)]
pub struct FreshToken {
    pub access_token: String,
}

// By hand: a derived one would print the token.
impl std::fmt::Debug for FreshToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FreshToken(..)")
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFrame {
    event: String,
    #[serde(default)]
    data: Option<Value>,
    #[serde(default)]
    id: Option<Value>,
}

/// Parses a text frame. The error carries the frame's `id` when that much could be read, so
/// the error reply can carry it too.
pub fn parse(text: &str) -> Result<ClientFrame, (Option<FrameId>, WsError)> {
    let envelope: RawFrame = serde_json::from_str(text).map_err(|e| {
        // A frame that is an object with a usable id still gets its id back.
        let id = serde_json::from_str::<Value>(text).ok().and_then(|v| v.get("id").cloned()).filter(valid_id);
        (id, WsError::new(ErrorCode::InvalidFrame, format!("expected {{\"event\", \"data\", \"id\"?}}: {e}")))
    })?;
    let id = match envelope.id {
        Some(id) if !valid_id(&id) => {
            return Err((
                None,
                WsError::new(ErrorCode::InvalidFrame, "id: must be a string (at most 128 characters) or a number"),
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

/// The request `event` names, with its `data` checked.
pub fn request(event: &str, data: Value) -> Result<Request, WsError> {
    let kind: RequestKind = event.parse().map_err(|_| {
        let shown: String = event.chars().take(64).collect();
        WsError::new(ErrorCode::UnknownEvent, format!("unknown event {shown:?}"))
    })?;
    Ok(match kind {
        RequestKind::StartPrivateChat => Request::StartPrivateChat(data_of(event, data)?),
        RequestKind::SendMessage => Request::SendMessage(checked(data_of(event, data)?)?),
        RequestKind::ReceiveMessage => Request::ReceiveMessage(data_of(event, data)?),
        RequestKind::Seen => Request::Seen(data_of(event, data)?),
        RequestKind::Typing => Request::Typing(data_of(event, data)?),
        RequestKind::RefreshToken => Request::RefreshToken(data_of(event, data)?),
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
            ErrorCode::ContentTooLong,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_is_an_error_that_keeps_a_readable_id() {
        let (id, err) = parse(r#"{"event": "typing", "data": {"chat_id": 5}, "id": "a"}"#).unwrap_err();
        assert_eq!(id, Some(Value::from("a")));
        assert_eq!(err.code, ErrorCode::InvalidData);
        let (id, err) = parse("not json").unwrap_err();
        assert_eq!((id, err.code), (None, ErrorCode::InvalidFrame));
        let (id, err) = parse(r#"{"event": "dance", "id": 1}"#).unwrap_err();
        assert_eq!((id, err.code), (Some(Value::from(1)), ErrorCode::UnknownEvent));
        let (_, err) =
            parse(r#"{"event": "typing", "data": {"chat_id": "00000000-0000-0000-0000-000000000000", "x": 1}}"#)
                .unwrap_err();
        assert!(err.message.contains("unknown field"), "{}", err.message);
    }

    #[test]
    fn a_null_id_is_no_id() {
        let frame =
            parse(r#"{"event": "typing", "data": {"chat_id": "00000000-0000-0000-0000-000000000000"}, "id": null}"#);
        assert!(frame.unwrap().id.is_none());
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
        assert_eq!(parse(&frame(&"é".repeat(4001))).map(|_| ()).map_err(|e| e.1.code), Err(ErrorCode::ContentTooLong));
        assert_eq!(parse(&frame("a\u{0}b")).map(|_| ()).map_err(|e| e.1.code), Err(ErrorCode::InvalidData));
        assert_eq!(parse(&frame("  ")).map(|_| ()).map_err(|e| e.1.code), Err(ErrorCode::InvalidData));
    }
}
