//! What each chat command does, whichever way it came (a `/chat` frame, a Socket.IO event):
//! it checks, stores through `store`, and tells whom it concerns through the node. A message
//! is told once the writer has committed it (what [`messages::send`] hands the writer to run
//! then), so nobody hears of a message that is not stored, whether or not its sender is still
//! connected.
//! The session keeps its loop, its order and its writes; it does not publish. The REST routes
//! read through here too ([`reads`]).

pub(crate) mod accounts;
pub(crate) mod changes;
pub(crate) mod chats;
pub(crate) mod groups;
pub(crate) mod messages;
pub(crate) mod reads;
pub(crate) mod receipts;
pub(crate) mod typing;

use uuid::Uuid;

/// Who runs a command: the user, and the connection it came by (none over HTTP), which hears
/// the command's result as its reply rather than as a push.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Caller<'a> {
    pub(crate) user: Uuid,
    /// As signed into the access token: what a push notification names the sender by.
    pub(crate) username: &'a str,
    pub(crate) connection: Option<u64>,
}
