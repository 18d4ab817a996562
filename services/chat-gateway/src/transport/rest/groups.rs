//! A chat described with its members, and groups made over HTTP (as with `create_group`, the
//! members' connections hear of it).

use std::sync::Arc;

use poem::web::Data;
use poem_openapi::{ApiResponse, Object, OpenApi, param::Path, payload::Json, types::Example};
use shared::{
    ApiError,
    http::{
        BearerAuth, Refusal, Refusals, Refused, Text, UuidText,
        refusals::{BEARER, DEPENDENCIES, INVALID_FIELD, JSON_BODY, UNPARSED_PARAMETER},
    },
    timestamp::{Timestamp, timestamp},
};
use uuid::Uuid;

use super::{ALICE, BOB, CHAT, Tag};
use crate::{
    commands::{self, Caller},
    domain::{Role, TitleText},
    protocol::{CreateGroup, RoleName},
    state::ChatState,
    store::groups::{self, ChatProfile},
};

pub struct GroupsApi;

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

#[OpenApi(tag = "Tag::Chats")]
impl GroupsApi {
    /// Make a group: the caller is its owner, `user_ids` its members. Every member's
    /// connections get `group_created`, as when it is made over `/chat`.
    #[oai(path = "/chats", method = "post", operation_id = "create_group")]
    async fn create(
        &self,
        state: Data<&Arc<ChatState>>,
        auth: BearerAuth,
        body: Json<NewGroup>,
    ) -> Result<GroupMade, Refused<CreateRefusals>> {
        let caller = Caller { user: auth.0.sub, username: &auth.0.preferred_username, connection: None };
        let request = CreateGroup { title: body.0.title, user_ids: body.0.user_ids };
        let (_, group) = commands::groups::create_group(&state, caller, request).await?;
        Ok(GroupMade::Created(Json(group.into())))
    }

    /// A chat and its members (private or group). Members only.
    #[oai(path = "/chats/:chat_id", method = "get", operation_id = "describe_chat")]
    async fn describe(
        &self,
        state: Data<&Arc<ChatState>>,
        auth: BearerAuth,
        /// The chat (`chat_id` of `GET /chats`, `group_created` or `private_chat_room_created`).
        chat_id: Path<Text<UuidText>>,
    ) -> Result<Json<ChatDescription>, Refused<DescribeRefusals>> {
        let chat_id =
            Uuid::parse_str(&chat_id.0).map_err(|_| ApiError::invalid_field("chat_id", "chat_id: not a UUID"))?;
        Ok(Json(groups::profile(&state.db, chat_id, auth.0.sub).await?.into()))
    }
}
