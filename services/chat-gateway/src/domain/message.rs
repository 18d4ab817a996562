use chrono::{DateTime, Utc};
use shared::text_rule::{Alphabet, Broken, TextRule};
use uuid::Uuid;

/// Longest message content, in characters.
pub(crate) const MAX_CONTENT_CHARS: usize = 4000;

/// A stored message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Message {
    /// Its `message_id`: ordered across chats in commit order per user.
    pub(crate) id: i64,
    pub(crate) chat_id: Uuid,
    /// Its number within its chat, without gaps.
    pub(crate) seq: i64,
    pub(crate) sender_id: Uuid,
    pub(crate) kind: String,
    pub(crate) content: Content,
    pub(crate) client_msg_id: Option<String>,
    pub(crate) sent_at: DateTime<Utc>,
    /// The message of the same chat this one answers.
    pub(crate) reply_to: Option<i64>,
    pub(crate) edited_at: Option<DateTime<Utc>>,
    /// A tombstone: its content is erased.
    pub(crate) deleted: bool,
}

/// What a message says: text a chat may hold. Made by [`Content::parse`] where a message
/// comes in, so past that point no check is needed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Content(String);

/// The rule of a message's content, for the documents (`Text<MessageText>`) and for
/// [`Content::parse`]. NUL cannot be stored in Postgres text; other control characters but
/// line breaks and tabs have no business in a chat message.
pub(crate) struct MessageText;

impl TextRule for MessageText {
    const MIN_CHARS: usize = 1;
    const MAX_CHARS: Option<usize> = Some(MAX_CONTENT_CHARS);
    const ALPHABET: Option<Alphabet> = Some(Alphabet::LINES);

    fn well_formed(text: &str) -> bool {
        !text.trim().is_empty()
    }
}

impl Content {
    pub(crate) fn parse(text: String) -> Result<Self, Broken> {
        MessageText::check(&text)?;
        Ok(Self(text))
    }

    /// Content read back from the database, where only parsed content is written.
    pub(crate) fn stored(text: String) -> Self {
        Self(text)
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }

    pub(crate) fn into_string(self) -> String {
        self.0
    }
}
