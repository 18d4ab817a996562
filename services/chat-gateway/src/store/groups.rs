//! Groups: made with their members, and every change of who is in them and in what role.
//!
//! A change of membership or role happens under the chat row's lock, taken by moving the
//! group's `members_epoch` on (the first statement of its transaction): changes of one group
//! never interleave, a message being stored waits for them (it moves the same row's
//! `last_seq`), and each change has an epoch of its own, which messages sent after it carry.
//! A member joins at the chat's `last_seq` read under that lock, so exactly the messages
//! stored after the join are theirs.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveValue::Set,
    ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, TransactionTrait,
    sea_query::{Expr, ExprTrait},
};
use shared::entities::users;
use uuid::Uuid;

use super::entities::{chat_members, chats};
use crate::{
    domain::{ChatKind, Role, Title},
    error::ChatError,
};

/// A chat as `GET /chats/{chat_id}` describes it.
#[derive(Debug, Clone)]
pub struct ChatProfile {
    pub chat: chats::Model,
    /// Longest-standing first.
    pub members: Vec<ProfileMember>,
}

#[derive(Debug, Clone)]
pub struct ProfileMember {
    pub user_id: Uuid,
    pub username: String,
    pub role: Role,
    pub joined_at: DateTime<Utc>,
}

impl ChatProfile {
    pub fn kind(&self) -> ChatKind {
        ChatKind::stored(&self.chat.kind)
    }

    pub fn owner(&self) -> Option<Uuid> {
        self.members.iter().find(|m| m.role == Role::Owner).map(|m| m.user_id)
    }
}

/// What a change did: the epoch it made, and the chat's newest message number then (where
/// members who joined start).
#[derive(Debug, Clone, Copy)]
pub struct Change {
    pub epoch: i64,
    pub last_seq: i64,
}

/// Who left a group and what it took: the new owner when the owner left (none when the last
/// member left, taking the group with them).
#[derive(Debug, Clone, Copy)]
pub struct Departure {
    pub change: Change,
    pub new_owner: Option<Uuid>,
}

/// A new group of `owner` and `others` (repeats and the owner among them count once).
#[tracing::instrument(skip(db, title))]
pub async fn create(
    db: &DatabaseConnection,
    owner: Uuid,
    title: &Title,
    others: &[Uuid],
    max_members: u32,
) -> Result<ChatProfile, ChatError> {
    let mut members: Vec<Uuid> = others.iter().copied().filter(|u| *u != owner).collect();
    members.sort_unstable();
    members.dedup();
    check_size(members.len() + 1, max_members)?;
    check_users_exist(db, &members).await?;
    let (id, now) = (Uuid::new_v4(), Utc::now());
    let txn = db.begin().await?;
    chats::Entity::insert(chats::ActiveModel {
        id: Set(id),
        pair_key: Set(format!("group:{id}")),
        last_seq: Set(0),
        last_message_seq: Set(0),
        created_at: Set(now),
        last_activity_at: Set(now),
        kind: Set(ChatKind::Group.as_str().to_owned()),
        title: Set(Some(title.as_str().to_owned())),
        members_epoch: Set(1),
        member_count: Set(count(members.len() + 1)),
    })
    .exec_without_returning(&txn)
    .await?;
    let rows = std::iter::once((owner, Role::Owner))
        .chain(members.iter().map(|m| (*m, Role::Member)))
        .map(|(user_id, role)| member_row(id, user_id, role, 0, now));
    insert_members(&txn, rows.collect()).await?;
    txn.commit().await?;
    profile(db, id, owner).await
}

