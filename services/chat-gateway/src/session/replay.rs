//! What a connection missed, read from the database: on connecting (from the client's resume
//! point, or live), a gap that did not close by itself, and everything after the bus was
//! away. The messages, and the changes numbered among them (edits, deletions, reactions), pass
//! through [`ChatOrder`](super::order::ChatOrder) like live ones, so replay and live traffic
//! meet without a gap or a duplicate. A change replays as the message stands now: an edit
//! carries the latest text, and a deleted message is a tombstone whose text no replay brings
//! back; a client that saw a change already may see it again, and applies it again to the
//! same end.

use std::collections::HashMap;

use uuid::Uuid;

use super::{End, Link, Session, Step};
use crate::{
    protocol::{ServerEvent, UserRef},
    store::{
        chats::{self, Route},
        history, presence_reach,
    },
    views::change_event,
};

/// Messages read from the database per round while catching up.
const CATCH_UP_PAGE: u64 = 200;

/// Where the client says it stands, from the upgrade request.
#[derive(Debug, Clone, Default)]
pub enum Resume {
    /// Live traffic only.
    #[default]
    Live,
    /// Everything after this message id, in every chat.
    Since(i64),
    /// Everything after these positions (`seq`), in these chats; other chats live only.
    Chats(HashMap<Uuid, i64>),
}

impl<L: Link> Session<L> {
    /// `connected`, then what the client missed, then the presence of its peers.
    pub(super) async fn start(&mut self, resume: Resume, positions: Vec<chats::Position>) -> Step {
        self.write_event(&ServerEvent::Connected(UserRef { user_id: self.user }), None).await?;
        let since = match &resume {
            Resume::Since(since) => {
                let ids: Vec<Uuid> = positions.iter().map(|p| p.chat_id).collect();
                history::positions_at(&self.state.db, &ids, *since)
                    .await
                    .map_err(|e| self.fault(e.into()))?
                    .into_iter()
                    .collect()
            }
            _ => HashMap::new(),
        };
        for p in &positions {
            let from = match &resume {
                Resume::Live => p.last_seq,
                Resume::Since(_) => since.get(&p.chat_id).copied().unwrap_or(0),
                Resume::Chats(map) => map.get(&p.chat_id).copied().unwrap_or(p.last_seq),
            };
            // A group's messages from before the member joined are not theirs.
            self.order.start_at(p.chat_id, from.max(p.joined_seq), p.route);
        }
        self.catch_up().await?;
        let in_groups = positions.iter().any(|p| matches!(p.route, Route::Room { .. }));
        let peers: Vec<Uuid> = if in_groups {
            presence_reach::peers(&self.state.db, self.user).await.map_err(|e| self.fault(e.into()))?
        } else {
            positions.iter().filter_map(|p| if let Route::Peer(peer) = p.route { Some(peer) } else { None }).collect()
        };
        for user_id in self.state.node.online_among(&peers).await {
            self.tell_presence(user_id, true).await?;
        }
        Ok(())
    }

    /// Writes every message after this connection's position in each of its chats.
    pub(super) async fn catch_up(&mut self) -> Step {
        self.catch_up_in(None).await
    }

    /// Writes every message and change after this connection's position in each of `only`
    /// (all its chats when `None`): messages in `message_id` order (so that a client resuming
    /// from the newest id it has misses none), each chat's changes in their places among them.
    pub(super) async fn catch_up_in(&mut self, only: Option<&[Uuid]>) -> Step {
        loop {
            let mut positions = self.order.positions();
            if let Some(only) = only {
                positions.retain(|(chat, _)| only.contains(chat));
            }
            let mut numbered = Vec::new();
            for chunk in positions.chunks(100) {
                numbered.extend(self.numbered_after(chunk, CATCH_UP_PAGE).await?);
            }
            if numbered.is_empty() {
                return Ok(());
            }
            let before = self.order.progress();
            for (chat_id, seq, text) in numbered {
                self.write_in_order(chat_id, seq, text).await?;
            }
            // Two pages that do not meet (one chat's next message beyond the messages' page,
            // another's next change beyond the changes') move nothing: what is held is filled
            // chat by chat, as a gap.
            if self.order.progress() == before {
                return Ok(());
            }
        }
    }

    /// The frames numbered after each of `positions` in the database, at most `limit` of
    /// each kind: messages in `message_id` order, then changes by chat and number (an edit of
    /// a message deleted since is an empty frame, which moves the position and writes nothing).
    async fn numbered_after(&self, positions: &[(Uuid, i64)], limit: u64) -> Result<Vec<(Uuid, i64, String)>, End> {
        let db = &self.state.db;
        let mut messages = history::after_positions(db, positions, limit).await.map_err(|e| self.fault(e.into()))?;
        messages.sort_by_key(|m| m.id);
        let changes = history::changes_after(db, positions, limit).await.map_err(|e| self.fault(e.into()))?;
        let mut numbered: Vec<(Uuid, i64, String)> = messages
            .into_iter()
            .map(|m| (m.chat_id, m.seq, ServerEvent::ReceiveMessage(m.into()).to_text(None)))
            .collect();
        numbered.extend(changes.into_iter().map(|c| {
            let (chat_id, seq) = (c.chat_id, c.seq);
            (chat_id, seq, change_event(c).map(|e| e.to_text(None)).unwrap_or_default())
        }));
        Ok(numbered)
    }

    /// Gaps that did not close by themselves: the missing messages and changes from the
    /// database.
    pub(super) async fn fill_gaps(&mut self) -> Step {
        for (chat_id, after, last) in self.order.gaps() {
            let rows = self
                .numbered_after(&[(chat_id, after)], (last - after) as u64)
                .await?
                .into_iter()
                .filter(|(_, seq, _)| *seq <= last)
                .map(|(_, seq, text)| (seq, text))
                .collect();
            let (frames, dropped) = self.order.fill(chat_id, rows);
            if dropped > 0 {
                tracing::warn!(%chat_id, dropped, "messages announced but not in the database; left to resume");
            }
            for frame in frames {
                self.write(frame).await?;
            }
        }
        Ok(())
    }

    /// After the bus was away: chats made meanwhile (and groups joined: their rooms too), groups
    /// left meanwhile dropped, then everything missed (this connection's own messages first, so
    /// that each is written with its frame's id).
    pub(super) async fn resync(&mut self) -> Step {
        self.settle().await?;
        let positions = chats::positions(&self.state.db, self.user).await.map_err(|e| self.fault(e.into()))?;
        for gone in self.order.groups() {
            if !positions.iter().any(|p| p.chat_id == gone) {
                self.drop_group(gone);
            }
        }
        for p in positions {
            match p.route {
                Route::Room { epoch } if self.order.route(p.chat_id).is_none() => {
                    self.enter_group(p.chat_id, p.joined_seq, epoch).await;
                }
                Route::Room { epoch } => self.order.saw_epoch(p.chat_id, epoch),
                Route::Peer(_) => self.order.track(p.chat_id, 0, p.route),
            }
        }
        self.catch_up().await
    }
}
