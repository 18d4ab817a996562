//! What clients read of what is stored: the wire format (`protocol`) apart from the database's
//! rows (`store`), joined here, above both, so that neither depends on the other.

use shared::timestamp::timestamp;

use crate::{domain::Message, node, protocol::MessageView, store::entities::messages};

impl From<Message> for MessageView {
    fn from(m: Message) -> Self {
        Self {
            message_id: m.id,
            chat_id: m.chat_id,
            sender_id: m.sender_id,
            content: m.content.into_string(),
            kind: m.kind,
            sent_at: timestamp(m.sent_at),
            client_msg_id: m.client_msg_id,
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
