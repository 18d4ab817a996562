use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Group chats beside one-to-one ones, in the same two tables.
///
/// - `chats.kind` is `private` or `group`; a group has a `title`, and its `pair_key` is
///   `group:<id>` (unique like a pair's, so the column stays one index for both kinds).
/// - `chats.member_count` keeps the count the limit (`GROUP_MAX_MEMBERS`), the chat list and
///   presence (told in small groups only) read, without counting rows each time.
/// - `chats.members_epoch` counts the group's membership changes. A message carries the epoch
///   it was sent under, so a replica that hears a message of a newer epoch than it knows reads
///   the membership again before delivering it: a removed member gets nothing sent after.
/// - `chat_members.role` is `owner`, `admin` or `member` (a private chat's two are `member`s).
/// - `chat_members.joined_seq` is the chat's `last_seq` when the member joined: they see the
///   messages numbered after it, not before.
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite adds one column per ALTER TABLE.
        let chats = [
            text(Chats::Kind).default("private").to_owned(),
            text_null(Chats::Title),
            big_integer(Chats::MembersEpoch).default(0).to_owned(),
            // Every chat before groups is a pair.
            integer(Chats::MemberCount).default(2).to_owned(),
        ];
        for mut column in chats {
            manager.alter_table(Table::alter().table(Chats::Table).add_column(&mut column).to_owned()).await?;
        }
        let members = [
            text(ChatMembers::Role).default("member").to_owned(),
            big_integer(ChatMembers::JoinedSeq).default(0).to_owned(),
        ];
        for mut column in members {
            manager.alter_table(Table::alter().table(ChatMembers::Table).add_column(&mut column).to_owned()).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [ChatMembers::Role, ChatMembers::JoinedSeq] {
            manager.alter_table(Table::alter().table(ChatMembers::Table).drop_column(column).to_owned()).await?;
        }
        for column in [Chats::Kind, Chats::Title, Chats::MembersEpoch, Chats::MemberCount] {
            manager.alter_table(Table::alter().table(Chats::Table).drop_column(column).to_owned()).await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum Chats {
    Table,
    Kind,
    Title,
    MembersEpoch,
    MemberCount,
}

#[derive(DeriveIden)]
enum ChatMembers {
    Table,
    Role,
    JoinedSeq,
}
