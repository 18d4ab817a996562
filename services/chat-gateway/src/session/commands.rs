//! The client's commands as a connection answers them. What each one does is `commands/`'s;
//! here is what the connection keeps of it (its chats and their peers, for order and
//! presence) and the reply it writes, in the order the client sent.

use tokio::time::Instant;
use tracing::Instrument;
use uuid::Uuid;

use super::{Link, Pending, Session, Step};
use crate::{
    commands::{self, Caller, changes::Changing},
    error::ChatError,
    protocol::{Ack, ErrorCode, FrameId, MessageView, Request, SendMessage, ServerEvent, TokenRefreshed, WsError},
    store::{changes::Change, chats::Route, messages::Sent, receipts::Receipt, writer::Stored},
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
            Command::Request(Request::StartPrivateChat(user)) => match self.start_private_chat(user.user_id).await {
                Ok(reply) => {
                    // The new peer's presence, after the chat it belongs to.
                    self.write_event(&reply, id).await?;
                    return self.tell_presence_of(user.user_id).await;
                }
                Err(err) => Err(err),
            },
            Command::Request(Request::ReceiveMessage(r)) => {
                commands::receipts::acknowledge(&self.state, self.caller(), r, Receipt::Delivered).await.map(acked)
            }
            Command::AcknowledgeChatWith { peer } => {
                commands::receipts::acknowledge_chat_with(&self.state, self.caller(), peer).await.map(acked)
            }
            Command::Request(Request::Seen(r)) => {
                commands::receipts::acknowledge(&self.state, self.caller(), r, Receipt::Seen).await.map(acked)
            }
            Command::Request(Request::Typing(chat)) => match self.route_of(chat.chat_id).await {
                Ok(route) => {
                    commands::typing::typing(&self.state, self.caller(), chat.chat_id, route);
                    Ok(acked(()))
                }
                Err(err) => Err(err),
            },
            Command::Request(Request::CreateGroup(request)) => {
                match commands::groups::create_group(&self.state, self.caller(), request).await {
                    Ok((reply, group)) => {
                        self.enter_group(group.chat.id, 0, group.chat.members_epoch).await;
                        Ok(reply)
                    }
                    Err(err) => Err(err),
                }
            }
            Command::Request(Request::AddMembers(request)) => {
                commands::groups::add_members(&self.state, self.caller(), request).await
            }
            Command::Request(Request::RemoveMember(request)) => {
                commands::groups::remove_member(&self.state, self.caller(), request).await
            }
            Command::Request(Request::LeaveChat(chat)) => {
                match commands::groups::leave_chat(&self.state, self.caller(), chat.chat_id).await {
                    Ok(reply) => {
                        self.drop_group(chat.chat_id);
                        Ok(reply)
                    }
                    Err(err) => Err(err),
                }
            }
            Command::Request(Request::SetRole(request)) => {
                commands::groups::set_role(&self.state, self.caller(), request).await
            }
            Command::Request(Request::RenameChat(request)) => {
                commands::groups::rename_chat(&self.state, self.caller(), request).await
            }
            Command::Request(Request::EditMessage(edit)) => {
                return self.change(edit.chat_id, edit.message_id, Change::Edit(edit.content), id).await;
            }
            Command::Request(Request::DeleteMessage(r)) => {
                return self.change(r.chat_id, r.message_id, Change::Delete, id).await;
            }
            Command::Request(Request::AddReaction(r)) => {
                return self.change(r.chat_id, r.message_id, Change::React { emoji: r.emoji, add: true }, id).await;
            }
            Command::Request(Request::RemoveReaction(r)) => {
                return self.change(r.chat_id, r.message_id, Change::React { emoji: r.emoji, add: false }, id).await;
            }
            Command::Request(Request::RefreshToken(token)) => {
                return match self.refresh_token(&token.access_token).await {
                    Ok(reply) => self.write_event(&reply, id).await,
                    Err(err) => self.write_event(&ServerEvent::Error(err), id).await,
                };
            }
        };
        self.write_event(&ServerEvent::from(result.map_err(WsError::from)), id).await
    }

    /// Who this connection runs commands as.
    fn caller(&self) -> Caller<'_> {
        Caller { user: self.user, username: &self.username, connection: Some(self.connection.id) }
    }

    /// The pair's chat, found or made (and announced to every other connection of both); this
    /// connection follows it from its newest message on.
    async fn start_private_chat(&mut self, other: Uuid) -> Result<ServerEvent, ChatError> {
        let (chat, created) = commands::chats::start_private_chat(&self.state, self.caller(), other).await?;
        self.order.track(chat.id, chat.last_seq, Route::Peer(other));
        Ok(ServerEvent::PrivateChatRoomCreated(created))
    }

    /// The chat of the caller and `other`, for a message sent to a user.
    async fn chat_with(&mut self, other: Uuid) -> Result<Uuid, ChatError> {
        let chat = commands::chats::chat_with(&self.state, self.caller(), other).await?;
        self.order.track(chat.id, chat.last_seq, Route::Peer(other));
        Ok(chat.id)
    }

    /// Queues the message for storing and goes on reading: its result is written when the
    /// writer answers ([`Session::on_stored`]), in the order the client sent.
    async fn send_message(&mut self, message: SendMessage, id: Option<&FrameId>) -> Step {
        let read_at = Instant::now();
        let submitted = match self.route_of(message.chat_id).await {
            Ok(route) => commands::messages::send(&self.state, self.caller(), &message, route, read_at).await,
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

    /// Changes a message, and writes the reply in its place among the chat's messages.
    async fn change(&mut self, chat_id: Uuid, message_id: i64, change: Change, id: Option<&FrameId>) -> Step {
        let changed = match self.route_of(chat_id).await {
            Ok(route) => {
                commands::changes::change(&self.state, self.caller(), chat_id, route, message_id, change).await
            }
            Err(err) => Err(err),
        };
        match changed {
            Ok(Changing { reply, seq: Some(seq) }) => self.write_in_order(chat_id, seq, reply.to_text(id)).await,
            Ok(Changing { reply, seq: None }) => self.write_event(&reply, id).await,
            Err(err) => self.write_event(&ServerEvent::Error(err.into()), id).await,
        }
    }

    /// The writer's answer for a message this connection sent, written in its place (the
    /// writer has announced it to every member already).
    pub(super) async fn on_stored(&mut self, stored: Stored, id: Option<&FrameId>) -> Step {
        match stored {
            Ok(Sent::New { message, .. }) => {
                let (chat_id, seq) = (message.chat_id, message.seq);
                let reply = ServerEvent::ReceiveMessage(MessageView::from(message)).to_text(id);
                self.write_in_order(chat_id, seq, reply).await
            }
            Ok(Sent::Existing(original)) => self.write_event(&ServerEvent::ReceiveMessage(original.into()), id).await,
            Err(err) => self.write_event(&ServerEvent::Error(err.into()), id).await,
        }
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

/// The reply to a command with nothing else to say.
fn acked((): ()) -> ServerEvent {
    ServerEvent::Ack(Ack {})
}
