//! A stand-in for Google's side of FCM HTTP v1, over plain HTTP on 127.0.0.1: the OAuth token
//! endpoint a service account's `token_uri` names (`POST /token`, the JWT bearer grant only) and
//! `POST /v1/projects/{project_id}/messages:send`. It checks what Google checks (the assertion's
//! RS256 signature against the account's public key, its iss, aud, scope and lifetime; the bearer
//! token, the project, the message's shape) and answers failures with Google's status and JSON.
//! The token endpoint is `fcm/oauth.rs`, the message checks `fcm/message.rs`.
//!
//! The RSA key is made once per test process: 2048-bit generation takes seconds unoptimised.

use std::{
    collections::{HashMap, HashSet},
    convert::Infallible,
    net::SocketAddr,
    path::PathBuf,
    sync::{Arc, Mutex, OnceLock},
    time::{Instant, SystemTime},
};

use http_body_util::{BodyExt, Full};
use hyper::{
    Request, Response, StatusCode,
    body::{Bytes, Incoming},
    header,
    service::service_fn,
};
use hyper_util::{
    rt::{TokioExecutor, TokioIo},
    server::conn::auto,
};
use jsonwebtoken::DecodingKey;
use rsa::{
    RsaPrivateKey,
    pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding},
};
use serde_json::{Value, json};
use tokio::{net::TcpListener, task::JoinSet};

use super::Received;

mod message;
mod oauth;

const PROJECT_ID: &str = "chat-suite-test";
const CLIENT_EMAIL: &str = "firebase-adminsdk-test@chat-suite-test.iam.gserviceaccount.com";
const FCM_ERROR_TYPE: &str = "type.googleapis.com/google.firebase.fcm.v1.FcmError";

struct Key {
    private_pem: String,
    public_pem: String,
}

fn generate_key() -> Key {
    let private = RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).unwrap();
    Key {
        private_pem: private.to_pkcs8_pem(LineEnding::LF).unwrap().to_string(),
        public_pem: private.to_public_key().to_public_key_pem(LineEnding::LF).unwrap(),
    }
}

/// The service account's key, shared by every stand-in in the process.
fn account_key() -> &'static Key {
    static KEY: OnceLock<Key> = OnceLock::new();
    KEY.get_or_init(generate_key)
}

pub struct FcmStandIn {
    url: String,
    account_file: PathBuf,
    state: Arc<State>,
    _dir: tempfile::TempDir,
    server: tokio::task::JoinHandle<()>,
}

struct State {
    token_uri: String,
    private_key_id: String,
    public_key: DecodingKey,
    book: Mutex<Book>,
}

#[derive(Default)]
struct Book {
    received: Vec<Received>,
    /// When each of `received` was accepted.
    accepted_at: Vec<SystemTime>,
    refused: Vec<String>,
    scripted: Option<Scripted>,
    forgotten: HashSet<String>,
    down: bool,
    requests: usize,
    /// Issued access tokens and when each stops being accepted.
    tokens: HashMap<String, Instant>,
    tokens_issued: usize,
}

struct Scripted {
    remaining: usize,
    status: u16,
    retry_after: Option<u64>,
}

impl FcmStandIn {
    /// Listens on 127.0.0.1:0 and writes the service-account file whose `token_uri` is its own.
    pub async fn start() -> Self {
        let key = account_key();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        let url = format!("http://{addr}");
        let token_uri = format!("{url}/token");
        let private_key_id = uuid::Uuid::new_v4().simple().to_string();
        let dir = tempfile::tempdir().unwrap();
        let account_file = dir.path().join("service-account.json");
        let account = json!({
            "type": "service_account",
            "project_id": PROJECT_ID,
            "private_key_id": private_key_id,
            "private_key": key.private_pem,
            "client_email": CLIENT_EMAIL,
            "client_id": "100000000000000000001",
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": token_uri,
            "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
            "client_x509_cert_url": format!("https://www.googleapis.com/robot/v1/metadata/x509/{CLIENT_EMAIL}"),
            "universe_domain": "googleapis.com",
        });
        std::fs::write(&account_file, serde_json::to_vec_pretty(&account).unwrap()).unwrap();
        let state = Arc::new(State {
            token_uri,
            private_key_id,
            public_key: DecodingKey::from_rsa_pem(key.public_pem.as_bytes()).unwrap(),
            book: Mutex::default(),
        });
        let server = tokio::spawn(serve(listener, state.clone()));
        Self { url, account_file, state, _dir: dir, server }
    }

