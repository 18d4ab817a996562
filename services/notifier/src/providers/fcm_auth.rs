//! The FCM service account (`FCM_SERVICE_ACCOUNT_FILE`) and the OAuth 2.0 access tokens it earns:
//! a JWT bearer grant (RFC 7523) signed RS256 with the account's key and POSTed to the account's
//! own `token_uri`, the answer reused until five minutes before it expires.
//!
//! Written here rather than taken from `gcp_auth` or `yup-oauth2`: both bring a hyper-rustls
//! client of their own beside reqwest (so `PUSH_CA_FILE` cannot reach it), neither lets a 401 from
//! FCM drop the cached token, and both fold a refused grant and an unreachable endpoint into one
//! error, where the notifier must tell "fix the service account" from "try again later".

use std::{
    fmt,
    path::Path,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rsa::pkcs8::DecodePrivateKey;
use serde::{Deserialize, Serialize};
use tokio::{sync::Mutex, time::Instant};

/// What FCM's send endpoint requires of an access token.
const SCOPE: &str = "https://www.googleapis.com/auth/firebase.messaging";
const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/// Google's ceiling for an assertion's `exp - iat`.
const ASSERTION_LIFETIME_SECS: u64 = 3600;
/// A token is replaced this long before Google says it expires, so a send never races its expiry.
const REFRESH_MARGIN: Duration = Duration::from_secs(300);
/// A token whose refresh failed is still used while it has at least this long to live.
const LAST_RESORT_MARGIN: Duration = Duration::from_secs(10);

/// A Google service account as its JSON key file holds it; the private key never leaves it.
pub struct ServiceAccount {
    project_id: String,
    client_email: String,
    private_key_id: Option<String>,
    token_uri: String,
    key: EncodingKey,
}

/// The fields of the key file the notifier uses; the others (client_id, auth_uri...) are ignored.
#[derive(Deserialize)]
struct KeyFile {
    #[serde(rename = "type")]
    kind: Option<String>,
    project_id: Option<String>,
    client_email: Option<String>,
    private_key_id: Option<String>,
    private_key: Option<String>,
    token_uri: Option<String>,
}

impl ServiceAccount {
    /// Reads and checks the key file; the error is one line naming `FCM_SERVICE_ACCOUNT_FILE`.
    pub fn load(path: &Path) -> Result<Self, String> {
        let shown = path.display();
        let text =
            std::fs::read_to_string(path).map_err(|e| format!("FCM_SERVICE_ACCOUNT_FILE: cannot read {shown}: {e}"))?;
        let json: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| format!("FCM_SERVICE_ACCOUNT_FILE: {shown} is not JSON: {e}"))?;
        let file: KeyFile = serde_json::from_value(json)
            .map_err(|e| format!("FCM_SERVICE_ACCOUNT_FILE: not a service account: {e}"))?;
        match file.kind.as_deref() {
            Some("service_account") => {}
            Some(other) => return Err(format!("FCM_SERVICE_ACCOUNT_FILE: not a service account: type is {other:?}")),
            None => return Err("FCM_SERVICE_ACCOUNT_FILE: not a service account: missing type".into()),
        }
        let project_id = required(file.project_id, "project_id")?;
        let client_email = required(file.client_email, "client_email")?;
        let private_key = required(file.private_key, "private_key")?;
        let token_uri = required(file.token_uri, "token_uri")?;
        if !reqwest::Url::parse(&token_uri).is_ok_and(|url| matches!(url.scheme(), "https" | "http")) {
            return Err(format!("FCM_SERVICE_ACCOUNT_FILE: token_uri is not an http(s) URL: {token_uri}"));
        }
        // jsonwebtoken only parses the key when it signs; parsing it here turns a damaged file into
        // a start-up error instead of a failure at the first push.
        rsa::RsaPrivateKey::from_pkcs8_pem(&private_key).map_err(|e| {
            format!("FCM_SERVICE_ACCOUNT_FILE: private_key is not an RSA private key in PKCS#8 PEM: {e}")
        })?;
        let key = EncodingKey::from_rsa_pem(private_key.as_bytes()).map_err(|e| {
            format!("FCM_SERVICE_ACCOUNT_FILE: private_key is not an RSA private key in PKCS#8 PEM: {e}")
        })?;
        Ok(Self { project_id, client_email, private_key_id: file.private_key_id, token_uri, key })
    }

    /// The Firebase project messages are sent in.
    pub fn project_id(&self) -> &str {
        &self.project_id
    }

    /// The signed JWT the token endpoint exchanges for an access token.
    fn assertion(&self) -> Result<String, jsonwebtoken::errors::Error> {
        #[derive(Serialize)]
        struct Claims<'a> {
            iss: &'a str,
            scope: &'a str,
            aud: &'a str,
            iat: u64,
            exp: u64,
        }
        let mut header = Header::new(Algorithm::RS256);
        // Lets Google pick the right key at once when the account has several.
        header.kid = self.private_key_id.clone();
        let iat = jsonwebtoken::get_current_timestamp();
        let claims = Claims {
            iss: &self.client_email,
            scope: SCOPE,
            aud: &self.token_uri,
            iat,
            exp: iat + ASSERTION_LIFETIME_SECS,
        };
        jsonwebtoken::encode(&header, &claims, &self.key)
    }
}

