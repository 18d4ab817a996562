//! Web Push (RFC 8030) to browsers: each push is encrypted for the subscription
//! (RFC 8291, `ece`), signed with our VAPID key (RFC 8292, `shared::webpush::vapid`) and POSTed to the
//! subscription's endpoint, a URL of the browser vendor's push service. The push service's
//! answer becomes an [`Outcome`]: 404 and 410 mean the subscription is gone for good.

use std::{
    collections::HashMap,
    fmt,
    sync::{Mutex, PoisonError},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use anyhow::{anyhow, bail};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use reqwest::{
    Url,
    header::{AUTHORIZATION, CONTENT_ENCODING, CONTENT_TYPE, HeaderMap, HeaderValue},
    redirect,
};
use sha2::{Digest, Sha256};
use shared::webpush::vapid::{self, VapidKey};

use super::{Outcome, ece, retry_after};
use crate::push::Push;

const TIMEOUT: Duration = Duration::from_secs(10);
/// A cached VAPID token is signed again once less than this is left of its lifetime
/// ([`vapid::TOKEN_SECONDS`]), so no token reaches a push service near its expiry.
const RENEW_BEFORE: i64 = 6 * 60 * 60;
/// Endpoints are whatever browsers registered; this bounds the token cache should someone
/// register endpoints on many origins.
const MAX_CACHED_ORIGINS: usize = 1024;
/// RFC 8030 §5.4: a Topic is at most 32 characters of the URL-safe base64 alphabet.
const MAX_TOPIC: usize = 32;
/// How much of a refusal's body goes into the reason.
const MAX_REASON_BODY: usize = 512;

/// A browser's push subscription as `PushSubscription.toJSON()` gave it: the endpoint and the
/// `keys.p256dh` and `keys.auth` strings, base64url (padded or not).
#[derive(Clone)]
pub struct Subscription {
    pub endpoint: String,
    pub p256dh: String,
    pub auth: String,
}

/// The endpoint's path names the subscription and, with the keys, lets anyone push to it:
/// only the push service's origin is shown.
impl fmt::Debug for Subscription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let origin = vapid::audience(&self.endpoint).unwrap_or_else(|_| "<not a URL>".into());
        f.debug_struct("Subscription").field("push_service", &origin).finish_non_exhaustive()
    }
}

/// The Web Push provider; one per process, shared by the delivery tasks.
pub struct WebPush {
    key: VapidKey,
    subject: String,
    client: reqwest::Client,
    /// The `Authorization` value per push service origin (the JWT's `aud`).
    tokens: Mutex<HashMap<String, Token>>,
}

struct Token {
    header: String,
    expires_at: i64,
}

impl fmt::Debug for WebPush {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebPush").field("key", &self.key).field("subject", &self.subject).finish_non_exhaustive()
    }
}

impl WebPush {
    /// `subject` is `VAPID_SUBJECT`, the contact push services may use (`mailto:` or `https:`);
    /// `extra_ca_pem` is `PUSH_CA_FILE`'s PEM bundle, trusted besides the system's roots.
    pub fn new(key: VapidKey, subject: String, extra_ca_pem: Option<&[u8]>) -> anyhow::Result<Self> {
        vapid::check_subject(&subject).map_err(|e| anyhow!("VAPID_SUBJECT: {e}"))?;
        // A push service answers; it never redirects, and an endpoint that does is not one.
        let mut builder = shared::http_client::builder().timeout(TIMEOUT).redirect(redirect::Policy::none());
        if let Some(pem) = extra_ca_pem {
            let certs = reqwest::Certificate::from_pem_bundle(pem)
                .map_err(|e| anyhow!("PUSH_CA_FILE: not a PEM bundle of certificates: {e}"))?;
            if certs.is_empty() {
                bail!("PUSH_CA_FILE: no certificate in it");
            }
            builder = builder.tls_certs_merge(certs);
        }
        let client = builder.build().map_err(|e| anyhow!("PUSH_CA_FILE: cannot build the HTTP client: {e}"))?;
        Ok(Self { key, subject, client, tokens: Mutex::new(HashMap::new()) })
    }

