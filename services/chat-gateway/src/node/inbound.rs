//! How the broker hands what other replicas publish to this replica's connections, without
//! knowing who holds them (the hub implements it, with presence listening in: `listener.rs`).

use std::sync::Arc;

use super::{envelope::Outgoing, target::Target};

pub(crate) trait Inbound: Send + Sync + 'static {
    /// An event for `target`: for each connection here of the user, or in the room.
    fn deliver(&self, target: Target, event: Arc<Outgoing>);
    /// Events for `targets` may have been lost (their partition's subscription was down, or
    /// what came could not be read: an envelope of a newer release): the connections here of
    /// those users and in those rooms read their chats again from the database, each once.
    fn resync(&self, targets: &[Target]);
}
