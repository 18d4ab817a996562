//! What replicas send each other through the broker: an [`Envelope`] holding the event, as
//! the publishing replica serialised it for its own connections, and where it came from.
//!
//! This format is apart from the client protocol (`protocol.rs`): the event's text is opaque
//! here, so a change to what clients read changes nothing replicas must agree on. During a
//! rolling update old and new replicas read each other's envelopes: `v` says which format one
//! is; an envelope without `v` is the format from before it had one (the same fields), and
//! one from a newer release that this one cannot read makes the user's connections here read
//! their chats from the database instead of losing the event.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::protocol::{MessageView, ServerEvent};

/// The envelope format this release writes.
pub(crate) const VERSION: u32 = 1;

/// An event on its way to connections, serialised once for all of them. What a connection
/// must track travels beside the text: a message's chat and number (to keep messages in order
/// and without gaps), a new chat (to know it is a member); and what the receiving replica
/// learns from it: a presence change.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Outgoing {
    #[serde(default)]
    pub(crate) kind: Tracked,
    pub(crate) text: Arc<str>,
    /// Added within format 1: a release without it ignores it, and an envelope without it
    /// teaches nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) presence: Option<PresenceChange>,
}

/// A user came online (on their first connection anywhere) or went offline (with their last).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct PresenceChange {
    pub(crate) user_id: Uuid,
    pub(crate) online: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) enum Tracked {
    #[default]
    Plain,
    /// A message, or a change of one: numbered in its chat's sequence.
    Message {
        chat_id: Uuid,
        seq: i64,
        /// A group's: the membership it was sent under. A connection that knows an older one
        /// reads its membership again before writing it (it may have been removed).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        epoch: Option<i64>,
    },
    ChatCreated {
        chat_id: Uuid,
        user_ids: Vec<Uuid>,
    },
    /// A change of a group's members or of what they are, made at `epoch`.
    Group {
        chat_id: Uuid,
        epoch: i64,
        change: GroupChange,
    },
}

/// What a group change means to a connection.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) enum GroupChange {
    /// These users joined, seeing the messages numbered after `joined_seq`.
    Joined { users: Vec<Uuid>, joined_seq: i64 },
    /// This user is out.
    Left { user: Uuid },
    /// Roles or the title: nothing to route differently.
    Other,
}

impl Outgoing {
    pub(crate) fn event(event: &ServerEvent) -> Self {
        let kind = match event {
            ServerEvent::PrivateChatRoomCreated(created) => {
                Tracked::ChatCreated { chat_id: created.chat_id, user_ids: created.user_ids.clone() }
            }
            _ => Tracked::Plain,
        };
        let presence = match event {
            ServerEvent::Online(user) => Some(PresenceChange { user_id: user.user_id, online: true }),
            ServerEvent::Offline(user) => Some(PresenceChange { user_id: user.user_id, online: false }),
            _ => None,
        };
        Self { kind, text: event.to_text(None).into(), presence }
    }

    /// A stored message; a group's carries the epoch it was sent under.
    pub(crate) fn message(view: MessageView, seq: i64, epoch: Option<i64>) -> Self {
        let chat_id = view.chat_id;
        Self::numbered(&ServerEvent::ReceiveMessage(view), chat_id, seq, epoch)
    }

    /// An event numbered in its chat's sequence (a message, or a change of one), kept in
    /// order with the chat's messages; a group's carries the membership epoch of its time.
    pub(crate) fn numbered(event: &ServerEvent, chat_id: Uuid, seq: i64, epoch: Option<i64>) -> Self {
        Self { kind: Tracked::Message { chat_id, seq, epoch }, text: event.to_text(None).into(), presence: None }
    }

    /// A group change, as `event` tells it.
    pub(crate) fn group(event: &ServerEvent, chat_id: Uuid, epoch: i64, change: GroupChange) -> Self {
        Self { kind: Tracked::Group { chat_id, epoch, change }, text: event.to_text(None).into(), presence: None }
    }
}

/// An event as it travels between replicas.
#[derive(Serialize)]
struct Envelope<'a> {
    v: u32,
    /// The replica that published it, which has delivered it locally already.
    origin: &'a str,
    event: &'a Outgoing,
}

/// An envelope's header, read first: any version (the event is skipped, not parsed).
#[derive(Deserialize)]
struct Header<'a> {
    #[serde(default)]
    v: u32,
    #[serde(borrow)]
    origin: std::borrow::Cow<'a, str>,
}

/// An envelope of this format or an older one, read once its header says so.
#[derive(Deserialize)]
struct Received {
    event: Outgoing,
}

/// What a received envelope holds for this replica.
#[derive(Debug)]
pub(crate) enum Decoded {
    /// An event to deliver.
    Event(Outgoing),
    /// This replica published it (and delivered it already).
    Own,
    /// A format of a newer release: read the user's chats again instead.
    Newer(u32),
}

