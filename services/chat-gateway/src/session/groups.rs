//! A connection's groups: joining a group's room when the user joins the group, leaving it the
//! moment they are out, and what a group's news does to the connection.
//!
//! A group's messages carry the membership epoch they were sent under. The connection knows
//! the epoch it last heard of; a message of a newer one means a change it has not heard of yet
//! (published by another replica, racing the message): it reads the membership again before
//! writing the message, so that a member removed a moment ago gets nothing sent after.

use uuid::Uuid;

use super::{Link, Session, Step};
use crate::{
    error::ChatError,
    node::GroupChange,
    store::chats::{self, Route},
};

impl<L: Link> Session<L> {
    /// The user is in a group this connection did not follow: it joins the room, follows the
    /// group from where they joined, and writes what was stored before the room was joined.
    pub(super) async fn enter_group(&mut self, chat_id: Uuid, joined_seq: i64, epoch: i64) {
        self.left.remove(&chat_id);
        if !self.state.node.join_room(&self.connection, chat_id).await {
            tracing::warn!(%chat_id, "no Redis subscription for the group yet; resynchronising once it is back");
        }
        self.order.track(chat_id, joined_seq, Route::Room { epoch });
    }

    /// The user is out of a group: the connection hears nothing more of it.
    pub(super) fn drop_group(&mut self, chat_id: Uuid) {
        self.state.node.leave_room(self.connection.id, chat_id);
        self.order.forget(chat_id);
        self.left.insert(chat_id);
    }

    /// Whether a message of a group sent under `epoch` is this connection's to write.
    pub(super) async fn still_in(&mut self, chat_id: Uuid, epoch: i64) -> Result<bool, super::End> {
        match self.order.route(chat_id) {
            Some(Route::Room { epoch: known }) if known >= epoch => return Ok(true),
            Some(Route::Peer(_)) => return Ok(true),
            None if self.left.contains(&chat_id) => return Ok(false),
            Some(Route::Room { .. }) | None => {}
        }
        match chats::membership(&self.state.db, chat_id, self.user).await {
            Ok(membership) if self.order.route(chat_id).is_some() => {
                self.order.saw_epoch(chat_id, membership.members_epoch);
                Ok(true)
            }
            // Added, and the news is still on its way: the message is the first of it.
            Ok(membership) => {
                self.enter_group(chat_id, membership.joined_seq, membership.members_epoch).await;
                Ok(true)
            }
            Err(ChatError::NotMember) => {
                if self.order.route(chat_id).is_some() {
                    self.drop_group(chat_id);
                } else {
                    self.left.insert(chat_id);
                }
                Ok(false)
            }
            Err(err) => Err(self.fault(err)),
        }
    }

    /// A group's news: written once, with what it changes for this connection.
    pub(super) async fn on_group_change(
        &mut self,
        chat_id: Uuid,
        epoch: i64,
        change: &GroupChange,
        text: &str,
    ) -> Step {
        let followed = self.order.route(chat_id).is_some();
        match change {
            GroupChange::Joined { users, joined_seq } if users.contains(&self.user) => {
                if followed {
                    // The same news by another way (the room and the user's own channel).
                    self.order.saw_epoch(chat_id, epoch);
                    return Ok(());
                }
                self.enter_group(chat_id, *joined_seq, epoch).await;
                self.write(text.to_owned()).await?;
                self.catch_up_in(Some(&[chat_id])).await
            }
            GroupChange::Left { user } if *user == self.user => {
                if !followed {
                    return Ok(());
                }
                self.drop_group(chat_id);
                self.write(text.to_owned()).await
            }
            _ if followed => {
                self.order.saw_epoch(chat_id, epoch);
                self.write(text.to_owned()).await
            }
            // News of a group the user is not in (any more).
            _ => Ok(()),
        }
    }
}
