//! What the broker hands in goes to the hub, and presence learns on the way who came online
//! or went offline.

use std::sync::Arc;

use super::{envelope::Outgoing, hub::Hub, inbound::Inbound, known_presence::KnownPresence, target::Target};

/// The hub, with presence listening in: every presence change is announced to the user's chat
/// peers, so this replica hears of each user it may be asked about (a peer of someone here).
pub(crate) struct Listener {
    pub(crate) hub: Arc<Hub>,
    pub(crate) known: Option<Arc<KnownPresence>>,
}

impl Inbound for Listener {
    fn deliver(&self, target: Target, event: Arc<Outgoing>) {
        if let (Some(known), Some(change)) = (&self.known, event.presence) {
            known.heard(change.user_id, change.online);
        }
        self.hub.deliver(target, event);
    }

    fn resync(&self, targets: &[Target]) {
        // What was missed or could not be read may have been a presence change.
        if let Some(known) = &self.known {
            known.forget_all();
        }
        self.hub.resync(targets);
    }
}
