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
        chats::{self, Route},
        messages::{self, Draft, Sent},
        writer::{OnCommit, Stored},
    },
};

/// Queues `message` (read at `read_at`) for storing in its chat, routed as `route` says.
/// Once the writer has committed it, it is announced ([`announce`]) and then answered through
/// the receiver.
pub(crate) async fn send(
    state: &ChatState,
    caller: Caller<'_>,
    message: &SendMessage,
    route: Route,
    read_at: Instant,
) -> Result<oneshot::Receiver<Stored>, ChatError> {
    let (members, others, epoch): (Vec<Uuid>, Vec<Uuid>, Option<i64>) = match route {
        Route::Peer(peer) => (vec![caller.user, peer], vec![peer], None),
        // A group's members are read as the message is sent, which checks the sender is one.
        Route::Room { .. } => {
            let (members, epoch) = chats::group_members(&state.db, message.chat_id, caller.user).await?;
            let others = members.iter().copied().filter(|m| *m != caller.user).collect();
            (members, others, Some(epoch))
        }
    };
    if let Some(reply_to) = message.reply_to {
        messages::answerable(&state.db, message.chat_id, reply_to).await?;
    }
    let offline = offline_among(state, others).await;
    let draft = Draft {
        chat_id: message.chat_id,
        sender_id: caller.user,
        sender_username: caller.username.to_owned(),
        kind: message.kind.clone(),
        content: message.content.clone(),
        client_msg_id: message.client_msg_id.clone(),
        reply_to: message.reply_to,
        peer: match route {
            Route::Peer(peer) => Some(peer),
            Route::Room { .. } => None,
        },
        members: members.clone(),
        offline,
    };
    let (node, metrics, wakeup) = (state.node.clone(), state.metrics.clone(), state.wakeup.clone());
    let connection = caller.connection;
    let to = match epoch {
        Some(epoch) => To::Room(message.chat_id, epoch),
        None => To::Members(members),
    };
    let on_commit: OnCommit =
        Box::new(move |stored| announce(stored, &to, connection, &node, &metrics, wakeup.as_ref()));
    let submitted = state.writer.submit(draft, read_at, on_commit);
    if matches!(submitted, Err(ChatError::Overloaded)) {
        state.metrics.overloaded_total.inc();
    }
    submitted
}

/// Which of `users` have no live connection anywhere (and so get a push). A user connected
/// here is online without asking Redis.
async fn offline_among(state: &ChatState, users: Vec<Uuid>) -> Vec<Uuid> {
    let away: Vec<Uuid> = users.into_iter().filter(|u| !state.node.is_local(*u)).collect();
    if away.is_empty() {
        return away;
    }
    let online = state.node.online_among(&away).await;
    away.into_iter().filter(|u| !online.contains(u)).collect()
}

/// Where a stored message is told: to each member's channel (a private chat's two), or once
/// to a group's room, with the epoch it was sent under.
enum To {
    Members(Vec<Uuid>),
    Room(Uuid, i64),
}

/// What a committed message sets off, run by the writer before it answers the sender: the
/// metrics, the push relay's wake-up, and the message to every connection of every member but
/// the one it came by, which has it as its reply (a copy there first would take the reply's
/// place, and with it the frame's id).
fn announce(
    stored: &Stored,
    to: &To,
    connection: Option<u64>,
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
            match to {
                To::Members(members) => node.publish(members, Outgoing::message(view, message.seq, None), connection),
                To::Room(chat_id, epoch) => {
                    node.publish_room(*chat_id, Outgoing::message(view, message.seq, Some(*epoch)), connection);
                }
            }
        }
        Err(ChatError::Overloaded) => metrics.overloaded_total.inc(),
        Ok(Sent::Existing(_)) | Err(_) => {}
    }
}
