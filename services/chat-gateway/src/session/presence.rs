//! The presence of a connection's chat peers, as its client hears it: each change once,
//! however many ways it arrives (the snapshot on connecting, a new chat, the announcement of a
//! peer who connected at the same moment).

use uuid::Uuid;

use super::{Link, Session, Step};
use crate::protocol::{ServerEvent, UserRef};

impl<L: Link> Session<L> {
    /// `online` for a peer of a chat this connection has just heard of, if they are: the
    /// snapshot `start` gave did not include them.
    pub(super) async fn tell_presence_of(&mut self, peer: Uuid) -> Step {
        if peer == self.user {
            return Ok(());
        }
        let node = &self.state.node;
        if node.is_local(peer) || node.online_among(&[peer]).await.contains(&peer) {
            self.tell_presence(peer, true).await?;
        }
        Ok(())
    }

    /// Writes `online` or `offline` for `user_id` unless the client was told so last.
    pub(super) async fn tell_presence(&mut self, user_id: Uuid, online: bool) -> Step {
        if self.told_online.insert(user_id, online) == Some(online) {
            return Ok(());
        }
        let user = UserRef { user_id };
        self.write_event(&if online { ServerEvent::Online(user) } else { ServerEvent::Offline(user) }, None).await
    }
}
