//! Pairs chatting through the proxy, as real clients: each member sends a numbered message,
//! waits for its reply and sends the next; a closed socket is opened again at once (with
//! backoff when that fails) and resumed from the last message of the peer's it has
//! (`last_message_ids`); a message without its reply is sent again with the same
//! `client_msg_id`. Each member checks that its peer's messages come once each, in order,
//! none missing.

use std::{
    net::{IpAddr, SocketAddr},
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU16, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::{net::TcpSocket, sync::watch};
use tokio_tungstenite::{
    MaybeTlsStream, WebSocketStream, client_async,
    tungstenite::{Message, client::IntoClientRequest, protocol::CloseFrame},
};
use uuid::Uuid;

use crate::{
    figures::{Event, Figures},
    proxy::upstream_port,
};

/// Between a member's messages.
pub const SEND_EVERY: Duration = Duration::from_millis(400);
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(2);

pub type Socket = WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>;

/// Opens `/chat` through the proxy from `from`, with `query` (`?…` or empty), and reads the
/// `connected` event. The pod that took it is in the answer's `X-E2E-Upstream`.
pub async fn open(proxy: &str, from: IpAddr, token: &str, query: &str) -> anyhow::Result<(Socket, String)> {
    let addr: SocketAddr = proxy.parse()?;
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(from, 0))?;
    let stream = socket.connect(addr).await?;
    let mut request = format!("ws://{proxy}/chat{query}").into_client_request()?;
    request.headers_mut().insert("authorization", format!("Bearer {token}").parse()?);
    let (mut ws, response) = client_async(request, MaybeTlsStream::Plain(stream)).await?;
    let pod = response.headers().get("x-e2e-upstream").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let first = tokio::time::timeout(Duration::from_secs(10), next_event(&mut ws)).await??;
    anyhow::ensure!(first["event"] == "connected", "the first event was not `connected`: {first}");
    Ok((ws, pod))
}

/// Finds or makes the chat with `peer` over `ws` (`start_private_chat`), and returns its id.
pub async fn start_chat(ws: &mut Socket, peer: &str) -> anyhow::Result<Uuid> {
    let start = json!({"event": "start_private_chat", "id": "start", "data": {"user_id": peer}});
    ws.send(Message::Text(start.to_string().into())).await?;
    let created = loop {
        let event = next_event(ws).await?;
        if event["id"] == "start" {
            break event;
        }
    };
    Ok(created["data"]["chat_id"].as_str().ok_or_else(|| anyhow::anyhow!("no chat: {created}"))?.parse()?)
}

/// The next JSON event (pings are answered by tungstenite as it reads).
pub async fn next_event(ws: &mut Socket) -> anyhow::Result<Value> {
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(text))) => return Ok(serde_json::from_str(&text)?),
            Some(Ok(Message::Close(frame))) => anyhow::bail!("{}", close_code(frame.as_ref())),
            Some(Ok(_)) => {}
            Some(Err(err)) => anyhow::bail!("socket error: {err}"),
            None => anyhow::bail!("socket ended"),
        }
    }
}

fn close_code(frame: Option<&CloseFrame>) -> String {
    frame.map_or_else(|| "close without code".into(), |f| format!("close {}", u16::from(f.code)))
}

/// One user of a pair.
#[derive(Clone)]
pub struct Member {
    pub user_id: Uuid,
    pub token: String,
    pub from: IpAddr,
}

/// What both members of a pair know of each other's progress.
#[derive(Default)]
pub struct Progress {
    /// Messages whose reply came (stored), by member 0 and member 1.
    pub acked: [AtomicU64; 2],
    pub done_sending: [AtomicBool; 2],
    /// The port of the gateway pod each member's socket is on now.
    pub pods: [AtomicU16; 2],
}

impl Progress {
    /// Whether the two members' sockets are on different gateway pods now.
    pub fn split(&self) -> bool {
        let [a, b] = [&self.pods[0], &self.pods[1]].map(|p| p.load(Ordering::SeqCst));
        a != 0 && b != 0 && a != b
    }
}

