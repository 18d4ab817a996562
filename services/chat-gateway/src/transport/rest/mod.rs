//! The gateway's REST routes: the caller's chat list and a chat's history, a chat's
//! description and groups made over HTTP (their types and work in [`groups`]), for members;
//! the users the caller blocked and the chats they muted ([`privacy`]).

mod groups;
mod privacy;

use std::sync::Arc;

use chrono::{DateTime, Datelike, Utc};
use poem::web::Data;
use poem_openapi::{
    Object, OpenApi, Tags,
    param::{Path, Query},
    payload::Json,
    types::Example,
};
use shared::{
    ApiError,
    http::{
        BearerAuth, Refusal, Refusals, Refused, Text, UuidText,
        refusals::{BEARER, DEPENDENCIES, INVALID_FIELD, UNPARSED_PARAMETER},
    },
    paging::{PageSize, decode_cursor, encode_cursor},
    timestamp::{Timestamp, timestamp},
};
use uuid::Uuid;

use crate::{
    commands::reads,
    domain::ChatKind,
    protocol::{MessageView, ReactionCount},
    state::ChatState,
    store::{chats, history::Page},
};

#[derive(Tags)]
pub(crate) enum Tag {
    /// Chats and their history.
    Chats,
    /// Blocking users and muting chats.
    Privacy,
}

pub struct ChatsApi;

/// Every chat-gateway REST route, for one `OpenApiService` (one impl per path: the document
/// keeps one entry per path, so a second impl's `POST /chats` would hide `GET /chats`).
pub fn apis() -> (ChatsApi, privacy::PrivacyApi) {
    (ChatsApi, privacy::PrivacyApi)
}

/// A member of a chat, and how far they have received and read it.
#[derive(Debug, Object)]
pub struct Member {
    /// The member's id.
    pub user_id: Uuid,
    /// As the member spelled it at registration.
    pub username: String,
    /// The member acknowledged receipt (`receive_message`) of every message up to this
    /// `message_id`; null before their first.
    #[oai(nullable)]
    pub delivered_up_to: Option<i64>,
    /// The member read (`seen`) every message up to this `message_id`; null before their first.
    #[oai(nullable)]
    pub seen_up_to: Option<i64>,
}

/// How far one member has received and read a chat: a sender's own messages at or below a
/// peer's `seen_up_to` were read by that peer.
#[derive(Debug, Object)]
pub struct MemberReceipts {
    /// The member's id.
    pub user_id: Uuid,
    /// Receipt acknowledged (`receive_message`) of every message up to this `message_id`;
    /// null before the first.
    #[oai(nullable)]
    pub delivered_up_to: Option<i64>,
    /// Read (`seen`) every message up to this `message_id`; null before the first.
    #[oai(nullable)]
    pub seen_up_to: Option<i64>,
}

impl From<chats::Receipts> for MemberReceipts {
    fn from(r: chats::Receipts) -> Self {
        Self { user_id: r.user_id, delivered_up_to: r.delivered_up_to, seen_up_to: r.seen_up_to }
    }
}

/// One of the caller's chats.
#[derive(Debug, Object)]
pub struct ChatEntry {
    /// The chat's id, as `/chat`'s events name it.
    pub chat_id: Uuid,
    /// `private` (two users) or `group`.
    pub kind: groups::ChatKindName,
    /// A group's title; null for a private chat.
    #[oai(nullable)]
    pub title: Option<String>,
    /// How many members the chat has (2 for a private chat).
    pub member_count: u32,
    /// A private chat's two members; a group's entry lists the caller alone (`GET
    /// /chats/{chat_id}` lists every member, a history page every member's receipts).
    pub members: Vec<Member>,
    /// When the chat was made: RFC 3339, UTC, milliseconds.
    pub created_at: Text<Timestamp>,
    /// When the newest message was sent (or the chat made, before any).
    pub last_activity_at: Text<Timestamp>,
    /// The newest message; null before any.
    #[oai(nullable)]
    pub last_message: Option<MessageView>,
    /// Messages from the other members after the caller's last `seen` (deleted ones not
    /// counted).
    pub unread_count: u64,
    /// Until when the caller muted the chat (no pushes from it before then); null when it is
    /// not muted. A chat muted with no end reads `9999-12-31T23:59:59.999Z`.
    #[oai(nullable)]
    pub muted_until: Option<Text<Timestamp>>,
}

/// A page of the caller's chats.
#[derive(Debug, Object)]
#[oai(example)]
pub struct ChatList {
    /// Newest activity first.
    pub chats: Vec<ChatEntry>,
    /// Pass as `cursor` for the next page; null on the last page.
    #[oai(nullable)]
    pub next_cursor: Option<String>,
}

