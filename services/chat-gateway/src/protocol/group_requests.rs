//! Client to server: what the group events carry (`create_group`, `add_members`,
//! `remove_member`, `set_role`, `rename_chat`; `leave_chat` names a chat only), and the check
//! of a group's title where the frame is read.

use poem_openapi::{Enum, Object};
use serde::Deserialize;
use shared::http::Text;
use uuid::Uuid;

use super::WsError;
use crate::domain::{Title, TitleText};

/// A new group.
#[derive(Debug, Deserialize, Object)]
#[serde(deny_unknown_fields)]
pub struct CreateGroup {
    /// Shown on one line: no control characters; surrounding whitespace is trimmed.
    pub title: Text<TitleText>,
    /// The other members; the caller is the owner.
    pub user_ids: Vec<Uuid>,
}

/// Members to add to a group.
#[derive(Debug, Deserialize, Object)]
#[serde(deny_unknown_fields)]
pub struct AddMembers {
    pub chat_id: Uuid,
    #[oai(validator(min_items = 1))]
    pub user_ids: Vec<Uuid>,
}

/// A member of a group.
#[derive(Debug, Clone, Copy, Deserialize, Object)]
#[serde(deny_unknown_fields)]
pub struct MemberRef {
    pub chat_id: Uuid,
    pub user_id: Uuid,
}

/// A role the owner may give.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Enum)]
#[serde(rename_all = "snake_case")]
#[oai(rename_all = "snake_case", rename = "GivenRole")]
pub enum GivenRole {
    Admin,
    Member,
}

/// A member's new role.
#[derive(Debug, Clone, Copy, Deserialize, Object)]
#[serde(deny_unknown_fields)]
pub struct SetRole {
    pub chat_id: Uuid,
    pub user_id: Uuid,
    pub role: GivenRole,
}

/// A group's new title.
#[derive(Debug, Deserialize, Object)]
#[serde(deny_unknown_fields)]
pub struct RenameChat {
    pub chat_id: Uuid,
    /// Shown on one line: no control characters; surrounding whitespace is trimmed.
    pub title: Text<TitleText>,
}

/// A group's title keeps its rule, checked where the frame is read like every field.
pub(super) fn titled(title: &str) -> Result<(), WsError> {
    Title::parse(title).map(drop).map_err(|broken| WsError::invalid_data(Title::refusal(&broken)))
}
