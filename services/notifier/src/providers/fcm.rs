//! Firebase Cloud Messaging, HTTP v1 API: one POST per device to
//! `{FCM_API_URL}/v1/projects/{project_id}/messages:send` with the service account's access
//! token (`fcm_auth`), and FCM's answer read into an [`Outcome`].
//!
//! The answers follow FCM's documented error codes (the `FcmError` detail's `errorCode`, else the
//! HTTP status): a device is only deleted when FCM names the token itself as dead (`UNREGISTERED`,
//! `SENDER_ID_MISMATCH`, or a 400 saying the token is not valid). A bare 404 (a wrong project id
//! or `FCM_API_URL`) is Rejected, so a misconfiguration cannot wipe out every device.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, anyhow, bail};
use reqwest::{StatusCode, header::HeaderMap};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{
    Outcome,
    fcm_auth::{AccessToken, AccessTokens, ServiceAccount, TokenError, with_causes},
    retry_after,
};
use crate::push::Push;

const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
const FCM_ERROR_TYPE: &str = "type.googleapis.com/google.firebase.fcm.v1.FcmError";

/// The FCM provider: shared by every send task.
pub struct Fcm {
    client: reqwest::Client,
    send_url: String,
    tokens: AccessTokens,
}

/// What one POST came to: settled, or FCM refused our access token.
enum Answer {
    Settled(Outcome),
    Unauthenticated(String),
}

impl Fcm {
    /// `api_url` is `FCM_API_URL`; `extra_ca_pem` is `PUSH_CA_FILE`'s bundle, trusted beside the
    /// system's roots for both FCM and the token endpoint.
    pub fn new(account: ServiceAccount, api_url: String, extra_ca_pem: Option<&[u8]>) -> anyhow::Result<Self> {
        let base = reqwest::Url::parse(&api_url).map_err(|e| anyhow!("FCM_API_URL: not a URL: {api_url}: {e}"))?;
        if !matches!(base.scheme(), "https" | "http") {
            bail!("FCM_API_URL: not an http(s) URL: {api_url}");
        }
        let mut builder = shared::http_client::builder().timeout(REQUEST_TIMEOUT);
        if let Some(pem) = extra_ca_pem {
            let certs = reqwest::Certificate::from_pem_bundle(pem)
                .map_err(|e| anyhow!("PUSH_CA_FILE: not a PEM certificate bundle: {e}"))?;
            if certs.is_empty() {
                bail!("PUSH_CA_FILE: no certificate in it");
            }
            builder = builder.tls_certs_merge(certs);
        }
        let client = builder.build().context("FCM: cannot build the HTTP client")?;
        let send_url = format!("{}/v1/projects/{}/messages:send", api_url.trim_end_matches('/'), account.project_id());
        Ok(Self { tokens: AccessTokens::new(account, client.clone()), client, send_url })
    }

    /// Sends `push` to the device FCM knows as `registration_token`.
    #[tracing::instrument(skip_all, fields(project = %self.tokens.account().project_id()))]
    pub async fn send(&self, registration_token: &str, push: &Push) -> Outcome {
        let message = message(registration_token, push, SystemTime::now());
        let token = match self.tokens.get().await {
            Ok(token) => token,
            Err(e) => return e.into(),
        };
        let reason = match self.post(&token, &message).await {
            Answer::Settled(outcome) => return outcome,
            Answer::Unauthenticated(reason) => reason,
        };
        // Google can revoke a token before it expires; one fresh token settles that, and a
        // second 401 means the trouble is elsewhere (the clock, the account's permissions).
        tracing::info!(%reason, "FCM refused the access token; fetching a new one");
        self.tokens.invalidate(&token).await;
        let token = match self.tokens.get().await {
            Ok(token) => token,
            Err(e) => return e.into(),
        };
        match self.post(&token, &message).await {
            Answer::Settled(outcome) => outcome,
            Answer::Unauthenticated(reason) => Outcome::Retry { after: None, reason },
        }
    }

    async fn post(&self, token: &AccessToken, message: &Value) -> Answer {
        let response = match self.client.post(&self.send_url).bearer_auth(token.secret()).json(message).send().await {
            Ok(response) => response,
            Err(e) => {
                let reason = format!("FCM unreachable: {}", with_causes(&e));
                return Answer::Settled(Outcome::Retry { after: None, reason });
            }
        };
        let status = response.status();
        let headers = response.headers().clone();
        match response.text().await {
            Ok(body) => classify(status, &headers, &body),
            Err(e) => Answer::Settled(Outcome::Retry {
                after: retry_after(&headers),
                reason: format!("FCM {status}, body unreadable: {e}"),
            }),
        }
    }
}

