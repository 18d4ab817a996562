//! `edit_message`, `delete_message`, `add_reaction`, `remove_reaction`: the change stored in
//! its chat's sequence, then told to every member's connections in its place among the
//! chat's messages.

use uuid::Uuid;

use super::Caller;
use crate::{
    domain::{Changed, What},
    error::ChatError,
    node::Outgoing,
    protocol::ServerEvent,
    state::ChatState,
    store::{
        changes::{self, Change, Outcome},
        chats::Route,
    },
    views::change_event,
};

/// A change's reply, and its number in the chat when it changed anything (the connection
/// writes it in its place; a reaction that was there already changed nothing).
pub(crate) struct Changing {
    pub(crate) reply: ServerEvent,
    pub(crate) seq: Option<i64>,
}

/// Changes message `message_id` of `chat_id` (routed as `route` says) as the caller asks,
/// and tells every member's connections but the caller's own, which has it as its reply.
pub(crate) async fn change(
    state: &ChatState,
    caller: Caller<'_>,
    chat_id: Uuid,
    route: Route,
    message_id: i64,
    change: Change,
) -> Result<Changing, ChatError> {
    let outcome = changes::apply(&state.db, chat_id, caller.user, message_id, &change).await?;
    // What the change was; `at` and `seq` are its own when it changed anything (an edit always
    // does), and unused otherwise.
    let (at, seq) = match outcome {
        Outcome::Applied(applied) => (applied.at, applied.seq),
        Outcome::Unchanged => (chrono::Utc::now(), 0),
    };
    let what = match change {
        Change::Edit(content) => What::Edited { content: Some(content), edited_at: at },
        Change::Delete => What::Deleted,
        Change::React { emoji, add: true } => What::ReactionAdded(emoji),
        Change::React { emoji, add: false } => What::ReactionRemoved(emoji),
    };
    let reply =
        change_event(Changed { chat_id, seq, message_id, by: caller.user, what }).ok_or(ChatError::MessageDeleted)?;
    let Outcome::Applied(applied) = outcome else { return Ok(Changing { reply, seq: None }) };
    match route {
        Route::Peer(peer) => {
            let event = Outgoing::numbered(&reply, chat_id, applied.seq, None);
            state.node.publish(&[caller.user, peer], event, caller.connection);
        }
        // With the membership's epoch as the change found it: a member removed since hears
        // nothing of it.
        Route::Room { .. } => {
            let event = Outgoing::numbered(&reply, chat_id, applied.seq, Some(applied.members_epoch));
            state.node.publish_room(chat_id, event, caller.connection);
        }
    }
    Ok(Changing { reply, seq: Some(applied.seq) })
}
