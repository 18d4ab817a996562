//! Apple Push Notification service (APNs): each push is one alert POSTed over HTTP/2 to
//! `{APNS_URL}/3/device/<device token>` with the provider token of `apns_token`, and Apple's
//! answer becomes an [`Outcome`]. Requests follow Apple's "Sending notification requests to
//! APNs"; statuses and reasons its "Handling notification responses from APNs".

use std::{error::Error as _, fmt, path::PathBuf, time::Duration};

use anyhow::{anyhow, bail};
use reqwest::{
    StatusCode,
    header::{AUTHORIZATION, HeaderValue},
};
use serde::Deserialize;
use serde_json::{Map, Value};

pub use super::apns_token::Clock;
use super::{
    Outcome,
    apns_token::{ProviderToken, ProviderTokens},
    retry_after,
};
use crate::push::Push;

/// Apple's limit for a regular remote notification.
const MAX_PAYLOAD_BYTES: usize = 4096;
/// Apple's limit for `apns-collapse-id`.
const MAX_COLLAPSE_ID_BYTES: usize = 64;
/// Device tokens are 32 bytes today; Apple warns they may grow, so only a floor is certain.
const MIN_DEVICE_TOKEN_HEX: usize = 64;
/// A bound of ours, far above any token Apple has issued, to keep junk out of the URL.
const MAX_DEVICE_TOKEN_HEX: usize = 256;
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Where and as whom pushes go to APNs.
#[derive(Debug, Clone)]
pub struct ApnsSettings {
    /// `APNS_KEY_FILE`: the token signing key Apple issued, `AuthKey_<key id>.p8` (P-256, PKCS#8 PEM).
    pub key_file: PathBuf,
    /// `APNS_KEY_ID`: that key's 10-character id, the token's `kid`.
    pub key_id: String,
    /// `APNS_TEAM_ID`: the developer team's 10-character id, the token's `iss`.
    pub team_id: String,
    /// `APNS_TOPIC`: the app's bundle id.
    pub topic: String,
    /// `APNS_URL`.
    pub url: String,
}

/// Sends pushes to APNs. Shared by every task: concurrent sends ride one HTTP/2 connection
/// and one provider token.
pub struct Apns {
    client: reqwest::Client,
    /// `{APNS_URL}/3/device/`
    device_url: String,
    topic: HeaderValue,
    tokens: ProviderTokens,
}

impl fmt::Debug for Apns {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Apns").field("device_url", &self.device_url).field("topic", &self.topic).finish_non_exhaustive()
    }
}

impl Apns {
    /// Reads and checks the settings; errors name the variable at fault.
    pub fn new(settings: &ApnsSettings, extra_ca_pem: Option<&[u8]>) -> anyhow::Result<Self> {
        Self::with_clock(settings, extra_ca_pem, Clock::system())
    }

    /// As [`Apns::new`], with provider tokens dated by `clock`: tests move it to cross
    /// the 20- and 40-minute marks without waiting for them.
    pub fn with_clock(settings: &ApnsSettings, extra_ca_pem: Option<&[u8]>, clock: Clock) -> anyhow::Result<Self> {
        let key_id = apple_id("APNS_KEY_ID", &settings.key_id)?;
        let team_id = apple_id("APNS_TEAM_ID", &settings.team_id)?;
        let topic = topic(&settings.topic)?;
        let device_url = device_url(&settings.url)?;
        let path = settings.key_file.display();
        let key = std::fs::read(&settings.key_file).map_err(|e| anyhow!("APNS_KEY_FILE: cannot read {path}: {e}"))?;
        let tokens = ProviderTokens::new(&key, key_id, team_id, clock)
            .map_err(|e| anyhow!("APNS_KEY_FILE: {path} is not a P-256 private key in PKCS#8 PEM (a .p8 file): {e}"))?;
        Ok(Self { client: client(extra_ca_pem)?, device_url, topic, tokens })
    }

    /// Sends `push` to one device. A provider token APNs calls expired or invalid is renewed
    /// and the push sent once more.
    #[tracing::instrument(name = "apns.send", skip_all, fields(device = device_token.get(..8).unwrap_or(device_token)))]
    pub async fn send(&self, device_token: &str, push: &Push) -> Outcome {
        if !is_device_token(device_token) {
            return Outcome::Rejected { reason: "not an APNs device token (64 or more hex digits)".to_owned() };
        }
        let notification = match Notification::new(push, self.tokens.now()) {
            Ok(notification) => notification,
            Err(reason) => return Outcome::Rejected { reason },
        };
        let token = match self.tokens.current().await {
            Ok(token) => token,
            Err(e) => return Outcome::Rejected { reason: format!("cannot sign a provider token: {e}") },
        };
        let answer = self.post(device_token, &notification, &token).await;
        let Some(refusal) = answer.provider_token_refusal() else { return answer.outcome() };
        tracing::warn!(reason = refusal, "APNs refused the provider token; renewing it and sending once more");
        match self.tokens.renew_after_refusal(&token).await {
            Ok(renewed) => self.post(device_token, &notification, &renewed).await.outcome(),
            Err(e) => Outcome::Rejected { reason: format!("cannot sign a provider token: {e}") },
        }
    }