pub struct Pair {
    pub chat_id: Uuid,
    pub members: [Member; 2],
    pub progress: Arc<Progress>,
}

/// What one member ends with.
#[derive(Debug, Default)]
pub struct Tally {
    pub sent: u64,
    pub received: u64,
}

/// Runs member `me` of `pair` until `stop`, then until its last message is stored and every
/// stored message of its peer has reached it (or `patience` runs out).
pub async fn run_member(
    proxy: String,
    pair: Arc<Pair>,
    me: usize,
    figures: Arc<Figures>,
    mut stop: watch::Receiver<bool>,
    patience: Duration,
) -> Tally {
    let peer = 1 - me;
    let member = pair.members[me].clone();
    let peer_id = pair.members[peer].user_id;
    let mut tally = Tally::default();
    let mut next_seq = 1u64;
    // The message sent and not yet answered: its number and client_msg_id.
    let mut pending: Option<(u64, String)> = None;
    let mut expect_from_peer = 1u64;
    let mut last_peer_message: Option<i64> = None;
    let mut last_arrival = Instant::now();
    let mut closed_at: Option<Instant> = None;
    let mut backoff = FIRST_BACKOFF;
    let mut stopping_since: Option<Instant> = None;
    let mut frame_no = 0u64;
    'connections: loop {
        // From the last of the peer's messages it has, or the chat's start (0): a message
        // sent before this member's first socket was up is in the chat too.
        let query = format!("?last_message_ids={}:{}", pair.chat_id, last_peer_message.unwrap_or(0));
        let mut ws = match open(&proxy, member.from, &member.token, &query).await {
            Ok((ws, pod)) => {
                pair.progress.pods[me].store(upstream_port(&pod).unwrap_or(0), Ordering::SeqCst);
                figures.record(Event::Upgraded { resent: pod.contains(',') });
                ws
            }
            Err(err) => {
                figures.record(Event::Retried(format!("reconnect: {}", first_words(&err.to_string()))));
                if stopping_since.is_some_and(|at| at.elapsed() > patience) {
                    figures.record(Event::Violation(format!(
                        "chat {}: member {me} could not reconnect: {err}",
                        pair.chat_id
                    )));
                    return tally;
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
                continue;
            }
        };
        backoff = FIRST_BACKOFF;
        if let Some(at) = closed_at.take() {
            figures.record(Event::Reconnected(at.elapsed()));
        }
        let mut resend = pending.is_some();
        let mut tick = tokio::time::interval(SEND_EVERY);
        loop {
            let finished = stopping_since.is_some()
                && pending.is_none()
                && pair.progress.done_sending[peer].load(Ordering::SeqCst)
                && expect_from_peer > pair.progress.acked[peer].load(Ordering::SeqCst);
            let out_of_patience = stopping_since.is_some_and(|at| at.elapsed() > patience);
            if finished || out_of_patience {
                if !finished {
                    figures.record(Event::Violation(format!(
                        "chat {}: member {me} gave up waiting (pending {pending:?}, had {} of its peer's {} messages)",
                        pair.chat_id,
                        expect_from_peer - 1,
                        pair.progress.acked[peer].load(Ordering::SeqCst)
                    )));
                }
                let _ = ws.close(None).await;
                return tally;
            }
            if resend && let Some((seq, client_msg_id)) = &pending {
                frame_no += 1;
                if send(&mut ws, &pair.chat_id, *seq, client_msg_id, frame_no).await.is_err() {
                    break;
                }
                resend = false;
            }
            tokio::select! {
                _ = tick.tick() => {
                    if pending.is_none() && stopping_since.is_none() {
                        let client_msg_id = Uuid::new_v4().to_string();
                        frame_no += 1;
                        if send(&mut ws, &pair.chat_id, next_seq, &client_msg_id, frame_no).await.is_err() {
                            pending = Some((next_seq, client_msg_id));
                            next_seq += 1;
                            break;
                        }
                        pending = Some((next_seq, client_msg_id));
                        next_seq += 1;
                    }
                }
                changed = stop.changed(), if stopping_since.is_none() => {
                    if changed.is_err() || *stop.borrow() {
                        stopping_since = Some(Instant::now());
                        if pending.is_none() {
                            pair.progress.done_sending[me].store(true, Ordering::SeqCst);
                        }
                    }
                }
                event = next_event(&mut ws) => {
                    let event = match event {
                        Ok(event) => event,
                        Err(err) => {
                            figures.record(Event::SocketClosed(first_words(&err.to_string())));
                            break;
                        }
                    };
                    let data = &event["data"];
                    match event["event"].as_str() {
                        Some("receive_message") => {
                            let (Some(id), Some(sender)) = (data["message_id"].as_i64(), data["sender_id"].as_str()) else {
                                figures.record(Event::Violation(format!("a message without id or sender: {event}")));
                                continue;
                            };
                            let own = sender == member.user_id.to_string();
                            let answers_pending = pending.as_ref().is_some_and(|(_, cmid)| data["client_msg_id"] == cmid.as_str());
                            if own && answers_pending {
                                // The reply, or the stored copy in a replay: either way it is stored.
                                pending = None;
                                tally.sent += 1;
                                pair.progress.acked[me].fetch_add(1, Ordering::SeqCst);
                                if stopping_since.is_some() {
                                    pair.progress.done_sending[me].store(true, Ordering::SeqCst);
                                }
                            } else if sender == peer_id.to_string() {
                                if last_peer_message.is_some_and(|last| id <= last) {
                                    figures.record(Event::Redelivered);
                                    continue;
                                }
                                last_peer_message = Some(id);
                                let seq = data["content"].as_str().and_then(|c| c.strip_prefix("seq ")).and_then(|n| n.parse::<u64>().ok());
                                if seq == Some(expect_from_peer) {
                                    expect_from_peer += 1;
                                    tally.received += 1;
                                    figures.record(Event::Arrived(last_arrival.elapsed()));
                                    last_arrival = Instant::now();
                                } else {
                                    figures.record(Event::Violation(format!(
                                        "chat {}: member {me} expected its peer's message {expect_from_peer}, got {:?} (message {id})",
                                        pair.chat_id, data["content"]
                                    )));
                                    if let Some(seq) = seq.filter(|s| *s > expect_from_peer) {
                                        expect_from_peer = seq + 1;
                                    }
                                }
                            }
                        }
                        Some("error") => {
                            let code = data["code"].as_str().unwrap_or_default();
                            if matches!(code, "overloaded" | "unavailable") && pending.is_some() {
                                // The contract: not stored; send it again after a pause.
                                figures.record(Event::Retried(format!("message {code}")));
                                tokio::time::sleep(Duration::from_millis(500)).await;
                                resend = true;
                            } else {
                                figures.record(Event::Violation(format!("chat {}: member {me}: error {event}", pair.chat_id)));
                            }
                        }
                        _ => {}
                    }
                }
            }
        }
        closed_at = Some(Instant::now());
        continue 'connections;
    }
}

async fn send(ws: &mut Socket, chat_id: &Uuid, seq: u64, client_msg_id: &str, frame: u64) -> anyhow::Result<()> {
    let frame = json!({
        "event": "send_message",
        "id": format!("f{frame}"),
        "data": {"chat_id": chat_id, "content": format!("seq {seq}"), "client_msg_id": client_msg_id},
    });
    ws.send(Message::Text(frame.to_string().into())).await?;
    Ok(())
}

/// The kind of an error, without the addresses and numbers that make every line different.
fn first_words(text: &str) -> String {
    text.split(':').next().unwrap_or(text).trim().to_owned()
}
