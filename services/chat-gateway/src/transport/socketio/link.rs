//! Socket.IO's side of a session. The client's events reach the session through [`Forward`],
//! in the order they came; what the session writes (`/chat` frames) goes out as Socket.IO
//! events, and a reply to an event that came with an acknowledgement callback goes to that
//! callback instead.

use std::{collections::HashMap, sync::Arc, time::Duration};

use poem_openapi::types::ToJSON;
use serde::{Deserialize, Serialize};
use serde_json::{Value, value::RawValue};
use socketioxide::{
    SendError, SocketError,
    adapter::LocalAdapter,
    extract::{AckSender, Event, SocketRef, TryData},
    handler::{self, FromMessageParts, MessageHandler},
    socket::Socket,
};
use tokio::sync::mpsc;
use uuid::Uuid;

use super::{events, original};
use crate::{
    protocol::{ErrorCode, FrameId, WsError},
    session::{ClientInput, CloseReason, Link, Unwritten},
};

/// Most replies a connection may owe at once: beyond this the oldest callbacks are dropped
/// unanswered (the rate limit keeps an honest client far below it).
const MAX_PENDING_ACKS: usize = 256;

/// What the socket hands the session.
pub(super) enum SocketIoItem {
    Event {
        event: String,
        data: Result<Value, String>,
        ack: Option<AckSender>,
    },
    /// The client left, or its connection broke.
    Gone,
}

pub(super) struct SocketIoLink {
    socket: SocketRef,
    user: Uuid,
    items: mpsc::Receiver<SocketIoItem>,
    /// Callbacks waiting for the session's reply, by the frame id the session knows them by.
    acks: HashMap<u64, AckSender>,
    next_ack: u64,
    /// Whether the client reads the original service's event shapes ([`original`]): asked
    /// for in the handshake, or learned from the first payload that names its sender.
    original: bool,
}

impl SocketIoLink {
    pub(super) fn new(socket: SocketRef, user: Uuid, items: mpsc::Receiver<SocketIoItem>, original: bool) -> Self {
        Self { socket, user, items, acks: HashMap::new(), next_ack: 0, original }
    }

    /// The frame id the session's reply will carry, for a callback.
    fn owe(&mut self, ack: AckSender) -> FrameId {
        if self.acks.len() >= MAX_PENDING_ACKS
            && let Some(oldest) = self.acks.keys().min().copied()
        {
            self.acks.remove(&oldest);
        }
        self.next_ack += 1;
        self.acks.insert(self.next_ack, ack);
        Value::from(self.next_ack)
    }
}

/// A `/chat` frame as the session wrote it; `data` passes through unparsed.
#[derive(Deserialize)]
struct Frame<'a> {
    event: &'a str,
    #[serde(borrow)]
    data: &'a RawValue,
    #[serde(default)]
    id: Option<u64>,
}

/// What a callback gets for a refused event.
#[derive(Serialize)]
struct Failed<'a> {
    error: &'a RawValue,
}

impl Link for SocketIoLink {
    type Item = SocketIoItem;

    /// Engine.IO pings, and closes a connection that stops answering.
    const PINGS: bool = false;

    async fn next(&mut self) -> Option<SocketIoItem> {
        self.items.recv().await
    }

    fn read(&mut self, item: SocketIoItem) -> ClientInput {
        let SocketIoItem::Event { event, data, ack } = item else { return ClientInput::Gone };
        self.original |= events::speaks_original(&data);
        let id = ack.map(|ack| self.owe(ack));
        let command = data
            .map_err(|e| WsError::invalid_data(format!("{event}: {e}")))
            .and_then(|data| events::command(&event, data, self.user));
        ClientInput::Frame(match command {
            Ok(command) => Ok((command, id)),
            Err(err) => Err((id, err)),
        })
    }

