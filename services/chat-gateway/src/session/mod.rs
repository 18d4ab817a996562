//! One client connection, from `connected` to its close, whichever transport it came by (a
//! [`Link`]): reads the client's commands, answers them, and writes the events the hub hands
//! it, every chat's messages in order and without gaps or duplicates ([`ChatOrder`] decides
//! which, this file does the reading and writing). Resume is the same mechanism: the
//! connection starts from the client's position in each chat instead of the chat's newest
//! message, and reads what lies after it.

use std::{
    collections::{HashMap, HashSet, VecDeque},
    num::NonZeroU32,
    sync::Arc,
    time::Duration,
};

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use shared::tokens::AccessClaims;
use tokio::{sync::mpsc, time::Instant};
use tracing::Instrument;
use uuid::Uuid;

mod close;
mod commands;
mod groups;
mod link;
mod order;
mod pending;
mod presence;
mod replay;

pub use close::CloseReason;
pub use commands::Command;
pub use link::{ClientInput, Link, Unwritten};
use order::ChatOrder;
use pending::{Pending, max_pending, oldest};
pub use replay::Resume;

use crate::{
    domain::ChatKind,
    error::ChatError,
    node::{Connection, Delivery, Membership, Outgoing, Slot, Tracked},
    protocol::{ErrorCode, FrameId, ServerEvent, WsError},
    state::ChatState,
    store::{chats, writer::Stored},
};

/// Why a connection ends.
enum End {
    /// We close it, for this reason.
    Close(CloseReason),
    /// The client left, or cannot be written to.
    Gone,
}

type Step = Result<(), End>;

/// What woke the loop.
enum Wake<I> {
    Drain,
    Delivery(Option<Delivery>),
    Item(Option<I>),
    Ping,
    Expired,
    Gaps,
    // Boxed: a stored message is by far the largest thing a wake carries.
    Stored(Box<Stored>, Option<FrameId>),
}

struct Session<L: Link> {
    state: Arc<ChatState>,
    user: Uuid,
    username: String,
    expires_at: i64,
    connection: Arc<Connection>,
    link: L,
    /// Which message of each chat this connection has written, and what it holds back.
    order: ChatOrder,
    limiter: DefaultDirectRateLimiter,
    strikes: u32,
    write_timeout: Duration,
    /// Messages sent and not yet stored, oldest first.
    pending: VecDeque<Pending>,
    /// The presence of each peer as this connection last told its client: a change is
    /// written once, however many ways it arrives (the snapshot at the start, a new chat, the
    /// announcement of a peer who connected at the same moment).
    told_online: HashMap<Uuid, bool>,
    /// Groups this connection saw the user leave: what still comes of them is dropped without
    /// asking the database again.
    left: HashSet<Uuid>,
}

/// A connection in the hub, and where each of its user's chats stood when it joined.
pub struct Joined {
    connection: Arc<Connection>,
    queue: mpsc::Receiver<Delivery>,
    membership: Membership,
    positions: Vec<chats::Position>,
}

/// Joins `user`'s new connection to the hub, then reads where each chat stands, then joins
/// the rooms of its groups: whatever is stored after that reaches the connection (a message
/// stored before a room was joined is read back from the database when the connection starts).
/// A transport joins before it tells the client it is connected (the WebSocket's 101,
/// Socket.IO's namespace acknowledgement), so nothing stored after the client hears it is
/// connected can be missed.
pub async fn join(state: &ChatState, user: Uuid) -> Result<Joined, ChatError> {
    let (connection, queue, membership) = state.node.connect(user, state.settings.ws_send_queue as usize).await;
    let positions = chats::positions(&state.db, user).await?;
    let rooms = positions.iter().filter(|p| matches!(p.route, chats::Route::Room { .. }));
    futures_util::future::join_all(rooms.map(|p| state.node.join_room(&connection, p.chat_id))).await;
    Ok(Joined { connection, queue, membership, positions })
}

