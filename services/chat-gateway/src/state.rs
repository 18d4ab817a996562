//! What the gateway's handlers and connections share.

use std::sync::Arc;

use sea_orm::DatabaseConnection;
use shared::{outbox::Wakeup, tokens::TokenVerifier};
use uuid::Uuid;

use crate::{
    chats,
    config::ChatSettings,
    hub::Hub,
    metrics::GatewayMetrics,
    presence::Presence,
    protocol::{Outgoing, ServerEvent},
    slots::ConnectionSlots,
    writer::Writer,
};

pub struct ChatState {
    pub db: DatabaseConnection,
    pub hub: Arc<Hub>,
    /// The connections each user holds here, bounded.
    pub slots: Arc<ConnectionSlots>,
    pub presence: Presence,
    pub verifier: Arc<TokenVerifier>,
    pub settings: ChatSettings,
    pub metrics: Arc<GatewayMetrics>,
    /// Wakes this process's outbox relay after an offline push (chat-suite runs one).
    pub wakeup: Option<Wakeup>,
    /// Stores messages, many to a commit under load.
    pub writer: Writer,
}

impl ChatState {
    /// Tells everyone who shares a chat with `user` that they came online or went offline.
    pub async fn announce(&self, user: Uuid, online: bool) {
        match chats::peers(&self.db, user).await {
            Ok(peers) if !peers.is_empty() => {
                let event =
                    if online { ServerEvent::Online { user_id: user } } else { ServerEvent::Offline { user_id: user } };
                self.hub.publish(&peers, Outgoing::event(&event), None);
            }
            Ok(_) => {}
            Err(err) => tracing::warn!(error = %err, %user, "presence change not announced"),
        }
    }

    /// A connection of `user` arrived (`first` on this replica): make sure the replica is
    /// subscribed to the user's channel before the connection reads its chats, so nothing
    /// published meanwhile is missed (every connection waits: a second one may come while the
    /// first one's subscription is still on its way), and record presence.
    pub async fn arrived(self: &Arc<Self>, user: Uuid, first: bool) {
        if let Some(bus) = self.hub.bus()
            && !bus.subscribe(user).await
        {
            tracing::warn!(%user, "no Redis subscription yet; the connection resynchronises when it is back");
        }
        if first && self.presence.arrived(&self.hub, user).await {
            self.announce(user, true).await;
        }
    }

    /// The user's last connection on this replica is gone (unless one arrived meanwhile).
    pub async fn left(self: &Arc<Self>, user: Uuid) {
        if self.hub.is_local(user) {
            return;
        }
        if let Some(bus) = self.hub.bus() {
            bus.unsubscribe(user);
        }
        if self.presence.left(&self.hub, user).await && !self.hub.is_local(user) {
            self.announce(user, false).await;
        }
    }
}