    /// Encrypts `push` for the subscription and hands it to its push service.
    #[tracing::instrument(name = "webpush_send", skip_all, fields(push_service = tracing::field::Empty))]
    pub async fn send(&self, sub: &Subscription, push: &Push) -> Outcome {
        let (origin, request) = match self.request(sub, push) {
            Ok(built) => built,
            Err(reason) => return Outcome::Rejected { reason },
        };
        tracing::Span::current().record("push_service", origin.as_str());
        let response = match self.client.execute(request).await {
            Ok(response) => response,
            Err(e) => {
                return Outcome::Retry { after: None, reason: format!("push service unreachable: {}", chain(&e)) };
            }
        };
        let status = response.status();
        if status.is_success() {
            return Outcome::Sent;
        }
        let after = retry_after(response.headers());
        let text = body_text(response).await;
        let reason = if text.is_empty() {
            format!("push service answered {status}")
        } else {
            format!("push service answered {status}: {text}")
        };
        match status.as_u16() {
            404 | 410 => Outcome::Gone { reason },
            429 | 500..=599 => Outcome::Retry { after, reason },
            401 | 403 => {
                // The token may be what it refused (a clock far off, a key changed): the next
                // push gets a fresh one.
                self.forget_token(&origin);
                Outcome::Rejected { reason }
            }
            _ => Outcome::Rejected { reason },
        }
    }

    /// The request, or why this push can never go to this subscription.
    fn request(&self, sub: &Subscription, push: &Push) -> Result<(String, reqwest::Request), String> {
        let url = endpoint_url(&sub.endpoint)?;
        let p256dh = decode_key("p256dh", &sub.p256dh)?;
        let auth = decode_key("auth", &sub.auth)?;
        let body = ece::encrypt(&p256dh, &auth, &payload(push)?).map_err(|e| e.to_string())?;
        let origin = vapid::audience(url.as_str())?;
        let authorization = self.authorization(&origin, url.as_str())?;

        let mut headers = HeaderMap::new();
        headers.insert("ttl", HeaderValue::from(push.ttl.as_secs()));
        headers.insert("urgency", HeaderValue::from_static("high"));
        if let Some(key) = &push.collapse_key {
            headers.insert("topic", header_value(&topic(key))?);
        }
        headers.insert(CONTENT_ENCODING, HeaderValue::from_static("aes128gcm"));
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
        headers.insert(AUTHORIZATION, header_value(&authorization)?);
        let request = self.client.post(url).headers(headers).body(body).build().map_err(|e| chain(&e))?;
        Ok((origin, request))
    }

    /// The cached `Authorization` value for `origin`, signed anew when it nears its expiry.
    /// Signing takes well under a millisecond, so it happens under the lock: concurrent
    /// senders to one origin wait for the one signature instead of each making their own.
    fn authorization(&self, origin: &str, endpoint: &str) -> Result<String, String> {
        let now = unix_now();
        let mut tokens = self.tokens.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(token) = tokens.get(origin)
            && token.expires_at - now > RENEW_BEFORE
        {
            return Ok(token.header.clone());
        }
        let header = self.key.authorization(endpoint, &self.subject, now)?;
        if tokens.len() >= MAX_CACHED_ORIGINS {
            tokens.retain(|_, token| token.expires_at - now > RENEW_BEFORE);
            if tokens.len() >= MAX_CACHED_ORIGINS {
                tokens.clear();
            }
        }
        tokens.insert(origin.to_owned(), Token { header: header.clone(), expires_at: now + vapid::TOKEN_SECONDS });
        Ok(header)
    }

    fn forget_token(&self, origin: &str) {
        self.tokens.lock().unwrap_or_else(PoisonError::into_inner).remove(origin);
    }
}

/// Push services are reached over https; plain http only on this machine, for the tests'
/// stand-in.
fn endpoint_url(endpoint: &str) -> Result<Url, String> {
    let url = Url::parse(endpoint).map_err(|e| format!("endpoint is not a URL: {e}"))?;
    match (url.scheme(), url.host_str()) {
        ("https", Some(_)) | ("http", Some("127.0.0.1" | "localhost" | "[::1]")) => Ok(url),
        _ => Err(format!("endpoint must be an https URL, not {}:", url.scheme())),
    }
}

