//! What chat operations can refuse, and how each refusal reads on the socket and over HTTP.

use sea_orm::DbErr;
use shared::ApiError;

use crate::protocol::{ErrorCode, WsError};

#[derive(Debug, thiserror::Error)]
pub enum ChatError {
    #[error("you are not a member of this chat")]
    NotMember,
    #[error("no user with this id")]
    NoSuchUser,
    #[error("no such message in this chat")]
    NoSuchMessage,
    /// Edited, reacted to or answered after it was deleted.
    #[error("the message was deleted")]
    MessageDeleted,
    /// One of a private chat's two blocked the other.
    #[error("you cannot message this user")]
    Blocked,
    #[error("no chat with this user")]
    NoChatWith,
    #[error("no user with id {0}")]
    NoSuchUserId(uuid::Uuid),
    #[error("no such chat")]
    NoSuchChat,
    /// A member whose role may not do it, or a command a chat of this kind has no use for.
    #[error("{0}")]
    Refused(String),
    /// The user named (the caller, or the one the command is about) is not in the group.
    #[error("user {0} is not a member of this group")]
    NotAMember(uuid::Uuid),
    #[error("a group has at most {max} members (GROUP_MAX_MEMBERS)")]
    TooManyMembers { max: u32 },
    #[error("{0}")]
    Invalid(String),
    #[error("database: {0}")]
    Database(#[from] DbErr),
    /// The replica's writers are behind: the message was not stored.
    #[error("the server is overloaded: the message was not stored, send it again in a moment")]
    Overloaded,
}

impl ChatError {
    /// The message writers are gone (the replica is shutting down).
    pub fn stopped() -> Self {
        Self::Database(DbErr::Custom("the message writer stopped".into()))
    }
}

impl From<ChatError> for WsError {
    fn from(err: ChatError) -> Self {
        match err {
            ChatError::NotMember => WsError::forbidden(),
            ChatError::NoSuchUser => WsError::new(ErrorCode::NotFound, "no user with this id"),
            ChatError::NoSuchMessage
            | ChatError::MessageDeleted
            | ChatError::NoChatWith
            | ChatError::NoSuchUserId(_)
            | ChatError::NoSuchChat => WsError::new(ErrorCode::NotFound, err.to_string()),
            ChatError::Blocked => WsError::new(ErrorCode::Blocked, err.to_string()),
            ChatError::Refused(why) => WsError::new(ErrorCode::Forbidden, why),
            ChatError::NotAMember(_) => WsError::new(ErrorCode::NotAMember, err.to_string()),
            ChatError::TooManyMembers { .. } => WsError::new(ErrorCode::TooManyMembers, err.to_string()),
            ChatError::Invalid(why) => WsError::invalid_data(why),
            ChatError::Overloaded => WsError::new(ErrorCode::Overloaded, err.to_string()),
            ChatError::Database(err) if shared::db::is_unreachable(&err) => {
                tracing::warn!(error = %err, "database unreachable");
                WsError::unavailable()
            }
            ChatError::Database(err) => {
                tracing::error!(error = %err, "chat operation failed");
                WsError::internal()
            }
        }
    }
}

impl From<ChatError> for ApiError {
    fn from(err: ChatError) -> Self {
        match err {
            ChatError::NotMember => ApiError::forbidden("you are not a member of this chat"),
            ChatError::NoSuchUser
            | ChatError::NoSuchMessage
            | ChatError::MessageDeleted
            | ChatError::NoChatWith
            | ChatError::NoSuchUserId(_)
            | ChatError::NoSuchChat => ApiError::not_found(err.to_string()),
            ChatError::Refused(why) => ApiError::forbidden(why),
            ChatError::Blocked => ApiError::forbidden_as("blocked", err.to_string()),
            ChatError::NotAMember(_) => ApiError::forbidden(err.to_string()),
            ChatError::TooManyMembers { .. } => ApiError::bad_request("too_many_members", err.to_string()),
            ChatError::Invalid(why) => ApiError::bad_request("invalid_field", why),
            ChatError::Database(err) => ApiError::from(err),
            ChatError::Overloaded => ApiError::overloaded(err.to_string(), 1),
        }
    }
}
