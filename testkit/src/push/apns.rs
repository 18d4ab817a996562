//! A stand-in for Apple's push service (APNs): HTTP/2 over TLS and nothing else, checking what
//! APNs checks (method and path, the ES256 provider token and how often it changes, topic,
//! push type, priority, expiration, collapse id, payload) and answering as APNs does: a status,
//! `{"reason": …}` and an `apns-id` header. It makes its own `.p8` key and ids for the
//! notifier's settings; its certificate comes from a CA made for the test (`ca_pem`).

mod checks;

use std::{
    collections::{BTreeSet, HashMap, VecDeque},
    convert::Infallible,
    net::SocketAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::{SystemTime, UNIX_EPOCH},
};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::{Method, Request, Response, StatusCode, body::Incoming, http::request::Parts, service::service_fn};
use hyper_util::rt::{TokioExecutor, TokioIo};
use jsonwebtoken::DecodingKey;
use serde_json::json;
use tokio::{net::TcpListener, task::JoinSet};
use tokio_rustls::{
    TlsAcceptor,
    rustls::{
        ServerConfig,
        crypto::ring,
        pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer},
    },
};

use self::checks::Refusal;
use super::Received;
use crate::test_ca::TestCa;

const KEY_ID: &str = "STANDIN001";
const TEAM_ID: &str = "TEAMSTAND1";
const TOPIC: &str = "com.example.chatsuite";
/// Apple refuses a new provider token sooner than 20 minutes after the last.
const TOKEN_RENEWAL_FLOOR_SECS: i64 = 20 * 60;

pub struct ApnsStandIn {
    state: Arc<State>,
    url: String,
    ca_pem: String,
    key_pem: String,
    /// Dropping it stops the listener and every connection.
    _server: JoinSet<()>,
}

/// A new P-256 key in PKCS#8 PEM, as Apple hands out `.p8` files: for a test that signs with
/// a key APNs does not know.
pub fn new_signing_key_pem() -> String {
    rcgen::KeyPair::generate().unwrap().serialize_pem()
}

impl ApnsStandIn {
    pub async fn start() -> Self {
        let key = rcgen::KeyPair::generate().unwrap();
        let ca = TestCa::new("APNs stand-in CA");
        let issued = ca.issue("APNs stand-in");
        let mut tls = ServerConfig::builder_with_provider(Arc::new(ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![CertificateDer::from(issued.cert_der)],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(issued.key_der)),
            )
            .unwrap();
        tls.alpn_protocols = vec![b"h2".to_vec()];
        let listener = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(State {
            verifying_key: DecodingKey::from_ec_pem(key.public_key_pem().as_bytes()).unwrap(),
            log: Mutex::default(),
            requests: AtomicUsize::new(0),
            connections: AtomicUsize::new(0),
        });
        let mut server = JoinSet::new();
        server.spawn(serve(listener, TlsAcceptor::from(Arc::new(tls)), state.clone()));
        Self {
            state,
            url: format!("https://127.0.0.1:{port}"),
            ca_pem: ca.pem,
            key_pem: key.serialize_pem(),
            _server: server,
        }
    }

    /// What the notifier's `APNS_URL` is set to.
    pub fn url(&self) -> String {
        self.url.clone()
    }

    /// The CA that signed the stand-in's certificate, PEM: the notifier's `PUSH_CA_FILE`.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// The token signing key, as the `.p8` file `APNS_KEY_FILE` names.
    pub fn key_pem(&self) -> &str {
        &self.key_pem
    }

    pub fn key_id(&self) -> &str {
        KEY_ID
    }

    pub fn team_id(&self) -> &str {
        TEAM_ID
    }

    pub fn topic(&self) -> &str {
        TOPIC
    }

    /// Every push it accepted, in order.
    pub fn received(&self) -> Vec<Received> {
        self.state.log().received.clone()
    }

    /// Why it refused what it refused: `<Apple's reason>: <what was wrong>`, and connections
    /// that did not speak HTTP/2 over TLS.
    pub fn refused(&self) -> Vec<String> {
        self.state.log().refused.clone()
    }

    /// The next `n` sends get `status` with Apple's usual reason for it, whatever they carry.
    /// 403 is `ExpiredProviderToken`, so the client renews its token and sends again: that
    /// new token is then judged as APNs would, 20-minute floor included.
    pub fn respond_next(&self, n: usize, status: u16, retry_after: Option<u64>) {
        self.state.log().scripted.extend(std::iter::repeat_n((status, retry_after), n));
    }

    /// Later sends to `device` get 410 `Unregistered`, as when the app left the device.
    pub fn forget_device(&self, device: &str) {
        self.state.log().forgotten.insert(device.to_owned(), now_millis());
    }