/// A subscription key as browsers give it: base64url, padded or not (some older browsers
/// used the standard alphabet, which is accepted too).
fn decode_key(name: &str, value: &str) -> Result<Vec<u8>, String> {
    let unpadded = value.trim().trim_end_matches('=').replace('+', "-").replace('/', "_");
    URL_SAFE_NO_PAD.decode(unpadded).map_err(|e| format!("subscription key {name} is not base64url: {e}"))
}

/// What the web client's service worker shows: `{title, body, tag, data}`. A body too long
/// for one push message is cut (at a character boundary, marked with an ellipsis) rather than
/// the push dropped.
fn payload(push: &Push) -> Result<Vec<u8>, String> {
    let mut text = push.body.as_str();
    let mut cut = false;
    loop {
        let body = if cut { format!("{text}…") } else { text.to_owned() };
        let json = serde_json::json!({"title": push.title, "body": body, "tag": push.collapse_key, "data": push.data});
        let bytes = serde_json::to_vec(&json).map_err(|e| format!("cannot serialise the payload: {e}"))?;
        if bytes.len() <= ece::MAX_PLAINTEXT {
            return Ok(bytes);
        }
        if text.is_empty() {
            return Err(format!(
                "payload is {} bytes without its body; a push carries {}",
                bytes.len(),
                ece::MAX_PLAINTEXT
            ));
        }
        let over = bytes.len() - ece::MAX_PLAINTEXT + '…'.len_utf8();
        text = &text[..text.floor_char_boundary(text.len().saturating_sub(over))];
        cut = true;
    }
}

/// The `Topic` for a collapse key: the key itself when it is a valid topic, a uuid without
/// its hyphens (32 hex digits), else a digest of it, so any key still collapses.
fn topic(collapse_key: &str) -> String {
    let valid = |t: &str| !t.is_empty() && t.len() <= MAX_TOPIC && t.bytes().all(is_url_safe_base64);
    if valid(collapse_key) {
        return collapse_key.to_owned();
    }
    let unhyphenated = collapse_key.replace('-', "");
    if valid(&unhyphenated) {
        return unhyphenated;
    }
    URL_SAFE_NO_PAD.encode(&Sha256::digest(collapse_key.as_bytes())[..MAX_TOPIC / 4 * 3])
}

