use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{Content, Emoji};

/// A change of a sent message, numbered in its chat's sequence (`seq`) like a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Changed {
    pub(crate) chat_id: Uuid,
    pub(crate) seq: i64,
    pub(crate) message_id: i64,
    /// Who made it.
    pub(crate) by: Uuid,
    pub(crate) what: What,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum What {
    /// The text as it stands (an edit replayed later carries the latest text); none when the
    /// message has been deleted since, and its text erased.
    Edited {
        content: Option<Content>,
        edited_at: DateTime<Utc>,
    },
    Deleted,
    ReactionAdded(Emoji),
    ReactionRemoved(Emoji),
}
