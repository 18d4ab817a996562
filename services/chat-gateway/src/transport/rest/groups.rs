//! A chat described with its members, and groups made over HTTP (as with `create_group`, the
//! members' connections hear of it).

use poem_openapi::{ApiResponse, Object, payload::Json, types::Example};
use shared::{
    http::{
        Refusal, Refusals, Text,
        refusals::{BEARER, DEPENDENCIES, INVALID_FIELD, JSON_BODY, UNPARSED_PARAMETER},
    },
    timestamp::{Timestamp, timestamp},
    tokens::AccessClaims,
};
use uuid::Uuid;

use super::{ALICE, BOB, CHAT};
use crate::{
    commands::{self, Caller},
    domain::{Role, TitleText},
    error::ChatError,
    protocol::{CreateGroup, RoleName},
    state::ChatState,
    store::groups::{self, ChatProfile},
};

/// A new group.
#[derive(Debug, Object)]
#[oai(deny_unknown_fields, example)]
pub struct NewGroup {
    /// 1 to 100 characters on one line (no control characters); surrounding whitespace is
    /// trimmed.
    pub title: Text<TitleText>,
    /// The other members (the caller is the owner); repeats and the caller count once; at
    /// most `GROUP_MAX_MEMBERS` members in all.
    pub user_ids: Vec<Uuid>,
}

impl Example for NewGroup {
    fn example() -> Self {
        Self { title: "Weekend hike".into(), user_ids: vec![BOB] }
    }
}

/// A member as a chat's description lists them.
#[derive(Debug, Object)]
pub struct ChatMember {
    /// The member's id.
    pub user_id: Uuid,
    /// As the member spelled it at registration.
    pub username: String,
    /// `owner`, `admin` or `member` (a private chat's two are `member`s).
    pub role: RoleName,
    /// When they joined: they see the messages sent from then on. RFC 3339, UTC, milliseconds.
    pub joined_at: Text<Timestamp>,
}

/// A chat and its members.
#[derive(Debug, Object)]
#[oai(example)]
pub struct ChatDescription {
    /// The chat's id, as `/chat`'s events name it.
    pub chat_id: Uuid,
    /// `private` (two users) or `group`.
    pub kind: ChatKindName,
    /// A group's title; null for a private chat.
    #[oai(nullable)]
    pub title: Option<String>,
    /// A group's owner; null for a private chat.
    #[oai(nullable)]
    pub owner_id: Option<Uuid>,
    /// Longest-standing first.
    pub members: Vec<ChatMember>,
}

/// What kind of chat.
#[derive(Debug, Clone, Copy, PartialEq, Eq, poem_openapi::Enum)]
#[oai(rename_all = "snake_case")]
pub enum ChatKindName {
    Private,
    Group,
}

impl From<crate::domain::ChatKind> for ChatKindName {
    fn from(kind: crate::domain::ChatKind) -> Self {
        match kind {
            crate::domain::ChatKind::Private => Self::Private,
            crate::domain::ChatKind::Group => Self::Group,
        }
    }
}

impl Example for ChatDescription {
    fn example() -> Self {
        let member = |user_id, username: &str, role: Role| ChatMember {
            user_id,
            username: username.into(),
            role: role.into(),
            joined_at: "2026-01-05T09:41:12.345Z".into(),
        };
        Self {
            chat_id: CHAT,
            kind: ChatKindName::Group,
            title: Some("Weekend hike".into()),
            owner_id: Some(ALICE),
            members: vec![member(ALICE, "alice", Role::Owner), member(BOB, "bob", Role::Member)],
        }
    }
}

impl From<ChatProfile> for ChatDescription {
    fn from(profile: ChatProfile) -> Self {
        let kind = profile.kind();
        let owner_id = profile.owner();
        Self {
            chat_id: profile.chat.id,
            kind: kind.into(),
            title: profile.chat.title,
            owner_id,
            members: profile
                .members
                .into_iter()
                .map(|m| ChatMember {
                    user_id: m.user_id,
                    username: m.username,
                    role: m.role.into(),
                    joined_at: timestamp(m.joined_at),
                })
                .collect(),
        }
    }
}

#[derive(Debug, ApiResponse)]
pub enum GroupMade {
    /// The group, as `GET /chats/{chat_id}` describes it; every member's connections got
    /// `group_created`.
    #[oai(status = 201)]
    Created(Json<ChatDescription>),
}

const NO_SUCH_USER: Refusal = Refusal::new(404, "not_found", "A `user_ids` entry names no account.");
const TOO_MANY_MEMBERS: Refusal =
    Refusal::new(400, "too_many_members", "The group would have more members than `GROUP_MAX_MEMBERS`.");

/// What `POST /chats` refuses.
pub enum CreateRefusals {}

impl Refusals for CreateRefusals {
    const LIST: &'static [&'static [Refusal]] =
        &[BEARER, JSON_BODY, &[INVALID_FIELD, NO_SUCH_USER, TOO_MANY_MEMBERS], DEPENDENCIES];
}

/// What `GET /chats/{chat_id}` refuses. A chat that does not exist is one the caller is not a
/// member of: a 403 too, so that ids cannot be probed.
pub enum DescribeRefusals {}

impl Refusals for DescribeRefusals {
    const LIST: &'static [&'static [Refusal]] = &[
        BEARER,
        &[
            UNPARSED_PARAMETER,
            INVALID_FIELD,
            Refusal::new(403, "forbidden", "The caller is not a member of this chat (or there is no such chat)."),
        ],
        DEPENDENCIES,
    ];
}

/// `POST /chats`: the group, made as `create_group` makes it.
pub(super) async fn create(state: &ChatState, auth: &AccessClaims, body: NewGroup) -> Result<GroupMade, ChatError> {
    let caller = Caller { user: auth.sub, username: &auth.preferred_username, connection: None };
    let request = CreateGroup { title: body.title, user_ids: body.user_ids };
    let (_, group) = commands::groups::create_group(state, caller, request).await?;
    Ok(GroupMade::Created(Json(group.into())))
}

/// `GET /chats/{chat_id}`: read on the primary, so that a group just made is found.
pub(super) async fn describe(
    state: &ChatState,
    auth: &AccessClaims,
    chat_id: Uuid,
) -> Result<ChatDescription, ChatError> {
    Ok(groups::profile(&state.db, chat_id, auth.sub).await?.into())
}
