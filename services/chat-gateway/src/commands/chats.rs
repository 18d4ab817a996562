//! The one chat of two users, found or made, and announced to both.

use uuid::Uuid;

use super::Caller;
use crate::{
    error::ChatError,
    node::Outgoing,
    protocol::{ChatCreated, ServerEvent},
    state::ChatState,
    store::{blocks, chats, entities::chats::Model},
};

/// `start_private_chat`: the pair's chat (refused when either blocked the other), found or
/// made, pushed to every other connection of
/// both (the calling connection hears it once, as its reply).
pub(crate) async fn start_private_chat(
    state: &ChatState,
    caller: Caller<'_>,
    other: Uuid,
) -> Result<(Model, ChatCreated), ChatError> {
    blocks::refuse_if_blocked(&state.db, caller.user, other).await?;
    let (chat, _) = chats::find_or_create(&state.db, caller.user, other).await?;
    let created = announce(state, &chat, caller.user, other, caller.connection);
    Ok((chat, created))
}

/// The chat of the caller and `other`, for a message sent to a user rather than to a chat; one
/// made now is announced to every connection of both, the calling one included (it asked for
/// no chat, so nothing else tells it).
pub(crate) async fn chat_with(state: &ChatState, caller: Caller<'_>, other: Uuid) -> Result<Model, ChatError> {
    blocks::refuse_if_blocked(&state.db, caller.user, other).await?;
    let (chat, made) = chats::find_or_create(&state.db, caller.user, other).await?;
    if made {
        announce(state, &chat, caller.user, other, None);
    }
    Ok(chat)
}

/// Tells every connection of both members but `except` that they share `chat`.
fn announce(state: &ChatState, chat: &Model, one: Uuid, other: Uuid, except: Option<u64>) -> ChatCreated {
    let mut user_ids = vec![one, other];
    user_ids.sort();
    let created = ChatCreated { chat_id: chat.id, user_ids };
    let event = ServerEvent::PrivateChatRoomCreated(created.clone());
    state.node.publish(&created.user_ids, Outgoing::event(&event), except);
    created
}