impl fmt::Debug for ServiceAccount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceAccount")
            .field("project_id", &self.project_id)
            .field("client_email", &self.client_email)
            .field("private_key_id", &self.private_key_id)
            .field("token_uri", &self.token_uri)
            .finish_non_exhaustive()
    }
}

fn required(value: Option<String>, field: &str) -> Result<String, String> {
    value
        .filter(|v| !v.trim().is_empty())
        .ok_or_else(|| format!("FCM_SERVICE_ACCOUNT_FILE: not a service account: missing {field}"))
}

/// An OAuth 2.0 access token for FCM: cheap to clone, never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct AccessToken(Arc<str>);

impl AccessToken {
    /// The token itself, for the `Authorization: Bearer` header.
    pub fn secret(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AccessToken(<redacted>)")
    }
}

/// Why no access token could be had.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// The token endpoint was unreachable, timed out or answered 429/5xx: it may work later.
    #[error("token endpoint unavailable: {reason}")]
    Unavailable { after: Option<Duration>, reason: String },
    /// The token endpoint refused the grant (`invalid_grant`, `invalid_client`...): the service
    /// account is revoked or wrong, or the clock is off; it will not work until someone fixes it.
    #[error("token endpoint refused the service account: {reason}")]
    Refused { reason: String },
}

/// Access tokens for one service account, shared by every send.
pub struct AccessTokens {
    account: ServiceAccount,
    client: reqwest::Client,
    /// Held across an exchange, so the callers that find the token stale wait for one exchange.
    cache: Mutex<Cache>,
    /// Exchanges finished, won or lost: a caller that waited through a failed one takes its error
    /// rather than queueing an exchange of its own behind it.
    exchanges: AtomicU64,
}

#[derive(Default)]
struct Cache {
    token: Option<Cached>,
    last_failure: Option<TokenError>,
}

struct Cached {
    token: AccessToken,
    refresh_at: Instant,
    expires_at: Instant,
}

#[derive(Deserialize)]
struct Granted {
    access_token: String,
    expires_in: u64,
}

#[derive(Deserialize)]
struct OAuthError {
    error: String,
    #[serde(default)]
    error_description: Option<String>,
}

impl AccessTokens {
    /// `client` carries the timeouts and CA roots; requests go to the account's `token_uri`.
    pub fn new(account: ServiceAccount, client: reqwest::Client) -> Self {
        Self { account, client, cache: Mutex::default(), exchanges: AtomicU64::new(0) }
    }

    pub fn account(&self) -> &ServiceAccount {
        &self.account
    }

