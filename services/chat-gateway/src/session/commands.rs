//! The client's commands: what each event does, and what it answers. The connection loop
//! (`mod.rs`) reads them through its link and hands them here.

use tokio::time::Instant;
use tracing::Instrument;
use uuid::Uuid;

use super::{Echo, Link, Pending, Session, Step};
use crate::{
    error::ChatError,
    node::Outgoing,
    protocol::{
        Ack, ChatCreated, ErrorCode, FrameId, MessageReceipt, MessageRef, MessageView, Request, SendMessage,
        ServerEvent, TokenRefreshed, Typing, WsError,
    },
    store::{
        chats, history,
        messages::{Draft, Sent},
        receipts::{self, Receipt},
        writer::Stored,
    },
};

/// What a client asks, whichever transport it came by.
#[derive(Debug)]
pub enum Command {
    /// A `/chat` request (Socket.IO's events are read into the same).
    Request(Request),
    /// A message to a user rather than to a chat, as the original service's web page sends
    /// it: the pair's chat is found, or made, first. `message.chat_id` is not read.
    SendTo { receiver_id: Uuid, message: SendMessage },
    /// A delivery receipt for the caller's chat with `peer`, up to the peer's newest message,
    /// as the original service's clients acknowledge.
    AcknowledgeChatWith { peer: Uuid },
}

impl Command {
    /// The event name the client used, for logs and traces.
    fn event(&self) -> &'static str {
        match self {
            Self::Request(request) => request.event(),
            Self::SendTo { .. } => "send_message",
            Self::AcknowledgeChatWith { .. } => "receive_message",
        }
    }

    /// Whether it sends a message: those are answered when stored, while the connection reads
    /// on; every other command waits until they are.
    pub(super) fn sends(&self) -> bool {
        matches!(self, Self::Request(Request::SendMessage(_)) | Self::SendTo { .. })
    }
}

impl<L: Link> Session<L> {
    /// Answers one command: its result, or its error, with its id.
    pub(super) async fn handle(&mut self, command: Command, id: Option<&FrameId>) -> Step {
        let span = tracing::debug_span!("command", event = command.event(), id = ?id);
        self.handle_in(command, id).instrument(span).await
    }

    async fn handle_in(&mut self, command: Command, id: Option<&FrameId>) -> Step {
        let result = match command {
            Command::Request(Request::SendMessage(message)) => return self.send_message(message, id).await,
            Command::SendTo { receiver_id, mut message } => match self.chat_with(receiver_id).await {
                Ok(chat_id) => {
                    message.chat_id = chat_id;
                    return self.send_message(message, id).await;
                }
                Err(err) => Err(err),
            },
            Command::Request(Request::StartPrivateChat(user)) => {
                let reply = self.start_private_chat(user.user_id).await;
                if reply.is_ok() {
                    // The new peer's presence, after the chat it belongs to.
                    self.write_event(&ServerEvent::from(reply), id).await?;
                    return self.tell_presence_of(user.user_id).await;
                }
                reply
            }
            Command::Request(Request::ReceiveMessage(r)) => self.acknowledge(r, Receipt::Delivered).await,
            Command::AcknowledgeChatWith { peer } => self.acknowledge_chat_with(peer).await,
            Command::Request(Request::Seen(r)) => self.acknowledge(r, Receipt::Seen).await,
            Command::Request(Request::Typing(chat)) => self.typing(chat.chat_id).await,
            Command::Request(Request::RefreshToken(token)) => self.refresh_token(&token.access_token).await,
        };
        self.write_event(&ServerEvent::from(result), id).await
    }

    /// The pair's chat, found or made: the caller's reply, and the push to every other
    /// connection of both (this one hears it once, as its reply, with or without an id).
    async fn start_private_chat(&mut self, other: Uuid) -> Result<ServerEvent, WsError> {
        let (chat, _) = chats::find_or_create(&self.state.db, self.user, other).await?;
        self.order.track(chat.id, chat.last_seq, other);
        let mut user_ids = vec![self.user, other];
        user_ids.sort();
        let event = ServerEvent::PrivateChatRoomCreated(ChatCreated { chat_id: chat.id, user_ids: user_ids.clone() });
        self.publish(&user_ids, Outgoing::event(&event), Echo::No);
        Ok(event)
    }

    /// The chat of the caller and `other`; one made now is announced to both, as
    /// `start_private_chat` would.
    async fn chat_with(&mut self, other: Uuid) -> Result<Uuid, WsError> {
        let (chat, created) = chats::find_or_create(&self.state.db, self.user, other).await?;
        self.order.track(chat.id, chat.last_seq, other);
        if created {
            let mut user_ids = vec![self.user, other];
            user_ids.sort();
            let event =
                ServerEvent::PrivateChatRoomCreated(ChatCreated { chat_id: chat.id, user_ids: user_ids.clone() });
            self.publish(&user_ids, Outgoing::event(&event), Echo::Yes);
        }
        Ok(chat.id)
    }

    /// Queues the message for storing and goes on reading: its result is written when the
    /// writer answers ([`Session::on_stored`]), in the order the client sent.
    async fn send_message(&mut self, message: SendMessage, id: Option<&FrameId>) -> Step {
        let read_at = Instant::now();
        let submitted = match self.draft(&message).await {
            Ok(draft) => self.state.writer.submit(draft, read_at),
            Err(err) => Err(err),
        };
        match submitted {
            Ok(answer) => {
                self.pending.push_back(Pending { answer, id: id.cloned() });
                Ok(())
            }
            Err(err) => self.on_stored(Err(err), id).await,
        }
    }

