//! Server to client: every event a connection writes.

use poem_openapi::{Object, types::ToJSON};
use serde_json::{Map, Value};
use shared::{http::Text, timestamp::Timestamp};
use strum::{EnumDiscriminants, EnumIter, EnumMessage, IntoStaticStr};
use uuid::Uuid;

use super::{FrameId, UserRef, WsError};

/// A message as clients see it, on the socket (`receive_message`) and in history.
#[derive(Debug, Clone, Object)]
pub struct MessageView {
    /// Increases with every message; within a chat it follows the order messages were stored.
    pub message_id: i64,
    /// The chat it was sent in.
    pub chat_id: Uuid,
    /// The member who sent it.
    pub sender_id: Uuid,
    /// The text, as the sender sent it or last edited it; null once the message is deleted.
    #[oai(nullable)]
    pub content: Option<String>,
    /// `text` unless the sender said otherwise.
    #[oai(rename = "type")]
    pub kind: String,
    /// When the message was stored: RFC 3339, UTC, milliseconds.
    pub sent_at: Text<Timestamp>,
    /// The sender's own id for the message, if it gave one.
    #[oai(nullable)]
    pub client_msg_id: Option<String>,
    /// The message of the same chat this one answers.
    #[oai(nullable)]
    pub reply_to: Option<i64>,
    /// When the text was last edited: RFC 3339, UTC, milliseconds; null if never.
    #[oai(nullable)]
    pub edited_at: Option<Text<Timestamp>>,
    /// A tombstone: the message was deleted and its text erased.
    pub deleted: bool,
    /// In history: each emoji members reacted with, how many did, and whether the caller is
    /// one of them, in the order each emoji was first used. On the socket, reactions come as
    /// `reaction_added` and `reaction_removed` instead.
    #[oai(skip_serializing_if_is_none)]
    pub reactions: Option<Vec<ReactionCount>>,
}

/// One emoji's reactions to a message.
#[derive(Debug, Clone, PartialEq, Eq, Object)]
pub struct ReactionCount {
    /// One emoji.
    pub emoji: String,
    /// How many members reacted with it.
    pub count: u32,
    /// Whether the caller reacted with it.
    pub me: bool,
}

