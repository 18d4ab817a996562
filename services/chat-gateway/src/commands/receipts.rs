//! `receive_message` and `seen`: a member's watermark moves, and the sender hears of it.

use uuid::Uuid;

use super::Caller;
use crate::{
    error::ChatError,
    node::Outgoing,
    protocol::{MessageReceipt, MessageRef, ServerEvent},
    state::ChatState,
    store::{
        chats, history,
        receipts::{self, Receipt},
    },
};

/// Records that the caller received (or read) everything up to `r`, and tells the senders of
/// what it covers; a read also clears the reader's unread marks on their other connections.
pub(crate) async fn acknowledge(
    state: &ChatState,
    caller: Caller<'_>,
    r: MessageRef,
    receipt: Receipt,
) -> Result<(), ChatError> {
    let mut to = receipts::acknowledge(&state.db, caller.user, r.chat_id, r.message_id, receipt).await?;
    if to.is_empty() {
        return Ok(());
    }
    let (chat_id, message_id, user_id) = (r.chat_id, r.message_id, caller.user);
    let event = match receipt {
        Receipt::Delivered => ServerEvent::MessageReceived(MessageReceipt { chat_id, message_id, user_id }),
        Receipt::Seen => {
            to.push(user_id);
            ServerEvent::MessageSeen(MessageReceipt { chat_id, message_id, user_id })
        }
    };
    state.node.publish(&to, Outgoing::event(&event), caller.connection);
    Ok(())
}

/// The original clients' acknowledgement: receipt of everything `peer` sent in their chat
/// with the caller.
pub(crate) async fn acknowledge_chat_with(state: &ChatState, caller: Caller<'_>, peer: Uuid) -> Result<(), ChatError> {
    let chat = chats::between(&state.db, caller.user, peer).await?.ok_or(ChatError::NoChatWith)?;
    match history::newest_from(&state.db, chat.id, peer).await? {
        Some(message_id) => {
            acknowledge(state, caller, MessageRef { chat_id: chat.id, message_id }, Receipt::Delivered).await
        }
        None => Ok(()),
    }
}
