//! The chat tables (migration `m20261125_000005_create_chats`).

pub mod chat_members;
pub mod chats;
pub mod messages;
