//! What a member reads of their chats, over REST: the chat list and pages of a chat's history.
//! Both may lag behind the primary by a moment (they go to a read replica when there is one),
//! but never behind what the caller just sent.

use uuid::Uuid;

use crate::{
    domain::{Message, Tally},
    error::ChatError,
    state::ChatState,
    store::{
        chats::{self, ChatSummary, ListCursor, Receipts},
        history::{self, Page},
    },
};

/// A page of a chat's history, and where every member stands in the chat as it is read.
pub(crate) struct HistoryPage {
    /// Oldest first, each with its reactions as the caller sees them.
    pub(crate) messages: Vec<(Message, Vec<Tally>)>,
    /// Whether more lie beyond the page in the direction asked.
    pub(crate) has_more: bool,
    pub(crate) members: Vec<Receipts>,
}

/// A page of `user`'s chats, newest activity first, after `after`.
pub(crate) async fn chat_list(
    state: &ChatState,
    user: Uuid,
    after: Option<ListCursor>,
    limit: u64,
) -> Result<Vec<ChatSummary>, ChatError> {
    Ok(chats::list(state.reads.lagging(), user, after, limit).await?)
}

/// A page of `chat_id`'s history, for a member only.
pub(crate) async fn history_page(
    state: &ChatState,
    user: Uuid,
    chat_id: Uuid,
    page: Page,
    limit: u64,
) -> Result<HistoryPage, ChatError> {
    let membership = chats::membership(&state.db, chat_id, user).await?;
    // Read your writes: the replica serves the page only once it has every message the
    // primary has now, so a client that just sent one finds it.
    let db = state
        .reads
        .lagging_unless(async |primary, replica| {
            match (chats::last_seq(primary, chat_id).await, chats::last_seq(replica, chat_id).await) {
                (Ok(newest), Ok(seq)) => seq >= newest,
                _ => false,
            }
        })
        .await;
    let (messages, has_more) = history::history(db, chat_id, membership.joined_seq, page, limit).await?;
    let ids: Vec<i64> = messages.iter().map(|m| m.id).collect();
    let mut reactions = history::reactions(db, &ids, user).await?;
    let messages = messages
        .into_iter()
        .map(|m| {
            let tallies = reactions.remove(&m.id).unwrap_or_default();
            (m, tallies)
        })
        .collect();
    let members = chats::receipts(db, chat_id).await?;
    Ok(HistoryPage { messages, has_more, members })
}