/// Adds `users` (those not in the group yet) as members; the caller must be the owner or an
/// admin. Returns the change and who was added (empty, and no change, when all were in).
#[tracing::instrument(skip(db))]
pub async fn add_members(
    db: &DatabaseConnection,
    chat_id: Uuid,
    by: Uuid,
    users: &[Uuid],
    max_members: u32,
) -> Result<(Option<Change>, Vec<Uuid>), ChatError> {
    let mut wanted: Vec<Uuid> = users.to_vec();
    wanted.sort_unstable();
    wanted.dedup();
    check_users_exist(db, &wanted).await?;
    let txn = db.begin().await?;
    let (chat, role) = lock_as_member(&txn, chat_id, by).await?;
    if !role.may_manage() {
        return Err(ChatError::Refused("only the owner and admins may add members".into()));
    }
    let present: Vec<Uuid> = chat_members::Entity::find()
        .select_only()
        .column(chat_members::Column::UserId)
        .filter(chat_members::Column::ChatId.eq(chat_id))
        .filter(chat_members::Column::UserId.is_in(wanted.iter().copied()))
        .into_tuple()
        .all(&txn)
        .await?;
    let added: Vec<Uuid> = wanted.into_iter().filter(|u| !present.contains(u)).collect();
    if added.is_empty() {
        return Ok((None, added));
    }
    let total = chat.member_count as usize + added.len();
    check_size(total, max_members)?;
    let now = Utc::now();
    insert_members(&txn, added.iter().map(|u| member_row(chat_id, *u, Role::Member, chat.last_seq, now)).collect())
        .await?;
    set_count(&txn, chat_id, total).await?;
    txn.commit().await?;
    Ok((Some(Change { epoch: chat.members_epoch, last_seq: chat.last_seq }), added))
}

/// Removes `target`; the owner may remove anyone else, an admin plain members.
#[tracing::instrument(skip(db))]
pub async fn remove_member(
    db: &DatabaseConnection,
    chat_id: Uuid,
    by: Uuid,
    target: Uuid,
) -> Result<Change, ChatError> {
    if target == by {
        return Err(ChatError::Invalid("user_id: to leave a group, use leave_chat".into()));
    }
    let txn = db.begin().await?;
    let (chat, role) = lock_as_member(&txn, chat_id, by).await?;
    let target_role = role_of(&txn, chat_id, target).await?.ok_or_else(|| not_a_member(target))?;
    if !role.may_remove(target_role) {
        return Err(ChatError::Refused(match role {
            Role::Admin => "an admin may remove plain members only".into(),
            _ => "only the owner and admins may remove members".into(),
        }));
    }
    delete_member(&txn, chat_id, target).await?;
    set_count(&txn, chat_id, chat.member_count as usize - 1).await?;
    txn.commit().await?;
    Ok(Change { epoch: chat.members_epoch, last_seq: chat.last_seq })
}

/// `user` leaves. An owner hands the group to the longest-standing admin, else the
/// longest-standing member; the last member to leave takes the group with them.
#[tracing::instrument(skip(db))]
pub async fn leave(db: &DatabaseConnection, chat_id: Uuid, user: Uuid) -> Result<Departure, ChatError> {
    let txn = db.begin().await?;
    let (chat, role) = lock_as_member(&txn, chat_id, user).await?;
    delete_member(&txn, chat_id, user).await?;
    let change = Change { epoch: chat.members_epoch, last_seq: chat.last_seq };
    let left = chat.member_count as usize - 1;
    if left == 0 {
        chats::Entity::delete_by_id(chat_id).exec(&txn).await?;
        txn.commit().await?;
        return Ok(Departure { change, new_owner: None });
    }
    set_count(&txn, chat_id, left).await?;
    let mut new_owner = None;
    if role == Role::Owner {
        let heir: Option<(Uuid, String)> = chat_members::Entity::find()
            .select_only()
            .column(chat_members::Column::UserId)
            .column(chat_members::Column::Role)
            .filter(chat_members::Column::ChatId.eq(chat_id))
            .order_by_asc(chat_members::Column::JoinedAt)
            .order_by_asc(chat_members::Column::UserId)
            .into_tuple::<(Uuid, String)>()
            .all(&txn)
            .await?
            .into_iter()
            // The first of the highest role: the list runs longest-standing first.
            .min_by_key(|(_, role)| std::cmp::Reverse(Role::stored(role)));
        if let Some((heir, _)) = heir {
            update_role(&txn, chat_id, heir, Role::Owner).await?;
            new_owner = Some(heir);
        }
    }
    txn.commit().await?;
    Ok(Departure { change, new_owner })
}

