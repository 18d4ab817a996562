//! How the benchmarks' load generator speaks to a server: chat-gateway's `/chat` WebSocket, or
//! Socket.IO's WebSocket transport spoken by hand (for chat-gateway's Socket.IO and the
//! Socket.IO peer alike), so that every system is driven by the same code.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

pub type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The protocol the benchmark's clients speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wire {
    Chat,
    /// Socket.IO's WebSocket transport, spoken by hand: `42/chat,["event",data]` packets,
    /// pings answered.
    SocketIo,
}

/// What a text frame from the server is.
pub enum Read {
    Event(String, Value),
    /// Engine.IO's ping, which the client must answer.
    Ping,
    Other,
}

impl Wire {
    pub async fn connect(self, port: u16, token: &str) -> Result<Ws, String> {
        let url = match self {
            Self::Chat => format!("ws://127.0.0.1:{port}/chat?access_token={token}"),
            Self::SocketIo => format!("ws://127.0.0.1:{port}/socket.io/?EIO=4&transport=websocket"),
        };
        let (mut ws, _) = tokio_tungstenite::connect_async(url).await.map_err(|e| e.to_string())?;
        if self == Self::SocketIo {
            match ws.next().await {
                Some(Ok(open)) if open.to_text().is_ok_and(|t| t.starts_with('0')) => {}
                other => return Err(format!("no Engine.IO open packet: {other:?}")),
            }
            ws.send(Message::text(format!("40/chat,{}", json!({"token": token})))).await.map_err(|e| e.to_string())?;
        }
        self.next_event(&mut ws, "connected").await?;
        Ok(ws)
    }

    /// A client event, without a reply id or callback: the server pushes the result as an event.
    pub fn frame(self, event: &str, data: Value) -> Message {
        Message::text(match self {
            Self::Chat => json!({"event": event, "data": data}).to_string(),
            Self::SocketIo => format!("42/chat,{}", json!([event, data])),
        })
    }

    pub fn read(self, text: &str) -> Read {
        match self {
            Self::Chat => match serde_json::from_str::<Value>(text) {
                Ok(mut value) => match value["event"].as_str() {
                    Some(event) => Read::Event(event.to_owned(), value["data"].take()),
                    None => Read::Other,
                },
                Err(_) => Read::Other,
            },
            Self::SocketIo if text == "2" => Read::Ping,
            Self::SocketIo => match text.strip_prefix("42/chat,").and_then(|a| serde_json::from_str::<Value>(a).ok()) {
                Some(mut args) => match args[0].as_str() {
                    Some(event) => Read::Event(event.to_owned(), args[1].take()),
                    None => Read::Other,
                },
                None => Read::Other,
            },
        }
    }

    /// The data of the next `event`, answering pings on the way.
    pub async fn next_event(self, ws: &mut Ws, event: &str) -> Result<Value, String> {
        loop {
            let message = match tokio::time::timeout(Duration::from_secs(30), ws.next()).await {
                Ok(Some(Ok(message))) => message,
                other => return Err(format!("no {event} event: {other:?}")),
            };
            let Message::Text(text) = message else { continue };
            match self.read(text.as_str()) {
                Read::Event(name, data) if name == event => return Ok(data),
                Read::Ping => ws.send(Message::text("3")).await.map_err(|e| e.to_string())?,
                _ => {}
            }
        }
    }
}
