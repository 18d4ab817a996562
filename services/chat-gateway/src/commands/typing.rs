//! `typing`: the peer's connections hear it; nothing is stored.

use uuid::Uuid;

use super::Caller;
use crate::{
    node::Outgoing,
    protocol::{ServerEvent, Typing},
    state::ChatState,
};

/// Tells `peer`'s connections that the caller is typing in `chat_id`.
pub(crate) fn typing(state: &ChatState, caller: Caller<'_>, chat_id: Uuid, peer: Uuid) {
    let event = ServerEvent::Typing(Typing { chat_id, user_id: caller.user });
    state.node.publish(&[peer], Outgoing::event(&event), None);
}