/// A page of one chat's messages.
#[derive(Debug, Object)]
#[oai(example)]
pub struct MessagePage {
    /// Oldest first.
    pub messages: Vec<MessageView>,
    /// Whether more messages lie beyond this page in the direction asked (older for `before`
    /// and the newest page, newer for `after` and for both).
    pub has_more: bool,
    /// Every member's receipts, as they stand when the page is read: what to mark delivered
    /// and read after a reload. Live changes come as `message_received` and `message_seen`.
    pub members: Vec<MemberReceipts>,
}

pub(crate) const ALICE: Uuid = Uuid::from_u128(0x3fa8_5f64_5717_4562_b3fc_2c96_3f66_afa6);
pub(crate) const BOB: Uuid = Uuid::from_u128(0x9b2e_4c1a_7d3f_4e8b_a5c6_1f2d_3e4a_5b6c);
pub(crate) const CHAT: Uuid = Uuid::from_u128(0x5d1c_8e2f_3a4b_4c6d_9e7f_0a1b_2c3d_4e5f);

fn example_message() -> MessageView {
    MessageView {
        message_id: 42,
        chat_id: CHAT,
        sender_id: BOB,
        content: Some("see you at noon".into()),
        kind: "text".into(),
        sent_at: "2026-01-05T09:50:00.000Z".into(),
        client_msg_id: Some("c0ffee-1".into()),
        reply_to: Some(41),
        edited_at: None,
        deleted: false,
        reactions: Some(vec![ReactionCount { emoji: "👍".into(), count: 1, me: false }]),
    }
}

impl Example for ChatList {
    fn example() -> Self {
        let chat = ChatEntry {
            chat_id: CHAT,
            kind: groups::ChatKindName::Private,
            title: None,
            member_count: 2,
            members: vec![
                Member { user_id: ALICE, username: "alice".into(), delivered_up_to: Some(42), seen_up_to: Some(41) },
                Member { user_id: BOB, username: "bob".into(), delivered_up_to: Some(41), seen_up_to: Some(41) },
            ],
            created_at: "2026-01-05T09:41:12.345Z".into(),
            last_activity_at: "2026-01-05T09:50:00.000Z".into(),
            last_message: Some(example_message()),
            unread_count: 1,
            muted_until: None,
        };
        Self { chats: vec![chat], next_cursor: None }
    }
}

impl Example for MessagePage {
    fn example() -> Self {
        let members = vec![
            MemberReceipts { user_id: ALICE, delivered_up_to: Some(42), seen_up_to: Some(41) },
            MemberReceipts { user_id: BOB, delivered_up_to: Some(41), seen_up_to: Some(41) },
        ];
        Self { messages: vec![example_message()], has_more: false, members }
    }
}

/// `limit`: 50 unless given, at most 100.
type Limit = PageSize<50, 100>;

/// What `GET /chats` refuses: a bad `limit` or `cursor`.
pub enum ListRefusals {}

impl Refusals for ListRefusals {
    const LIST: &'static [&'static [Refusal]] = &[BEARER, &[UNPARSED_PARAMETER, INVALID_FIELD], DEPENDENCIES];
}

/// What `GET /chats/{chat_id}/messages` refuses. A chat that does not exist is one the caller
/// is not a member of: a 403 too, so that ids cannot be probed.
pub enum MessagesRefusals {}

impl Refusals for MessagesRefusals {
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
impl ChatsApi {
    /// The caller's chats, newest activity first (`limit` 1–100, default 50; `cursor` from the
    /// previous page).
    #[oai(path = "/chats", method = "get", operation_id = "list_chats")]
    async fn list(
        &self,
        state: Data<&Arc<ChatState>>,
        auth: BearerAuth,
        /// Chats per page: 1 to 100, 50 when left out.
        limit: Query<Option<Limit>>,
        /// The `next_cursor` of the previous page, to go on after it. Only a cursor this
        /// service issued is accepted.
        cursor: Query<Option<String>>,
    ) -> Result<Json<ChatList>, Refused<ListRefusals>> {
        let limit = Limit::resolve(limit.0)?;
        let after = cursor.0.as_deref().map(|raw| decode_cursor(raw, 2, activity_position)).transpose()?;
        let mut page = reads::chat_list(&state, auth.0.sub, after, limit + 1).await?;
        let next_cursor = if page.len() as u64 > limit {
            page.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
            page.last().map(|s| {
                encode_cursor(&[&s.chat.last_activity_at.timestamp_micros().to_string(), &s.chat.id.to_string()])
            })
        } else {
            None
        };
        let chats = page
            .into_iter()
            .map(|s| ChatEntry {
                chat_id: s.chat.id,
                kind: ChatKind::stored(&s.chat.kind).into(),
                title: s.chat.title,
                member_count: u32::try_from(s.chat.member_count).unwrap_or(0),
                members: s
                    .members
                    .into_iter()
                    .map(|(r, username)| Member {
                        user_id: r.user_id,
                        username,
                        delivered_up_to: r.delivered_up_to,
                        seen_up_to: r.seen_up_to,
                    })
                    .collect(),
                created_at: timestamp(s.chat.created_at),
                last_activity_at: timestamp(s.chat.last_activity_at),
                last_message: s.last_message.map(MessageView::from),
                unread_count: s.unread,
                muted_until: s.muted_until.map(timestamp),
            })
            .collect();
        Ok(Json(ChatList { chats, next_cursor }))
    }

