//! `send_message`: the message as the writer takes it, and what its commit sets off.

use shared::outbox::Wakeup;
use tokio::{sync::oneshot, time::Instant};
use uuid::Uuid;

use super::Caller;
use crate::{
    error::ChatError,
    metrics::GatewayMetrics,
    node::{Node, Outgoing},
    protocol::{MessageView, SendMessage},
    state::ChatState,
    store::{
        messages::{Draft, Sent},
        writer::{OnCommit, Stored},
    },
};

/// Queues `message` (read at `read_at`) for storing in its chat with `peer`. Once the writer
/// has committed it, it is announced ([`announce`]) and then answered through the receiver.
pub(crate) async fn send(
    state: &ChatState,
    caller: Caller<'_>,
    message: &SendMessage,
    peer: Uuid,
    read_at: Instant,
) -> Result<oneshot::Receiver<Stored>, ChatError> {
    // A peer connected here is online without asking Redis.
    let online = state.node.is_local(peer) || state.node.online_among(&[peer]).await.contains(&peer);
    let members = vec![caller.user, peer];
    let draft = Draft {
        chat_id: message.chat_id,
        sender_id: caller.user,
        sender_username: caller.username.to_owned(),
        kind: message.kind.clone(),
        content: message.content.clone(),
        client_msg_id: message.client_msg_id.clone(),
        members: members.clone(),
        offline: if online { Vec::new() } else { vec![peer] },
    };
    let (node, metrics, wakeup) = (state.node.clone(), state.metrics.clone(), state.wakeup.clone());
    let connection = caller.connection;
    let on_commit: OnCommit =
        Box::new(move |stored| announce(stored, &members, connection, &node, &metrics, wakeup.as_ref()));
    let submitted = state.writer.submit(draft, read_at, on_commit);
    if matches!(submitted, Err(ChatError::Overloaded)) {
        state.metrics.overloaded_total.inc();
    }
    submitted
}

/// What a committed message sets off, run by the writer before it answers the sender: the
/// metrics, the push relay's wake-up, and the message to every connection of every member but
/// the one it came by, which has it as its reply (a copy there first would take the reply's
/// place, and with it the frame's id).
fn announce(
    stored: &Stored,
    members: &[Uuid],
    connection: u64,
    node: &Node,
    metrics: &GatewayMetrics,
    wakeup: Option<&Wakeup>,
) {
    match stored {
        Ok(Sent::New { message, pushes }) => {
            metrics.messages_total.inc();
            if *pushes > 0 {
                metrics.offline_pushes_total.inc_by(*pushes as u64);
                if let Some(wakeup) = wakeup {
                    wakeup.wake();
                }
            }
            let view = MessageView::from(message.clone());
            node.publish(members, Outgoing::message(view, message.seq), Some(connection));
        }
        Err(ChatError::Overloaded) => metrics.overloaded_total.inc(),
        Ok(Sent::Existing(_)) | Err(_) => {}
    }
}
