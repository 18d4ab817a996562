use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Notification events, written in the same transaction as the change they report and
/// relayed to Kafka afterwards. `id` is the write order, which the relay keeps per key.
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(NotificationOutbox::Table)
                    .col(big_pk_auto(NotificationOutbox::Id))
                    .col(uuid_uniq(NotificationOutbox::EventId))
                    .col(text(NotificationOutbox::EventType))
                    .col(text(NotificationOutbox::Key))
                    .col(json_binary(NotificationOutbox::Payload))
                    .col(timestamp_with_time_zone(NotificationOutbox::CreatedAt))
                    .col(timestamp_with_time_zone_null(NotificationOutbox::DeliveredAt))
                    .col(integer(NotificationOutbox::Attempts).default(0))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("notification_outbox_pending")
                    .table(NotificationOutbox::Table)
                    .col(NotificationOutbox::DeliveredAt)
                    .col(NotificationOutbox::Id)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(NotificationOutbox::Table).to_owned()).await
    }
}

#[derive(DeriveIden)]
enum NotificationOutbox {
    Table,
    Id,
    EventId,
    EventType,
    Key,
    Payload,
    CreatedAt,
    DeliveredAt,
    Attempts,
}
