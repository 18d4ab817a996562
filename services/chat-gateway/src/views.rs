//! What clients read of what is stored: the wire format (`protocol`) apart from the database's
//! rows (`store`), joined here, above both, so that neither depends on the other.

use shared::timestamp::timestamp;

use crate::{protocol::MessageView, store::entities::messages};

impl From<messages::Model> for MessageView {
    fn from(m: messages::Model) -> Self {
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