/// Makes `target` an admin or a plain member: the owner alone may.
#[tracing::instrument(skip(db))]
pub async fn set_role(
    db: &DatabaseConnection,
    chat_id: Uuid,
    by: Uuid,
    target: Uuid,
    role: Role,
) -> Result<Change, ChatError> {
    if role == Role::Owner {
        return Err(ChatError::Invalid("role: admin or member (the owner hands ownership on by leaving)".into()));
    }
    let txn = db.begin().await?;
    let (chat, by_role) = lock_as_member(&txn, chat_id, by).await?;
    if !by_role.may_set_roles() {
        return Err(ChatError::Refused("only the owner may change roles".into()));
    }
    let current = role_of(&txn, chat_id, target).await?.ok_or_else(|| not_a_member(target))?;
    if current == Role::Owner {
        return Err(ChatError::Invalid("user_id: the owner's role is theirs until they leave".into()));
    }
    update_role(&txn, chat_id, target, role).await?;
    txn.commit().await?;
    Ok(Change { epoch: chat.members_epoch, last_seq: chat.last_seq })
}

/// Renames the group: the owner and admins may.
#[tracing::instrument(skip(db, title))]
pub async fn rename(db: &DatabaseConnection, chat_id: Uuid, by: Uuid, title: &Title) -> Result<(), ChatError> {
    let chat = group(db, chat_id).await?;
    let role = role_of(db, chat.id, by).await?.ok_or_else(|| not_a_member(by))?;
    if !role.may_manage() {
        return Err(ChatError::Refused("only the owner and admins may rename the group".into()));
    }
    chats::Entity::update_many()
        .col_expr(chats::Column::Title, Expr::value(title.as_str()))
        .filter(chats::Column::Id.eq(chat_id))
        .exec(db)
        .await?;
    Ok(())
}

/// A chat with its members, for one of them.
pub async fn profile(db: &impl ConnectionTrait, chat_id: Uuid, viewer: Uuid) -> Result<ChatProfile, ChatError> {
    let chat = chats::Entity::find_by_id(chat_id).one(db).await?.ok_or(ChatError::NotMember)?;
    let rows = chat_members::Entity::find()
        .filter(chat_members::Column::ChatId.eq(chat_id))
        .order_by_asc(chat_members::Column::JoinedAt)
        .order_by_asc(chat_members::Column::UserId)
        .all(db)
        .await?;
    if !rows.iter().any(|m| m.user_id == viewer) {
        return Err(ChatError::NotMember);
    }
    let names: std::collections::HashMap<Uuid, String> = users::Entity::find()
        .select_only()
        .column(users::Column::Id)
        .column(users::Column::Username)
        .filter(users::Column::Id.is_in(rows.iter().map(|m| m.user_id)))
        .into_tuple::<(Uuid, String)>()
        .all(db)
        .await?
        .into_iter()
        .collect();
    let members = rows
        .into_iter()
        .map(|m| ProfileMember {
            username: names.get(&m.user_id).cloned().unwrap_or_default(),
            user_id: m.user_id,
            role: Role::stored(&m.role),
            joined_at: m.joined_at,
        })
        .collect();
    Ok(ChatProfile { chat, members })
}

/// The group, or why a group command cannot touch it.
async fn group(db: &impl ConnectionTrait, chat_id: Uuid) -> Result<chats::Model, ChatError> {
    let chat = chats::Entity::find_by_id(chat_id).one(db).await?.ok_or(ChatError::NoSuchChat)?;
    match ChatKind::stored(&chat.kind) {
        ChatKind::Group => Ok(chat),
        ChatKind::Private => Err(ChatError::Refused("a private chat has no members to change".into())),
    }
}

/// Takes the group's lock (its epoch moved on) and the caller's role in it.
async fn lock_as_member(
    txn: &DatabaseTransaction,
    chat_id: Uuid,
    user: Uuid,
) -> Result<(chats::Model, Role), ChatError> {
    // What is refused is refused before the lock, so that a stranger cannot hold it.
    let chat = group(txn, chat_id).await?;
    role_of(txn, chat.id, user).await?.ok_or_else(|| not_a_member(user))?;
    let locked = chats::Entity::update_many()
        .col_expr(chats::Column::MembersEpoch, Expr::col(chats::Column::MembersEpoch).add(1))
        .filter(chats::Column::Id.eq(chat_id))
        .exec_with_returning(txn)
        .await?;
    let chat = locked.into_iter().next().ok_or(ChatError::NoSuchChat)?;
    // Read again under the lock: a change just committed may have moved the caller.
    let role = role_of(txn, chat_id, user).await?.ok_or_else(|| not_a_member(user))?;
    Ok((chat, role))
}

