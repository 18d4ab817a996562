//! The order of messages on one connection. Each chat numbers its messages (`seq`, no gaps);
//! a connection remembers, per chat, the newest number it has written. A message at or below
//! it is a duplicate; the next one is written; one further ahead is held back, because the
//! one before it is probably a moment behind (two replicas publish a chat's messages, and the
//! one that committed first may publish second). If the gap does not close within
//! [`GAP_WAIT`], the session reads the missing messages from the database and hands them to
//! [`ChatOrder::fill`].
//!
//! A number whose frame is empty (a change that means nothing to this connection any more)
//! moves the position on and writes nothing.
//!
//! No I/O here: each call says which frames to write, in order, and the session writes them.

use std::{
    collections::{BTreeMap, HashMap},
    time::Duration,
};

use tokio::time::Instant;
use uuid::Uuid;

use crate::store::chats::Route;

/// How long a message that came ahead of a missing one waits for it before the database is asked.
pub const GAP_WAIT: Duration = Duration::from_millis(100);

#[derive(Default)]
pub struct ChatOrder {
    /// Per chat: the newest number written, and how its events come.
    chats: HashMap<Uuid, (i64, Route)>,
    /// Frames that came ahead of a missing one, per chat by number.
    held: HashMap<Uuid, BTreeMap<i64, String>>,
    held_since: Option<Instant>,
}

impl ChatOrder {
    /// Tracks a chat from position `written` (the client has everything up to it).
    pub fn start_at(&mut self, chat_id: Uuid, written: i64, route: Route) {
        self.chats.insert(chat_id, (written, route));
    }

    /// Tracks a chat from `written` unless it is tracked already.
    pub fn track(&mut self, chat_id: Uuid, written: i64, route: Route) {
        self.chats.entry(chat_id).or_insert((written, route));
    }

    /// How a tracked chat's events come (the user is a member of every tracked chat).
    pub fn route(&self, chat_id: Uuid) -> Option<Route> {
        self.chats.get(&chat_id).map(|(_, route)| *route)
    }

    /// A tracked group's membership is now at `epoch` (never moved back).
    pub fn saw_epoch(&mut self, chat_id: Uuid, epoch: i64) {
        if let Some((_, Route::Room { epoch: known })) = self.chats.get_mut(&chat_id) {
            *known = (*known).max(epoch);
        }
    }

    /// Stops tracking a chat the user is no longer in, with whatever was held for it.
    pub fn forget(&mut self, chat_id: Uuid) {
        self.chats.remove(&chat_id);
        self.held.remove(&chat_id);
        if self.held.is_empty() {
            self.held_since = None;
        }
    }

    /// The group chats tracked.
    pub fn groups(&self) -> Vec<Uuid> {
        self.chats.iter().filter(|(_, (_, route))| matches!(route, Route::Room { .. })).map(|(chat, _)| *chat).collect()
    }

    /// Where each chat stands: what to read after, to catch up.
    pub fn positions(&self) -> Vec<(Uuid, i64)> {
        self.chats.iter().map(|(chat, (seq, _))| (*chat, *seq)).collect()
    }

    /// How far the connection has come in all its chats together: it only grows.
    pub fn progress(&self) -> i64 {
        self.chats.values().map(|(seq, _)| *seq).sum()
    }

    fn written(&self, chat_id: Uuid) -> i64 {
        self.chats.get(&chat_id).map_or(0, |(seq, _)| *seq)
    }

    fn set_written(&mut self, chat_id: Uuid, seq: i64) {
        if let Some(entry) = self.chats.get_mut(&chat_id) {
            entry.0 = seq;
        }
    }

    /// Message `seq` of a tracked chat arrived as `text`: the frames to write now, in order.
    pub fn offer(&mut self, chat_id: Uuid, seq: i64, text: String) -> Vec<String> {
        let written = self.written(chat_id);
        if seq <= written {
            return Vec::new();
        }
        if seq > written + 1 {
            self.held.entry(chat_id).or_default().insert(seq, text);
            self.held_since.get_or_insert_with(Instant::now);
            return Vec::new();
        }
        self.set_written(chat_id, seq);
        let mut out = vec![text];
        self.release(chat_id, &mut out);
        out.retain(|frame| !frame.is_empty());
        out
    }

    /// Moves what was held for `chat_id` and now follows on into `out`.
    fn release(&mut self, chat_id: Uuid, out: &mut Vec<String>) {
        if let Some(held) = self.held.get_mut(&chat_id) {
            while let Some(entry) = held.first_entry() {
                let written = self.chats.get(&chat_id).map_or(0, |(seq, _)| *seq);
                if *entry.key() > written + 1 {
                    break;
                }
                let (seq, text) = entry.remove_entry();
                if seq == written + 1 {
                    out.push(text);
                    if let Some(position) = self.chats.get_mut(&chat_id) {
                        position.0 = seq;
                    }
                }
            }
            if held.is_empty() {
                self.held.remove(&chat_id);
            }
        }
        if self.held.is_empty() {
            self.held_since = None;
        }
    }

    /// When the gaps must be read from the database, if any are open.
    pub fn gap_deadline(&self) -> Option<Instant> {
        self.held_since.map(|since| since + GAP_WAIT)
    }

