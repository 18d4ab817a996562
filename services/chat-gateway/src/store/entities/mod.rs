//! The chat tables (migrations `m20261125_000005_create_chats`, `m20261207_000006_group_chats`,
//! `m20261207_000008_message_changes`).

pub mod chat_members;
pub mod chats;
pub mod message_changes;
pub mod message_reactions;
pub mod messages;
pub mod user_blocks;
