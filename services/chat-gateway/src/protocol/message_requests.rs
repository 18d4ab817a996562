//! Client to server: what the events about a sent message carry (`edit_message`,
//! `add_reaction`, `remove_reaction`; `delete_message` names a message only), checked where
//! the frame is read.

use poem_openapi::Object;
use serde::Deserialize;
use shared::http::Text;
use uuid::Uuid;

use shared::text_rule::Broken;

use super::{ErrorCode, WsError};
use crate::domain::{Content, Emoji, EmojiText, MAX_CONTENT_CHARS, MAX_EMOJI_BYTES, MessageText};

/// A message's new text, checked.
#[derive(Debug)]
pub struct EditMessage {
    pub chat_id: Uuid,
    pub message_id: i64,
    pub content: Content,
}

/// A message's new text.
#[derive(Debug, Deserialize, Object)]
#[serde(deny_unknown_fields)]
#[oai(rename = "EditMessage")]
pub(super) struct EditMessageData {
    chat_id: Uuid,
    message_id: i64,
    /// As `send_message`'s: not only whitespace; line breaks and tabs are the only control
    /// characters allowed.
    content: Text<MessageText>,
}

documented_as!(EditMessage, EditMessageData);

pub(super) fn edit(data: EditMessageData) -> Result<EditMessage, WsError> {
    Ok(EditMessage { chat_id: data.chat_id, message_id: data.message_id, content: content(data.content)? })
}

/// A reaction to a message, checked.
#[derive(Debug)]
pub struct Reaction {
    pub chat_id: Uuid,
    pub message_id: i64,
    pub emoji: Emoji,
}

/// A reaction to a message.
#[derive(Debug, Deserialize, Object)]
#[serde(deny_unknown_fields)]
#[oai(rename = "Reaction")]
pub(super) struct ReactionData {
    chat_id: Uuid,
    message_id: i64,
    /// One emoji (one grapheme: a flag, a skin tone's sequence, a keycap), at most 16 bytes
    /// of UTF-8.
    emoji: Text<EmojiText>,
}

documented_as!(Reaction, ReactionData);

pub(super) fn reaction(data: ReactionData) -> Result<Reaction, WsError> {
    let emoji = Emoji::parse(data.emoji.into_string())
        .ok_or_else(|| WsError::invalid_data(format!("emoji: one emoji, at most {MAX_EMOJI_BYTES} bytes")))?;
    Ok(Reaction { chat_id: data.chat_id, message_id: data.message_id, emoji })
}

/// A message's text, checked: what `send_message` and `edit_message` store.
pub(super) fn content(text: Text<MessageText>) -> Result<Content, WsError> {
    Content::parse(text.into_string()).map_err(|broken| match broken {
        Broken::TooLong { chars } => WsError::new(
            ErrorCode::ContentTooLong,
            format!("content: at most {MAX_CONTENT_CHARS} characters (got {chars})"),
        ),
        Broken::Foreign(_) => WsError::invalid_data("content: control characters are not allowed"),
        Broken::Malformed | Broken::TooShort { .. } => WsError::invalid_data("content: must not be empty"),
    })
}