    async fn post(&self, device_token: &str, notification: &Notification, token: &ProviderToken) -> Answer {
        let mut request = self
            .client
            .post(format!("{}{device_token}", self.device_url))
            .header(AUTHORIZATION, token.authorization.clone())
            .header("apns-topic", self.topic.clone())
            .header("apns-push-type", "alert")
            // 10: at once, waking the device; Apple's default for alerts.
            .header("apns-priority", "10")
            .header("apns-expiration", notification.expiration.to_string())
            .body(notification.payload.clone());
        if let Some(collapse_id) = &notification.collapse_id {
            request = request.header("apns-collapse-id", collapse_id.clone());
        }
        let response = match request.send().await {
            Ok(response) => response,
            Err(e) => return Answer::Unreached(error_chain(&e.without_url())),
        };
        let status = response.status();
        let retry_after = retry_after(response.headers());
        // An error's body is `{"reason": …}`; a success's is empty.
        let reason = match response.bytes().await {
            Ok(body) => serde_json::from_slice::<ErrorBody>(&body).ok().map(|body| body.reason),
            Err(_) => None,
        };
        Answer::Replied { status, reason, retry_after }
    }
}

/// A push as APNs takes it, checked against Apple's limits before anything is sent.
struct Notification {
    payload: Vec<u8>,
    collapse_id: Option<HeaderValue>,
    /// Unix seconds after which APNs stops trying an offline device.
    expiration: i64,
}

impl Notification {
    fn new(push: &Push, now: i64) -> Result<Self, String> {
        if let Some(collapse_key) = &push.collapse_key
            && collapse_key.len() > MAX_COLLAPSE_ID_BYTES
        {
            return Err(format!("collapse key longer than APNs' {MAX_COLLAPSE_ID_BYTES} bytes"));
        }
        let collapse_id = match &push.collapse_key {
            Some(key) => Some(HeaderValue::from_str(key).map_err(|_| "collapse key is not a header value".to_owned())?),
            None => None,
        };
        let payload = serde_json::to_vec(&payload(push)).map_err(|e| format!("payload: {e}"))?;
        if payload.len() > MAX_PAYLOAD_BYTES {
            return Err(format!("payload of {} bytes, over APNs' {MAX_PAYLOAD_BYTES}", payload.len()));
        }
        let ttl = i64::try_from(push.ttl.as_secs()).unwrap_or(i64::MAX);
        Ok(Self { payload, collapse_id, expiration: now.saturating_add(ttl) })
    }
}

/// `{"aps": {alert, sound, thread-id}, <data keys>}`: the data sits beside `aps`, where the
/// app reads it; a data key named `aps` would replace Apple's dictionary, so it is left out.
fn payload(push: &Push) -> Value {
    let mut alert = Map::new();
    alert.insert("title".to_owned(), push.title.clone().into());
    alert.insert("body".to_owned(), push.body.clone().into());
    let mut aps = Map::new();
    aps.insert("alert".to_owned(), alert.into());
    aps.insert("sound".to_owned(), "default".into());
    if let Some(chat) = &push.collapse_key {
        // One thread per chat: the device groups a chat's notifications together.
        aps.insert("thread-id".to_owned(), chat.clone().into());
    }
    let mut payload = Map::new();
    payload.insert("aps".to_owned(), aps.into());
    for (key, value) in push.data.iter().filter(|(key, _)| *key != "aps") {
        payload.insert(key.clone(), value.clone().into());
    }
    payload.into()
}

#[derive(Deserialize)]
struct ErrorBody {
    reason: String,
}

/// What came back for one request.
enum Answer {
    /// No answer: the connection failed or the request timed out.
    Unreached(String),
    Replied {
        status: StatusCode,
        reason: Option<String>,
        retry_after: Option<Duration>,
    },
}

impl Answer {
    /// Apple's reason when it refused the provider token itself: a new token may fix that.
    fn provider_token_refusal(&self) -> Option<&str> {
        match self {
            Self::Replied { status: StatusCode::FORBIDDEN, reason: Some(reason), .. }
                if reason == "ExpiredProviderToken" || reason == "InvalidProviderToken" =>
            {
                Some(reason)
            }
            _ => None,
        }
    }

    fn outcome(self) -> Outcome {
        let (status, reason, after) = match self {
            Self::Unreached(reason) => return Outcome::Retry { after: None, reason },
            Self::Replied { status, reason, retry_after } => {
                (status, reason.unwrap_or_else(|| format!("HTTP {}", status.as_u16())), retry_after)
            }
        };
        match status.as_u16() {
            200 => Outcome::Sent,
            // Unregistered (the app is gone from the device) or ExpiredToken.
            410 => Outcome::Gone { reason },
            // A token of another app or environment: it will never work with this topic.
            400 if reason == "BadDeviceToken" || reason == "DeviceTokenNotForTopic" => Outcome::Gone { reason },
            429 | 500..=599 => Outcome::Retry { after, reason },
            _ => Outcome::Rejected { reason },
        }
    }
}

