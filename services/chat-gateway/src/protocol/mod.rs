//! The `/chat` wire protocol: every frame is one JSON object `{"event", "data", "id"?}`, text.
//! What clients send is parsed once, into typed requests ([`requests`]); whatever cannot be
//! parsed becomes a [`WsError`] the connection answers with an `error` event and survives.
//! What the server sends is a [`ServerEvent`] ([`events`]). The AsyncAPI document
//! (`transport/asyncapi.rs`) is made from these types.

/// A checked payload (`$checked`, what the session takes) documented as the payload a client
/// writes (`$data`, read with serde and described by the same derive as every payload).
macro_rules! documented_as {
    ($checked:ty, $data:ty) => {
        impl poem_openapi::types::Type for $checked {
            const IS_REQUIRED: bool = true;
            type RawValueType = Self;
            type RawElementValueType = Self;

            fn name() -> std::borrow::Cow<'static, str> {
                <$data as poem_openapi::types::Type>::name()
            }

            fn schema_ref() -> poem_openapi::registry::MetaSchemaRef {
                <$data as poem_openapi::types::Type>::schema_ref()
            }

            fn register(registry: &mut poem_openapi::registry::Registry) {
                <$data as poem_openapi::types::Type>::register(registry);
            }

            fn as_raw_value(&self) -> Option<&Self> {
                Some(self)
            }

            fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a Self> + 'a> {
                Box::new(self.as_raw_value().into_iter())
            }
        }
    };
}

mod events;
mod group_requests;
mod message_requests;
mod requests;

use poem_openapi::{Enum, Object};
use serde::Deserialize;
use serde_json::Value;
use strum::{EnumIter, EnumMessage};
use uuid::Uuid;

pub use events::{
    Ack, ChatCreated, ChatRenamed, GroupCreated, MemberRemoved, MemberRoleChanged, MembersAdded, MessageDeleted,
    MessageEdited, MessageReceipt, MessageView, ReactionChange, ReactionCount, RoleName, ServerEvent, ServerEventKind,
    TokenRefreshed, Typing,
};
pub use group_requests::{AddMembers, CreateGroup, GivenRole, MemberRef, RenameChat, SetRole};
pub use requests::{MAX_CLIENT_ID_CHARS, MessageRef, Request, RequestKind, SendMessage, parse, request};

/// What went wrong with a client frame, for a program; the connection goes on.
// Each variant's doc comment is its entry in the AsyncAPI document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum, EnumIter, EnumMessage)]
#[oai(rename_all = "snake_case")]
pub enum ErrorCode {
    /// Not a JSON object `{event, data, id?}`: not JSON, an unknown top-level field, or a bad `id`.
    InvalidFrame,
    /// An `event` the server does not know.
    UnknownEvent,
    /// `data` does not fit the event: a missing, wrongly typed or unknown field, or invalid content.
    InvalidData,
    /// `content` longer than `SendMessage.content` allows.
    ContentTooLong,
    /// The caller is not a member of the chat (or the chat does not exist), or their role in
    /// a group may not do it.
    Forbidden,
    /// No such user, no such message in the chat, or no such group.
    NotFound,
    /// A group command about someone who is not in the group: the caller, or the member it
    /// names.
    NotAMember,
    /// The group would have more members than `GROUP_MAX_MEMBERS`.
    TooManyMembers,
    /// `refresh_token` with a token that does not verify, or that is another user's.
    InvalidToken,
    /// Over the connection's frame rate: slow down (a burst's worth in a row closes with 1008).
    RateLimited,
    /// A binary frame: every frame is text, one JSON object.
    BinaryNotSupported,
    /// The database is unreachable: try again.
    Unavailable,
    /// The replica cannot store messages as fast as they come: this one was not stored. Send
    /// it again after a pause (with its `client_msg_id`, so a message is never stored twice).
    Overloaded,
    /// The other user of a private chat blocked the caller, or the caller blocked them.
    Blocked,
    /// A fault of ours: try again.
    Internal,
}

/// An `error` event's data.
#[derive(Debug, Clone, PartialEq, Eq, Object)]
pub struct WsError {
    pub code: ErrorCode,
    /// For a person: the wording may change, `code` does not.
    pub message: String,
}

impl WsError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self { code, message: message.into() }
    }

    pub fn invalid_data(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidData, message)
    }

    pub fn forbidden() -> Self {
        Self::new(ErrorCode::Forbidden, "you are not a member of this chat")
    }

    pub fn internal() -> Self {
        Self::new(ErrorCode::Internal, "internal error, try again")
    }

    pub fn unavailable() -> Self {
        Self::new(ErrorCode::Unavailable, "the database is unreachable, try again")
    }
}

/// The `id` a client put on a frame, echoed on the reply: a string or a number.
pub type FrameId = Value;

/// A user, by id.
#[derive(Debug, Clone, Copy, Deserialize, Object)]
#[serde(deny_unknown_fields)]
pub struct UserRef {
    pub user_id: Uuid,
}
