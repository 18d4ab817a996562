//! What the gateway's commands deal in, apart from how it is stored (`store`) and how it reads
//! on the wire (`protocol`): both depend on this, and it on neither.

mod change;
mod chat;
mod message;
mod reaction;

pub(crate) use change::{Changed, What};
pub(crate) use chat::{ChatKind, PRESENCE_MAX_MEMBERS, Role, Title, TitleText};
pub(crate) use message::{Content, MAX_CONTENT_CHARS, Message, MessageText};
pub(crate) use reaction::{Emoji, EmojiText, MAX_EMOJI_BYTES, Tally};
