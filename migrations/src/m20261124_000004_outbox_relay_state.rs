use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// What the relay needs to share the outbox between replicas: a lease (`claimed_until`,
/// `claimed_by`) that also serves as the retry time after a failure, the last error, and
/// `parked_at` for events the broker will never take (kept and counted, not dropped).
/// The partial index finds the oldest pending event of each key, which is the only one of
/// that key a relay may publish next.
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let columns = [
            timestamp_with_time_zone_null(Outbox::ClaimedUntil),
            text_null(Outbox::ClaimedBy),
            text_null(Outbox::LastError),
            timestamp_with_time_zone_null(Outbox::ParkedAt),
        ];
        // SQLite adds one column per ALTER TABLE.
        for mut column in columns {
            manager.alter_table(Table::alter().table(Outbox::Table).add_column(&mut column).to_owned()).await?;
        }
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE INDEX notification_outbox_pending_by_key ON notification_outbox (key, id) \
                 WHERE delivered_at IS NULL AND parked_at IS NULL",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(Index::drop().name("notification_outbox_pending_by_key").table(Outbox::Table).to_owned())
            .await?;
        for column in [Outbox::ClaimedUntil, Outbox::ClaimedBy, Outbox::LastError, Outbox::ParkedAt] {
            manager.alter_table(Table::alter().table(Outbox::Table).drop_column(column).to_owned()).await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum Outbox {
    #[sea_orm(iden = "notification_outbox")]
    Table,
    ClaimedUntil,
    ClaimedBy,
    LastError,
    ParkedAt,
}
