//! Where a client resumes, as it asks on connecting (`/chat`'s query, Socket.IO's `auth`):
//! checked without the database first, then resolved to positions in each chat.

use std::collections::HashMap;

use shared::ApiError;
use uuid::Uuid;

use crate::{
    error::ChatError,
    session::Resume,
    state::ChatState,
    store::{chats, history},
};

/// Most chats a client may name in `last_message_ids`.
const MAX_RESUME_CHATS: usize = 500;

/// The resume point as the client wrote it, checked without the database.
pub(crate) enum ResumeRequest {
    Live,
    Since(i64),
    /// Distinct `(chat_id, message_id)` pairs, one per chat.
    Chats(Vec<(Uuid, i64)>),
}

impl ResumeRequest {
    /// `since`, or `last_message_ids` as `chat_id:message_id` pairs, comma separated.
    pub(crate) fn parse(since: Option<i64>, last_message_ids: Option<&str>) -> Result<Self, ApiError> {
        match (since, last_message_ids) {
            (Some(_), Some(_)) => {
                Err(ApiError::bad_request("invalid_query", "give since or last_message_ids, not both"))
            }
            (Some(since), None) if since < 0 => Err(ApiError::invalid_field("since", "since: a message id, 0 or more")),
            (Some(since), None) => Ok(Self::Since(since)),
            (None, Some(list)) => {
                let entries: Vec<&str> = list.split(',').filter(|p| !p.is_empty()).collect();
                // Counted as written, repeats included: each entry is work to parse.
                if entries.len() > MAX_RESUME_CHATS {
                    return Err(ApiError::invalid_field(
                        "last_message_ids",
                        format!("last_message_ids: at most {MAX_RESUME_CHATS} chats"),
                    ));
                }
                let mut pairs: Vec<(Uuid, i64)> = Vec::with_capacity(entries.len());
                for entry in entries {
                    let pair = parse_pair(entry)?;
                    match pairs.iter().find(|(known, _)| *known == pair.0) {
                        Some(known) if *known == pair => {}
                        Some(_) => {
                            return Err(ApiError::invalid_field(
                                "last_message_ids",
                                format!("last_message_ids: chat {} named twice with different messages", pair.0),
                            ));
                        }
                        None => pairs.push(pair),
                    }
                }
                Ok(Self::Chats(pairs))
            }
            (None, None) => Ok(Self::Live),
        }
    }

    /// Where each named chat stands for `user`: two queries however many chats.
    pub(crate) async fn resolve(self, state: &ChatState, user: Uuid) -> Result<Resume, ApiError> {
        let pairs = match self {
            Self::Live => return Ok(Resume::Live),
            Self::Since(since) => return Ok(Resume::Since(since)),
            Self::Chats(pairs) => pairs,
        };
        let chat_ids: Vec<Uuid> = pairs.iter().map(|(chat_id, _)| *chat_id).collect();
        let member_of = chats::memberships(&state.db, user, &chat_ids).await?;
        if chat_ids.iter().any(|chat_id| !member_of.contains(chat_id)) {
            return Err(ChatError::NotMember.into());
        }
        let named: Vec<(Uuid, i64)> = pairs.iter().copied().filter(|(_, message)| *message != 0).collect();
        let seqs = history::seqs_of(&state.db, &named).await?;
        let mut positions = HashMap::with_capacity(pairs.len());
        for (chat_id, message_id) in pairs {
            let seq = match message_id {
                0 => 0,
                _ => *seqs.get(&(chat_id, message_id)).ok_or_else(|| {
                    ApiError::invalid_field("last_message_ids", format!("no message {message_id} in chat {chat_id}"))
                })?,
            };
            positions.insert(chat_id, seq);
        }
        Ok(Resume::Chats(positions))
    }
}

fn parse_pair(pair: &str) -> Result<(Uuid, i64), ApiError> {
    let invalid =
        || ApiError::invalid_field("last_message_ids", "last_message_ids: chat_id:message_id pairs, comma separated");
    let (chat_id, message) = pair.split_once(':').ok_or_else(invalid)?;
    let chat_id = Uuid::parse_str(chat_id).map_err(|_| invalid())?;
    let message: i64 = message.parse().map_err(|_| invalid())?;
    if message < 0 {
        return Err(invalid());
    }
    Ok((chat_id, message))
}
