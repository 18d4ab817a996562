use chrono::{DateTime, Utc};
use uuid::Uuid;

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
}

/// What a message says: text a chat may hold, checked where it came in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Content(String);

impl Content {
    /// Text already checked: at the edge, or read back from where only checked text is written.
    pub(crate) fn checked(text: String) -> Self {
        Self(text)
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }

    pub(crate) fn into_string(self) -> String {
        self.0
    }
}
