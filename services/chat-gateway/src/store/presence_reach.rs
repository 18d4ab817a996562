//! Whose presence a user hears of, and who hears of theirs: the other member of each private
//! chat, and the members of their small groups (`PRESENCE_MAX_MEMBERS`), told through each
//! group's room.

use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QuerySelect};
use uuid::Uuid;

use super::{
    chats::{chats_of, private_peers},
    entities::{chat_members, chats},
};
use crate::domain::{ChatKind, PRESENCE_MAX_MEMBERS};

/// Who hears of `user`'s presence: the other member of each private chat, each on their own
/// channel, and the small groups (one event to each group's room).
#[derive(Debug, Default)]
pub struct PresenceReach {
    pub peers: Vec<Uuid>,
    pub groups: Vec<Uuid>,
}

pub async fn reach(db: &impl ConnectionTrait, user: Uuid) -> Result<PresenceReach, DbErr> {
    let mut peers: Vec<Uuid> = private_peers(db, user).await?.into_iter().map(|(_, peer)| peer).collect();
    peers.sort_unstable();
    peers.dedup();
    let groups = chats::Entity::find()
        .select_only()
        .column(chats::Column::Id)
        .filter(chats::Column::Id.in_subquery(chats_of(user)))
        .filter(chats::Column::Kind.eq(ChatKind::Group.as_str()))
        .filter(chats::Column::MemberCount.lte(PRESENCE_MAX_MEMBERS))
        .into_tuple()
        .all(db)
        .await?;
    Ok(PresenceReach { peers, groups })
}

/// Everyone whose presence `user` is told of: the peers of [`reach`], and the members of its
/// groups.
pub async fn peers(db: &impl ConnectionTrait, user: Uuid) -> Result<Vec<Uuid>, DbErr> {
    let PresenceReach { mut peers, groups } = reach(db, user).await?;
    if !groups.is_empty() {
        let members: Vec<Uuid> = chat_members::Entity::find()
            .select_only()
            .column(chat_members::Column::UserId)
            .filter(chat_members::Column::ChatId.is_in(groups))
            .filter(chat_members::Column::UserId.ne(user))
            .into_tuple()
            .all(db)
            .await?;
        peers.extend(members);
        peers.sort_unstable();
        peers.dedup();
    }
    Ok(peers)
}