    /// A token good for at least five more minutes, from the cache or from one exchange that
    /// serves every caller waiting for it; when that exchange fails, the old token while it lives.
    pub async fn get(&self) -> Result<AccessToken, TokenError> {
        let seen = self.exchanges.load(Ordering::Acquire);
        let mut cache = self.cache.lock().await;
        if let Some(cached) = &cache.token
            && Instant::now() < cached.refresh_at
        {
            return Ok(cached.token.clone());
        }
        let failure = match &cache.last_failure {
            Some(failure) if self.exchanges.load(Ordering::Acquire) != seen => failure.clone(),
            _ => {
                let result = self.exchange().await;
                self.exchanges.fetch_add(1, Ordering::Release);
                match result {
                    Ok(fresh) => {
                        let token = fresh.token.clone();
                        *cache = Cache { token: Some(fresh), last_failure: None };
                        return Ok(token);
                    }
                    Err(failure) => {
                        tracing::warn!(error = %failure, "FCM access token refresh failed");
                        cache.last_failure = Some(failure.clone());
                        failure
                    }
                }
            }
        };
        // The old token may still have minutes to live: better than failing the push.
        match &cache.token {
            Some(old) if Instant::now() + LAST_RESORT_MARGIN < old.expires_at => Ok(old.token.clone()),
            _ => Err(failure),
        }
    }

    /// Forgets `rejected` after FCM answered 401 to it, unless a newer token already replaced it.
    pub async fn invalidate(&self, rejected: &AccessToken) {
        let mut cache = self.cache.lock().await;
        if cache.token.as_ref().is_some_and(|cached| &cached.token == rejected) {
            cache.token = None;
        }
    }

    #[tracing::instrument(skip_all, fields(token_uri = %self.account.token_uri))]
    async fn exchange(&self) -> Result<Cached, TokenError> {
        let assertion = self
            .account
            .assertion()
            .map_err(|e| TokenError::Refused { reason: format!("cannot sign the assertion: {e}") })?;
        // reqwest is built without its `form` feature; the grant is two fields.
        let form = serde_urlencoded::to_string([("grant_type", GRANT_TYPE), ("assertion", assertion.as_str())])
            .map_err(|e| TokenError::Refused { reason: format!("cannot encode the grant: {e}") })?;
        let unavailable = |reason: String| TokenError::Unavailable { after: None, reason };
        let response = self
            .client
            .post(&self.account.token_uri)
            .header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(form)
            .send()
            .await
            .map_err(|e| unavailable(with_causes(&e)))?;
        let status = response.status();
        let after = super::retry_after(response.headers());
        let body = response.text().await.map_err(|e| unavailable(format!("{status}, body unreadable: {e}")))?;
        if status.is_success() {
            let granted: Granted =
                serde_json::from_str(&body).map_err(|e| unavailable(format!("{status}, unexpected body: {e}")))?;
            let lifetime = Duration::from_secs(granted.expires_in);
            let now = Instant::now();
            tracing::debug!(expires_in = granted.expires_in, "FCM access token refreshed");
            return Ok(Cached {
                token: AccessToken(granted.access_token.into()),
                // A short-lived token (under ten minutes) is refreshed halfway instead.
                refresh_at: now + lifetime.saturating_sub(REFRESH_MARGIN).max(lifetime / 2),
                expires_at: now + lifetime,
            });
        }
        let reason = match serde_json::from_str::<OAuthError>(&body) {
            Ok(OAuthError { error, error_description: Some(description) }) => {
                format!("{status}: {error}: {description}")
            }
            Ok(OAuthError { error, error_description: None }) => format!("{status}: {error}"),
            Err(_) => status.to_string(),
        };
        if matches!(status.as_u16(), 408 | 429 | 500..=599) {
            Err(TokenError::Unavailable { after, reason })
        } else {
            Err(TokenError::Refused { reason })
        }
    }
}

/// An error and its causes on one line: reqwest's own text leaves out why a connection failed.
pub(super) fn with_causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(inner) = cause {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        cause = inner.source();
    }
    text
}
