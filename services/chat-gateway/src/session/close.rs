//! Why the server ends a connection: each reason's close code, its label in the
//! `chat_suite_ws_closes_total` metric, and the text the client reads, in one place. Each
//! variant's doc comment is its entry in the AsyncAPI document.

use poem::web::websocket::CloseCode;
use strum::{EnumIter, EnumMessage};

#[derive(Debug, Clone, Copy, PartialEq, Eq, EnumIter, EnumMessage)]
pub enum CloseReason {
    /// The replica is draining: reconnect (to another one).
    Restart,
    /// The connection's send queue overflowed: the client reads too slowly.
    SlowReader,
    /// No pong within `WS_IDLE_TIMEOUT_SECONDS`.
    Idle,
    /// The access token expired and no `refresh_token` came in time.
    TokenExpired,
    /// Past the per-connection rate limit for a burst's worth of frames in a row.
    RateLimited,
    /// A frame or message over 64 KiB.
    TooLarge,
    /// A text frame that is not UTF-8.
    InvalidUtf8,
    /// A frame the WebSocket protocol does not allow.
    ProtocolError,
    /// A failure of ours: reconnect and resume.
    Internal,
    /// The user's account was deleted: do not reconnect.
    AccountDeleted,
}

/// Close code for an expired access token (the application range, 4000–4999).
const TOKEN_EXPIRED: u16 = 4001;
/// Close code for a deleted account.
const ACCOUNT_DELETED: u16 = 4003;

impl CloseReason {
    pub fn code(self) -> u16 {
        match self {
            Self::Restart => 1012,
            Self::SlowReader => 1013,
            Self::Idle => 1001,
            Self::TokenExpired => TOKEN_EXPIRED,
            Self::RateLimited => 1008,
            Self::TooLarge => 1009,
            Self::InvalidUtf8 => 1007,
            Self::ProtocolError => 1002,
            Self::Internal => 1011,
            Self::AccountDeleted => ACCOUNT_DELETED,
        }
    }

    /// The `reason` label of `chat_suite_ws_closes_total`.
    pub fn label(self) -> &'static str {
        match self {
            Self::Restart => "restart",
            Self::SlowReader => "slow_reader",
            Self::Idle => "idle",
            Self::TokenExpired => "token_expired",
            Self::RateLimited => "rate_limit",
            Self::TooLarge => "too_large",
            Self::InvalidUtf8 => "invalid_utf8",
            Self::ProtocolError => "protocol_error",
            Self::Internal => "error",
            Self::AccountDeleted => "account_deleted",
        }
    }

    /// The close frame's reason text.
    pub fn text(self) -> &'static str {
        match self {
            Self::Restart => "server restarting, reconnect",
            Self::SlowReader => "too slow to read, reconnect",
            Self::Idle => "no pong within WS_IDLE_TIMEOUT_SECONDS",
            Self::TokenExpired => "access token expired",
            Self::RateLimited => "rate limit exceeded",
            Self::TooLarge => "frame larger than 64 KiB",
            Self::InvalidUtf8 => "text frame is not UTF-8",
            Self::ProtocolError => "WebSocket protocol error",
            Self::Internal => "internal error, reconnect and resume",
            Self::AccountDeleted => "the account was deleted",
        }
    }

    pub fn close_code(self) -> CloseCode {
        CloseCode::from(self.code())
    }

    /// The reason to close after a read failed, if the failure was the client's frame rather
    /// than the connection. poem hands tungstenite's errors over as text only, so this reads
    /// tungstenite's own wording (`tests/api/frames.rs` sends each kind of frame).
    pub fn for_read_error(err: &std::io::Error) -> Option<Self> {
        let text = err.to_string();
        if text.contains("Message too long") {
            Some(Self::TooLarge)
        } else if text.starts_with("UTF-8 encoding error") {
            Some(Self::InvalidUtf8)
        } else if text.starts_with("WebSocket protocol error") {
            Some(Self::ProtocolError)
        } else {
            None
        }
    }
}