    /// What `FCM_API_URL` is set to.
    pub fn url(&self) -> String {
        self.url.clone()
    }

    /// What `FCM_SERVICE_ACCOUNT_FILE` is set to.
    pub fn service_account_file(&self) -> PathBuf {
        self.account_file.clone()
    }

    pub fn project_id(&self) -> &'static str {
        PROJECT_ID
    }

    /// A PKCS#8 PEM RSA key that is not the account's: put in its place, the token endpoint
    /// refuses the assertions it signs. Made once per process, on first use.
    pub fn foreign_private_key_pem() -> &'static str {
        static KEY: OnceLock<Key> = OnceLock::new();
        &KEY.get_or_init(generate_key).private_pem
    }

    /// Every push accepted, in order.
    pub fn received(&self) -> Vec<Received> {
        self.book().received.clone()
    }

    /// When each push of [`received`](Self::received) was accepted (a benchmark's latency).
    pub fn accepted_at(&self) -> Vec<SystemTime> {
        self.book().accepted_at.clone()
    }

    /// Why it refused what it refused, token endpoint and send alike, in order.
    pub fn refused(&self) -> Vec<String> {
        self.book().refused.clone()
    }

    /// The next `n` sends get `status` with Google's error body for it (and `Retry-After`).
    pub fn respond_next(&self, n: usize, status: u16, retry_after: Option<u64>) {
        self.book().scripted = Some(Scripted { remaining: n, status, retry_after });
    }

    /// Later sends to `device` get 404 UNREGISTERED, as for an uninstalled app.
    pub fn forget_device(&self, device: &str) {
        self.book().forgotten.insert(device.to_owned());
    }

    /// While down, every send gets 503 UNAVAILABLE (the token endpoint stays up).
    pub fn set_down(&self, down: bool) {
        self.book().down = down;
    }

    /// Sends seen, accepted or not (token requests are not counted).
    pub fn requests(&self) -> usize {
        self.book().requests
    }

    /// Access tokens the token endpoint has issued.
    pub fn tokens_issued(&self) -> usize {
        self.book().tokens_issued
    }

    /// Every access token issued so far stops being accepted: the next send with one gets 401.
    pub fn expire_tokens(&self) {
        let now = Instant::now();
        self.book().tokens.values_mut().for_each(|until| *until = now);
    }

    fn book(&self) -> std::sync::MutexGuard<'_, Book> {
        self.state.book.lock().unwrap()
    }
}

