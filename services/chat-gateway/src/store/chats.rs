//! Chats and who is in them.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveValue::Set,
    ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, TransactionTrait,
    sea_query::{Expr, ExprTrait, OnConflict, Query},
};
use shared::entities::users;
use uuid::Uuid;

use super::entities::{chat_members, chats, messages};
use crate::{
    domain::{ChatKind, Message, Role},
    error::ChatError,
};

/// The two member ids in sorted order: one key per pair, whoever asks.
fn pair_key(a: Uuid, b: Uuid) -> String {
    let (low, high) = if a <= b { (a, b) } else { (b, a) };
    format!("{low}:{high}")
}

/// Finds or creates the one chat between `me` and `other`. Concurrent calls for the same pair,
/// from either side, get the same chat: the unique `pair_key` lets exactly one insert through.
/// The flag says whether this call created it.
#[tracing::instrument(skip(db))]
pub async fn find_or_create(db: &DatabaseConnection, me: Uuid, other: Uuid) -> Result<(chats::Model, bool), ChatError> {
    if me == other {
        return Err(ChatError::Invalid("user_id: a private chat needs another user".into()));
    }
    // A deleted account is no one to talk to, even in the chat the two had.
    let other_user = users::Entity::find_by_id(other).one(db).await?;
    if other_user.is_none_or(|u| u.deleted_at.is_some()) {
        return Err(ChatError::NoSuchUser);
    }
    let key = pair_key(me, other);
    if let Some(chat) = by_pair(db, &key).await? {
        return Ok((chat, false));
    }
    let id = Uuid::new_v4();
    let now = Utc::now();
    let txn = db.begin().await?;
    let row = chats::ActiveModel {
        id: Set(id),
        pair_key: Set(key.clone()),
        last_seq: Set(0),
        last_message_seq: Set(0),
        created_at: Set(now),
        last_activity_at: Set(now),
        kind: Set(ChatKind::Private.as_str().to_owned()),
        title: Set(None),
        members_epoch: Set(0),
        member_count: Set(2),
    };
    let inserted = match chats::Entity::insert(row)
        .on_conflict(OnConflict::column(chats::Column::PairKey).do_nothing().to_owned())
        .exec_without_returning(&txn)
        .await
    {
        Ok(rows) => rows,
        Err(DbErr::RecordNotInserted) => 0,
        Err(err) => return Err(err.into()),
    };
    if inserted == 1 {
        let members = [me, other].map(|user_id| chat_members::ActiveModel {
            chat_id: Set(id),
            user_id: Set(user_id),
            joined_at: Set(now),
            delivered_up_to: Set(None),
            seen_up_to: Set(None),
            role: Set(Role::Member.as_str().to_owned()),
            joined_seq: Set(0),
            muted_until: Set(None),
        });
        chat_members::Entity::insert_many(members).exec_without_returning(&txn).await?;
    }
    txn.commit().await?;
    // The winner's row (ours or the other caller's) is committed by now.
    let chat = by_pair(db, &key).await?.ok_or_else(|| DbErr::RecordNotFound(format!("chat {key}")))?;
    let created = chat.id == id;
    Ok((chat, created))
}

/// The chat between `me` and `other`, if they have one.
pub async fn between(db: &impl ConnectionTrait, me: Uuid, other: Uuid) -> Result<Option<chats::Model>, DbErr> {
    by_pair(db, &pair_key(me, other)).await
}

async fn by_pair(db: &impl ConnectionTrait, key: &str) -> Result<Option<chats::Model>, DbErr> {
    chats::Entity::find().filter(chats::Column::PairKey.eq(key)).one(db).await
}

/// The members of a chat (empty if there is no such chat).
pub async fn members(db: &impl ConnectionTrait, chat_id: Uuid) -> Result<Vec<Uuid>, DbErr> {
    chat_members::Entity::find()
        .select_only()
        .column(chat_members::Column::UserId)
        .filter(chat_members::Column::ChatId.eq(chat_id))
        .into_tuple()
        .all(db)
        .await
}