fn is_device_token(token: &str) -> bool {
    (MIN_DEVICE_TOKEN_HEX..=MAX_DEVICE_TOKEN_HEX).contains(&token.len()) && token.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Key and team ids are the 10 letters and digits Apple shows in the developer account.
fn apple_id<'a>(variable: &str, value: &'a str) -> anyhow::Result<&'a str> {
    if value.len() != 10 || !value.bytes().all(|b| b.is_ascii_alphanumeric()) {
        bail!("{variable}: expected Apple's 10-character id (letters and digits), got {value:?}");
    }
    Ok(value)
}

fn topic(value: &str) -> anyhow::Result<HeaderValue> {
    let bundle_id = !value.is_empty() && value.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b));
    match HeaderValue::from_str(value) {
        Ok(header) if bundle_id => Ok(header),
        _ => bail!("APNS_TOPIC: expected the app's bundle id (like com.example.chat), got {value:?}"),
    }
}

fn device_url(value: &str) -> anyhow::Result<String> {
    let url = reqwest::Url::parse(value).map_err(|e| anyhow!("APNS_URL: {value:?} is not a URL: {e}"))?;
    if url.scheme() != "https" || url.query().is_some() || url.fragment().is_some() {
        bail!("APNS_URL: expected https://host[:port], got {value:?}");
    }
    Ok(format!("{}/3/device/", url.as_str().trim_end_matches('/')))
}

fn client(extra_ca_pem: Option<&[u8]>) -> anyhow::Result<reqwest::Client> {
    let mut builder = shared::http_client::builder()
        // APNs speaks HTTP/2 alone: over TLS this offers ALPN h2 and nothing else.
        .http2_prior_knowledge()
        .timeout(REQUEST_TIMEOUT)
        // Apple asks that connections stay open across notifications (it may take rapid
        // reconnects for an attack); pings find a connection that died quietly.
        .pool_idle_timeout(None)
        .http2_keep_alive_interval(Duration::from_secs(60))
        .http2_keep_alive_timeout(Duration::from_secs(20))
        .http2_keep_alive_while_idle(true);
    if let Some(pem) = extra_ca_pem {
        let certificates = reqwest::Certificate::from_pem_bundle(pem)
            .map_err(|e| anyhow!("PUSH_CA_FILE: not a bundle of PEM certificates: {e}"))?;
        if certificates.is_empty() {
            bail!("PUSH_CA_FILE: no certificate in it");
        }
        builder = builder.tls_certs_merge(certificates);
    }
    builder.build().map_err(|e| anyhow!("APNs HTTP client: {}", error_chain(&e)))
}

/// An error and its causes on one line: reqwest's own message alone rarely says what failed.
fn error_chain(error: &reqwest::Error) -> String {
    let mut line = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        line.push_str(": ");
        line.push_str(&cause.to_string());
        source = cause.source();
    }
    line
}

#[cfg(test)]
mod tests {
    use std::{collections::BTreeMap, time::Duration};

    use serde_json::json;

    use super::{Notification, is_device_token, payload};
    use crate::push::Push;

    fn push(collapse_key: Option<&str>) -> Push {
        Push {
            title: "alice".to_owned(),
            body: "hi".to_owned(),
            data: BTreeMap::from([("chat_id".to_owned(), "c1".to_owned()), ("aps".to_owned(), "x".to_owned())]),
            collapse_key: collapse_key.map(str::to_owned),
            ttl: Duration::from_secs(3600),
        }
    }

    #[test]
    fn the_payload_is_an_alert_grouped_by_chat_with_the_data_beside_it() {
        assert_eq!(
            payload(&push(Some("c1"))),
            json!({
                "aps": {"alert": {"title": "alice", "body": "hi"}, "sound": "default", "thread-id": "c1"},
                "chat_id": "c1"
            })
        );
        assert_eq!(
            payload(&push(None)),
            json!({"aps": {"alert": {"title": "alice", "body": "hi"}, "sound": "default"}, "chat_id": "c1"})
        );
    }

    #[test]
    fn expiration_is_now_plus_the_ttl() {
        assert_eq!(Notification::new(&push(None), 1_000).unwrap().expiration, 4_600);
    }

    #[test]
    fn a_collapse_key_over_64_bytes_is_refused() {
        assert!(Notification::new(&push(Some(&"c".repeat(64))), 0).is_ok());
        let refused = Notification::new(&push(Some(&"c".repeat(65))), 0).err().unwrap();
        assert_eq!(refused, "collapse key longer than APNs' 64 bytes");
    }

    #[test]
    fn device_tokens_are_64_or_more_hex_digits() {
        assert!(is_device_token(&"aB0".repeat(22)[..64]));
        assert!(is_device_token(&"0".repeat(200)));
        assert!(!is_device_token(&"0".repeat(63)));
        assert!(!is_device_token(&format!("{}g", "0".repeat(64))));
        assert!(!is_device_token(&"0".repeat(300)));
    }
}
