//! Socket.IO spoken by hand over a WebSocket (`EIO=4&transport=websocket`), for what the
//! official clients will not send: garbage, oversized packets, binary attachments.

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::{
    MaybeTlsStream, WebSocketStream,
    tungstenite::{Message, client::IntoClientRequest, handshake::client::Request},
};

use crate::helpers::{PATIENCE, Suite, User};

pub struct RawSio {
    stream: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl RawSio {
    /// An Engine.IO session over WebSocket on gateway `replica`, not yet in the namespace.
    pub async fn open(suite: &Suite, replica: usize) -> Self {
        let tcp = TcpStream::connect(("127.0.0.1", suite.gateways[replica].port)).await.unwrap();
        Self::open_on(tcp, suite, replica).await
    }

    /// The same over a TCP connection the test made (a small receive buffer, say).
    pub async fn open_on(tcp: TcpStream, suite: &Suite, replica: usize) -> Self {
        let url = format!("ws://127.0.0.1:{}/socket.io/?EIO=4&transport=websocket", suite.gateways[replica].port);
        Self::open_with(tcp, url.into_client_request().unwrap()).await
    }

    /// The same with a request of the test's own (a query parameter, a header).
    pub async fn open_with(tcp: TcpStream, request: Request) -> Self {
        let (stream, _) = tokio_tungstenite::client_async(request, MaybeTlsStream::Plain(tcp)).await.unwrap();
        let mut raw = Self { stream };
        let open = raw.next_text().await.expect("no Engine.IO open packet");
        assert!(open.starts_with('0'), "{open}");
        raw
    }

    /// Joined `/chat` as `user`, after `connected`.
    pub async fn connect(suite: &Suite, replica: usize, user: &User) -> Self {
        let raw = Self::open(suite, replica).await;
        raw.join(user).await
    }

    /// Joins `/chat` as `user` on this Engine.IO session, after `connected`.
    pub async fn join(mut self, user: &User) -> Self {
        self.send(format!("40/chat,{}", json!({"token": user.token}))).await;
        let joined = self.next_text().await.expect("closed before joining");
        assert!(joined.starts_with("40/chat,"), "{joined}");
        let (event, data) = self.next_event().await.expect("closed before connected");
        assert_eq!((event.as_str(), &data["user_id"]), ("connected", &json!(user.id)));
        self
    }

    pub async fn send(&mut self, text: String) {
        self.stream.send(Message::text(text)).await.unwrap();
    }

    /// An event with data as the AsyncAPI document describes it (the test fails otherwise).
    pub async fn emit(&mut self, event: &str, data: Value) {
        testkit::socketio::documented(event, &data);
        self.emit_unchecked(event, data).await;
    }

    /// An event with any data: to see what the server does with what it does not take.
    pub async fn emit_unchecked(&mut self, event: &str, data: Value) {
        self.send(format!("42/chat,{}", json!([event, data]))).await;
    }

    /// The next text packet, answering Engine.IO's pings on the way; `None` once closed.
    pub async fn next_text(&mut self) -> Option<String> {
        loop {
            let message = tokio::time::timeout(PATIENCE, self.stream.next()).await.expect("nothing within PATIENCE");
            match message {
                Some(Ok(Message::Text(text))) if text.as_str() == "2" => self.send("3".into()).await,
                Some(Ok(Message::Text(text))) => return Some(text.to_string()),
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return None,
                Some(Ok(_)) => {}
            }
        }
    }

    /// The next event of `/chat`: its name and first argument; `None` once closed.
    pub async fn next_event(&mut self) -> Option<(String, Value)> {
        loop {
            let text = self.next_text().await?;
            if let Some(json) = text.strip_prefix("42/chat,") {
                let args: Value = serde_json::from_str(json).unwrap();
                return Some((args[0].as_str().unwrap().to_owned(), args[1].clone()));
            }
        }
    }

    /// The next event called `name`, skipping others.
    pub async fn next_of(&mut self, name: &str) -> Value {
        loop {
            let (event, data) = self.next_event().await.unwrap_or_else(|| panic!("closed before {name}"));
            if event == name {
                return data;
            }
        }
    }

    /// Whether the server closed the connection (reading until it does, or PATIENCE).
    pub async fn closed(&mut self) -> bool {
        while self.next_text().await.is_some() {}
        true
    }

    /// Reads without answering Engine.IO's pings until the server gives up on us.
    pub async fn closed_without_answering(&mut self) -> bool {
        loop {
            let message = tokio::time::timeout(PATIENCE, self.stream.next()).await.expect("still open after PATIENCE");
            if matches!(message, Some(Ok(Message::Close(_))) | None | Some(Err(_))) {
                return true;
            }
        }
    }
}