/// A group's members and its membership's epoch, if `user` is one of them.
pub async fn group_members(
    db: &impl ConnectionTrait,
    chat_id: Uuid,
    user: Uuid,
) -> Result<(Vec<Uuid>, i64), ChatError> {
    let members = members_if_member(db, chat_id, user).await?;
    let epoch: Option<i64> = chats::Entity::find_by_id(chat_id)
        .select_only()
        .column(chats::Column::MembersEpoch)
        .into_tuple()
        .one(db)
        .await?;
    Ok((members, epoch.ok_or(ChatError::NotMember)?))
}

/// The members of a chat, if `user` is one of them.
pub async fn members_if_member(db: &impl ConnectionTrait, chat_id: Uuid, user: Uuid) -> Result<Vec<Uuid>, ChatError> {
    let members = members(db, chat_id).await?;
    if members.contains(&user) { Ok(members) } else { Err(ChatError::NotMember) }
}

/// Where a member stands in a chat they are in: what they may see and how the chat is routed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Membership {
    pub kind: ChatKind,
    /// They see the messages numbered after it.
    pub joined_seq: i64,
    pub members_epoch: i64,
}

/// `user`'s membership of `chat_id`: [`ChatError::NotMember`] when they are not in it (or
/// there is no such chat).
pub async fn membership(db: &impl ConnectionTrait, chat_id: Uuid, user: Uuid) -> Result<Membership, ChatError> {
    let joined_seq: Option<i64> = chat_members::Entity::find_by_id((chat_id, user))
        .select_only()
        .column(chat_members::Column::JoinedSeq)
        .into_tuple()
        .one(db)
        .await?;
    let joined_seq = joined_seq.ok_or(ChatError::NotMember)?;
    let chat: Option<(String, i64)> = chats::Entity::find_by_id(chat_id)
        .select_only()
        .column(chats::Column::Kind)
        .column(chats::Column::MembersEpoch)
        .into_tuple()
        .one(db)
        .await?;
    let (kind, members_epoch) = chat.ok_or(ChatError::NotMember)?;
    Ok(Membership { kind: ChatKind::stored(&kind), joined_seq, members_epoch })
}

/// The number of a chat's newest message (0 before the first; none without the chat).
pub async fn last_seq(db: &impl ConnectionTrait, chat_id: Uuid) -> Result<Option<i64>, DbErr> {
    chats::Entity::find_by_id(chat_id).select_only().column(chats::Column::LastSeq).into_tuple().one(db).await
}

/// Which of `chat_ids` `user` is a member of, in one query.
pub async fn memberships(
    db: &impl ConnectionTrait,
    user: Uuid,
    chat_ids: &[Uuid],
) -> Result<std::collections::HashSet<Uuid>, DbErr> {
    if chat_ids.is_empty() {
        return Ok(Default::default());
    }
    let found: Vec<Uuid> = chat_members::Entity::find()
        .select_only()
        .column(chat_members::Column::ChatId)
        .filter(chat_members::Column::UserId.eq(user))
        .filter(chat_members::Column::ChatId.is_in(chat_ids.iter().copied()))
        .into_tuple()
        .all(db)
        .await?;
    Ok(found.into_iter().collect())
}

pub(super) fn chats_of(user: Uuid) -> sea_orm::sea_query::SelectStatement {
    Query::select()
        .column(chat_members::Column::ChatId)
        .from(chat_members::Entity)
        .and_where(chat_members::Column::UserId.eq(user))
        .to_owned()
}

/// A chat as a connection tracks it: the number of its newest message, where the member
/// joined it, and how its events reach them.
#[derive(Debug, Clone, Copy)]
pub struct Position {
    pub chat_id: Uuid,
    pub last_seq: i64,
    pub joined_seq: i64,
    pub route: Route,
}

/// How a chat's events reach a member.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// Through each member's own channel: the other member.
    Peer(Uuid),
    /// Through the group's room, at this membership epoch.
    Room { epoch: i64 },
}

