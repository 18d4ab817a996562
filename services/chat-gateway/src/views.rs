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

/// What a replica publishes to a member's channel for a stored message (tests publish as
/// another replica would).
pub fn message_envelope(origin: &str, row: messages::Model) -> Vec<u8> {
    let seq = row.seq;
    node::message_envelope(origin, Message::from(row).into(), seq)
}