/// Every event the server sends, named on the wire by its [`ServerEventKind`] (the variant in
/// snake_case), its data written by the payload's `ToJSON`: the derive that makes the
/// payload's schema in the AsyncAPI document also writes what the client reads. Each
/// variant's doc comment is its entry in that document.
#[derive(Debug, Clone, EnumDiscriminants)]
#[strum_discriminants(
    name(ServerEventKind),
    derive(EnumIter, IntoStaticStr, EnumMessage),
    strum(serialize_all = "snake_case")
)]
pub enum ServerEvent {
    /// First on every connection, right after the upgrade: whose token it is. Then come the
    /// missed messages the resume parameters asked for, then `online` for each chat peer who
    /// is, then live traffic.
    Connected(UserRef),
    /// A chat between two users: the reply to `start_private_chat`, and pushed to every other
    /// connection of both.
    PrivateChatRoomCreated(ChatCreated),
    /// A stored message: the reply to `send_message`, and pushed to every connection of both
    /// members. Within a chat, each connection gets messages in `message_id` order, each once.
    ReceiveMessage(MessageView),
    /// The peer acknowledged receipt of this message (and of every earlier one in the chat).
    MessageReceived(MessageReceipt),
    /// The peer (or the caller, on another device) read this message and every earlier one.
    MessageSeen(MessageReceipt),
    /// The peer is typing in the chat.
    Typing(Typing),
    /// A chat peer came online (a first connection anywhere).
    Online(UserRef),
    /// A chat peer went offline: its last connection closed, or its replica died (noticed
    /// within `PRESENCE_TTL_SECONDS`).
    Offline(UserRef),
    /// A group was made: the reply to `create_group`, and pushed to every member's
    /// connections.
    GroupCreated(GroupCreated),
    /// Members joined a group: the reply to `add_members`, and pushed to every member's
    /// connections, the new members' included (who see the group's messages from now on).
    MembersAdded(MembersAdded),
    /// A member left a group (`by` is themselves) or was removed from it: the reply to
    /// `remove_member` and `leave_chat`, and pushed to every member's connections and the
    /// removed member's, who get nothing more of the group.
    MemberRemoved(MemberRemoved),
    /// A member's role changed: the reply to `set_role`, and pushed to every member's
    /// connections; also when an owner who left handed ownership on (`role` `owner`).
    MemberRoleChanged(MemberRoleChanged),
    /// A group was renamed: the reply to `rename_chat`, and pushed to every member's
    /// connections.
    ChatRenamed(ChatRenamed),
    /// A message's text changed: the reply to `edit_message`, and pushed to every member's
    /// connections, in its place among the chat's messages.
    MessageEdited(MessageEdited),
    /// A message was deleted (its text erased): the reply to `delete_message`, and pushed to
    /// every member's connections, in its place among the chat's messages.
    MessageDeleted(MessageDeleted),
    /// A member reacted to a message: the reply to `add_reaction`, and pushed to every
    /// member's connections, in its place among the chat's messages.
    ReactionAdded(ReactionChange),
    /// A member took a reaction back: the reply to `remove_reaction`, and pushed to every
    /// member's connections, in its place among the chat's messages.
    ReactionRemoved(ReactionChange),
    /// The reply to `refresh_token`: the connection now lives until the new token expires.
    TokenRefreshed(TokenRefreshed),
    /// The reply to a frame with an `id` that has nothing else to answer.
    Ack(Ack),
    /// A frame was refused; the connection goes on. The reply to a frame with an `id` carries
    /// it.
    Error(WsError),
}

impl ServerEvent {
    /// The frame text, with `id` when it answers a client frame that had one.
    pub fn to_text(&self, id: Option<&FrameId>) -> String {
        let mut frame = Map::new();
        frame.insert("event".into(), Value::from(<&str>::from(ServerEventKind::from(self))));
        frame.insert("data".into(), self.data().unwrap_or_default());
        if let Some(id) = id {
            frame.insert("id".into(), id.clone());
        }
        Value::Object(frame).to_string()
    }

    fn data(&self) -> Option<Value> {
        match self {
            Self::Connected(data) | Self::Online(data) | Self::Offline(data) => data.to_json(),
            Self::PrivateChatRoomCreated(data) => data.to_json(),
            Self::ReceiveMessage(data) => data.to_json(),
            Self::MessageReceived(data) | Self::MessageSeen(data) => data.to_json(),
            Self::Typing(data) => data.to_json(),
            Self::GroupCreated(data) => data.to_json(),
            Self::MembersAdded(data) => data.to_json(),
            Self::MemberRemoved(data) => data.to_json(),
            Self::MemberRoleChanged(data) => data.to_json(),
            Self::ChatRenamed(data) => data.to_json(),
            Self::MessageEdited(data) => data.to_json(),
            Self::MessageDeleted(data) => data.to_json(),
            Self::ReactionAdded(data) | Self::ReactionRemoved(data) => data.to_json(),
            Self::TokenRefreshed(data) => data.to_json(),
            Self::Ack(data) => data.to_json(),
            Self::Error(data) => data.to_json(),
        }
    }
}

/// A command's result: its reply, or the error that refuses it.
impl From<Result<ServerEvent, WsError>> for ServerEvent {
    fn from(result: Result<ServerEvent, WsError>) -> Self {
        result.unwrap_or_else(ServerEvent::Error)
    }
}

/// The one chat of two users.
#[derive(Debug, Clone, Object)]
pub struct ChatCreated {
    pub chat_id: Uuid,
    /// Both members, sorted.
    #[oai(validator(min_items = 2, max_items = 2))]
    pub user_ids: Vec<Uuid>,
}