async fn role_of(db: &impl ConnectionTrait, chat_id: Uuid, user: Uuid) -> Result<Option<Role>, ChatError> {
    let role: Option<String> = chat_members::Entity::find_by_id((chat_id, user))
        .select_only()
        .column(chat_members::Column::Role)
        .into_tuple()
        .one(db)
        .await?;
    Ok(role.as_deref().map(Role::stored))
}

async fn update_role(txn: &DatabaseTransaction, chat_id: Uuid, user: Uuid, role: Role) -> Result<(), ChatError> {
    chat_members::Entity::update_many()
        .col_expr(chat_members::Column::Role, Expr::value(role.as_str()))
        .filter(chat_members::Column::ChatId.eq(chat_id))
        .filter(chat_members::Column::UserId.eq(user))
        .exec(txn)
        .await?;
    Ok(())
}

async fn delete_member(txn: &DatabaseTransaction, chat_id: Uuid, user: Uuid) -> Result<(), ChatError> {
    chat_members::Entity::delete_many()
        .filter(chat_members::Column::ChatId.eq(chat_id))
        .filter(chat_members::Column::UserId.eq(user))
        .exec(txn)
        .await?;
    Ok(())
}

async fn set_count(txn: &DatabaseTransaction, chat_id: Uuid, members: usize) -> Result<(), ChatError> {
    chats::Entity::update_many()
        .col_expr(chats::Column::MemberCount, Expr::value(count(members)))
        .filter(chats::Column::Id.eq(chat_id))
        .exec(txn)
        .await?;
    Ok(())
}

/// Rows per INSERT: SQLite allows 32,766 bound values, and a member row binds 7.
const INSERT_CHUNK: usize = 1000;

async fn insert_members(txn: &DatabaseTransaction, rows: Vec<chat_members::ActiveModel>) -> Result<(), ChatError> {
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let chunk: Vec<_> = rows.by_ref().take(INSERT_CHUNK).collect();
        chat_members::Entity::insert_many(chunk).exec_without_returning(txn).await?;
    }
    Ok(())
}

fn member_row(
    chat_id: Uuid,
    user_id: Uuid,
    role: Role,
    joined_seq: i64,
    now: DateTime<Utc>,
) -> chat_members::ActiveModel {
    chat_members::ActiveModel {
        chat_id: Set(chat_id),
        user_id: Set(user_id),
        joined_at: Set(now),
        delivered_up_to: Set(None),
        seen_up_to: Set(None),
        role: Set(role.as_str().to_owned()),
        joined_seq: Set(joined_seq),
        muted_until: Set(None),
    }
}

fn check_size(members: usize, max_members: u32) -> Result<(), ChatError> {
    if members > max_members as usize {
        return Err(ChatError::TooManyMembers { max: max_members });
    }
    Ok(())
}

/// Every one of `users` has an account; the first that has none is named.
async fn check_users_exist(db: &DatabaseConnection, wanted: &[Uuid]) -> Result<(), ChatError> {
    let mut found = std::collections::HashSet::with_capacity(wanted.len());
    for chunk in wanted.chunks(INSERT_CHUNK) {
        found.extend(
            users::Entity::find()
                .select_only()
                .column(users::Column::Id)
                .filter(users::Column::Id.is_in(chunk.iter().copied()))
                .into_tuple::<Uuid>()
                .all(db)
                .await?,
        );
    }
    match wanted.iter().find(|u| !found.contains(u)) {
        Some(missing) => Err(ChatError::NoSuchUserId(*missing)),
        None => Ok(()),
    }
}

fn not_a_member(user: Uuid) -> ChatError {
    ChatError::NotAMember(user)
}

fn count(members: usize) -> i32 {
    i32::try_from(members).unwrap_or(i32::MAX)
}
