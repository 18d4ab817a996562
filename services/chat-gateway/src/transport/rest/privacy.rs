//! What a user keeps from reaching them: the users they blocked (`/me/blocks`) and the chats
//! they muted (`/chats/{chat_id}/mute`).

use std::sync::Arc;

use chrono::{DateTime, Datelike, Utc};
use poem::web::Data;
use poem_openapi::{ApiResponse, Object, OpenApi, param::Path, payload::Json, types::Example};
use shared::{
    ApiError,
    http::{
        BearerAuth, Refusal, Refusals, Refused, Text, UuidText,
        refusals::{BEARER, DEPENDENCIES, INVALID_FIELD, JSON_BODY, UNPARSED_PARAMETER},
    },
    text_rule::TextRule,
    timestamp::{Timestamp, timestamp},
};
use uuid::Uuid;

use super::{BOB, CHAT, Tag, chat_id_of};
use crate::{
    state::ChatState,
    store::{blocks, mutes},
};

pub struct PrivacyApi;

/// The users the caller blocked.
#[derive(Debug, Object)]
#[oai(example)]
pub struct BlockList {
    /// Longest-standing block first.
    pub user_ids: Vec<Uuid>,
}

impl Example for BlockList {
    fn example() -> Self {
        Self { user_ids: vec![BOB] }
    }
}

/// How long to mute a chat.
#[derive(Debug, Object)]
#[oai(deny_unknown_fields, example)]
pub struct Mute {
    /// Until when (RFC 3339, in the future); muted until unmuted when null or left out.
    #[oai(nullable)]
    pub until: Option<Text<Instant>>,
}

impl Example for Mute {
    fn example() -> Self {
        Self { until: Some("2026-01-05T18:00:00.000Z".into()) }
    }
}

/// A chat as the caller muted it.
#[derive(Debug, Object)]
#[oai(example)]
pub struct Muted {
    /// The chat muted.
    pub chat_id: Uuid,
    /// No pushes from the chat before then: RFC 3339, UTC, milliseconds;
    /// `9999-12-31T23:59:59.999Z` when muted until unmuted.
    pub muted_until: Text<Timestamp>,
}

impl Example for Muted {
    fn example() -> Self {
        Self { chat_id: CHAT, muted_until: "2026-01-05T18:00:00.000Z".into() }
    }
}

/// Any RFC 3339 instant (`Z` or an offset; any precision).
pub struct Instant;

impl TextRule for Instant {
    const FORMAT: Option<&'static str> = Some("date-time");
    const EXAMPLE: Option<&'static str> = Some("2026-01-05T18:00:00.000Z");

    fn well_formed(text: &str) -> bool {
        DateTime::parse_from_rfc3339(text).is_ok()
    }
}

/// What a muted chat with no end is muted until: the last instant the databases hold.
fn forever() -> DateTime<Utc> {
    DateTime::from_timestamp_millis(253_402_300_799_999).unwrap_or(DateTime::<Utc>::MAX_UTC)
}

#[derive(Debug, ApiResponse)]
pub enum Done {
    /// Done (doing it again changes nothing).
    #[oai(status = 204)]
    NoContent,
}

const NO_SUCH_USER: Refusal = Refusal::new(404, "not_found", "No account has this id.");
const NOT_A_MEMBER: Refusal =
    Refusal::new(403, "forbidden", "The caller is not a member of this chat (or there is no such chat).");

/// What `PUT /me/blocks/{user_id}` refuses.
pub enum BlockRefusals {}

impl Refusals for BlockRefusals {
    const LIST: &'static [&'static [Refusal]] =
        &[BEARER, &[UNPARSED_PARAMETER, INVALID_FIELD, NO_SUCH_USER], DEPENDENCIES];
}

/// What `DELETE /me/blocks/{user_id}` refuses.
pub enum UnblockRefusals {}

impl Refusals for UnblockRefusals {
    const LIST: &'static [&'static [Refusal]] = &[BEARER, &[UNPARSED_PARAMETER, INVALID_FIELD], DEPENDENCIES];
}

/// What `GET /me/blocks` refuses.
pub enum ListRefusals {}

impl Refusals for ListRefusals {
    const LIST: &'static [&'static [Refusal]] = &[BEARER, DEPENDENCIES];
}

/// What `PUT /chats/{chat_id}/mute` refuses.
pub enum MuteRefusals {}