/// Serves one connection until it ends, then gives back its slot.
pub async fn run<L: Link>(
    state: Arc<ChatState>,
    claims: AccessClaims,
    resume: Resume,
    link: L,
    slot: Slot,
    joined: Joined,
) {
    let user = claims.sub;
    let Joined { connection, mut queue, membership, positions } = joined;
    let settings = &state.settings;
    let per_second = NonZeroU32::new(settings.ws_rate_limit_per_second).unwrap_or(NonZeroU32::MIN);
    let burst = NonZeroU32::new(settings.ws_rate_limit_burst).unwrap_or(NonZeroU32::MIN);
    let mut session = Session {
        user,
        username: claims.preferred_username,
        expires_at: claims.exp,
        connection,
        link,
        order: ChatOrder::default(),
        limiter: RateLimiter::direct(Quota::per_second(per_second).allow_burst(burst)),
        strikes: 0,
        pending: VecDeque::new(),
        told_online: HashMap::new(),
        left: HashSet::new(),
        write_timeout: Duration::from_secs(settings.ws_write_timeout_seconds),
        state: state.clone(),
    };
    let span = tracing::info_span!("connection", user_id = %user, connection_id = session.connection.id);
    // A task keeps room for its future's largest state for as long as it lives, idle or not.
    // What awaits the database (start, a client's frame, gaps, resync, finish) is boxed, so an
    // idle connection holds the loop's state only: 2.2 KiB instead of 7.2 in a debug build,
    // 4.9 KiB less heap per connection with 400 open.
    async move {
        let end = match Box::pin(session.start(resume, positions)).await {
            Ok(()) => session.serve(&mut queue).await,
            Err(end) => end,
        };
        Box::pin(session.finish(end)).await;
    }
    .instrument(span)
    .await;
    // Out of the hub first, then the slot: a user at the limit reconnects as soon as both are.
    drop(membership);
    drop(slot);
}

impl<L: Link> Session<L> {
    async fn serve(&mut self, queue: &mut mpsc::Receiver<Delivery>) -> End {
        let settings = self.state.settings.clone();
        let idle_timeout = Duration::from_secs(settings.ws_idle_timeout_seconds);
        let mut ping = tokio::time::interval(Duration::from_secs(settings.ws_ping_interval_seconds));
        ping.tick().await;
        let mut last_heard = Instant::now();
        let mut draining = self.state.node.draining();
        let max_pending = max_pending(settings.ws_send_queue);
        loop {
            let expiry = expiry_instant(self.expires_at);
            let wake = tokio::select! {
                biased;
                () = async { let _ = draining.wait_for(|draining| *draining).await; } => Wake::Drain,
                delivery = queue.recv() => Wake::Delivery(delivery),
                (stored, id) = oldest(&mut self.pending), if !self.pending.is_empty() => Wake::Stored(Box::new(stored), id),
                item = self.link.next(), if self.pending.len() < max_pending => Wake::Item(item),
                _ = ping.tick(), if L::PINGS => Wake::Ping,
                () = tokio::time::sleep_until(expiry) => Wake::Expired,
                // A gap may be this connection's own message, on its way: it is written in
                // its place when stored, with the frame's id.
                () = sleep_until_some(self.order.gap_deadline()), if self.pending.is_empty() => Wake::Gaps,
            };
            let step = match wake {
                Wake::Drain => Err(End::Close(CloseReason::Restart)),
                Wake::Delivery(_) if self.connection.overflowed() => Err(End::Close(CloseReason::SlowReader)),
                Wake::Delivery(Some(Delivery::Event(event))) => self.deliver(&event).await,
                Wake::Delivery(Some(Delivery::Resync)) => Box::pin(self.resync()).await,
                Wake::Delivery(Some(Delivery::AccountDeleted)) => Err(End::Close(CloseReason::AccountDeleted)),
                Wake::Stored(stored, id) => Box::pin(self.on_stored(*stored, id.as_ref())).await,
                Wake::Delivery(None) => Err(End::Gone),
                Wake::Item(item) => {
                    last_heard = Instant::now();
                    Box::pin(self.on_item(item)).await
                }
                Wake::Ping if last_heard.elapsed() > idle_timeout => Err(End::Close(CloseReason::Idle)),
                Wake::Ping => self.ping().await,
                Wake::Expired => Err(End::Close(CloseReason::TokenExpired)),
                Wake::Gaps => Box::pin(self.fill_gaps()).await,
            };
            if let Err(end) = step {
                return end;
            }
        }
    }

