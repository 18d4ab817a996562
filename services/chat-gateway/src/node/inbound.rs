//! How the broker hands what other replicas publish to this replica's connections, without
//! knowing who holds them (the hub implements it), and what presence learns on the way.

use std::sync::Arc;

use uuid::Uuid;

use super::{envelope::Outgoing, hub::Hub, known_presence::KnownPresence};

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

/// The hub, with presence listening in: every presence change is announced to the user's chat
/// peers, so this replica hears of each user it may be asked about (a peer of someone here).
pub(crate) struct Listener {
    pub(crate) hub: Arc<Hub>,
    pub(crate) known: Option<Arc<KnownPresence>>,
}

impl Inbound for Listener {
    fn deliver(&self, user: Uuid, event: Arc<Outgoing>) {
        if let (Some(known), Some(change)) = (&self.known, event.presence) {
            known.heard(change.user_id, change.online);
        }
        self.hub.deliver(user, event);
    }

    fn resync_user(&self, user: Uuid) {
        // What could not be read may have been a presence change.
        if let Some(known) = &self.known {
            known.forget_all();
        }
        self.hub.resync_user(user);
    }

    fn resync(&self) {
        if let Some(known) = &self.known {
            known.forget_all();
        }
        self.hub.resync();
    }
}
