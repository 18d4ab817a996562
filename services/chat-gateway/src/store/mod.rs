//! What the gateway keeps in the database: chats and their members (groups' changes in
//! [`groups`]), messages (stored before anyone hears of them, by the group-commit [`writer`])
//! and what changes them after ([`changes`]: edits, deletions, reactions), receipts, and the
//! tables' entities.

pub(crate) mod accounts;
mod batch_sql;
pub(crate) mod blocks;
pub(crate) mod changes;
pub(crate) mod chats;
pub(crate) mod durability;
pub mod entities;
pub(crate) mod groups;
pub(crate) mod history;
mod locks;
pub(crate) mod messages;
pub(crate) mod mutes;
pub(crate) mod presence_reach;
pub(crate) mod receipts;
pub(crate) mod writer;
