use sea_orm_migration::{prelude::*, schema::*};

use crate::bytewise_text;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Usernames and emails are unique without regard to case through their lowercased `_key`
/// columns; the original spelling is kept for display.
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Users::Table)
                    .col(pk_uuid(Users::Id))
                    .col(text(Users::Username))
                    .col(bytewise_text(manager, Users::UsernameKey))
                    .col(text(Users::Email))
                    .col(text(Users::EmailKey))
                    .col(text(Users::PasswordHash))
                    .col(text_null(Users::FcmToken))
                    .col(timestamp_with_time_zone(Users::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("users_username_key_unique")
                    .table(Users::Table)
                    .col(Users::UsernameKey)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("users_email_key_unique")
                    .table(Users::Table)
                    .col(Users::EmailKey)
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(Users::Table).to_owned()).await
    }
}

#[derive(DeriveIden)]
pub(crate) enum Users {
    Table,
    Id,
    Username,
    UsernameKey,
    Email,
    EmailKey,
    PasswordHash,
    FcmToken,
    CreatedAt,
}
