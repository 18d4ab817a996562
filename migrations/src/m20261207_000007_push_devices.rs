use sea_orm_migration::{
    prelude::*,
    schema::*,
    sea_orm::{ConnectionTrait, Statement},
};
use sha2::{Digest, Sha256};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Devices that receive pushes, and the notifier's record of each push.
///
/// - `devices`: a user has several (phones, browsers). `token` is an FCM registration token,
///   an APNs device token or a Web Push endpoint (with `p256dh` and `auth`, the browser's
///   keys). `token_key` (SHA-256 of platform and token, hex) is unique: a token belongs to
///   one account at a time, the last to register it, and stays indexable however long the
///   token is. `legacy` marks the one device the old single `fcm_token` stands for.
/// - `push_deliveries`: one row per event and device, claimed before the push is sent, so
///   the same `event_id` is pushed to a device once across restarts and replicas; a push the
///   provider asked us to retry waits here (`state` `retry`, `next_attempt_at`, the `push`
///   itself) and a replica that died while sending leaves its claim to expire
///   (`claimed_until`). Rows are pruned once older than any redelivery can be.
///
/// Every `users.fcm_token` already stored becomes a legacy `fcm` device.
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Devices::Table)
                    .col(uuid(Devices::Id).primary_key())
                    .col(uuid(Devices::UserId))
                    .col(text(Devices::Platform))
                    .col(text(Devices::Token))
                    .col(text_null(Devices::P256dh))
                    .col(text_null(Devices::Auth))
                    .col(text_uniq(Devices::TokenKey))
                    .col(boolean(Devices::Legacy).default(false))
                    .col(timestamp_with_time_zone(Devices::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("devices_user_id_fkey")
                            .from(Devices::Table, Devices::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(Index::create().name("devices_user").table(Devices::Table).col(Devices::UserId).to_owned())
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(PushDeliveries::Table)
                    .col(uuid(PushDeliveries::EventId))
                    .col(uuid(PushDeliveries::DeviceId))
                    .col(text(PushDeliveries::State))
                    .col(integer(PushDeliveries::Attempts).default(0))
                    .col(json_binary_null(PushDeliveries::Push))
                    .col(timestamp_with_time_zone_null(PushDeliveries::NextAttemptAt))
                    .col(timestamp_with_time_zone_null(PushDeliveries::ClaimedUntil))
                    .col(text_null(PushDeliveries::ClaimedBy))
                    .col(text_null(PushDeliveries::LastError))
                    .col(timestamp_with_time_zone(PushDeliveries::CreatedAt))
                    .col(timestamp_with_time_zone(PushDeliveries::UpdatedAt))
                    .primary_key(Index::create().col(PushDeliveries::EventId).col(PushDeliveries::DeviceId))
                    .to_owned(),
            )
            .await?;
        // What the retry worker scans: the pushes waiting for a retry or a dead replica's.
        manager
            .create_index(
                Index::create()
                    .name("push_deliveries_due")
                    .table(PushDeliveries::Table)
                    .col(PushDeliveries::State)
                    .col(PushDeliveries::NextAttemptAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("push_deliveries_age")
                    .table(PushDeliveries::Table)
                    .col(PushDeliveries::CreatedAt)
                    .to_owned(),
            )
            .await?;
        legacy_tokens_become_devices(manager).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(PushDeliveries::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(Devices::Table).to_owned()).await
    }
}

/// The key `devices.token_key` is unique on; auth-api computes the same (`shared::devices`).
pub fn device_token_key(platform: &str, token: &str) -> String {
    let digest = Sha256::new().chain_update(platform).chain_update(b":").chain_update(token).finalize();
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

async fn legacy_tokens_become_devices(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    let db = manager.get_connection();
    let backend = db.get_database_backend();
    let rows = db
        .query_all_raw(Statement::from_string(
            backend,
            "SELECT id, fcm_token, created_at FROM users WHERE fcm_token IS NOT NULL",
        ))
        .await?;
    for row in rows {
        let user_id: sea_orm::prelude::Uuid = row.try_get("", "id")?;
        let token: String = row.try_get("", "fcm_token")?;
        let created_at: sea_orm::prelude::DateTimeUtc = row.try_get("", "created_at")?;
        let insert = Query::insert()
            .into_table(Devices::Table)
            .columns([
                Devices::Id,
                Devices::UserId,
                Devices::Platform,
                Devices::Token,
                Devices::TokenKey,
                Devices::Legacy,
                Devices::CreatedAt,
            ])
            .values_panic([
                uuid::Uuid::new_v4().into(),
                user_id.into(),
                "fcm".into(),
                token.clone().into(),
                device_token_key("fcm", &token).into(),
                true.into(),
                created_at.into(),
            ])
            // The same token under two accounts (the old table allowed it): the first keeps it.
            .on_conflict(OnConflict::column(Devices::TokenKey).do_nothing().to_owned())
            .to_owned();
        db.execute(&insert).await?;
    }
    Ok(())
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Devices {
    Table,
    Id,
    UserId,
    Platform,
    Token,
    P256dh,
    Auth,
    TokenKey,
    Legacy,
    CreatedAt,
}

#[derive(DeriveIden)]
enum PushDeliveries {
    Table,
    EventId,
    DeviceId,
    State,
    Attempts,
    Push,
    NextAttemptAt,
    ClaimedUntil,
    ClaimedBy,
    LastError,
    CreatedAt,
    UpdatedAt,
}