impl From<TokenError> for Outcome {
    fn from(error: TokenError) -> Self {
        let reason = format!("FCM {error}");
        match error {
            TokenError::Unavailable { after, .. } => Outcome::Retry { after, reason },
            TokenError::Refused { .. } => Outcome::Rejected { reason },
        }
    }
}

/// The v1 message: the notification for the tray, the ids as data, and per platform the
/// priority, lifetime and the collapse key that folds a chat's burst into one banner.
fn message(registration_token: &str, push: &Push, now: SystemTime) -> Value {
    let ttl = push.ttl.as_secs();
    // APNs has no TTL, only a deadline; FCM's default for it would be 30 days.
    let apns_expiration = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs() + ttl;
    let mut android = json!({"priority": "high", "ttl": format!("{ttl}s")});
    let mut apns = json!({"headers": {"apns-priority": "10", "apns-expiration": apns_expiration.to_string()}});
    let mut webpush = json!({"headers": {"TTL": ttl.to_string()}});
    if let Some(chat) = &push.collapse_key {
        android["collapse_key"] = json!(chat);
        android["notification"] = json!({"tag": chat});
        apns["headers"]["apns-collapse-id"] = json!(chat);
        apns["payload"] = json!({"aps": {"thread-id": chat}});
        webpush["headers"]["Topic"] = json!(web_push_topic(chat));
    }
    json!({"message": {
        "token": registration_token,
        "notification": {"title": push.title, "body": push.body},
        "data": push.data,
        "android": android,
        "apns": apns,
        "webpush": webpush,
    }})
}

/// RFC 8030's Topic allows 32 characters of the URL-safe base64 alphabet: a uuid's hex digits.
fn web_push_topic(chat: &str) -> String {
    chat.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '_').take(32).collect()
}

/// Google's error body: `{"error": {"code", "message", "status", "details": [...]}}`.
#[derive(Deserialize, Default)]
struct ErrorBody {
    #[serde(default)]
    error: GoogleStatus,
}

#[derive(Deserialize, Default)]
struct GoogleStatus {
    #[serde(default)]
    message: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    details: Vec<Detail>,
}

#[derive(Deserialize)]
struct Detail {
    #[serde(rename = "@type", default)]
    kind: String,
    #[serde(rename = "errorCode", default)]
    error_code: Option<String>,
}

fn classify(status: StatusCode, headers: &HeaderMap, body: &str) -> Answer {
    if status.is_success() {
        return Answer::Settled(Outcome::Sent);
    }
    let error = serde_json::from_str::<ErrorBody>(body).unwrap_or_default().error;
    let fcm_code = error.details.iter().find(|d| d.kind == FCM_ERROR_TYPE).and_then(|d| d.error_code.as_deref());
    let code = fcm_code.unwrap_or(&error.status);
    let reason = format!("FCM {status}: {code}: {}", error.message);
    let outcome = match (status.as_u16(), fcm_code) {
        (_, Some("UNREGISTERED")) => Outcome::Gone { reason },
        // The token was issued to another Firebase project: it can never work with ours.
        (_, Some("SENDER_ID_MISMATCH")) => Outcome::Gone { reason },
        (400, _) if names_invalid_token(&error.message) => Outcome::Gone { reason },
        // The project's APNs key or web push credentials are missing: not our access token, and
        // no retry helps before someone uploads them in the Firebase console.
        (_, Some("THIRD_PARTY_AUTH_ERROR")) => Outcome::Rejected { reason },
        (401, _) => return Answer::Unauthenticated(reason),
        (429, _) | (500..=599, _) => Outcome::Retry { after: retry_after(headers), reason },
        _ => Outcome::Rejected { reason },
    };
    Answer::Settled(outcome)
}