/// A new group.
#[derive(Debug, Clone, Object)]
pub struct GroupCreated {
    pub chat_id: Uuid,
    pub title: String,
    pub owner_id: Uuid,
    /// Every member, the owner included, sorted.
    pub user_ids: Vec<Uuid>,
}

/// Who joined a group, and who added them.
#[derive(Debug, Clone, Object)]
pub struct MembersAdded {
    pub chat_id: Uuid,
    /// Sorted; empty when everyone named was in already.
    pub user_ids: Vec<Uuid>,
    pub by: Uuid,
}

/// Who left a group, and who removed them (themselves, when they left).
#[derive(Debug, Clone, Copy, Object)]
pub struct MemberRemoved {
    pub chat_id: Uuid,
    pub user_id: Uuid,
    pub by: Uuid,
}

/// A role in a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, poem_openapi::Enum)]
#[oai(rename_all = "snake_case")]
pub enum RoleName {
    Owner,
    Admin,
    Member,
}

impl From<crate::domain::Role> for RoleName {
    fn from(role: crate::domain::Role) -> Self {
        match role {
            crate::domain::Role::Owner => Self::Owner,
            crate::domain::Role::Admin => Self::Admin,
            crate::domain::Role::Member => Self::Member,
        }
    }
}

/// A member's new role, and who gave it.
#[derive(Debug, Clone, Copy, Object)]
pub struct MemberRoleChanged {
    pub chat_id: Uuid,
    pub user_id: Uuid,
    pub role: RoleName,
    pub by: Uuid,
}

/// A group's new title, and who gave it.
#[derive(Debug, Clone, Object)]
pub struct ChatRenamed {
    pub chat_id: Uuid,
    pub title: String,
    pub by: Uuid,
}

/// A message's new text.
#[derive(Debug, Clone, Object)]
pub struct MessageEdited {
    pub chat_id: Uuid,
    pub message_id: i64,
    pub content: String,
    /// RFC 3339, UTC, milliseconds.
    pub edited_at: Text<Timestamp>,
}

/// A deleted message, and who deleted it (its sender, or a group's owner or admin).
#[derive(Debug, Clone, Copy, Object)]
pub struct MessageDeleted {
    pub chat_id: Uuid,
    pub message_id: i64,
    pub by: Uuid,
}

/// A reaction put on a message or taken back, and whose it is.
#[derive(Debug, Clone, Object)]
pub struct ReactionChange {
    pub chat_id: Uuid,
    pub message_id: i64,
    pub emoji: String,
    pub user_id: Uuid,
}

/// Who acknowledged or read a message: everything up to it in the chat counts.
#[derive(Debug, Clone, Copy, Object)]
pub struct MessageReceipt {
    pub chat_id: Uuid,
    pub message_id: i64,
    pub user_id: Uuid,
}

/// Who is typing where.
#[derive(Debug, Clone, Copy, Object)]
pub struct Typing {
    pub chat_id: Uuid,
    pub user_id: Uuid,
}

/// The new token's expiry.
#[derive(Debug, Clone, Copy, Object)]
pub struct TokenRefreshed {
    /// When the connection closes (4001) unless another `refresh_token` comes first: Unix
    /// time, seconds.
    pub expires_at: i64,
}

/// Nothing to say but "done".
#[derive(Debug, Clone, Copy, Object)]
pub struct Ack {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_have_the_contract_shape() {
        let user_id = Uuid::nil();
        let text = ServerEvent::Connected(UserRef { user_id }).to_text(Some(&Value::from(7)));
        assert_eq!(text, r#"{"event":"connected","data":{"user_id":"00000000-0000-0000-0000-000000000000"},"id":7}"#);
        let err = ServerEvent::Error(WsError::forbidden()).to_text(None);
        assert_eq!(
            err,
            r#"{"event":"error","data":{"code":"forbidden","message":"you are not a member of this chat"}}"#
        );
    }
}
