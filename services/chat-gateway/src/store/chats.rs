//! Chats and who is in them.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveValue::Set,
    ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, TransactionTrait,
    sea_query::{OnConflict, Query},
};
use shared::entities::users;
use uuid::Uuid;

use super::entities::{chat_members, chats, messages};
use crate::{domain::Message, error::ChatError};

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
    if users::Entity::find_by_id(other).one(db).await?.is_none() {
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
        created_at: Set(now),
        last_activity_at: Set(now),
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

/// The members of a chat, if `user` is one of them.
pub async fn members_if_member(db: &impl ConnectionTrait, chat_id: Uuid, user: Uuid) -> Result<Vec<Uuid>, ChatError> {
    let members = members(db, chat_id).await?;
    if members.contains(&user) { Ok(members) } else { Err(ChatError::NotMember) }
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

fn chats_of(user: Uuid) -> sea_orm::sea_query::SelectStatement {
    Query::select()
        .column(chat_members::Column::ChatId)
        .from(chat_members::Entity)
        .and_where(chat_members::Column::UserId.eq(user))
        .to_owned()
}

/// A chat as a connection tracks it: the number of its newest message and the other member.
#[derive(Debug, Clone, Copy)]
pub struct Position {
    pub chat_id: Uuid,
    pub last_seq: i64,
    pub peer: Uuid,
}

/// Every chat of `user`, where it stands now.
pub async fn positions(db: &impl ConnectionTrait, user: Uuid) -> Result<Vec<Position>, DbErr> {
    let seqs: HashMap<Uuid, i64> = chats::Entity::find()
        .select_only()
        .column(chats::Column::Id)
        .column(chats::Column::LastSeq)
        .filter(chats::Column::Id.in_subquery(chats_of(user)))
        .into_tuple::<(Uuid, i64)>()
        .all(db)
        .await?
        .into_iter()
        .collect();
    let peers: Vec<(Uuid, Uuid)> = chat_members::Entity::find()
        .select_only()
        .column(chat_members::Column::ChatId)
        .column(chat_members::Column::UserId)
        .filter(chat_members::Column::ChatId.in_subquery(chats_of(user)))
        .filter(chat_members::Column::UserId.ne(user))
        .into_tuple()
        .all(db)
        .await?;
    Ok(peers
        .into_iter()
        .map(|(chat_id, peer)| Position { chat_id, last_seq: seqs.get(&chat_id).copied().unwrap_or(0), peer })
        .collect())
}

/// Everyone who shares a chat with `user`: who hears of their presence.
pub async fn peers(db: &impl ConnectionTrait, user: Uuid) -> Result<Vec<Uuid>, DbErr> {
    chat_members::Entity::find()
        .select_only()
        .column(chat_members::Column::UserId)
        .distinct()
        .filter(chat_members::Column::ChatId.in_subquery(chats_of(user)))
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
    let memberships =
        chat_members::Entity::find().filter(chat_members::Column::ChatId.is_in(ids.clone())).all(db).await?;
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
    let newest = page.iter().filter(|c| c.last_seq > 0).fold(Condition::any(), |cond, c| {
        cond.add(Condition::all().add(messages::Column::ChatId.eq(c.id)).add(messages::Column::Seq.eq(c.last_seq)))
    });
    let mut last: HashMap<Uuid, messages::Model> = if newest.is_empty() {
        HashMap::new()
    } else {
        messages::Entity::find().filter(newest).all(db).await?.into_iter().map(|m| (m.chat_id, m)).collect()
    };
    let mut unread_cond = Condition::any();
    for m in memberships.iter().filter(|m| m.user_id == user) {
        let mut cond =
            Condition::all().add(messages::Column::ChatId.eq(m.chat_id)).add(messages::Column::SenderId.ne(user));
        if let Some(seen) = m.seen_up_to {
            cond = cond.add(messages::Column::Id.gt(seen));
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
            let unread = unread.get(&chat.id).copied().unwrap_or(0).max(0) as u64;
            ChatSummary { last_message: last.remove(&chat.id).map(Message::from), members, unread, chat }
        })
        .collect())
}