    /// While down, every send gets 503 `ServiceUnavailable`.
    pub fn set_down(&self, down: bool) {
        self.state.log().down = down;
    }

    /// Sends seen, accepted or not.
    pub fn requests(&self) -> usize {
        self.state.requests.load(Ordering::Acquire)
    }

    /// Distinct provider tokens (by `iat`) that verified.
    pub fn provider_tokens_seen(&self) -> usize {
        self.state.log().token_iats.len()
    }

    /// HTTP/2 connections it served.
    pub fn connections(&self) -> usize {
        self.state.connections.load(Ordering::Acquire)
    }
}

struct State {
    verifying_key: DecodingKey,
    log: Mutex<Log>,
    requests: AtomicUsize,
    connections: AtomicUsize,
}

#[derive(Default)]
struct Log {
    received: Vec<Received>,
    refused: Vec<String>,
    scripted: VecDeque<(u16, Option<u64>)>,
    /// Device token → when it was forgotten, in Unix milliseconds (Apple's `timestamp`).
    forgotten: HashMap<String, u128>,
    down: bool,
    /// The `iat` of every provider token that verified.
    token_iats: BTreeSet<i64>,
}

async fn serve(listener: TcpListener, acceptor: TlsAcceptor, state: Arc<State>) {
    let mut connections = JoinSet::new();
    loop {
        let Ok((stream, peer)) = listener.accept().await else { continue };
        connections.spawn(serve_connection(acceptor.clone(), stream, peer, state.clone()));
    }
}

async fn serve_connection(acceptor: TlsAcceptor, stream: tokio::net::TcpStream, peer: SocketAddr, state: Arc<State>) {
    let tls = match acceptor.accept(stream).await {
        Ok(tls) => tls,
        Err(e) => return state.log().refused.push(format!("TLS handshake with {peer} failed: {e}")),
    };
    if tls.get_ref().1.alpn_protocol() != Some(b"h2") {
        return state.log().refused.push(format!("{peer} did not negotiate h2 by ALPN: APNs speaks HTTP/2 only"));
    }
    state.connections.fetch_add(1, Ordering::AcqRel);
    // The provider tokens this connection used: APNs holds the 20-minute floor per
    // connection, so several servers may each renew their own.
    let renewals = Arc::new(Mutex::new(BTreeSet::new()));
    let service = service_fn(move |request| {
        let (state, renewals) = (state.clone(), renewals.clone());
        async move { Ok::<_, Infallible>(state.answer(request, &renewals).await) }
    });
    let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
        .serve_connection(TokioIo::new(tls), service)
        .await;
}

