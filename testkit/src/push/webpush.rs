//! The Web Push stand-in: `testkit/push/webpush-receiver.cjs`, a push service and the browsers
//! subscribed to it in one node process, which checks each push as a real push service does
//! (TTL, aes128gcm, the VAPID token, Topic, 4096 bytes) and decrypts it as the browser would,
//! with the http_ece package: an implementation of RFC 8291 independent of ours.
//!
//! `scripts/test` installs http_ece from `testkit/push/package-lock.json` into the cache and
//! sets `PUSH_TOOLS` to its `node_modules`. The receiver's HTTP API is described in the script.

use std::{collections::BTreeMap, path::PathBuf, process::Stdio, time::Duration};

use serde::Deserialize;
use serde_json::{Value, json};
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::{Child, ChildStdin, Command},
};

use super::Received;
use crate::test_ca::TestCa;

/// How long a start or a call lasts before the test fails as hung.
const PATIENCE: Duration = Duration::from_secs(20);

/// One push the receiver accepted, decrypted, with the headers it came with.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Delivery {
    /// The subscription's id: the last segment of its endpoint.
    pub device: String,
    pub title: String,
    pub body: String,
    pub data: BTreeMap<String, String>,
    /// The payload's `tag`.
    pub collapse: Option<String>,
    /// The `Topic` header.
    pub topic: Option<String>,
    /// The `TTL` header, seconds.
    pub ttl: u64,
    /// The `Urgency` header.
    pub urgency: Option<String>,
}

/// The receiver process, killed when this is dropped (and ending by itself when the test
/// process does, as it holds the receiver's stdin).
pub struct WebPushReceiver {
    _child: Child,
    _stdin: ChildStdin,
    /// Its certificate and key, when it serves https.
    _dir: tempfile::TempDir,
    base: String,
    client: reqwest::Client,
}

impl WebPushReceiver {
    /// Starts the receiver on a free port. Panics, saying what to do, when node or the
    /// installed packages (`PUSH_TOOLS`) are missing.
    pub async fn start() -> Self {
        Self::start_with(None).await
    }

    /// Starts the receiver serving https with a certificate `ca` signed, as browsers' push
    /// services do (and as `WEBPUSH_ENDPOINT_HOSTS` requires of an endpoint); the client
    /// that pushes must trust `ca`.
    pub async fn start_tls(ca: &TestCa) -> Self {
        Self::start_with(Some(ca)).await
    }

    async fn start_with(ca: Option<&TestCa>) -> Self {
        let tools = std::env::var_os("PUSH_TOOLS").map(PathBuf::from).unwrap_or_else(|| {
            panic!("PUSH_TOOLS is not set: it names the node_modules that scripts/test installs from testkit/push")
        });
        assert!(
            tools.join("http_ece").is_dir(),
            "PUSH_TOOLS={} has no http_ece: run npm ci in a copy of testkit/push (scripts/test does)",
            tools.display()
        );
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("push/webpush-receiver.cjs");
        let dir = tempfile::tempdir().unwrap();
        let tls: Vec<PathBuf> = match ca {
            Some(ca) => {
                let files = ca.issue("webpush-receiver").write(dir.path(), "webpush-receiver");
                vec![files.cert, files.key]
            }
            None => Vec::new(),
        };
        let mut child = Command::new("node")
            .arg(&script)
            .arg("0")
            .args(&tls)
            .env("NODE_PATH", &tools)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            // A crash of the receiver shows in the test's output.
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start node {}: {e}; node must be installed", script.display()));
        let stdin = child.stdin.take().unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
        let line = tokio::time::timeout(PATIENCE, stdout.next_line())
            .await
            .unwrap_or_else(|_| panic!("the Web Push receiver did not say its port within {PATIENCE:?}"))
            .unwrap()
            .unwrap_or_else(|| panic!("the Web Push receiver exited before listening (see its stderr above)"));
        let port = serde_json::from_str::<Value>(&line).ok().and_then(|v| v["port"].as_u64()).unwrap_or_else(|| {
            panic!("the Web Push receiver wrote {line:?}, not {{\"port\":N}}");
        });
        let mut client = shared::http_client::builder().timeout(PATIENCE);
        if let Some(ca) = ca {
            client = client.tls_certs_merge(reqwest::Certificate::from_pem_bundle(ca.pem.as_bytes()).unwrap());
        }
        let scheme = if ca.is_some() { "https" } else { "http" };
        let base = format!("{scheme}://127.0.0.1:{port}");
        Self { _child: child, _stdin: stdin, _dir: dir, base, client: client.build().unwrap() }
    }

