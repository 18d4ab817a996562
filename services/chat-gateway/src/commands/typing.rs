//! `typing`: the other members' connections hear it; nothing is stored.

use uuid::Uuid;

use super::Caller;
use crate::{
    node::Outgoing,
    protocol::{ServerEvent, Typing},
    state::ChatState,
    store::chats::Route,
};

/// Tells the chat's other member, or the group's room, that the caller is typing in `chat_id`
/// (a group's room holds the caller's other connections too, which know it is them).
pub(crate) fn typing(state: &ChatState, caller: Caller<'_>, chat_id: Uuid, route: Route) {
    let event = Outgoing::event(&ServerEvent::Typing(Typing { chat_id, user_id: caller.user }));
    match route {
        Route::Peer(peer) => state.node.publish(&[peer], event, None),
        Route::Room { .. } => state.node.publish_room(chat_id, event, caller.connection),
    }
}
