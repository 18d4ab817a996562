//! The messages a connection sent that are on their way to the database: how many may be, and
//! their answers in the order they were sent.

use std::{collections::VecDeque, future::Future, pin::Pin, task::Poll};

use tokio::sync::oneshot;

use crate::{error::ChatError, protocol::FrameId, store::writer::Stored};

/// Messages of one connection waiting to be stored; past it the connection stops reading until
/// the oldest is. More than a burst of the frame rate limit allows (`WS_RATE_LIMIT_BURST`,
/// 50 by default), so a client within its limits is always read at once.
const MAX_PENDING: usize = 64;

/// How many messages a connection may have on their way to the database: [`MAX_PENDING`],
/// but no more than a quarter of a send queue. Their results come in bursts of a batch, and
/// each lands in the queues of the chat's other connections: a burst larger than those queues
/// would cut off a reader that keeps up.
pub(super) fn max_pending(send_queue: u32) -> usize {
    (send_queue as usize / 4).clamp(1, MAX_PENDING)
}

/// A message this connection sent, on its way to the database: the writer's answer, and the
/// client frame's id for the reply.
pub(super) struct Pending {
    pub(super) answer: oneshot::Receiver<Stored>,
    pub(super) id: Option<FrameId>,
}

impl Pending {
    /// The writer's answer (a writer that is gone is the replica stopping), and the frame's id.
    pub(super) async fn answered(self) -> (Stored, Option<FrameId>) {
        (self.answer.await.unwrap_or_else(|_| Err(ChatError::stopped())), self.id)
    }
}

/// The answer for the oldest pending message, once there is one; it stays queued until then,
/// so that losing a race in the loop's `select!` loses nothing.
pub(super) async fn oldest(pending: &mut VecDeque<Pending>) -> (Stored, Option<FrameId>) {
    let stored = std::future::poll_fn(|cx| match pending.front_mut() {
        Some(front) => Pin::new(&mut front.answer).poll(cx),
        None => Poll::Pending,
    })
    .await;
    let id = pending.pop_front().and_then(|p| p.id);
    (stored.unwrap_or_else(|_| Err(ChatError::stopped())), id)
}