    /// Says why when the server ends the connection (`/chat`: a close frame), then closes it.
    /// Messages still on their way are seen through first (the writer announces each to the
    /// other members once stored), so a drain that waits for the connections waits for them
    /// too; the client hears how each went while it can (not a client that is gone or cut off
    /// for reading too slowly: each write would wait out the write timeout).
    async fn finish(&mut self, end: End) {
        if matches!(end, End::Close(reason) if reason != CloseReason::SlowReader) {
            // Stops at the first write that fails, leaving the rest for below.
            let _ = self.settle().await;
        }
        while let Some(pending) = self.pending.pop_front() {
            let _ = pending.answered().await;
        }
        let (label, reason) = match end {
            End::Close(reason) => (reason.label(), Some(reason)),
            End::Gone => ("client", None),
        };
        self.state.metrics.closes_total.with_label_values(&[label]).inc();
        self.link.close(reason).await;
    }

    async fn on_item(&mut self, item: Option<L::Item>) -> Step {
        let Some(item) = item else { return Err(End::Gone) };
        match self.link.read(item) {
            ClientInput::Gone => Err(End::Gone),
            ClientInput::Close(reason) => Err(End::Close(reason)),
            ClientInput::KeepAlive => Ok(()),
            // Every data frame counts against the rate limit, whatever it holds.
            ClientInput::Frame(frame) if self.limiter.check().is_err() => {
                let id = match frame {
                    Ok((_, id)) | Err((id, _)) => id,
                };
                self.refuse_over_limit(id.as_ref()).await
            }
            ClientInput::Frame(Ok((command, id))) if command.sends() => {
                self.strikes = 0;
                self.handle(command, id.as_ref()).await
            }
            ClientInput::Frame(Ok((command, id))) => {
                self.strikes = 0;
                self.settle().await?;
                self.handle(command, id.as_ref()).await
            }
            ClientInput::Frame(Err((id, err))) => {
                self.strikes = 0;
                self.settle().await?;
                self.write_event(&ServerEvent::Error(err), id.as_ref()).await
            }
        }
    }

    /// Over the rate limit: an error event (with the frame's id, when it has one), and after a
    /// burst's worth of refusals in a row, the door.
    async fn refuse_over_limit(&mut self, id: Option<&FrameId>) -> Step {
        self.settle().await?;
        self.strikes += 1;
        if self.strikes > self.state.settings.ws_rate_limit_burst {
            return Err(End::Close(CloseReason::RateLimited));
        }
        let err = WsError::new(ErrorCode::RateLimited, "too many frames, slow down");
        self.write_event(&ServerEvent::Error(err), id).await
    }

    /// How a chat this user is in reaches its members: [`ChatError::NotMember`] when they are
    /// not in it.
    async fn route_of(&mut self, chat_id: Uuid) -> Result<chats::Route, ChatError> {
        if let Some(route) = self.order.route(chat_id) {
            return Ok(route);
        }
        // A chat this connection has not heard of yet (made on another device a moment ago, or
        // a group the user was added to whose news is still on its way).
        let membership = chats::membership(&self.state.db, chat_id, self.user).await?;
        match membership.kind {
            ChatKind::Private => {
                let members = chats::members_if_member(&self.state.db, chat_id, self.user).await?;
                let peer = members.into_iter().find(|m| *m != self.user).unwrap_or(self.user);
                self.order.track(chat_id, 0, chats::Route::Peer(peer));
            }
            ChatKind::Group => self.enter_group(chat_id, membership.joined_seq, membership.members_epoch).await,
        }
        self.order.route(chat_id).ok_or(ChatError::NotMember)
    }

