//! Whom an event on the bus is for: a user (each of their connections) or a room (each
//! connection that joined a group chat). Each has a channel of its own (`partitions.rs` names
//! it), so a group's message is published once, not once per member.

use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Target {
    /// Every connection of the user.
    User(Uuid),
    /// Every connection in the room of the chat with this id.
    Room(Uuid),
}

impl Target {
    /// The id the target's partition is chosen from.
    pub(crate) fn id(self) -> Uuid {
        match self {
            Self::User(id) | Self::Room(id) => id,
        }
    }
}
