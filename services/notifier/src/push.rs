//! What one push says: made from the events it stands for. A burst of one chat's messages to a
//! device becomes one push (its count, the newest message's text), and carries the chat as
//! its collapse key, so the phone shows one banner for the chat, replaced as more arrive.

use std::{collections::BTreeMap, time::Duration};

use serde::{Deserialize, Serialize};

use crate::{
    config::Preview,
    event::{Event, Kind},
};

/// One notification as every provider sends it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Push {
    pub title: String,
    pub body: String,
    /// `event_type`, `event_id`, `chat_id`, `message_id`, `count`: strings, as FCM wants data.
    pub data: BTreeMap<String, String>,
    /// The chat, when the push is about one: FCM's tag, APNs' `apns-collapse-id`, Web Push's
    /// `Topic`.
    pub collapse_key: Option<String>,
    /// How long a provider may keep it for a device that is offline.
    pub ttl: Duration,
}

/// Generic words for `PUSH_PREVIEW=none`.
const PRIVATE_TITLE: &str = "New message";

impl Push {
    /// The push for `events`, all for one recipient and (messages) one chat, oldest first.
    /// None for no events.
    pub fn of(events: &[&Event], preview: Preview, ttl: Duration) -> Option<Self> {
        let newest = *events.last()?;
        let count = events.len();
        let mut data = BTreeMap::from([
            ("event_type".to_owned(), newest.kind.as_str().to_owned()),
            ("event_id".to_owned(), newest.event_id.to_string()),
        ]);
        if let (Some(chat_id), Some(message_id)) = (newest.chat_id, newest.message_id) {
            data.insert("chat_id".into(), chat_id.to_string());
            data.insert("message_id".into(), message_id.to_string());
            data.insert("count".into(), count.to_string());
        }
        let (title, body) = match (newest.kind, preview) {
            (Kind::UserRegistered, _) => (newest.header.clone(), newest.body.clone()),
            (Kind::MessageCreated, Preview::Full) if count == 1 => (newest.header.clone(), newest.body.clone()),
            (Kind::MessageCreated, Preview::Full) => {
                (newest.header.clone(), format!("{} ({count} new messages)", newest.body))
            }
            (Kind::MessageCreated, Preview::None) if count == 1 => {
                (PRIVATE_TITLE.to_owned(), "You have a new message".to_owned())
            }
            (Kind::MessageCreated, Preview::None) => {
                (PRIVATE_TITLE.to_owned(), format!("You have {count} new messages"))
            }
        };
        let collapse_key = newest.chat_id.map(|chat| chat.to_string());
        Some(Self { title, body, data, collapse_key, ttl })
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use uuid::Uuid;

    use super::*;

    fn message(chat: Uuid, id: i64, text: &str) -> Event {
        Event {
            event_id: Uuid::new_v4(),
            kind: Kind::MessageCreated,
            occurred_at: Utc::now(),
            user_id: Uuid::nil(),
            header: "New message from: alice".into(),
            body: text.into(),
            chat_id: Some(chat),
            message_id: Some(id),
        }
    }

    const TTL: Duration = Duration::from_secs(60);

    #[test]
    fn one_message_pushes_its_sender_and_text() {
        let chat = Uuid::new_v4();
        let event = message(chat, 7, "hi");
        let push = Push::of(&[&event], Preview::Full, TTL).unwrap();
        assert_eq!((push.title.as_str(), push.body.as_str()), ("New message from: alice", "hi"));
        assert_eq!(push.collapse_key, Some(chat.to_string()));
        assert_eq!(push.data["event_type"], "message.created");
        assert_eq!(push.data["event_id"], event.event_id.to_string());
        assert_eq!((push.data["chat_id"].as_str(), push.data["message_id"].as_str()), (chat.to_string().as_str(), "7"));
        assert_eq!(push.data["count"], "1");
    }

    #[test]
    fn a_burst_is_one_push_with_the_newest_text_and_the_count() {
        let chat = Uuid::new_v4();
        let events: Vec<Event> = (1..=20).map(|i| message(chat, i, &format!("text {i}"))).collect();
        let refs: Vec<&Event> = events.iter().collect();
        let push = Push::of(&refs, Preview::Full, TTL).unwrap();
        assert_eq!(push.body, "text 20 (20 new messages)");
        assert_eq!((push.data["message_id"].as_str(), push.data["count"].as_str()), ("20", "20"));
        assert_eq!(push.data["event_id"], events[19].event_id.to_string());
    }

    #[test]
    fn without_preview_no_text_or_sender_leaves() {
        let chat = Uuid::new_v4();
        let events = [message(chat, 1, "secret plans"), message(chat, 2, "more secrets")];
        for push in [
            Push::of(&[&events[0]], Preview::None, TTL).unwrap(),
            Push::of(&[&events[0], &events[1]], Preview::None, TTL).unwrap(),
        ] {
            let all = format!("{push:?}");
            assert!(!all.contains("secret") && !all.contains("alice"), "{all}");
            assert_eq!(push.title, "New message");
            assert_eq!(push.data["chat_id"], chat.to_string());
        }
        assert_eq!(Push::of(&[&events[0], &events[1]], Preview::None, TTL).unwrap().body, "You have 2 new messages");
    }

    #[test]
    fn the_welcome_is_the_original_services_words() {
        let event = Event {
            kind: Kind::UserRegistered,
            header: "Welcome to chat application: bob".into(),
            body: "Good to see you!".into(),
            chat_id: None,
            message_id: None,
            ..message(Uuid::nil(), 0, "")
        };
        let push = Push::of(&[&event], Preview::None, TTL).unwrap();
        assert_eq!((push.title.as_str(), push.body.as_str()), ("Welcome to chat application: bob", "Good to see you!"));
        assert_eq!(push.collapse_key, None);
        assert!(!push.data.contains_key("chat_id"));
        assert!(Push::of(&[], Preview::Full, TTL).is_none());
    }
}
