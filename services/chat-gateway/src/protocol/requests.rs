//! Client to server: the frames a client sends, parsed into a [`Request`] each.

use poem_openapi::Object;
use serde::{Deserialize, de::DeserializeOwned};
use serde_json::Value;
use shared::{
    http::Text,
    text_rule::{Alphabet, TextRule},
};
use strum::{EnumDiscriminants, EnumIter, EnumMessage, EnumString, IntoStaticStr};
use uuid::Uuid;

use super::{
    ErrorCode, FrameId, UserRef, WsError,
    group_requests::{AddMembers, CreateGroup, MemberRef, RenameChat, SetRole, titled},
    message_requests::{EditMessage, Reaction, content, edit, reaction},
};
use crate::domain::{Content, MessageText};

/// Longest `client_msg_id` and frame `id`, in characters.
pub const MAX_CLIENT_ID_CHARS: usize = 128;
/// Longest message `type`, in characters.
const MAX_KIND_CHARS: usize = 32;

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
    /// Make a group: the caller is its `owner`, everyone in `user_ids` a `member` (the caller
    /// and repeats there count once; at most `GROUP_MAX_MEMBERS` in all). Replies
    /// `group_created`; every member's connections get the same event.
    CreateGroup(CreateGroup),
    /// Add members to a group (owner and admins). They see the group's messages from now on,
    /// not its earlier ones. Replies `members_added` with those who were not in yet; every
    /// member's connections, the new members' included, get the same event.
    AddMembers(AddMembers),
    /// Remove a member from a group: the owner may remove anyone else, an admin plain members.
    /// Replies `member_removed`; every member's connections and the removed member's get the
    /// same event, and the removed member's connections get nothing more of the group.
    RemoveMember(MemberRef),
    /// Leave a group. An owner who leaves hands ownership to the longest-standing admin, else
    /// the longest-standing member (who then gets `member_role_changed` with role `owner`).
    /// Replies `member_removed` with `by` the leaver, which every member's connections get too.
    LeaveChat(ChatRef),
    /// Make a member an admin, or an admin a plain member (the owner alone). Replies
    /// `member_role_changed`, which every member's connections get too.
    SetRole(SetRole),
    /// Rename a group (owner and admins). Replies `chat_renamed`, which every member's
    /// connections get too.
    RenameChat(RenameChat),
    /// Change the text of a message the caller sent (a `text` one, not deleted). Replies
    /// `message_edited`, which every member's connections get too; history shows the new text
    /// and `edited_at`.
    EditMessage(EditMessage),
    /// Delete a message: the sender may delete their own, a group's owner and admins anyone's.
    /// Its text is erased from the database and history keeps a tombstone (`deleted`, no
    /// content). Replies `message_deleted`, which every member's connections get too.
    DeleteMessage(MessageRef),
    /// React to a message with one emoji (at most 16 bytes); a user's reaction counts once per
    /// emoji. Replies `reaction_added`, which every member's connections get too (not again
    /// when the caller had reacted so already).
    AddReaction(Reaction),
    /// Take a reaction back. Replies `reaction_removed`, which every member's connections get
    /// too (not when there was no such reaction).
    RemoveReaction(Reaction),
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

/// A message to store and deliver, checked: what the session hands on to be stored.
#[derive(Debug)]
pub struct SendMessage {
    pub chat_id: Uuid,
    pub content: Content,
    pub kind: String,
    pub client_msg_id: Option<String>,
    pub reply_to: Option<i64>,
}

/// A message to store and deliver.
// What a client writes, read with serde and described by the same derive as every payload;
// each field's rule is both its schema and what `checked` runs.
#[derive(Debug, Deserialize, Object)]
#[serde(deny_unknown_fields)]
#[oai(rename = "SendMessage")]
struct SendMessageData {
    chat_id: Uuid,
    /// Not only whitespace; line breaks and tabs are the only control characters allowed.
    content: Text<MessageText>,
    /// What kind of message, for clients to agree on.
    #[serde(rename = "type", default = "text_kind")]
    #[oai(rename = "type", default = "text_kind")]
    kind: Text<MessageKind>,
    /// The sender's own id for the message: sending it again returns the stored message
    /// instead of storing a copy, on any connection of the sender.
    #[serde(default)]
    #[oai(nullable)]
    client_msg_id: Option<Text<ClientMsgId>>,
    /// The `message_id` of a message of the same chat this one answers.
    #[serde(default)]
    #[oai(nullable)]
    reply_to: Option<i64>,
}

fn text_kind() -> Text<MessageKind> {
    "text".into()
}

/// `type`.
struct MessageKind;

impl TextRule for MessageKind {
    const MIN_CHARS: usize = 1;
    const MAX_CHARS: Option<usize> = Some(MAX_KIND_CHARS);
    const ALPHABET: Option<Alphabet> = Some(Alphabet::SNAKE_CASE);
}

/// `client_msg_id`.
struct ClientMsgId;

impl TextRule for ClientMsgId {
    const MIN_CHARS: usize = 1;
    const MAX_CHARS: Option<usize> = Some(MAX_CLIENT_ID_CHARS);
    const ALPHABET: Option<Alphabet> = Some(Alphabet::NO_CONTROL);
}

