use sea_orm_migration::{prelude::*, schema::*};

use crate::m20261124_000001_create_users::Users;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// One-to-one chats, their members and their messages.
///
/// - `chats.pair_key` is the two member ids in sorted order: its unique index is what makes
///   "find or create the chat between A and B" atomic when both sides ask at once.
/// - `chats.last_seq` numbers the messages of a chat without gaps. Sending takes the chat row's
///   lock to bump it, so within a chat `seq` (and `messages.id`) follow commit order: a reader
///   that has seq n and sees n + 2 knows exactly which message it missed.
/// - `chat_members.delivered_up_to` / `seen_up_to` are receipts as watermarks (message ids):
///   messages arrive in order, so "delivered up to m" covers every earlier one.
/// - `messages (sender_id, client_msg_id)` is unique: a resend returns the original.
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Chats::Table)
                    .col(pk_uuid(Chats::Id))
                    .col(text_uniq(Chats::PairKey))
                    .col(big_integer(Chats::LastSeq).default(0))
                    .col(timestamp_with_time_zone(Chats::CreatedAt))
                    .col(timestamp_with_time_zone(Chats::LastActivityAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ChatMembers::Table)
                    .col(uuid(ChatMembers::ChatId))
                    .col(uuid(ChatMembers::UserId))
                    .col(timestamp_with_time_zone(ChatMembers::JoinedAt))
                    .col(big_integer_null(ChatMembers::DeliveredUpTo))
                    .col(big_integer_null(ChatMembers::SeenUpTo))
                    .primary_key(Index::create().col(ChatMembers::ChatId).col(ChatMembers::UserId))
                    .foreign_key(
                        ForeignKey::create()
                            .name("chat_members_chat_fk")
                            .from(ChatMembers::Table, ChatMembers::ChatId)
                            .to(Chats::Table, Chats::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("chat_members_user_fk")
                            .from(ChatMembers::Table, ChatMembers::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("chat_members_by_user")
                    .table(ChatMembers::Table)
                    .col(ChatMembers::UserId)
                    .col(ChatMembers::ChatId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Messages::Table)
                    .col(big_pk_auto(Messages::Id))
                    .col(uuid(Messages::ChatId))
                    .col(big_integer(Messages::Seq))
                    .col(uuid(Messages::SenderId))
                    .col(text(Messages::Kind))
                    .col(text(Messages::Content))
                    .col(text_null(Messages::ClientMsgId))
                    .col(timestamp_with_time_zone(Messages::SentAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("messages_chat_fk")
                            .from(Messages::Table, Messages::ChatId)
                            .to(Chats::Table, Chats::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("messages_sender_fk")
                            .from(Messages::Table, Messages::SenderId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("messages_chat_seq")
                    .table(Messages::Table)
                    .col(Messages::ChatId)
                    .col(Messages::Seq)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("messages_chat_id")
                    .table(Messages::Table)
                    .col(Messages::ChatId)
                    .col(Messages::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("messages_client_msg_id")
                    .table(Messages::Table)
                    .col(Messages::SenderId)
                    .col(Messages::ClientMsgId)
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(Messages::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(ChatMembers::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(Chats::Table).to_owned()).await
    }
}

#[derive(DeriveIden)]
enum Chats {
    Table,
    Id,
    PairKey,
    LastSeq,
    CreatedAt,
    LastActivityAt,
}

#[derive(DeriveIden)]
enum ChatMembers {
    Table,
    ChatId,
    UserId,
    JoinedAt,
    DeliveredUpTo,
    SeenUpTo,
}

#[derive(DeriveIden)]
enum Messages {
    Table,
    Id,
    ChatId,
    Seq,
    SenderId,
    Kind,
    Content,
    ClientMsgId,
    SentAt,
}