/// Every chat of `user`, where it stands now.
pub async fn positions(db: &impl ConnectionTrait, user: Uuid) -> Result<Vec<Position>, DbErr> {
    let joined: HashMap<Uuid, i64> = chat_members::Entity::find()
        .select_only()
        .column(chat_members::Column::ChatId)
        .column(chat_members::Column::JoinedSeq)
        .filter(chat_members::Column::UserId.eq(user))
        .into_tuple::<(Uuid, i64)>()
        .all(db)
        .await?
        .into_iter()
        .collect();
    let chats: Vec<(Uuid, i64, String, i64)> = chats::Entity::find()
        .select_only()
        .column(chats::Column::Id)
        .column(chats::Column::LastSeq)
        .column(chats::Column::Kind)
        .column(chats::Column::MembersEpoch)
        .filter(chats::Column::Id.in_subquery(chats_of(user)))
        .into_tuple()
        .all(db)
        .await?;
    let peers: HashMap<Uuid, Uuid> = private_peers(db, user).await?.into_iter().collect();
    Ok(chats
        .into_iter()
        .filter_map(|(chat_id, last_seq, kind, epoch)| {
            let route = match ChatKind::stored(&kind) {
                ChatKind::Private => Route::Peer(*peers.get(&chat_id)?),
                ChatKind::Group => Route::Room { epoch },
            };
            Some(Position { chat_id, last_seq, joined_seq: joined.get(&chat_id).copied().unwrap_or(0), route })
        })
        .collect())
}

/// The private chats of `user`, with the other member of each.
pub(super) async fn private_peers(db: &impl ConnectionTrait, user: Uuid) -> Result<Vec<(Uuid, Uuid)>, DbErr> {
    let private = Query::select()
        .column((chat_members::Entity, chat_members::Column::ChatId))
        .from(chat_members::Entity)
        .inner_join(
            chats::Entity,
            Expr::col((chats::Entity, chats::Column::Id)).equals((chat_members::Entity, chat_members::Column::ChatId)),
        )
        .and_where(Expr::col((chat_members::Entity, chat_members::Column::UserId)).eq(user))
        .and_where(Expr::col((chats::Entity, chats::Column::Kind)).eq(ChatKind::Private.as_str()))
        .to_owned();
    chat_members::Entity::find()
        .select_only()
        .column(chat_members::Column::ChatId)
        .column(chat_members::Column::UserId)
        .filter(chat_members::Column::ChatId.in_subquery(private))
        .filter(chat_members::Column::UserId.ne(user))
        .into_tuple()
        .all(db)
        .await
}

/// Where a member stands in a chat: everything up to `delivered_up_to` reached one of their
/// devices, everything up to `seen_up_to` was read (message ids; none before the first).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Receipts {
    pub user_id: Uuid,
    pub delivered_up_to: Option<i64>,
    pub seen_up_to: Option<i64>,
}

impl From<&chat_members::Model> for Receipts {
    fn from(m: &chat_members::Model) -> Self {
        Self { user_id: m.user_id, delivered_up_to: m.delivered_up_to, seen_up_to: m.seen_up_to }
    }
}

/// Every member's receipts in a chat, by user id.
pub async fn receipts(db: &impl ConnectionTrait, chat_id: Uuid) -> Result<Vec<Receipts>, DbErr> {
    let members = chat_members::Entity::find().filter(chat_members::Column::ChatId.eq(chat_id)).all(db).await?;
    let mut receipts: Vec<Receipts> = members.iter().map(Receipts::from).collect();
    receipts.sort_by_key(|r| r.user_id);
    Ok(receipts)
}

/// One entry of the chat list.
pub struct ChatSummary {
    pub chat: chats::Model,
    /// Each member's name and receipts, by user id.
    pub members: Vec<(Receipts, String)>,
    pub last_message: Option<Message>,
    pub unread: u64,
    /// Until when the caller muted the chat, if they did and it has not run out.
    pub muted_until: Option<DateTime<Utc>>,
}

/// Where a chat list page ends: the last chat's activity time and id.
pub type ListCursor = (DateTime<Utc>, Uuid);