pub(crate) fn encode(origin: &str, event: &Outgoing) -> serde_json::Result<Vec<u8>> {
    serde_json::to_vec(&Envelope { v: VERSION, origin, event })
}

/// What a replica publishes for a stored message (a group's with its membership epoch).
pub(crate) fn message_envelope(origin: &str, message: MessageView, seq: i64, epoch: Option<i64>) -> Vec<u8> {
    encode(origin, &Outgoing::message(message, seq, epoch)).unwrap_or_default()
}

/// Reads an envelope published by `origin` ≠ `node`, of this format or an older one.
pub(crate) fn decode(payload: &[u8], node: &str) -> serde_json::Result<Decoded> {
    let header: Header<'_> = serde_json::from_slice(payload)?;
    if header.origin == node {
        return Ok(Decoded::Own);
    }
    if header.v > VERSION {
        return Ok(Decoded::Newer(header.v));
    }
    // Versions 0 (before `v` existed) and 1 have the same event.
    Ok(Decoded::Event(serde_json::from_slice::<Received>(payload)?.event))
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHAT: &str = "6f2b7d3c-1111-4a2b-9c3d-000000000001";

    #[test]
    fn an_envelope_round_trips() {
        let event = Outgoing::event(&ServerEvent::Online(crate::protocol::UserRef { user_id: Uuid::nil() }));
        let bytes = encode("gw-a", &event).unwrap();
        assert!(String::from_utf8_lossy(&bytes).starts_with(r#"{"v":1,"origin":"gw-a","#));
        match decode(&bytes, "gw-b").unwrap() {
            Decoded::Event(read) => {
                assert_eq!(read.text, event.text);
                assert_eq!(read.presence, Some(PresenceChange { user_id: Uuid::nil(), online: true }));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(decode(&bytes, "gw-a").unwrap(), Decoded::Own));
    }

    /// The presence change was added to format 1 without a new version: the previous release
    /// (whose event had `kind` and `text` only, and which ignores fields it does not know)
    /// must still read what this one writes, and this one what it wrote.
    #[test]
    fn a_presence_change_travels_beside_the_event_of_format_1() {
        #[derive(Deserialize)]
        struct PreviousEvent {
            #[allow(dead_code)]
            kind: Tracked,
            text: String,
        }
        #[derive(Deserialize)]
        struct PreviousEnvelope {
            event: PreviousEvent,
        }
        let offline = Outgoing::event(&ServerEvent::Offline(crate::protocol::UserRef { user_id: Uuid::nil() }));
        let bytes = encode("gw-new", &offline).unwrap();
        let read: PreviousEnvelope = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(read.event.text, &*offline.text);
        let ack = serde_json::to_string(&Outgoing::event(&ServerEvent::Ack(crate::protocol::Ack {}))).unwrap();
        assert!(!ack.contains("presence"), "{ack}");
    }

    /// Exactly what the release before versioning wrote: still read, tracking included.
    #[test]
    fn an_envelope_of_the_previous_release_is_read() {
        let text = r#"{\"event\":\"receive_message\",\"data\":{}}"#;
        let old = format!(
            r#"{{"origin":"gw-old","event":{{"kind":{{"Message":{{"chat_id":"{CHAT}","seq":7}}}},"text":"{text}"}}}}"#
        );
        match decode(old.as_bytes(), "gw-new").unwrap() {
            Decoded::Event(Outgoing { kind: Tracked::Message { chat_id, seq, epoch: None }, text, presence: None }) => {
                assert_eq!((chat_id.to_string(), seq), (CHAT.to_owned(), 7));
                assert_eq!(&*text, r#"{"event":"receive_message","data":{}}"#);
            }
            other => panic!("{other:?}"),
        }
        let plain = r#"{"origin":"gw-old","event":{"text":"{}"}}"#;
        assert!(matches!(
            decode(plain.as_bytes(), "gw-new").unwrap(),
            Decoded::Event(Outgoing { kind: Tracked::Plain, .. })
        ));
    }

    /// A newer release's envelope, whatever its event looks like, is recognised as such and
    /// not misread; garbage is an error, not a panic.
    #[test]
    fn an_envelope_of_a_newer_release_is_handled_safely() {
        let newer = r#"{"v":2,"origin":"gw-next","event":{"shape":["we","do","not","know"]},"extra":1}"#;
        assert!(matches!(decode(newer.as_bytes(), "gw-this").unwrap(), Decoded::Newer(2)));
        assert!(decode(b"not json", "gw-this").is_err());
        assert!(decode(br#"{"v":1,"origin":"gw-x","event":{"kind":"Teleport","text":"{}"}}"#, "gw-this").is_err());
    }
}
