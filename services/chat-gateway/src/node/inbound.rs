//! How the broker hands what other replicas publish to this replica's connections, without
//! knowing who holds them (the hub implements it, with presence listening in: `listener.rs`).

use std::sync::Arc;

use uuid::Uuid;

use super::envelope::Outgoing;

pub(crate) trait Inbound: Send + Sync + 'static {
    /// An event for `user`, for each of the user's connections here.
    fn deliver(&self, user: Uuid, event: Arc<Outgoing>);
    /// Something for `user` could not be read (an envelope of a newer release): the user's
    /// connections here read their chats again from the database.
    fn resync_user(&self, user: Uuid);
    /// Events may have been lost (the subscription was down): every connection here reads its
    /// chats again.
    fn resync(&self);
}
