//! How the broker hands what other replicas publish to this replica's connections, without
//! knowing who holds them (the hub implements it, with presence listening in: `listener.rs`).

use std::sync::Arc;

use uuid::Uuid;

use super::envelope::Outgoing;

pub(crate) trait Inbound: Send + Sync + 'static {
    /// An event for `user`, for each of the user's connections here.
    fn deliver(&self, user: Uuid, event: Arc<Outgoing>);
    /// Events for `users` may have been lost (their partition's subscription was down, or
    /// what came could not be read: an envelope of a newer release): their connections here
    /// read their chats again from the database.
    fn resync_users(&self, users: &[Uuid]);
}