    /// The writer's answer for a message this connection sent, written in its place.
    pub(super) async fn on_stored(&mut self, stored: Stored, id: Option<&FrameId>) -> Step {
        match self.announce(stored) {
            Ok(Sent::New { message, .. }) => {
                let (chat_id, seq) = (message.chat_id, message.seq);
                let reply = ServerEvent::ReceiveMessage(MessageView::from(message)).to_text(id);
                self.write_in_order(chat_id, seq, reply).await
            }
            Ok(Sent::Existing(original)) => self.write_event(&ServerEvent::ReceiveMessage(original.into()), id).await,
            Err(err) => self.write_event(&ServerEvent::Error(err.into()), id).await,
        }
    }

    /// What a stored message sets off whether or not its sender is still connected: the
    /// metrics, the push relay's wake-up, and the message to every connection of both members
    /// (this one's order writes it once: as the reply or as its copy, whichever comes first).
    pub(super) fn announce(&self, stored: Stored) -> Stored {
        let state = &self.state;
        match &stored {
            Ok(Sent::New { message, pushes }) => {
                state.metrics.messages_total.inc();
                if *pushes > 0 {
                    state.metrics.offline_pushes_total.inc_by(*pushes as u64);
                    if let Some(wakeup) = &state.wakeup {
                        wakeup.wake();
                    }
                }
                let peer = self.order.peer(message.chat_id).unwrap_or(self.user);
                let view = MessageView::from(message.clone());
                self.publish(&[self.user, peer], Outgoing::message(view, message.seq), Echo::Yes);
            }
            Err(ChatError::Overloaded) => state.metrics.overloaded_total.inc(),
            _ => {}
        }
        stored
    }

    /// The message as the writer takes it: who gets it, and whether the peer is offline (a push).
    async fn draft(&mut self, message: &SendMessage) -> Result<Draft, ChatError> {
        let peer = self.peer_of(message.chat_id).await?;
        // A peer connected here is online without asking Redis.
        let online = self.state.node.is_local(peer) || self.state.node.online_among(&[peer]).await.contains(&peer);
        Ok(Draft {
            chat_id: message.chat_id,
            sender_id: self.user,
            sender_username: self.username.clone(),
            kind: message.kind.clone(),
            content: message.content.clone(),
            client_msg_id: message.client_msg_id.clone(),
            members: vec![self.user, peer],
            offline: if online { Vec::new() } else { vec![peer] },
        })
    }

    async fn acknowledge(&mut self, r: MessageRef, receipt: Receipt) -> Result<ServerEvent, WsError> {
        let sender = receipts::acknowledge(&self.state.db, self.user, r.chat_id, r.message_id, receipt).await?;
        if let Some(sender) = sender {
            let (chat_id, message_id, user_id) = (r.chat_id, r.message_id, self.user);
            let (event, to) = match receipt {
                Receipt::Delivered => {
                    (ServerEvent::MessageReceived(MessageReceipt { chat_id, message_id, user_id }), vec![sender])
                }
                // The reader's other devices clear their unread marks too.
                Receipt::Seen => {
                    (ServerEvent::MessageSeen(MessageReceipt { chat_id, message_id, user_id }), vec![sender, user_id])
                }
            };
            self.publish(&to, Outgoing::event(&event), Echo::No);
        }
        Ok(ServerEvent::Ack(Ack {}))
    }

    /// Acknowledges receipt of everything `peer` sent in their chat with the caller.
    async fn acknowledge_chat_with(&mut self, peer: Uuid) -> Result<ServerEvent, WsError> {
        let Some(chat) = chats::between(&self.state.db, self.user, peer).await.map_err(ChatError::from)? else {
            return Err(WsError::new(ErrorCode::NotFound, "no chat with this user"));
        };
        match history::newest_from(&self.state.db, chat.id, peer).await.map_err(ChatError::from)? {
            Some(message_id) => self.acknowledge(MessageRef { chat_id: chat.id, message_id }, Receipt::Delivered).await,
            None => Ok(ServerEvent::Ack(Ack {})),
        }
    }

    async fn typing(&mut self, chat_id: Uuid) -> Result<ServerEvent, WsError> {
        let peer = self.peer_of(chat_id).await?;
        let event = ServerEvent::Typing(Typing { chat_id, user_id: self.user });
        self.publish(&[peer], Outgoing::event(&event), Echo::Yes);
        Ok(ServerEvent::Ack(Ack {}))
    }

    async fn refresh_token(&mut self, token: &str) -> Result<ServerEvent, WsError> {
        let claims = self
            .state
            .verifier
            .verify(token)
            .await
            .map_err(|e| WsError::new(ErrorCode::InvalidToken, e.to_string()))?;
        if claims.sub != self.user {
            return Err(WsError::new(ErrorCode::InvalidToken, "the token is for another user"));
        }
        self.expires_at = claims.exp;
        Ok(ServerEvent::TokenRefreshed(TokenRefreshed { expires_at: claims.exp }))
    }
}