impl State {
    fn log(&self) -> std::sync::MutexGuard<'_, Log> {
        self.log.lock().unwrap()
    }

    async fn answer(&self, request: Request<Incoming>, renewals: &Mutex<BTreeSet<i64>>) -> Response<Full<Bytes>> {
        let (parts, body) = request.into_parts();
        let body = Limited::new(body, 64 * 1024).collect().await.map(|body| body.to_bytes());
        self.requests.fetch_add(1, Ordering::AcqRel);
        // APNs echoes the request's apns-id, or makes one.
        let apns_id = parts
            .headers
            .get("apns-id")
            .and_then(|id| id.to_str().ok())
            .map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned);
        let verdict = match body {
            Ok(body) => self.judge(&parts, &body, renewals),
            Err(_) => Err(Refusal::new(StatusCode::PAYLOAD_TOO_LARGE, "PayloadTooLarge", "over 64 KiB")),
        };
        let mut log = self.log();
        let refusal = match verdict {
            Ok(received) => {
                log.received.push(received);
                return reply(StatusCode::OK, &apns_id, None, Bytes::new());
            }
            Err(refusal) => refusal,
        };
        if let Some(detail) = &refusal.detail {
            log.refused.push(format!("{}: {detail}", refusal.reason));
        }
        let mut body = json!({"reason": refusal.reason});
        if let Some(timestamp) = refusal.timestamp {
            body["timestamp"] = json!(timestamp);
        }
        reply(refusal.status, &apns_id, refusal.retry_after, Bytes::from(body.to_string()))
    }

    /// Accepts the push or says why not, in the order APNs does: the service's state, the
    /// request's address, its credentials, its headers, its payload, the device.
    fn judge(&self, parts: &Parts, body: &[u8], renewals: &Mutex<BTreeSet<i64>>) -> Result<Received, Refusal> {
        self.scripted_or_down()?;
        if parts.method != Method::POST {
            return Err(Refusal::new(StatusCode::METHOD_NOT_ALLOWED, "MethodNotAllowed", parts.method.as_str()));
        }
        let device = checks::device_token(parts.uri.path())?;
        let now = i64::try_from(now_millis() / 1000).unwrap();
        let iat = checks::provider_token(parts, &self.verifying_key, now)?;
        self.check_token_renewal(iat, renewals)?;
        checks::check_headers(parts)?;
        let (title, body, data) = checks::read_payload(body)?;
        if let Some(&timestamp) = self.log().forgotten.get(device) {
            let mut refusal = Refusal::answer(StatusCode::GONE, "Unregistered");
            refusal.timestamp = Some(timestamp);
            return Err(refusal);
        }
        let collapse = checks::header(parts, "apns-collapse-id").map(str::to_owned);
        Ok(Received { device: device.to_owned(), title, body, data, collapse })
    }

    /// A token not seen on the connection before counts as a renewal, which APNs refuses
    /// within 20 minutes of another on the same connection.
    fn check_token_renewal(&self, iat: i64, renewals: &Mutex<BTreeSet<i64>>) -> Result<(), Refusal> {
        let mut used = renewals.lock().unwrap();
        if used.contains(&iat) {
            return Ok(());
        }
        if let Some(near) = used.iter().find(|seen| (iat - **seen).abs() < TOKEN_RENEWAL_FLOOR_SECS) {
            let detail = format!("a new token (iat {iat}) {}s after the one of iat {near}", (iat - near).abs());
            return Err(Refusal::new(StatusCode::TOO_MANY_REQUESTS, "TooManyProviderTokenUpdates", detail));
        }
        used.insert(iat);
        self.log().token_iats.insert(iat);
        Ok(())
    }

    fn scripted_or_down(&self) -> Result<(), Refusal> {
        let mut log = self.log();
        if let Some((status, retry_after)) = log.scripted.pop_front() {
            let status = StatusCode::from_u16(status).unwrap();
            if status == StatusCode::OK {
                return Ok(());
            }
            let mut refusal = Refusal::answer(status, reason_for(status));
            refusal.retry_after = retry_after;
            if status == StatusCode::GONE {
                refusal.timestamp = Some(now_millis());
            }
            return Err(refusal);
        }
        if log.down {
            return Err(Refusal::answer(StatusCode::SERVICE_UNAVAILABLE, "ServiceUnavailable"));
        }
        Ok(())
    }
}

/// Apple's usual reason for a status, for `respond_next`.
fn reason_for(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "BadMessageId",
        403 => "ExpiredProviderToken",
        404 => "BadPath",
        405 => "MethodNotAllowed",
        410 => "Unregistered",
        413 => "PayloadTooLarge",
        429 => "TooManyRequests",
        503 => "ServiceUnavailable",
        _ => "InternalServerError",
    }
}

fn reply(status: StatusCode, apns_id: &str, retry_after: Option<u64>, body: Bytes) -> Response<Full<Bytes>> {
    let mut response = Response::builder().status(status).header("apns-id", apns_id);
    if !body.is_empty() {
        response = response.header("content-type", "application/json");
    }
    if let Some(seconds) = retry_after {
        response = response.header("retry-after", seconds);
    }
    response.body(Full::new(body)).unwrap()
}

fn now_millis() -> u128 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use tokio::io::AsyncWriteExt;
    use tokio_rustls::{
        TlsConnector,
        rustls::{
            ClientConfig, RootCertStore,
            crypto::ring,
            pki_types::{CertificateDer, ServerName, pem::PemObject},
        },
    };

    use super::ApnsStandIn;

    /// ALPN is optional in TLS: a client that offers none gets through the handshake, and is
    /// refused after it.
    #[tokio::test]
    async fn a_connection_without_alpn_is_refused() {
        let stand_in = ApnsStandIn::start().await;
        let mut roots = RootCertStore::empty();
        roots.add(CertificateDer::from_pem_slice(stand_in.ca_pem().as_bytes()).unwrap()).unwrap();
        let config = ClientConfig::builder_with_provider(Arc::new(ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let tcp = tokio::net::TcpStream::connect(stand_in.url().trim_start_matches("https://")).await.unwrap();
        let server = ServerName::try_from("127.0.0.1").unwrap();
        let mut tls = TlsConnector::from(Arc::new(config)).connect(server, tcp).await.unwrap();

        let _ = tls.write_all(b"POST /3/device/00 HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n").await;
        let refused = async {
            while stand_in.refused().is_empty() {
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
        };
        tokio::time::timeout(std::time::Duration::from_secs(5), refused).await.unwrap();

        assert_eq!(stand_in.refused().len(), 1);
        assert!(stand_in.refused()[0].ends_with("did not negotiate h2 by ALPN: APNs speaks HTTP/2 only"));
        assert_eq!((stand_in.connections(), stand_in.requests()), (0, 0));
    }
}