impl Refusals for MuteRefusals {
    const LIST: &'static [&'static [Refusal]] =
        &[BEARER, JSON_BODY, &[UNPARSED_PARAMETER, INVALID_FIELD, NOT_A_MEMBER], DEPENDENCIES];
}

/// What `DELETE /chats/{chat_id}/mute` refuses.
pub enum UnmuteRefusals {}

impl Refusals for UnmuteRefusals {
    const LIST: &'static [&'static [Refusal]] =
        &[BEARER, &[UNPARSED_PARAMETER, INVALID_FIELD, NOT_A_MEMBER], DEPENDENCIES];
}

#[OpenApi(tag = "Tag::Privacy")]
impl PrivacyApi {
    /// Block a user: neither of the two can start a private chat with the other or send into
    /// theirs (`blocked`), and nothing else tells them. Groups are not affected.
    #[oai(path = "/me/blocks/:user_id", method = "put", operation_id = "block_user")]
    async fn block(
        &self,
        state: Data<&Arc<ChatState>>,
        auth: BearerAuth,
        /// The user to block.
        user_id: Path<Text<UuidText>>,
    ) -> Result<Done, Refused<BlockRefusals>> {
        let user = user_id_of(&user_id.0)?;
        if user == auth.0.sub {
            return Err(ApiError::invalid_field("user_id", "user_id: you cannot block yourself").into());
        }
        blocks::block(&state.db, auth.0.sub, user).await?;
        Ok(Done::NoContent)
    }

    /// Take a block back.
    #[oai(path = "/me/blocks/:user_id", method = "delete", operation_id = "unblock_user")]
    async fn unblock(
        &self,
        state: Data<&Arc<ChatState>>,
        auth: BearerAuth,
        /// The user to unblock.
        user_id: Path<Text<UuidText>>,
    ) -> Result<Done, Refused<UnblockRefusals>> {
        blocks::unblock(&state.db, auth.0.sub, user_id_of(&user_id.0)?).await?;
        Ok(Done::NoContent)
    }

    /// The users the caller blocked.
    #[oai(path = "/me/blocks", method = "get", operation_id = "list_blocks")]
    async fn blocks(
        &self,
        state: Data<&Arc<ChatState>>,
        auth: BearerAuth,
    ) -> Result<Json<BlockList>, Refused<ListRefusals>> {
        Ok(Json(BlockList { user_ids: blocks::blocked_by(&state.db, auth.0.sub).await? }))
    }

    /// Mute a chat for the caller: no pushes from it until `until` (or until unmuted). Its
    /// messages still reach the caller's connections; `GET /chats` shows `muted_until`.
    #[oai(path = "/chats/:chat_id/mute", method = "put", operation_id = "mute_chat")]
    async fn mute(
        &self,
        state: Data<&Arc<ChatState>>,
        auth: BearerAuth,
        /// The chat.
        chat_id: Path<Text<UuidText>>,
        body: Json<Mute>,
    ) -> Result<Json<Muted>, Refused<MuteRefusals>> {
        let chat_id = chat_id_of(&chat_id.0)?;
        let until = match body.0.until {
            None => forever(),
            Some(text) => {
                let at = DateTime::parse_from_rfc3339(&text)
                    .map_err(|_| ApiError::invalid_field("until", "until: an RFC 3339 instant"))?
                    .to_utc();
                if at <= Utc::now() || at.year() > 9999 {
                    return Err(ApiError::invalid_field("until", "until: an instant in the future").into());
                }
                at
            }
        };
        mutes::set(&state.db, chat_id, auth.0.sub, Some(until)).await?;
        Ok(Json(Muted { chat_id, muted_until: timestamp(until) }))
    }

    /// Unmute a chat: its pushes come again.
    #[oai(path = "/chats/:chat_id/mute", method = "delete", operation_id = "unmute_chat")]
    async fn unmute(
        &self,
        state: Data<&Arc<ChatState>>,
        auth: BearerAuth,
        /// The chat.
        chat_id: Path<Text<UuidText>>,
    ) -> Result<Done, Refused<UnmuteRefusals>> {
        mutes::set(&state.db, chat_id_of(&chat_id.0)?, auth.0.sub, None).await?;
        Ok(Done::NoContent)
    }
}

/// The `user_id` path parameter, a UUID.
fn user_id_of(raw: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw).map_err(|_| ApiError::invalid_field("user_id", "user_id: not a UUID"))
}