/// A page of `user`'s chats, newest activity first.
pub async fn list(
    db: &DatabaseConnection,
    user: Uuid,
    after: Option<ListCursor>,
    limit: u64,
) -> Result<Vec<ChatSummary>, DbErr> {
    let mut query = chats::Entity::find().filter(chats::Column::Id.in_subquery(chats_of(user)));
    if let Some((at, id)) = after {
        query = query.filter(
            Condition::any()
                .add(chats::Column::LastActivityAt.lt(at))
                .add(Condition::all().add(chats::Column::LastActivityAt.eq(at)).add(chats::Column::Id.lt(id))),
        );
    }
    let page = query
        .order_by_desc(chats::Column::LastActivityAt)
        .order_by_desc(chats::Column::Id)
        .limit(limit)
        .all(db)
        .await?;
    if page.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<Uuid> = page.iter().map(|c| c.id).collect();
    // A group's entry names its caller alone (`GET /chats/{chat_id}` lists the rest): a page
    // of groups of a thousand would otherwise carry tens of thousands of members.
    let groups: Vec<Uuid> =
        page.iter().filter(|c| ChatKind::stored(&c.kind) == ChatKind::Group).map(|c| c.id).collect();
    let memberships = chat_members::Entity::find()
        .filter(chat_members::Column::ChatId.is_in(ids.clone()))
        .filter(
            Condition::any()
                .add(chat_members::Column::ChatId.is_not_in(groups))
                .add(chat_members::Column::UserId.eq(user)),
        )
        .all(db)
        .await?;
    let joined: HashMap<Uuid, i64> =
        memberships.iter().filter(|m| m.user_id == user).map(|m| (m.chat_id, m.joined_seq)).collect();
    let now = Utc::now();
    let muted: HashMap<Uuid, DateTime<Utc>> = memberships
        .iter()
        .filter(|m| m.user_id == user)
        .filter_map(|m| Some((m.chat_id, m.muted_until.filter(|until| *until > now)?)))
        .collect();
    let user_ids: Vec<Uuid> = memberships.iter().map(|m| m.user_id).collect();
    let names: HashMap<Uuid, String> = users::Entity::find()
        .select_only()
        .column(users::Column::Id)
        .column(users::Column::Username)
        .filter(users::Column::Id.is_in(user_ids))
        .into_tuple::<(Uuid, String)>()
        .all(db)
        .await?
        .into_iter()
        .collect();
    // The newest message the caller may see: none of a group from before they joined.
    let newest = page.iter().filter(|c| c.last_message_seq > joined.get(&c.id).copied().unwrap_or(0)).fold(
        Condition::any(),
        |cond, c| {
            cond.add(
                Condition::all()
                    .add(messages::Column::ChatId.eq(c.id))
                    .add(messages::Column::Seq.eq(c.last_message_seq)),
            )
        },
    );
    let mut last: HashMap<Uuid, messages::Model> = if newest.is_empty() {
        HashMap::new()
    } else {
        messages::Entity::find().filter(newest).all(db).await?.into_iter().map(|m| (m.chat_id, m)).collect()
    };
    let mut unread_cond = Condition::any();
    for m in memberships.iter().filter(|m| m.user_id == user) {
        // A deleted message is nothing to read.
        let mut cond = Condition::all()
            .add(messages::Column::ChatId.eq(m.chat_id))
            .add(messages::Column::SenderId.ne(user))
            .add(messages::Column::DeletedAt.is_null());
        if let Some(seen) = m.seen_up_to {
            cond = cond.add(messages::Column::Id.gt(seen));
        }
        if m.joined_seq > 0 {
            cond = cond.add(messages::Column::Seq.gt(m.joined_seq));
        }
        unread_cond = unread_cond.add(cond);
    }
    let unread: HashMap<Uuid, i64> = messages::Entity::find()
        .select_only()
        .column(messages::Column::ChatId)
        .column_as(messages::Column::Id.count(), "unread")
        .filter(unread_cond)
        .group_by(messages::Column::ChatId)
        .into_tuple::<(Uuid, i64)>()
        .all(db)
        .await?
        .into_iter()
        .collect();
    Ok(page
        .into_iter()
        .map(|chat| {
            let mut members: Vec<(Receipts, String)> = memberships
                .iter()
                .filter(|m| m.chat_id == chat.id)
                .map(|m| (Receipts::from(m), names.get(&m.user_id).cloned().unwrap_or_default()))
                .collect();
            members.sort_by_key(|(r, _)| r.user_id);
            let unread = u64::try_from(unread.get(&chat.id).copied().unwrap_or(0)).unwrap_or(0);
            let muted_until = muted.get(&chat.id).copied();
            ChatSummary { last_message: last.remove(&chat.id).map(Message::from), members, unread, muted_until, chat }
        })
        .collect())
}