// The document's `SendMessage` is what a client writes, while the session and the writer take
// the checked message's fields as they are stored, as strings.
documented_as!(SendMessage, SendMessageData);

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
        RequestKind::CreateGroup => {
            let create: CreateGroup = data_of(event, data)?;
            titled(&create.title)?;
            Request::CreateGroup(create)
        }
        RequestKind::AddMembers => {
            let add: AddMembers = data_of(event, data)?;
            if add.user_ids.is_empty() {
                return Err(WsError::invalid_data("add_members: user_ids must name someone"));
            }
            Request::AddMembers(add)
        }
        RequestKind::RemoveMember => Request::RemoveMember(data_of(event, data)?),
        RequestKind::LeaveChat => Request::LeaveChat(data_of(event, data)?),
        RequestKind::SetRole => Request::SetRole(data_of(event, data)?),
        RequestKind::RenameChat => {
            let rename: RenameChat = data_of(event, data)?;
            titled(&rename.title)?;
            Request::RenameChat(rename)
        }
        RequestKind::EditMessage => Request::EditMessage(edit(data_of(event, data)?)?),
        RequestKind::DeleteMessage => Request::DeleteMessage(data_of(event, data)?),
        RequestKind::AddReaction => Request::AddReaction(reaction(data_of(event, data)?)?),
        RequestKind::RemoveReaction => Request::RemoveReaction(reaction(data_of(event, data)?)?),
        RequestKind::RefreshToken => Request::RefreshToken(data_of(event, data)?),
    })
}

fn data_of<T: DeserializeOwned>(event: &str, data: Value) -> Result<T, WsError> {
    serde_json::from_value(data).map_err(|e| WsError::invalid_data(format!("{event}: {e}")))
}

/// What serde cannot check: each field's rule. The words and codes are the protocol's.
fn checked(message: SendMessageData) -> Result<SendMessage, WsError> {
    let content = content(message.content)?;
    MessageKind::check(&message.kind)
        .map_err(|_| WsError::invalid_data(format!("type: 1 to {MAX_KIND_CHARS} of a-z, 0-9 and _")))?;
    if let Some(client_msg_id) = &message.client_msg_id {
        ClientMsgId::check(client_msg_id).map_err(|_| {
            WsError::invalid_data(format!(
                "client_msg_id: 1 to {MAX_CLIENT_ID_CHARS} characters, no control characters"
            ))
        })?;
    }
    Ok(SendMessage {
        chat_id: message.chat_id,
        content,
        kind: message.kind.into_string(),
        client_msg_id: message.client_msg_id.map(Text::into_string),
        reply_to: message.reply_to,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

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

    /// A `send_message` frame's outcome: the code and words of its refusal.
    fn send(data: Value) -> Result<SendMessage, (ErrorCode, String)> {
        let frame = json!({"event": "send_message", "data": data}).to_string();
        match parse(&frame) {
            Ok(ClientFrame { request: Request::SendMessage(message), .. }) => Ok(message),
            Ok(other) => panic!("{other:?}"),
            Err((_, err)) => Err((err.code, err.message)),
        }
    }

    fn with(field: &str, value: &str) -> Value {
        let mut data = json!({"chat_id": Uuid::nil(), "content": "hi"});
        data[field] = json!(value);
        data
    }

    #[test]
    fn content_is_checked() {
        let refused = |content: &str| send(with("content", content)).map(|m| m.content.into_string());
        assert_eq!(refused(&"é".repeat(4000)), Ok("é".repeat(4000)));
        assert_eq!(refused("a\n\r\tb"), Ok("a\n\r\tb".to_owned()));
        let too_long = (ErrorCode::ContentTooLong, "content: at most 4000 characters (got 4001)".to_owned());
        assert_eq!(refused(&"é".repeat(4001)), Err(too_long.clone()));
        assert_eq!(refused(&format!("\u{0}{}", "é".repeat(4000))), Err(too_long));
        let control = (ErrorCode::InvalidData, "content: control characters are not allowed".to_owned());
        for bad in ["a\u{0}b", "a\u{b}", "a\u{7f}", "a\u{9f}"] {
            assert_eq!(refused(bad), Err(control.clone()), "{bad:?}");
        }
        let empty = (ErrorCode::InvalidData, "content: must not be empty".to_owned());
        for bad in ["", "  ", "\n\t", &" ".repeat(4001)] {
            assert_eq!(refused(bad), Err(empty.clone()), "{bad:?}");
        }
    }

    #[test]
    fn type_is_1_to_32_of_a_z_0_9_and_underscore() {
        let kind = |kind: &str| send(with("type", kind)).map(|m| m.kind);
        assert_eq!(send(json!({"chat_id": Uuid::nil(), "content": "hi"})).map(|m| m.kind), Ok("text".to_owned()));
        for good in ["a", "image_2", &"z".repeat(32)] {
            assert_eq!(kind(good), Ok(good.to_owned()));
        }
        let refused = (ErrorCode::InvalidData, "type: 1 to 32 of a-z, 0-9 and _".to_owned());
        for bad in ["", &"z".repeat(33), "Text", "a-b", "é"] {
            assert_eq!(kind(bad), Err(refused.clone()), "{bad:?}");
        }
    }

    #[test]
    fn client_msg_id_is_1_to_128_characters_without_control_characters() {
        let id = |id: &str| send(with("client_msg_id", id)).map(|m| m.client_msg_id);
        assert_eq!(send(json!({"chat_id": Uuid::nil(), "content": "hi"})).map(|m| m.client_msg_id), Ok(None));
        for good in ["c0ffee-1", "é", &"i".repeat(128)] {
            assert_eq!(id(good), Ok(Some(good.to_owned())));
        }
        let refused = (ErrorCode::InvalidData, "client_msg_id: 1 to 128 characters, no control characters".to_owned());
        for bad in ["", &"i".repeat(129), "a\nb", "\u{85}"] {
            assert_eq!(id(bad), Err(refused.clone()), "{bad:?}");
        }
    }
}
