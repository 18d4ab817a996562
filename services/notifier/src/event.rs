//! A notification event as the notifier reads it from the topic: the contract's record value
//! (`shared::outbox::NotificationEvent`), of which it needs the envelope, the recipient, the
//! text and, for a message, which one. A value that does not read is a poison event: logged,
//! counted and skipped, never retried (it would fail the same way every time).

use chrono::{DateTime, Utc};
use serde::Deserialize;
use uuid::Uuid;

/// The events that push.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Someone with no live connection was sent a message.
    MessageCreated,
    /// The welcome push of the original service.
    UserRegistered,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub event_id: Uuid,
    pub kind: Kind,
    pub occurred_at: DateTime<Utc>,
    /// Whom it is for.
    pub user_id: Uuid,
    pub header: String,
    pub body: String,
    /// `message.created`: the chat and the message.
    pub chat_id: Option<Uuid>,
    pub message_id: Option<i64>,
}

impl Kind {
    /// The contract's `event_type`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::MessageCreated => "message.created",
            Self::UserRegistered => "user.registered",
        }
    }
}

/// Why a record is not an event to push.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum Unreadable {
    /// Not the contract's value: counted as poison.
    #[error("not a notification event: {0}")]
    Poison(String),
    /// A well-formed event of a type that pushes nothing (a newer producer's): skipped quietly.
    #[error("event type {0:?} pushes nothing")]
    Ignored(String),
}

#[derive(Deserialize)]
struct Record {
    event_id: Uuid,
    event_type: String,
    schema_version: u32,
    occurred_at: DateTime<Utc>,
    user_id: Uuid,
    header: String,
    body: String,
    chat_id: Option<Uuid>,
    message_id: Option<i64>,
}

impl Event {
    pub fn parse(value: &[u8]) -> Result<Self, Unreadable> {
        let record: Record = serde_json::from_slice(value).map_err(|e| Unreadable::Poison(e.to_string()))?;
        if record.schema_version != 1 {
            return Err(Unreadable::Poison(format!("schema_version {} is not 1", record.schema_version)));
        }
        let Some(kind) =
            [Kind::MessageCreated, Kind::UserRegistered].into_iter().find(|k| k.as_str() == record.event_type)
        else {
            return Err(Unreadable::Ignored(record.event_type));
        };
        if kind == Kind::MessageCreated && (record.chat_id.is_none() || record.message_id.is_none()) {
            return Err(Unreadable::Poison("message.created without chat_id and message_id".into()));
        }
        Ok(Self {
            event_id: record.event_id,
            kind,
            occurred_at: record.occurred_at,
            user_id: record.user_id,
            header: record.header,
            body: record.body,
            chat_id: record.chat_id,
            message_id: record.message_id,
        })
    }
}

#[cfg(test)]
mod tests {
    use shared::outbox::{MessageRef, NotificationEvent};

    use super::*;

    fn user() -> shared::entities::users::Model {
        shared::entities::users::Model {
            id: Uuid::new_v4(),
            username: "bob".into(),
            username_key: "bob".into(),
            email: "bob@example.com".into(),
            email_key: "bob@example.com".into(),
            password_hash: String::new(),
            fcm_token: None,
            created_at: Utc::now(),
            deleted_at: None,
        }
    }

    /// What the outbox writes is what the notifier reads: the producer's own type, serialised.
    #[test]
    fn the_outboxs_events_read_back() {
        let bob = user();
        let message = MessageRef { chat_id: Uuid::new_v4(), message_id: 42, sender_id: Uuid::new_v4() };
        let written = NotificationEvent::message_created(&bob, "alice", "hi there", message.clone(), Utc::now());
        let read = Event::parse(&serde_json::to_vec(&written).unwrap()).unwrap();
        assert_eq!(read.kind, Kind::MessageCreated);
        assert_eq!((read.event_id, read.user_id), (written.event_id, bob.id));
        assert_eq!((read.chat_id, read.message_id), (Some(message.chat_id), Some(42)));
        assert_eq!((read.header.as_str(), read.body.as_str()), ("New message from: alice", "hi there"));

        let welcome = NotificationEvent::user_registered(bob.id, "bob", None, Utc::now());
        let read = Event::parse(&serde_json::to_vec(&welcome).unwrap()).unwrap();
        assert_eq!((read.kind, read.chat_id), (Kind::UserRegistered, None));
    }

    #[test]
    fn what_does_not_read_is_poison_and_other_types_are_ignored() {
        assert!(matches!(Event::parse(b"not json"), Err(Unreadable::Poison(_))));
        assert!(matches!(Event::parse(b"{}"), Err(Unreadable::Poison(_))));
        let mut value =
            serde_json::to_value(NotificationEvent::user_registered(Uuid::new_v4(), "a", None, Utc::now())).unwrap();
        value["event_type"] = "user.renamed".into();
        assert_eq!(Event::parse(value.to_string().as_bytes()), Err(Unreadable::Ignored("user.renamed".into())));
        value["event_type"] = "message.created".into();
        assert!(matches!(Event::parse(value.to_string().as_bytes()), Err(Unreadable::Poison(_))));
        value["schema_version"] = 2.into();
        assert!(matches!(Event::parse(value.to_string().as_bytes()), Err(Unreadable::Poison(_))));
    }
}
