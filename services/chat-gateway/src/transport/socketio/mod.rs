//! Socket.IO at `/socket.io/`, namespace `/chat`: Engine.IO v4 over long-polling and
//! WebSocket (with the upgrade between them) and Socket.IO protocol v5, which the JavaScript
//! clients 3 and 4 and their ports to other platforms speak. Each connection is a session as
//! on `/chat` (the same store, order, fan-out, presence and limits); only the wire differs
//! ([`link`]), and the events keep the original service's names and payloads ([`events`]).
//!
//! It is served beside poem on the same listener ([`shared::server::Mount`]): poem takes the
//! connection upgrade out of the requests it routes, and Engine.IO upgrades by itself.

use std::{convert::Infallible, sync::Arc, time::Duration};

use http_body_util::{BodyExt, Full, combinators::BoxBody};
use hyper::body::{Bytes, Incoming};
use poem::{
    IntoResponse,
    http::{
        HeaderValue, Method, StatusCode,
        header::{
            ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS, ACCESS_CONTROL_ALLOW_ORIGIN, ORIGIN, VARY,
        },
    },
};
use shared::server::Mount;
use socketioxide::{
    ParserConfig, SocketIo,
    extract::{SocketRef, TryData},
    handler::ConnectHandler,
};

mod events;
mod handshake;
mod link;
mod original;

use crate::state::ChatState;

/// Where clients find it: the clients' default path.
pub(crate) const PATH: &str = "/socket.io";
/// The namespace, the original service's.
const NAMESPACE: &str = "/chat";
/// Largest long-polling request body, and largest WebSocket message. A client batches the
/// packets it has queued into one request, and the version 3 client does not know the
/// server's limit, so this is Socket.IO's own default rather than one event's limit (each
/// event is held to that, and answered with an error when over it).
const MAX_PACKET_BYTES: u64 = 1_000_000;
/// A client that opened an Engine.IO session must join the namespace within this.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

pub(crate) struct SocketIoServer {
    io: SocketIo,
}

impl SocketIoServer {
    /// The server and the mount that serves it.
    pub(crate) fn new(state: &Arc<ChatState>) -> (Self, Mount) {
        let settings = &state.settings;
        let ping_interval = Duration::from_secs(settings.ws_ping_interval_seconds);
        let (service, io) = SocketIo::builder()
            .req_path(PATH)
            .ping_interval(ping_interval)
            // Silent for WS_IDLE_TIMEOUT_SECONDS in all, as on /chat (checked longer than the interval).
            .ping_timeout(Duration::from_secs(settings.ws_idle_timeout_seconds) - ping_interval)
            .max_buffer_size(settings.ws_send_queue as usize)
            .max_payload(MAX_PACKET_BYTES)
            // One limit whatever the transport: an event that fits is read and answered (a
            // text too long is `content_too_long`, as over long-polling), not cut off.
            .ws_max_message_size(MAX_PACKET_BYTES as usize)
            .ws_max_frame_size(MAX_PACKET_BYTES as usize)
            // Allocated up front for every connection, as on /chat.
            .ws_read_buffer_size(1024)
            .connect_timeout(CONNECT_TIMEOUT)
            // Events are JSON: a binary attachment closes the connection.
            .with_parser(ParserConfig::common().max_incoming_binaries(0).max_incoming_binary_buf_size(0))
            .build_svc();
        let check_state = state.clone();
        let check = move |socket: SocketRef, auth: TryData<serde_json::Value>| {
            handshake::check(socket, auth, check_state.clone())
        };
        io.ns(NAMESPACE, handshake::connected.with(check));
        let mount = Mount::new(PATH, OriginGate { service, state: state.clone() });
        (Self { io }, mount)
    }

    /// Closes every connection with Engine.IO's `close`, after which clients reconnect by
    /// themselves (to another replica, and resume there).
    pub(crate) async fn drain(&self) {
        self.io.close().await;
    }
}

/// Browser pages: another site's page is refused before Engine.IO sees it (as on `/chat`),
/// and a listed origin gets CORS for long-polling, its preflight included.
#[derive(Clone)]
struct OriginGate<S> {
    service: S,
    state: Arc<ChatState>,
}

type Answer = hyper::Response<BoxBody<Bytes, std::io::Error>>;

impl<S, B> hyper::service::Service<hyper::Request<Incoming>> for OriginGate<S>
where
    S: hyper::service::Service<hyper::Request<Incoming>, Response = hyper::Response<B>, Error = Infallible>
        + Clone
        + Send
        + Sync
        + 'static,
    S::Future: Send,
    B: hyper::body::Body<Data = Bytes> + Send + Sync + 'static,
    B::Error: std::fmt::Debug,
{
    type Response = Answer;
    type Error = Infallible;
    type Future = std::pin::Pin<Box<dyn std::future::Future<Output = Result<Answer, Infallible>> + Send>>;

    fn call(&self, req: hyper::Request<Incoming>) -> Self::Future {
        let this = self.clone();
        Box::pin(async move {
            let origins = &this.state.origins;
            if let Err(refused) = origins.admit_socket(req.headers(), req.uri()) {
                return Ok(hyper::Response::from(refused.into_response()));
            }
            let listed = req.headers().get(ORIGIN).filter(|o| o.to_str().is_ok_and(|o| origins.allows(o))).cloned();
            if req.method() == Method::OPTIONS {
                return Ok(preflight(listed));
            }
            let Ok(answer) = hyper::service::Service::call(&this.service, req).await;
            let mut answer = answer.map(|body| body.map_err(|e| std::io::Error::other(format!("{e:?}"))).boxed());
            if let Some(origin) = listed {
                answer.headers_mut().insert(ACCESS_CONTROL_ALLOW_ORIGIN, origin);
                answer.headers_mut().append(VARY, HeaderValue::from_static("Origin"));
            }
            Ok(answer)
        })
    }
}

/// A listed origin's preflight for long-polling; anything else asking `OPTIONS` learns
/// nothing.
fn preflight(origin: Option<HeaderValue>) -> Answer {
    let empty = || Full::new(Bytes::new()).map_err(|never| match never {}).boxed();
    let Some(origin) = origin else {
        let mut answer = hyper::Response::new(empty());
        *answer.status_mut() = StatusCode::FORBIDDEN;
        return answer;
    };
    let mut answer = hyper::Response::new(empty());
    *answer.status_mut() = StatusCode::NO_CONTENT;
    let headers = answer.headers_mut();
    headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    headers.insert(ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static("GET, POST"));
    headers.insert(ACCESS_CONTROL_ALLOW_HEADERS, HeaderValue::from_static("authorization, content-type"));
    headers.append(VARY, HeaderValue::from_static("Origin"));
    answer
}
