//! What clients read of what is stored: the wire format (`protocol`) apart from the database's
//! rows (`store`), joined here, above both, so that neither depends on the other.

use shared::timestamp::timestamp;

use crate::{
    domain::{Changed, Message, Tally, What},
    node,
    protocol::{MessageDeleted, MessageEdited, MessageView, ReactionChange, ReactionCount, ServerEvent},
    store::entities::messages,
};

impl From<Message> for MessageView {
    fn from(m: Message) -> Self {
        Self {
            message_id: m.id,
            chat_id: m.chat_id,
            sender_id: m.sender_id,
            content: (!m.deleted).then(|| m.content.into_string()),
            kind: m.kind,
            sent_at: timestamp(m.sent_at),
            client_msg_id: m.client_msg_id,
            reply_to: m.reply_to,
            edited_at: m.edited_at.map(timestamp),
            deleted: m.deleted,
            reactions: None,
        }
    }
}

/// What a replica publishes for a stored message: to a member's channel, or with the
/// membership `epoch` it was sent under to a group's room (tests publish as another replica
/// would).
pub fn message_envelope(origin: &str, row: messages::Model, epoch: Option<i64>) -> Vec<u8> {
    let seq = row.seq;
    node::message_envelope(origin, Message::from(row).into(), seq, epoch)
}

impl From<Tally> for ReactionCount {
    fn from(t: Tally) -> Self {
        Self { emoji: t.emoji.into_string(), count: t.count, me: t.me }
    }
}

/// A message change as clients read it, live or replayed; none for an edit of a message
/// deleted since (the connection moves past its number and writes nothing).
pub fn change_event(change: Changed) -> Option<ServerEvent> {
    let (chat_id, message_id) = (change.chat_id, change.message_id);
    Some(match change.what {
        What::Edited { content, edited_at } => ServerEvent::MessageEdited(MessageEdited {
            chat_id,
            message_id,
            content: content?.into_string(),
            edited_at: timestamp(edited_at),
        }),
        What::Deleted => ServerEvent::MessageDeleted(MessageDeleted { chat_id, message_id, by: change.by }),
        What::ReactionAdded(emoji) => ServerEvent::ReactionAdded(ReactionChange {
            chat_id,
            message_id,
            emoji: emoji.into_string(),
            user_id: change.by,
        }),
        What::ReactionRemoved(emoji) => ServerEvent::ReactionRemoved(ReactionChange {
            chat_id,
            message_id,
            emoji: emoji.into_string(),
            user_id: change.by,
        }),
    })
}