    async fn send(&mut self, frame: String) -> Result<(), Unwritten> {
        let frame: Frame<'_> = match serde_json::from_str(&frame) {
            Ok(frame) => frame,
            Err(err) => {
                tracing::error!(error = %err, "a frame the session wrote does not read back");
                return Ok(());
            }
        };
        let translated = self.original.then(|| original::data(frame.event, frame.data)).flatten();
        let data = translated.as_deref().unwrap_or(frame.data);
        let sent = match frame.id.map(|id| self.acks.remove(&id)) {
            // The callback was dropped to keep the pending ones bounded.
            Some(None) => Ok(()),
            Some(Some(ack)) if frame.event == "error" => ack.send(&Failed { error: frame.data }),
            Some(Some(ack)) => ack.send(data),
            // `ack` only answers a callback; without one there is nothing to say.
            None if frame.event == "ack" => Ok(()),
            None => self.socket.emit(frame.event, data),
        };
        match sent {
            Ok(()) => Ok(()),
            Err(SendError::Socket(SocketError::InternalChannelFull)) => Err(Unwritten::SlowReader),
            Err(SendError::Socket(SocketError::Closed)) => Err(Unwritten::Gone),
            Err(err) => {
                tracing::error!(error = %err, "cannot encode an event for Socket.IO");
                Ok(())
            }
        }
    }

    async fn ping(&mut self) -> Result<(), Unwritten> {
        Ok(())
    }

    /// On a restart the server closes every connection at once, and the clients reconnect by
    /// themselves ([`super::SocketIoServer::drain`]); any other reason is said in a `closing`
    /// event before the socket is disconnected, which a client does not reconnect after by
    /// itself.
    async fn close(&mut self, reason: Option<CloseReason>) {
        if matches!(reason, Some(CloseReason::Restart)) || !self.socket.connected() {
            return;
        }
        let closing =
            reason.map(|reason| Closing { code: reason.code(), reason: reason.label(), message: reason.text() });
        // A full send buffer (a slow reader) refuses both packets until the client reads: they
        // are retried apart from the session, which gives its slot back now, until they go out
        // or Engine.IO's heartbeat ends a client that never reads.
        tokio::spawn(say_goodbye(self.socket.clone(), closing));
    }
}

async fn say_goodbye(socket: SocketRef, mut closing: Option<Closing>) {
    let full = || tokio::time::sleep(Duration::from_millis(100));
    loop {
        if let Some(said) = &closing {
            match socket.emit("closing", said) {
                Err(SendError::Socket(SocketError::InternalChannelFull)) => {
                    full().await;
                    continue;
                }
                _ => closing = None,
            }
        }
        match socket.clone().disconnect() {
            Err(SocketError::InternalChannelFull) => full().await,
            _ => return,
        }
    }
}

/// Why the server disconnects a client: the code and label `/chat` closes with.
#[derive(Serialize)]
struct Closing {
    code: u16,
    reason: &'static str,
    message: &'static str,
}

/// Hands the socket's events to its session, in the order they came. socketioxide's own
/// handlers each run in a task of their own, which would let two quick `send_message`s be
/// stored out of order.
#[derive(Clone)]
pub(super) struct Forward(pub(super) mpsc::Sender<SocketIoItem>);

/// Marks [`Forward`]'s `MessageHandler` apart from the closures socketioxide implements it for.
pub(super) enum Forwarding {}

impl MessageHandler<LocalAdapter, Forwarding> for Forward {
    fn call(&self, s: Arc<Socket<LocalAdapter>>, mut v: handler::Value, ack_id: Option<i64>) {
        let Ok(Event(event)) = Event::from_message_parts(&s, &mut v, &ack_id) else { return };
        let Ok(TryData(data)) = TryData::<Value>::from_message_parts(&s, &mut v, &ack_id);
        let data = data.map_err(|e| e.to_string());
        let ack = match ack_id {
            Some(_) => AckSender::from_message_parts(&s, &mut v, &ack_id).ok(),
            None => None,
        };
        if let Err(refused) = self.0.try_send(SocketIoItem::Event { event, data, ack }) {
            let (error, item) = match refused {
                mpsc::error::TrySendError::Full(item) => {
                    (WsError::new(ErrorCode::RateLimited, "too many events, slow down"), item)
                }
                mpsc::error::TrySendError::Closed(item) => (WsError::unavailable(), item),
            };
            // As the session would answer: through the callback, else as an `error` event.
            match item {
                SocketIoItem::Event { ack: Some(ack), .. } => {
                    let _ = ack.send(&serde_json::json!({ "error": error.to_json() }));
                }
                _ => {
                    let _ = s.emit("error", &error.to_json());
                }
            }
        }
    }
}