impl Drop for FcmStandIn {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn serve(listener: TcpListener, state: Arc<State>) {
    // Connections live in the set, so aborting this task closes them too.
    let mut connections = JoinSet::new();
    loop {
        let Ok((stream, _)) = listener.accept().await else { continue };
        let state = state.clone();
        connections.spawn(async move {
            let service = service_fn(move |request| {
                let state = state.clone();
                async move { Ok::<_, Infallible>(handle(&state, request).await) }
            });
            let _ = auto::Builder::new(TokioExecutor::new()).serve_connection(TokioIo::new(stream), service).await;
        });
        while connections.try_join_next().is_some() {}
    }
}

type Answer = Response<Full<Bytes>>;

async fn handle(state: &State, request: Request<Incoming>) -> Answer {
    let (parts, body) = request.into_parts();
    let Ok(body) = body.collect().await.map(|b| b.to_bytes()) else {
        return answer(StatusCode::BAD_REQUEST, json!({}), None);
    };
    let path = parts.uri.path();
    if parts.method != hyper::Method::POST {
        return answer(StatusCode::METHOD_NOT_ALLOWED, json!({}), None);
    }
    if path == "/token" {
        return oauth::token_endpoint(state, &body);
    }
    match path.strip_prefix("/v1/projects/").and_then(|rest| rest.strip_suffix("/messages:send")) {
        Some(project) => {
            let bearer = parts.headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
            send_endpoint(state, project, bearer, &body)
        }
        None => answer(StatusCode::NOT_FOUND, json!({}), None),
    }
}

fn answer(status: StatusCode, body: Value, retry_after: Option<u64>) -> Answer {
    let mut response = Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json; charset=UTF-8")
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap();
    if let Some(secs) = retry_after {
        response.headers_mut().insert(header::RETRY_AFTER, secs.into());
    }
    response
}

/// FCM's `messages:send`.
fn send_endpoint(state: &State, project: &str, authorization: Option<&str>, body: &[u8]) -> Answer {
    let mut book = state.book.lock().unwrap();
    book.requests += 1;
    if let Some(scripted) = book.scripted.as_mut().filter(|s| s.remaining > 0) {
        scripted.remaining -= 1;
        let (status, retry_after) = (scripted.status, scripted.retry_after);
        return GoogleError::for_status(status).answer(retry_after);
    }
    if book.down {
        return GoogleError::for_status(503).answer(None);
    }
    let bearer = authorization.and_then(|value| value.strip_prefix("Bearer "));
    let live = bearer.and_then(|token| book.tokens.get(token)).is_some_and(|until| Instant::now() < *until);
    if !live {
        let why = match bearer {
            None => "no bearer token",
            Some(token) if book.tokens.contains_key(token) => "access token expired",
            Some(_) => "access token not issued here",
        };
        book.refused.push(format!("send: {why}"));
        return GoogleError::for_status(401).answer(None);
    }
    if project != PROJECT_ID {
        book.refused.push(format!("send: project {project} is not the account's"));
        let message = format!(
            "Permission 'cloudmessaging.messages.create' denied on resource \
             '//cloudresourcemanager.googleapis.com/projects/{project}' (or it may not exist)."
        );
        let denied = GoogleError { code: 403, status: "PERMISSION_DENIED", message, fcm_error: None };
        return denied.answer(None);
    }
    let received = match serde_json::from_slice::<Value>(body) {
        Ok(json) => message::check(&json),
        Err(e) => Err(format!("Invalid JSON payload received. {e}")),
    };
    match received {
        Err(message) => {
            book.refused.push(format!("send: {message}"));
            GoogleError::for_status(400).with_message(message).answer(None)
        }
        Ok(received) if book.forgotten.contains(&received.device) => {
            book.refused.push(format!("send: {} is unregistered", received.device));
            GoogleError::for_status(404).answer(None)
        }
        Ok(received) => {
            book.received.push(received);
            book.accepted_at.push(SystemTime::now());
            let name = format!("projects/{PROJECT_ID}/messages/{}", uuid::Uuid::new_v4().simple());
            answer(StatusCode::OK, json!({"name": name}), None)
        }
    }
}

/// One of Google's error answers: `{"error": {"code", "message", "status", "details"}}`.
struct GoogleError {
    code: u16,
    status: &'static str,
    message: String,
    /// The `errorCode` of the `FcmError` detail, for the errors FCM itself raises.
    fcm_error: Option<&'static str>,
}

impl GoogleError {
    /// What FCM answers with `code`, per its list of error codes.
    fn for_status(code: u16) -> Self {
        let (status, fcm_error, message) = match code {
            400 => ("INVALID_ARGUMENT", Some("INVALID_ARGUMENT"), "Request contains an invalid argument."),
            // Our access token refused: Google's front end answers, without an FcmError detail.
            401 => ("UNAUTHENTICATED", None, UNAUTHENTICATED),
            403 => ("PERMISSION_DENIED", Some("SENDER_ID_MISMATCH"), "SenderId mismatch"),
            404 => ("NOT_FOUND", Some("UNREGISTERED"), "Requested entity was not found."),
            429 => ("RESOURCE_EXHAUSTED", Some("QUOTA_EXCEEDED"), QUOTA_EXCEEDED),
            500 => ("INTERNAL", Some("INTERNAL"), "Internal error encountered."),
            503 => ("UNAVAILABLE", Some("UNAVAILABLE"), "The service is currently unavailable."),
            _ => ("UNKNOWN", None, "Unknown error."),
        };
        Self { code, status, message: message.to_owned(), fcm_error }
    }

    fn with_message(self, message: String) -> Self {
        Self { message, ..self }
    }

    fn answer(self, retry_after: Option<u64>) -> Answer {
        let mut error = json!({"code": self.code, "message": self.message, "status": self.status});
        if let Some(code) = self.fcm_error {
            error["details"] = json!([{"@type": FCM_ERROR_TYPE, "errorCode": code}]);
        }
        let status = StatusCode::from_u16(self.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        answer(status, json!({ "error": error }), retry_after)
    }
}

const UNAUTHENTICATED: &str = "Request had invalid authentication credentials. Expected OAuth 2 access token, \
                               login cookie or other valid authentication credential. \
                               See https://developers.google.com/identity/sign-in/web/devconsole-project.";
const QUOTA_EXCEEDED: &str = "Quota exceeded for quota metric 'Send requests' and limit 'Send requests per minute'.";