    /// An event the node handed over.
    async fn deliver(&mut self, event: &Outgoing) -> Step {
        match &event.kind {
            Tracked::Message { chat_id, seq, epoch } => {
                if let Some(epoch) = epoch
                    && !Box::pin(self.still_in(*chat_id, *epoch)).await?
                {
                    return Ok(());
                }
                self.write_in_order(*chat_id, *seq, event.text.to_string()).await
            }
            Tracked::Group { chat_id, epoch, change } => {
                Box::pin(self.on_group_change(*chat_id, *epoch, change, &event.text)).await
            }
            Tracked::ChatCreated { chat_id, user_ids } => {
                let peer = user_ids.iter().copied().find(|u| *u != self.user).unwrap_or(self.user);
                self.order.track(*chat_id, 0, chats::Route::Peer(peer));
                self.write(event.text.to_string()).await?;
                Box::pin(self.tell_presence_of(peer)).await
            }
            Tracked::Plain => match event.presence {
                Some(change) => self.tell_presence(change.user_id, change.online).await,
                None => self.write(event.text.to_string()).await,
            },
        }
    }

    /// Writes message `seq` of `chat_id` in its place (see [`ChatOrder`]).
    async fn write_in_order(&mut self, chat_id: Uuid, seq: i64, text: String) -> Step {
        if self.order.route(chat_id).is_none() {
            // A chat made while this connection was not listening (its creation event was lost),
            // or one the user is not in (any more): its message is not theirs.
            match Box::pin(self.route_of(chat_id)).await {
                Ok(_) => {}
                Err(ChatError::NotMember) => return Ok(()),
                Err(err) => return Err(self.fault(err)),
            }
        }
        for frame in self.order.offer(chat_id, seq, text) {
            self.write(frame).await?;
        }
        Ok(())
    }

    /// Waits for every message still on its way and writes how each went: a reply to anything
    /// else comes after them, as the client sent it.
    async fn settle(&mut self) -> Step {
        while let Some(pending) = self.pending.pop_front() {
            let (stored, id) = pending.answered().await;
            self.on_stored(stored, id.as_ref()).await?;
        }
        Ok(())
    }

    /// A failure of ours while serving: tell the client, end the connection so it reconnects
    /// and resumes (its position is safe in its own hands).
    fn fault(&self, err: ChatError) -> End {
        tracing::error!(error = %err, user = %self.user, "connection cannot go on");
        End::Close(CloseReason::Internal)
    }

    async fn write_event(&mut self, event: &ServerEvent, id: Option<&FrameId>) -> Step {
        self.write(event.to_text(id)).await
    }

    async fn write(&mut self, frame: String) -> Step {
        let written = tokio::time::timeout(self.write_timeout, self.link.send(frame)).await;
        self.written(written)
    }

    async fn ping(&mut self) -> Step {
        let written = tokio::time::timeout(self.write_timeout, self.link.ping()).await;
        self.written(written)
    }

    fn written(&self, written: Result<Result<(), Unwritten>, tokio::time::error::Elapsed>) -> Step {
        match written {
            Ok(Ok(())) => Ok(()),
            Ok(Err(Unwritten::Gone)) => Err(End::Gone),
            Ok(Err(Unwritten::SlowReader)) => {
                self.connection.fell_behind(&self.state.metrics);
                Err(End::Close(CloseReason::SlowReader))
            }
            Err(_) => {
                self.state.metrics.closes_total.with_label_values(&["write_timeout"]).inc();
                Err(End::Gone)
            }
        }
    }
}

/// Sleeps until `at`, or for ever when there is nothing to wait for.
async fn sleep_until_some(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

fn expiry_instant(exp: i64) -> Instant {
    let left = exp.saturating_sub(chrono::Utc::now().timestamp()).max(0);
    Instant::now() + Duration::from_secs(u64::try_from(left).unwrap_or(0))
}