    /// A page of a chat's messages, oldest first: the newest page, the page `before` or
    /// `after` a message id, or with both the messages between them (a gap to fill);
    /// `limit` 1–100, default 50. Members only.
    #[oai(path = "/chats/:chat_id/messages", method = "get", operation_id = "chat_messages")]
    async fn messages(
        &self,
        state: Data<&Arc<ChatState>>,
        auth: BearerAuth,
        /// The chat (`chat_id` of `GET /chats` or of `private_chat_room_created`).
        chat_id: Path<Text<UuidText>>,
        /// Only messages older than this `message_id`.
        before: Query<Option<i64>>,
        /// Only messages newer than this `message_id`.
        after: Query<Option<i64>>,
        /// Messages per page: 1 to 100, 50 when left out.
        limit: Query<Option<Limit>>,
    ) -> Result<Json<MessagePage>, Refused<MessagesRefusals>> {
        let chat_id = chat_id_of(&chat_id.0)?;
        let limit = Limit::resolve(limit.0)?;
        let page = match (before.0, after.0) {
            (Some(before), Some(after)) => Page::Between { after, before },
            (Some(id), None) => Page::Before(id),
            (None, Some(id)) => Page::After(id),
            (None, None) => Page::Newest,
        };
        let read = reads::history_page(&state, auth.0.sub, chat_id, page, limit).await?;
        Ok(Json(MessagePage {
            messages: read
                .messages
                .into_iter()
                .map(|(message, tallies)| MessageView {
                    reactions: Some(tallies.into_iter().map(ReactionCount::from).collect()),
                    ..MessageView::from(message)
                })
                .collect(),
            has_more: read.has_more,
            members: read.members.into_iter().map(MemberReceipts::from).collect(),
        }))
    }

    /// Make a group: the caller is its owner, `user_ids` its members. Every member's
    /// connections get `group_created`, as when it is made over `/chat`.
    #[oai(path = "/chats", method = "post", operation_id = "create_group")]
    async fn create_group(
        &self,
        state: Data<&Arc<ChatState>>,
        auth: BearerAuth,
        body: Json<groups::NewGroup>,
    ) -> Result<groups::GroupMade, Refused<groups::CreateRefusals>> {
        Ok(groups::create(&state, &auth.0, body.0).await?)
    }

    /// A chat and its members (private or group). Members only.
    #[oai(path = "/chats/:chat_id", method = "get", operation_id = "describe_chat")]
    async fn describe_chat(
        &self,
        state: Data<&Arc<ChatState>>,
        auth: BearerAuth,
        /// The chat (`chat_id` of `GET /chats`, `group_created` or `private_chat_room_created`).
        chat_id: Path<Text<UuidText>>,
    ) -> Result<Json<groups::ChatDescription>, Refused<groups::DescribeRefusals>> {
        Ok(Json(groups::describe(&state, &auth.0, chat_id_of(&chat_id.0)?).await?))
    }
}

/// The `chat_id` path parameter, a UUID (its `Text<UuidText>` type documents it, this checks it).
fn chat_id_of(raw: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw).map_err(|_| ApiError::invalid_field("chat_id", "chat_id: not a UUID"))
}

/// A chat list cursor's position: the last chat's activity time and id. A time the database
/// could not hold (before year 0 or after 9999) is no position this service hands out.
fn activity_position(parts: &[&str]) -> Option<(DateTime<Utc>, Uuid)> {
    let at = DateTime::from_timestamp_micros(parts[0].parse().ok()?)?;
    (0..=9999).contains(&at.year()).then_some(())?;
    Some((at, Uuid::parse_str(parts[1]).ok()?))
}
