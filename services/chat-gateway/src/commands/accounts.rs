//! A deleted account's chats (auth-api erased what it wrote; the accounts watcher calls this
//! on every replica): it leaves each of its groups, as `leave_chat` does (ownership handed on,
//! every member told), and the connections here of those it talked with hear that its messages
//! are deleted. Each chat's newest tombstone is told, numbered as it is: a connection that has
//! not seen the ones before reads them from the database, as any gap.

use uuid::Uuid;

use super::{Caller, groups};
use crate::{
    error::ChatError,
    node::{Outgoing, Target},
    state::ChatState,
    store::accounts,
    views::change_event,
};

/// Settles `user`'s chats; what another replica settled first is skipped.
pub(crate) async fn settle(state: &ChatState, user: Uuid) -> Result<(), ChatError> {
    // A message the account sent in the instant it was deleted was stored after the erasure
    // looked: erased now, with the same erasure (nothing else is left to erase).
    accounts::erase_stragglers(&state.db, user).await?;
    let caller = Caller { user, username: "", connection: None };
    for chat_id in accounts::groups_of(&state.db, user).await? {
        match groups::leave_chat(state, caller, chat_id).await {
            Ok(_) | Err(ChatError::NotAMember(_) | ChatError::NoSuchChat) => {}
            Err(err) => return Err(err),
        }
    }
    for newest in accounts::newest_tombstones(&state.db, user).await? {
        let target = match newest.peer {
            Some(peer) => Target::User(peer),
            None => Target::Room(newest.change.chat_id),
        };
        let (chat_id, seq) = (newest.change.chat_id, newest.change.seq);
        if let Some(event) = change_event(newest.change) {
            state.node.tell_here(target, Outgoing::numbered(&event, chat_id, seq, None));
        }
    }
    Ok(())
}
