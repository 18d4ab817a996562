//! The chat tables (migrations `m20261125_000005_create_chats`, `m20261207_000006_group_chats`).

pub mod chat_members;
pub mod chats;
pub mod messages;
