use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Messages after they are sent: replies, edits, deletion, reactions; blocking, muting and
/// deleted accounts.
///
/// - `messages.reply_to` is the `message_id` a message answers (same chat). `edited_at` is set
///   by an edit. A deleted message keeps its row as a tombstone: `deleted_at`, `deleted_by`,
///   and `content` erased to the empty string (a stored message's content never is empty).
/// - `message_changes` numbers every edit, deletion and reaction in its chat's sequence
///   (`chats.last_seq`, shared with the messages), so a connection keeps changes in order with
///   the messages and replays what it missed exactly as it replays messages. A change holds no
///   content: an edit replays the message's text as it stands, so an erased text stays erased.
/// - `chats.last_message_seq` is the number of the chat's newest message: `last_seq` is now
///   also moved on by changes. Every number before this migration was a message's.
/// - `message_reactions` holds one row per message, user and emoji.
/// - `user_blocks`: `blocker_id` blocked `blocked_id`.
/// - `chat_members.muted_until`: no pushes from the chat for that member before then.
/// - `users.deleted_at`: the account was deleted; the row stays so that the messages it sent
///   stay tombstones in their chats, with its username and email freed. Its index is how
///   gateways find the deletions of the last day.
/// - `notification_outbox (key, created_at)`: a deleted message's pushes are found and erased
///   (the recipients, around the time it was sent) without reading the whole outbox.
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite adds one column per ALTER TABLE.
        let messages = [
            big_integer_null(Messages::ReplyTo),
            timestamp_with_time_zone_null(Messages::EditedAt),
            timestamp_with_time_zone_null(Messages::DeletedAt),
            uuid_null(Messages::DeletedBy),
        ];
        for mut column in messages {
            manager.alter_table(Table::alter().table(Messages::Table).add_column(&mut column).to_owned()).await?;
        }
        let mut last_message = big_integer(Chats::LastMessageSeq).default(0).to_owned();
        manager.alter_table(Table::alter().table(Chats::Table).add_column(&mut last_message).to_owned()).await?;
        let backfill =
            Query::update().table(Chats::Table).value(Chats::LastMessageSeq, Expr::col(Chats::LastSeq)).to_owned();
        manager.exec_stmt(backfill).await?;
        let mut muted = timestamp_with_time_zone_null(ChatMembers::MutedUntil);
        manager.alter_table(Table::alter().table(ChatMembers::Table).add_column(&mut muted).to_owned()).await?;
        let mut deleted = timestamp_with_time_zone_null(Users::DeletedAt);
        manager.alter_table(Table::alter().table(Users::Table).add_column(&mut deleted).to_owned()).await?;

        manager
            .create_index(Index::create().name("users_deleted_at").table(Users::Table).col(Users::DeletedAt).to_owned())
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("notification_outbox_by_key_time")
                    .table(NotificationOutbox::Table)
                    .col(NotificationOutbox::Key)
                    .col(NotificationOutbox::CreatedAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(MessageChanges::Table)
                    .col(uuid(MessageChanges::ChatId))
                    .col(big_integer(MessageChanges::Seq))
                    .col(big_integer(MessageChanges::MessageId))
                    .col(text(MessageChanges::Kind))
                    .col(uuid(MessageChanges::UserId))
                    .col(text_null(MessageChanges::Emoji))
                    .col(timestamp_with_time_zone(MessageChanges::At))
                    .primary_key(Index::create().col(MessageChanges::ChatId).col(MessageChanges::Seq))
                    .foreign_key(
                        ForeignKey::create()
                            .name("message_changes_chat_fk")
                            .from(MessageChanges::Table, MessageChanges::ChatId)
                            .to(Chats::Table, Chats::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(MessageReactions::Table)
                    .col(big_integer(MessageReactions::MessageId))
                    .col(uuid(MessageReactions::UserId))
                    .col(text(MessageReactions::Emoji))
                    .col(timestamp_with_time_zone(MessageReactions::ReactedAt))
                    .primary_key(
                        Index::create()
                            .col(MessageReactions::MessageId)
                            .col(MessageReactions::UserId)
                            .col(MessageReactions::Emoji),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("message_reactions_message_fk")
                            .from(MessageReactions::Table, MessageReactions::MessageId)
                            .to(Messages::Table, Messages::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("message_reactions_user_fk")
                            .from(MessageReactions::Table, MessageReactions::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(UserBlocks::Table)
                    .col(uuid(UserBlocks::BlockerId))
                    .col(uuid(UserBlocks::BlockedId))
                    .col(timestamp_with_time_zone(UserBlocks::CreatedAt))
                    .primary_key(Index::create().col(UserBlocks::BlockerId).col(UserBlocks::BlockedId))
                    .foreign_key(
                        ForeignKey::create()
                            .name("user_blocks_blocker_fk")
                            .from(UserBlocks::Table, UserBlocks::BlockerId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("user_blocks_blocked_fk")
                            .from(UserBlocks::Table, UserBlocks::BlockedId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in
            [UserBlocks::Table.into_iden(), MessageReactions::Table.into_iden(), MessageChanges::Table.into_iden()]
        {
            manager.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        manager
            .drop_index(
                Index::drop().name("notification_outbox_by_key_time").table(NotificationOutbox::Table).to_owned(),
            )
            .await?;
        manager.alter_table(Table::alter().table(Users::Table).drop_column(Users::DeletedAt).to_owned()).await?;
        manager
            .alter_table(Table::alter().table(ChatMembers::Table).drop_column(ChatMembers::MutedUntil).to_owned())
            .await?;
        manager.alter_table(Table::alter().table(Chats::Table).drop_column(Chats::LastMessageSeq).to_owned()).await?;
        for column in [Messages::ReplyTo, Messages::EditedAt, Messages::DeletedAt, Messages::DeletedBy] {
            manager.alter_table(Table::alter().table(Messages::Table).drop_column(column).to_owned()).await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum Messages {
    Table,
    Id,
    ReplyTo,
    EditedAt,
    DeletedAt,
    DeletedBy,
}

#[derive(DeriveIden)]
enum Chats {
    Table,
    Id,
    LastSeq,
    LastMessageSeq,
}

#[derive(DeriveIden)]
enum ChatMembers {
    Table,
    MutedUntil,
}

#[derive(DeriveIden)]
enum MessageChanges {
    Table,
    ChatId,
    Seq,
    MessageId,
    Kind,
    UserId,
    Emoji,
    At,
}

#[derive(DeriveIden)]
enum MessageReactions {
    Table,
    MessageId,
    UserId,
    Emoji,
    ReactedAt,
}

#[derive(DeriveIden)]
enum UserBlocks {
    Table,
    BlockerId,
    BlockedId,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    DeletedAt,
}

#[derive(DeriveIden)]
enum NotificationOutbox {
    Table,
    Key,
    CreatedAt,
}