/// FCM answers a malformed or truncated token with INVALID_ARGUMENT and this sentence: "The
/// registration token is not a valid FCM registration token".
fn names_invalid_token(message: &str) -> bool {
    let message = message.to_ascii_lowercase();
    message.contains("registration token") && message.contains("not a valid")
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn push(collapse_key: Option<&str>) -> Push {
        Push {
            title: "Ada".into(),
            body: "hello".into(),
            data: BTreeMap::from([("event_type".into(), "message.created".into()), ("chat_id".into(), "c".into())]),
            collapse_key: collapse_key.map(Into::into),
            ttl: Duration::from_secs(3600),
        }
    }

    fn at_1000() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1000)
    }

    #[test]
    fn a_chat_push_carries_its_collapse_key_on_every_platform() {
        let chat = "0b7e9c3e-8a51-4f0c-9d7a-3f1e2a4b5c6d";
        assert_eq!(
            message("tok", &push(Some(chat)), at_1000()),
            json!({"message": {
                "token": "tok",
                "notification": {"title": "Ada", "body": "hello"},
                "data": {"chat_id": "c", "event_type": "message.created"},
                "android": {"priority": "high", "ttl": "3600s", "collapse_key": chat, "notification": {"tag": chat}},
                "apns": {
                    "headers": {"apns-priority": "10", "apns-expiration": "4600", "apns-collapse-id": chat},
                    "payload": {"aps": {"thread-id": chat}},
                },
                "webpush": {"headers": {"TTL": "3600", "Topic": "0b7e9c3e8a514f0c9d7a3f1e2a4b5c6d"}},
            }})
        );
    }

    #[test]
    fn a_push_without_collapse_key_has_no_collapse_parts() {
        assert_eq!(
            message("tok", &push(None), at_1000()),
            json!({"message": {
                "token": "tok",
                "notification": {"title": "Ada", "body": "hello"},
                "data": {"chat_id": "c", "event_type": "message.created"},
                "android": {"priority": "high", "ttl": "3600s"},
                "apns": {"headers": {"apns-priority": "10", "apns-expiration": "4600"}},
                "webpush": {"headers": {"TTL": "3600"}},
            }})
        );
    }

    fn answer(status: u16, body: Value) -> Outcome {
        let mut headers = HeaderMap::new();
        headers.insert("retry-after", "7".parse().unwrap());
        match classify(StatusCode::from_u16(status).unwrap(), &headers, &body.to_string()) {
            Answer::Settled(outcome) => outcome,
            Answer::Unauthenticated(reason) => Outcome::Retry { after: None, reason: format!("401 {reason}") },
        }
    }

    fn google(code: u16, status: &str, message: &str, error_code: Option<&str>) -> Value {
        let details: Vec<Value> =
            error_code.map(|c| json!({"@type": FCM_ERROR_TYPE, "errorCode": c})).into_iter().collect();
        json!({"error": {"code": code, "message": message, "status": status, "details": details}})
    }

    #[test]
    fn fcm_errors_map_to_outcomes() {
        let gone = |o: &Outcome| matches!(o, Outcome::Gone { .. });
        let rejected = |o: &Outcome| matches!(o, Outcome::Rejected { .. });
        assert!(gone(&answer(404, google(404, "NOT_FOUND", "Requested entity was not found.", Some("UNREGISTERED")))));
        assert!(gone(&answer(400, google(400, "INVALID_ARGUMENT", "x", Some("UNREGISTERED")))));
        assert!(gone(&answer(
            400,
            google(
                400,
                "INVALID_ARGUMENT",
                "The registration token is not a valid FCM registration token",
                Some("INVALID_ARGUMENT")
            )
        )));
        assert!(gone(&answer(403, google(403, "PERMISSION_DENIED", "SenderId mismatch", Some("SENDER_ID_MISMATCH")))));
        // A 404 that does not name the token: a wrong project or URL, not a dead device.
        assert!(rejected(&answer(404, google(404, "NOT_FOUND", "Requested entity was not found.", None))));
        assert!(rejected(&answer(404, json!("<html>not found</html>"))));
        assert!(rejected(&answer(
            400,
            google(400, "INVALID_ARGUMENT", "Message is too big", Some("INVALID_ARGUMENT"))
        )));
        assert!(rejected(&answer(401, google(401, "UNAUTHENTICATED", "auth", Some("THIRD_PARTY_AUTH_ERROR")))));
        assert_eq!(
            answer(429, google(429, "RESOURCE_EXHAUSTED", "quota", Some("QUOTA_EXCEEDED"))),
            Outcome::Retry {
                after: Some(Duration::from_secs(7)),
                reason: "FCM 429 Too Many Requests: QUOTA_EXCEEDED: quota".into()
            }
        );
        assert!(matches!(answer(500, google(500, "INTERNAL", "x", Some("INTERNAL"))), Outcome::Retry { .. }));
        assert!(matches!(answer(502, json!(null)), Outcome::Retry { .. }));
        assert_eq!(
            answer(401, google(401, "UNAUTHENTICATED", "Request had invalid authentication credentials.", None)),
            Outcome::Retry {
                after: None,
                reason: "401 FCM 401 Unauthorized: UNAUTHENTICATED: Request had invalid authentication credentials."
                    .into()
            }
        );
    }
}
