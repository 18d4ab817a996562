//! `/chat`'s side of a session: text frames of JSON in and out, pings, and close frames.

use std::time::Duration;

use futures_util::{
    SinkExt, StreamExt,
    stream::{SplitSink, SplitStream},
};
use poem::web::websocket::{Message, WebSocketStream};

use crate::{
    protocol::{self, ErrorCode, WsError},
    session::{ClientInput, CloseReason, Command, Link, Unwritten},
};

pub(super) struct ChatLink {
    sink: SplitSink<WebSocketStream, Message>,
    stream: SplitStream<WebSocketStream>,
    /// How long the close frame may take to go out.
    write_timeout: Duration,
}

impl ChatLink {
    pub(super) fn new(socket: WebSocketStream, write_timeout: Duration) -> Self {
        let (sink, stream) = socket.split();
        Self { sink, stream, write_timeout }
    }
}

impl Link for ChatLink {
    type Item = std::io::Result<Message>;

    const PINGS: bool = true;

    async fn next(&mut self) -> Option<Self::Item> {
        self.stream.next().await
    }

    fn read(&mut self, item: Self::Item) -> ClientInput {
        match item {
            Err(err) => match CloseReason::for_read_error(&err) {
                Some(reason) => ClientInput::Close(reason),
                None => {
                    tracing::debug!(error = %err, "connection failed");
                    ClientInput::Gone
                }
            },
            Ok(Message::Close(_)) => ClientInput::Gone,
            Ok(Message::Ping(_) | Message::Pong(_)) => ClientInput::KeepAlive,
            Ok(Message::Text(text)) => {
                ClientInput::Frame(protocol::parse(&text).map(|frame| (Command::Request(frame.request), frame.id)))
            }
            Ok(Message::Binary(_)) => ClientInput::Frame(Err((
                None,
                WsError::new(ErrorCode::BinaryNotSupported, "send text frames, each one JSON object"),
            ))),
        }
    }

    async fn send(&mut self, frame: String) -> Result<(), Unwritten> {
        self.sink.send(Message::Text(frame)).await.map_err(|_| Unwritten::Gone)
    }

    async fn ping(&mut self) -> Result<(), Unwritten> {
        self.sink.send(Message::Ping(Vec::new())).await.map_err(|_| Unwritten::Gone)
    }

    /// A close frame saying why, then a brief wait for the client's own close before the
    /// connection is dropped: closing at once could reset it before the client reads ours.
    async fn close(&mut self, reason: Option<CloseReason>) {
        if let Some(reason) = reason {
            let close = Message::Close(Some((reason.close_code(), reason.text().to_owned())));
            if let Ok(Ok(())) = tokio::time::timeout(self.write_timeout, self.sink.send(close)).await {
                let answered = async {
                    while let Some(Ok(message)) = self.stream.next().await {
                        if matches!(message, Message::Close(_)) {
                            break;
                        }
                    }
                };
                let _ = tokio::time::timeout(Duration::from_secs(2), answered).await;
            }
        }
        let _ = tokio::time::timeout(Duration::from_secs(1), self.sink.close()).await;
    }
}