    /// The push service's origin, `http(s)://127.0.0.1:PORT`; endpoints are under it.
    pub fn url(&self) -> String {
        self.base.clone()
    }

    /// A new browser subscription: the JSON `PushSubscription.toJSON()` gives, which a web
    /// client POSTs as `subscription` (`{endpoint, expirationTime, keys: {p256dh, auth}}`).
    pub async fn subscribe(&self) -> Value {
        self.post("/subscriptions", json!({})).await
    }

    /// A subscription made with `applicationServerKey` (a VAPID public key, base64url), as
    /// `pushManager.subscribe` makes them: pushes signed by any other key get 403.
    pub async fn subscribe_for(&self, application_server_key: &str) -> Value {
        self.post("/subscriptions", json!({"applicationServerKey": application_server_key})).await
    }

    /// The id of a subscription (what `received`, `forget_device` and `Delivery` call device).
    pub fn device(subscription: &Value) -> String {
        let endpoint = subscription["endpoint"].as_str().unwrap();
        endpoint.rsplit('/').next().unwrap().to_owned()
    }

    /// Every push accepted, in order.
    pub async fn received(&self) -> Vec<Received> {
        self.deliveries()
            .await
            .into_iter()
            .map(|d| Received { device: d.device, title: d.title, body: d.body, data: d.data, collapse: d.collapse })
            .collect()
    }

    /// Every push accepted, in order, with its Topic, TTL and Urgency.
    pub async fn deliveries(&self) -> Vec<Delivery> {
        serde_json::from_value(self.get("/received").await).unwrap()
    }

    /// Why each refused push was refused: `"<status>: <reason>"`.
    pub async fn refused(&self) -> Vec<String> {
        serde_json::from_value(self.get("/refused").await).unwrap()
    }

    /// The next `n` pushes get `status` (with `Retry-After: retry_after` when given), whatever
    /// they are.
    pub async fn respond_next(&self, n: usize, status: u16, retry_after: Option<u64>) {
        self.control(json!({"respond_next": {"n": n, "status": status, "retry_after": retry_after}})).await;
    }

    /// Later pushes to this subscription get 410 Gone, as after the user unsubscribed.
    pub async fn forget_device(&self, device: &str) {
        self.control(json!({"forget": device})).await;
    }

    /// While down, every push gets 503.
    pub async fn set_down(&self, down: bool) {
        self.control(json!({"down": down})).await;
    }

    /// Pushes seen, accepted or not.
    pub async fn requests(&self) -> usize {
        serde_json::from_value(self.get("/requests").await).unwrap()
    }

    async fn control(&self, command: Value) {
        let response = self.client.post(format!("{}/control", self.base)).json(&command).send().await.unwrap();
        assert_eq!(response.status(), 204, "the Web Push receiver refused control {command}");
    }

    async fn get(&self, path: &str) -> Value {
        let response = self.client.get(format!("{}{path}", self.base)).send().await.unwrap();
        assert!(response.status().is_success(), "GET {path} of the Web Push receiver: {}", response.status());
        response.json().await.unwrap()
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        let response = self.client.post(format!("{}{path}", self.base)).json(&body).send().await.unwrap();
        assert!(response.status().is_success(), "POST {path} of the Web Push receiver: {}", response.status());
        response.json().await.unwrap()
    }
}