fn is_url_safe_base64(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

fn header_value(value: &str) -> Result<HeaderValue, String> {
    HeaderValue::from_str(value).map_err(|e| format!("not a header value: {e}"))
}

/// The start of a refusal's body, on one line: push services explain there (FCM, Mozilla's
/// autopush and Apple answer JSON or text).
async fn body_text(mut response: reqwest::Response) -> String {
    let mut bytes = Vec::new();
    while bytes.len() < MAX_REASON_BODY {
        match response.chunk().await {
            Ok(Some(chunk)) => bytes.extend_from_slice(&chunk),
            _ => break,
        }
    }
    bytes.truncate(MAX_REASON_BODY);
    String::from_utf8_lossy(&bytes).split_whitespace().collect::<Vec<_>>().join(" ")
}

/// An error and its causes on one line, without the URL (it names the subscription).
fn chain(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    if let Some(url) = e.url() {
        text = text.replace(&format!(" for url ({url})"), "");
    }
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn unix_now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn push(body: &str) -> Push {
        Push {
            title: "Ada".into(),
            body: body.into(),
            data: BTreeMap::from([("chat_id".into(), "c".into())]),
            collapse_key: Some("6f1c7a52-3a5e-4b8e-9d57-0e1f2a3b4c5d".into()),
            ttl: Duration::from_secs(60),
        }
    }

    #[test]
    fn a_uuid_collapse_key_becomes_its_32_hex_digits() {
        assert_eq!(topic("6f1c7a52-3a5e-4b8e-9d57-0e1f2a3b4c5d"), "6f1c7a523a5e4b8e9d570e1f2a3b4c5d");
        assert_eq!(topic("chat-7"), "chat-7");
        let long = topic("a key with spaces that is much longer than thirty-two characters");
        assert_eq!(long.len(), 32);
        assert!(long.bytes().all(is_url_safe_base64));
    }

    #[test]
    fn the_payload_is_what_the_service_worker_reads() {
        let json: serde_json::Value = serde_json::from_slice(&payload(&push("hello")).unwrap()).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"title": "Ada", "body": "hello", "tag": "6f1c7a52-3a5e-4b8e-9d57-0e1f2a3b4c5d",
                               "data": {"chat_id": "c"}})
        );
        let mut untagged = push("hello");
        untagged.collapse_key = None;
        let json: serde_json::Value = serde_json::from_slice(&payload(&untagged).unwrap()).unwrap();
        assert_eq!(json["tag"], serde_json::Value::Null);
    }

    #[test]
    fn a_body_too_long_for_one_message_is_cut_to_fit() {
        let long = "ö".repeat(5000);
        let bytes = payload(&push(&long)).unwrap();
        assert!(bytes.len() <= ece::MAX_PLAINTEXT && bytes.len() > ece::MAX_PLAINTEXT - 8, "{}", bytes.len());
        let json: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert!(json["body"].as_str().unwrap().ends_with("ö…"));
    }

    #[test]
    fn keys_are_read_padded_or_not() {
        assert_eq!(decode_key("auth", "BTBZMqHH6r4Tts7J_aSIgg").unwrap().len(), 16);
        assert_eq!(decode_key("auth", "BTBZMqHH6r4Tts7J_aSIgg==").unwrap().len(), 16);
        assert_eq!(decode_key("auth", "BTBZMqHH6r4Tts7J/aSIgg==").unwrap().len(), 16);
        assert!(decode_key("auth", "not base64!").unwrap_err().starts_with("subscription key auth"));
    }

    #[test]
    fn only_https_endpoints_or_this_machine() {
        assert!(endpoint_url("https://fcm.googleapis.com/fcm/send/x").is_ok());
        assert!(endpoint_url("http://127.0.0.1:9/push/1").is_ok());
        assert!(endpoint_url("http://localhost:9/push/1").is_ok());
        assert!(endpoint_url("http://push.example.com/push/1").is_err());
        assert!(endpoint_url("file:///etc/passwd").is_err());
    }

    #[test]
    fn a_token_is_reused_per_origin_until_it_nears_expiry() {
        let web = WebPush::new(VapidKey::generate().unwrap(), "mailto:ops@example.com".into(), None).unwrap();
        let a = web.authorization("https://a.example", "https://a.example/1").unwrap();
        assert_eq!(web.authorization("https://a.example", "https://a.example/2").unwrap(), a);
        let b = web.authorization("https://b.example", "https://b.example/1").unwrap();
        assert_ne!(a, b);
        let expires_at = |web: &WebPush| web.tokens.lock().unwrap()["https://a.example"].expires_at;
        let nearly = unix_now() + RENEW_BEFORE - 1;
        web.tokens.lock().unwrap().get_mut("https://a.example").unwrap().expires_at = nearly;
        web.authorization("https://a.example", "https://a.example/1").unwrap();
        assert!(expires_at(&web) >= nearly + vapid::TOKEN_SECONDS - RENEW_BEFORE, "signed anew");
    }

    #[test]
    fn settings_errors_name_the_variable() {
        let err = WebPush::new(VapidKey::generate().unwrap(), "ops@example.com".into(), None).unwrap_err();
        assert!(err.to_string().starts_with("VAPID_SUBJECT: "), "{err}");
        let err = WebPush::new(VapidKey::generate().unwrap(), "mailto:a@b.c".into(), Some(b"nothing")).unwrap_err();
        assert!(err.to_string().starts_with("PUSH_CA_FILE: "), "{err}");
    }

    #[test]
    fn debug_shows_no_secret() {
        let sub = Subscription {
            endpoint: "https://push.example.net/wpush/v2/secret-path".into(),
            p256dh: "BCVx".into(),
            auth: "BTBZ".into(),
        };
        assert_eq!(format!("{sub:?}"), "Subscription { push_service: \"https://push.example.net\", .. }");
    }
}
