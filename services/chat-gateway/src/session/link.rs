//! What a session needs of the transport a client came by (`/chat`'s WebSocket, Socket.IO):
//! the client's next item, what it asks, a way to write `/chat` frames, and a close. The
//! session itself (order, resume, commands, limits) is the same for every transport.

use std::future::Future;

use super::{CloseReason, Command};
use crate::protocol::{FrameId, WsError};

/// What one item from the client asks of the session.
pub enum ClientInput {
    /// The client left, or its connection broke.
    Gone,
    /// The client broke the transport's rules: close for this reason.
    Close(CloseReason),
    /// Traffic that only says the client is there (a ping).
    KeepAlive,
    /// A command, with the id its reply carries; or why it cannot be one, with the id when it
    /// could be read. Either way it counts against the connection's rate limit.
    Frame(Result<(Command, Option<FrameId>), (Option<FrameId>, WsError)>),
}

/// Why a write did not go out.
#[derive(Debug)]
pub enum Unwritten {
    /// The client left, or its connection broke.
    Gone,
    /// The client reads too slowly: the transport's own buffer for it is full.
    SlowReader,
}

pub trait Link: Send + 'static {
    /// One thing the client sent, as the transport hands it over.
    type Item: Send;

    /// Whether the session pings the client and closes it when it falls silent. A transport
    /// that keeps its connections alive itself (Engine.IO) says no.
    const PINGS: bool;

    /// The client's next item; `None` once there are none. Cancel-safe: the session polls it
    /// beside its other work and may drop the future.
    fn next(&mut self) -> impl Future<Output = Option<Self::Item>> + Send;

    /// What `item` asks.
    fn read(&mut self, item: Self::Item) -> ClientInput;

    /// Writes one `/chat` frame (`{"event", "data", "id"?}`): an event, or the reply to the
    /// command whose id it carries.
    fn send(&mut self, frame: String) -> impl Future<Output = Result<(), Unwritten>> + Send;

    /// Pings the client (only called when [`Link::PINGS`]).
    fn ping(&mut self) -> impl Future<Output = Result<(), Unwritten>> + Send;

    /// Ends the connection: for `reason` when the server ends it, or after the client left.
    fn close(&mut self, reason: Option<CloseReason>) -> impl Future<Output = ()> + Send;
}
