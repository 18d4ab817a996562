//! The chat-suite schema. One file per change, applied in order; a migration that has landed
//! is never edited, a new one is added. Every migration runs on Postgres and on SQLite.

pub use sea_orm_migration::prelude::*;

pub use self::m20261207_000007_push_devices::device_token_key;

mod m20261124_000001_create_users;
mod m20261124_000002_create_refresh_tokens;
mod m20261124_000003_create_notification_outbox;
mod m20261124_000004_outbox_relay_state;
mod m20261125_000005_create_chats;
mod m20261207_000006_group_chats;
mod m20261207_000007_push_devices;
mod m20261207_000008_message_changes;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261124_000001_create_users::Migration),
            Box::new(m20261124_000002_create_refresh_tokens::Migration),
            Box::new(m20261124_000003_create_notification_outbox::Migration),
            Box::new(m20261124_000004_outbox_relay_state::Migration),
            Box::new(m20261125_000005_create_chats::Migration),
            Box::new(m20261207_000006_group_chats::Migration),
            Box::new(m20261207_000007_push_devices::Migration),
            Box::new(m20261207_000008_message_changes::Migration),
        ]
    }
}

/// A text column that compares byte by byte on both databases, so that ordering and prefix
/// ranges on it can use its index: Postgres needs the "C" collation spelled out, SQLite's
/// default (BINARY) already is.
pub(crate) fn bytewise_text(manager: &SchemaManager<'_>, column: impl IntoIden) -> ColumnDef {
    let mut def = ColumnDef::new(column);
    def.text().not_null();
    if manager.get_database_backend() == sea_orm::DatabaseBackend::Postgres {
        def.extra("COLLATE \"C\"");
    }
    def
}
