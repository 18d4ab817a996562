//! The namespace connection, checked before the client is told it is connected: the access
//! token (the `auth` payload's `token`, the `access_token` query parameter, or the
//! `Authorization` header) and everything else `/chat` checks ([`admit`]), then the resume
//! point from `auth` (`since`, or `last_message_ids` as `/chat` takes it or as an object of
//! chat ids to message ids). A refusal reaches the client as `connect_error`, its message the
//! code `/chat` answers the same refusal with: `missing_token`, `invalid_token`,
//! `token_expired`, `too_many_connections`, `replica_full`, `unavailable`, `invalid_field`,
//! `forbidden`.

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
};

use serde::Deserialize;
use serde_json::Value;
use shared::ApiError;
use socketioxide::extract::{SocketRef, TryData};
use tokio::sync::mpsc;

use super::link::{Forward, SocketIoItem, SocketIoLink};
use crate::{
    state::ChatState,
    transport::admission::{Admission, TokenPlaces, admit},
};

/// What the client may put in `io(url, {auth})`. Anything else there is ignored: clients
/// keep their own things in it.
#[derive(Debug, Default, Deserialize)]
struct Auth {
    token: Option<String>,
    /// `"original"`: the original service's event shapes from the first event on.
    payloads: Option<Payloads>,
    since: Option<i64>,
    last_message_ids: Option<LastMessageIds>,
}

/// Which event shapes a connection reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Payloads {
    /// `/chat`'s, until the client sends a payload of the original's.
    Current,
    /// The original service's ([`super::original`]).
    Original,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum LastMessageIds {
    /// As `/chat` takes it: `chat_id:message_id` pairs, comma separated.
    Pairs(String),
    /// `{chat_id: message_id}`.
    Map(BTreeMap<String, i64>),
}

impl LastMessageIds {
    fn pairs(self) -> String {
        match self {
            Self::Pairs(pairs) => pairs,
            Self::Map(map) => {
                map.iter().map(|(chat, message)| format!("{chat}:{message}")).collect::<Vec<_>>().join(",")
            }
        }
    }
}

/// A refused connection: its `Display` is the code, which is all `connect_error` carries.
#[derive(Debug)]
pub(super) struct ConnectRefused(ApiError);

impl std::fmt::Display for ConnectRefused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.body().code)
    }
}

/// The session's ingredients, from the check to the connect handler.
struct SessionParts {
    admission: Admission,
    original: bool,
    items: mpsc::Receiver<SocketIoItem>,
}

/// How [`SessionParts`] travels in the socket's extensions, which hold `Clone` values only.
#[derive(Clone)]
struct Handover(Arc<Mutex<Option<SessionParts>>>);

#[derive(Deserialize)]
struct Query {
    access_token: Option<String>,
    /// As `auth.payloads`, for clients that can only change the URL.
    payloads: Option<String>,
}

/// The connect middleware. The socket's event forwarder is set here, not in the connect
/// handler: an event the client sends as soon as it is told it is connected would find no
/// handler yet, and be dropped.
pub(super) async fn check(
    socket: SocketRef,
    TryData(auth): TryData<Value>,
    state: Arc<ChatState>,
) -> Result<(), ConnectRefused> {
    let auth: Auth = match auth {
        Ok(Value::Null) | Err(_) => Auth::default(),
        Ok(auth) => serde_json::from_value(auth)
            .map_err(|e| ConnectRefused(ApiError::invalid_field("auth", format!("auth: {e}"))))?,
    };
    let parts = socket.req_parts();
    let query: Option<Query> = parts.uri.query().and_then(|q| serde_urlencoded::from_str(q).ok());
    let payloads =
        match query.as_ref().and_then(|q| q.payloads.as_deref()) {
            None => auth.payloads,
            Some(name) => Some(serde_json::from_value(Value::from(name)).map_err(|_| {
                ConnectRefused(ApiError::invalid_field("payloads", "payloads: `original` or `current`"))
            })?),
        };
    let token = auth.token.as_deref().or(query.as_ref().and_then(|q| q.access_token.as_deref()));
    let places = TokenPlaces("auth.token, the access_token parameter or the Authorization header");
    let last = auth.last_message_ids.map(LastMessageIds::pairs);
    let admitted = admit(&state, &parts.headers, token, places, auth.since, last.as_deref()).await.map_err(refused)?;
    // Before the client is told it is connected: from then on nothing it is sent is missed.
    let admission = admitted.enter(&state).await.map_err(refused)?;

    // Room for a burst: past it the client is over its rate whatever the session is doing.
    let (items, rx) = mpsc::channel((state.settings.ws_rate_limit_burst as usize).max(16));
    socket.on_fallback(Forward(items.clone()));
    socket.on_disconnect(move || async move {
        let _ = items.send(SocketIoItem::Gone).await;
    });
    let original = payloads == Some(Payloads::Original);
    let pending = SessionParts { admission, original, items: rx };
    socket.extensions.insert(Handover(Arc::new(Mutex::new(Some(pending)))));
    Ok(())
}

fn refused(err: ApiError) -> ConnectRefused {
    tracing::debug!(code = %err.body().code, message = %err.body().error, "Socket.IO connection refused");
    ConnectRefused(err)
}

/// The connect handler: the session, for as long as the socket lives.
pub(super) async fn connected(socket: SocketRef) {
    let pending = socket.extensions.get::<Handover>().and_then(|Handover(pending)| pending.lock().ok()?.take());
    let Some(SessionParts { admission, original, items }) = pending else { return };
    let link = SocketIoLink::new(socket, admission.user(), items, original);
    admission.serve(link).await;
}