    /// The open gaps: per chat, the missing messages lie after the first number and up to
    /// the second (the last held one).
    pub fn gaps(&self) -> Vec<(Uuid, i64, i64)> {
        self.held
            .iter()
            .filter_map(|(chat, held)| Some((*chat, self.written(*chat), *held.last_key_value()?.0)))
            .collect()
    }

    /// The database's copies of a chat's messages after its position (ascending, as
    /// `(seq, frame)`): the frames to write now. A held frame is preferred to the database's
    /// copy, since it may carry the `id` of a reply. Whatever stays held after this is beyond
    /// what the database had and is dropped (the client's resume will bring it); the count
    /// of those is returned.
    pub fn fill(&mut self, chat_id: Uuid, rows: Vec<(i64, String)>) -> (Vec<String>, usize) {
        let mut out = Vec::new();
        for (seq, copy) in rows {
            let text = self.held.get_mut(&chat_id).and_then(|held| held.remove(&seq)).unwrap_or(copy);
            if seq == self.written(chat_id) + 1 {
                self.set_written(chat_id, seq);
                out.push(text);
            }
        }
        self.release(chat_id, &mut out);
        out.retain(|frame| !frame.is_empty());
        let dropped = self.held.remove(&chat_id).map_or(0, |held| held.len());
        if self.held.is_empty() {
            self.held_since = None;
        }
        (out, dropped)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chat() -> (ChatOrder, Uuid) {
        let mut order = ChatOrder::default();
        let chat_id = Uuid::new_v4();
        order.start_at(chat_id, 3, Route::Peer(Uuid::new_v4()));
        (order, chat_id)
    }

    #[test]
    fn the_next_message_is_written_and_a_repeat_is_not() {
        let (mut order, chat) = chat();
        assert_eq!(order.offer(chat, 3, "3".into()), Vec::<String>::new());
        assert_eq!(order.offer(chat, 4, "4".into()), ["4"]);
        assert_eq!(order.offer(chat, 4, "4 again".into()), Vec::<String>::new());
        assert_eq!(order.positions(), [(chat, 4)]);
        assert_eq!(order.gap_deadline(), None);
    }

    #[test]
    fn a_message_ahead_waits_for_the_one_before_it() {
        let (mut order, chat) = chat();
        assert!(order.offer(chat, 6, "6".into()).is_empty());
        assert!(order.offer(chat, 5, "5".into()).is_empty());
        assert!(order.gap_deadline().is_some());
        assert_eq!(order.gaps(), [(chat, 3, 6)]);
        assert_eq!(order.offer(chat, 4, "4".into()), ["4", "5", "6"]);
        assert_eq!(order.gap_deadline(), None);
        assert!(order.gaps().is_empty());
    }

    #[test]
    fn a_gap_is_filled_from_the_database_keeping_the_held_frames() {
        let (mut order, chat) = chat();
        order.offer(chat, 6, "6 with the reply's id".into());
        let rows = vec![(4, "4 from db".into()), (5, "5 from db".into()), (6, "6 from db".into())];
        let (out, dropped) = order.fill(chat, rows);
        assert_eq!(out, ["4 from db", "5 from db", "6 with the reply's id"]);
        assert_eq!(dropped, 0);
        assert_eq!(order.positions(), [(chat, 6)]);
        assert_eq!(order.gap_deadline(), None);
    }

    /// A removed member's chat goes, held frames and all; an epoch only moves forward.
    #[test]
    fn a_forgotten_chat_holds_nothing_and_epochs_move_forward() {
        let mut order = ChatOrder::default();
        let group = Uuid::new_v4();
        order.start_at(group, 0, Route::Room { epoch: 3 });
        order.saw_epoch(group, 5);
        order.saw_epoch(group, 4);
        assert_eq!(order.route(group), Some(Route::Room { epoch: 5 }));
        assert_eq!(order.groups(), [group]);
        order.offer(group, 2, "2".into());
        assert!(order.gap_deadline().is_some());
        order.forget(group);
        assert_eq!((order.route(group), order.gap_deadline()), (None, None));
        assert!(order.gaps().is_empty() && order.groups().is_empty());
    }

    #[test]
    fn an_empty_frame_moves_the_position_and_writes_nothing() {
        let (mut order, chat) = chat();
        assert!(order.offer(chat, 5, "5".into()).is_empty());
        assert_eq!(order.offer(chat, 4, String::new()), ["5"]);
        let (out, dropped) = order.fill(chat, vec![(6, String::new()), (7, "7".into())]);
        assert_eq!((out, dropped), (vec!["7".to_owned()], 0));
        assert_eq!((order.positions(), order.progress()), (vec![(chat, 7)], 7));
    }

    #[test]
    fn what_the_database_does_not_have_is_dropped_and_counted() {
        let (mut order, chat) = chat();
        order.offer(chat, 7, "7".into());
        let (out, dropped) = order.fill(chat, vec![(4, "4".into())]);
        assert_eq!((out, dropped), (vec!["4".to_owned()], 1));
        assert_eq!(order.positions(), [(chat, 4)]);
    }
}
