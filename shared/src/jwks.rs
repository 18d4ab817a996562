//! The JWKS document (RFC 7517) that publishes the public keys verifying access tokens, and
//! the client other services use to fetch it: keys are cached, and an unknown `kid` triggers a
//! refetch, so a key rotation at auth-api needs no restart anywhere else.

use std::{
    collections::HashMap,
    sync::{Arc, RwLock},
    time::{Duration, Instant},
};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use jsonwebtoken::DecodingKey;
use poem_openapi::Object;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::sync::Mutex;

/// Why [`JwksClient`] has no key to give. `tokens::TokenError` carries both cases on to the
/// verifier's callers under the same names and messages.
#[derive(Debug, thiserror::Error)]
pub enum JwksError {
    #[error("the token names no key, or a key this service does not know")]
    UnknownKey,
    #[error("verification keys are unavailable: {0}")]
    KeysUnavailable(String),
}

/// One public key, as a JWK.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Object)]
pub struct PublicJwk {
    /// Key type: `OKP`.
    pub kty: String,
    /// Curve: `Ed25519`.
    pub crv: String,
    /// The public key, base64url.
    pub x: String,
    /// Key id: the RFC 7638 thumbprint.
    pub kid: String,
    /// `sig`.
    #[serde(rename = "use")]
    #[oai(rename = "use")]
    pub use_: String,
    /// `EdDSA`.
    pub alg: String,
}

impl PublicJwk {
    pub fn ed25519(public_key: &[u8; 32]) -> Self {
        let x = b64url(public_key);
        Self {
            kty: "OKP".into(),
            crv: "Ed25519".into(),
            kid: ed25519_thumbprint(&x),
            x,
            use_: "sig".into(),
            alg: "EdDSA".into(),
        }
    }
}

/// The JWKS document: `{"keys": [...]}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Object)]
pub struct JwksDocument {
    /// The key that signs new access tokens and any retired ones still published
    /// (`JWT_RETIRED_PUBLIC_KEYS`); a token's `kid` names the one that verifies it.
    pub keys: Vec<PublicJwk>,
}

/// Verification keys by `kid`, parsed once.
pub struct KeySet {
    document: JwksDocument,
    decoding: HashMap<String, Arc<DecodingKey>>,
}

impl KeySet {
    /// Keys that are not Ed25519, or unreadable, are left out: a verifier pinned to EdDSA could
    /// not use them anyway.
    pub fn new(keys: Vec<PublicJwk>) -> Self {
        let decoding = keys.iter().filter_map(|jwk| Some((jwk.kid.clone(), Arc::new(decoding_key(jwk)?)))).collect();
        Self { document: JwksDocument { keys }, decoding }
    }

    pub fn document(&self) -> &JwksDocument {
        &self.document
    }

    pub fn decoding_key(&self, kid: &str) -> Option<Arc<DecodingKey>> {
        self.decoding.get(kid).cloned()
    }
}

/// Fetches auth-api's JWKS and keeps it. A token with a `kid` we do not hold triggers one
/// refetch (concurrent ones wait for the same fetch), at most once per `min_refetch` so that
/// tokens with made-up `kid`s cannot turn us into a load generator against auth-api.
pub struct JwksClient {
    url: String,
    http: reqwest::Client,
    keys: RwLock<Option<(Arc<KeySet>, Instant)>>,
    fetch: Mutex<Option<Instant>>,
    min_refetch: Duration,
    max_age: Duration,
}

impl JwksClient {
    /// The client of `JWKS_URL`, which a service that verifies tokens on its own cannot start
    /// without.
    pub fn required(url: Option<&str>) -> Result<Arc<Self>, crate::config::ConfigError> {
        let url = url.ok_or_else(|| {
            crate::config::ConfigError::new(
                "JWKS_URL",
                "required: where auth-api publishes its keys, e.g. http://auth-api:8081/.well-known/jwks.json",
            )
        })?;
        Self::new(url.to_owned()).map(Arc::new).map_err(|e| crate::config::ConfigError::new("JWKS_URL", e.to_string()))
    }

    pub fn new(url: String) -> Result<Self, JwksError> {
        let http = crate::http_client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| JwksError::KeysUnavailable(e.to_string()))?;
        Ok(Self {
            url,
            http,
            keys: RwLock::new(None),
            fetch: Mutex::new(None),
            min_refetch: Duration::from_secs(1),
            max_age: Duration::from_secs(300),
        })
    }

    /// Whether keys have been fetched at least once (readiness).
    pub fn is_loaded(&self) -> bool {
        self.keys.read().map(|k| k.is_some()).unwrap_or(false)
    }

    /// Whether the key set as last fetched has `kid` (no fetch).
    pub fn holds(&self, kid: &str) -> bool {
        self.cached().is_some_and(|(set, _)| set.decoding_key(kid).is_some())
    }

    fn cached(&self) -> Option<(Arc<KeySet>, Instant)> {
        self.keys.read().ok().and_then(|k| k.clone())
    }

    /// The key for `kid`, from the cache when it is there and not older than `max_age`,
    /// otherwise after a refetch.
    pub async fn decoding_key(&self, kid: &str) -> Result<Arc<DecodingKey>, JwksError> {
        if let Some((set, fetched)) = self.cached()
            && fetched.elapsed() < self.max_age
            && let Some(key) = set.decoding_key(kid)
        {
            return Ok(key);
        }
        let set = self.refetch().await?;
        set.decoding_key(kid).ok_or(JwksError::UnknownKey)
    }

    /// Fetches the document. Concurrent callers share one fetch: whoever waited while another
    /// fetched takes that result. Fetches are at least `min_refetch` apart; a caller that comes
    /// sooner waits out the rest rather than being refused, so a token of a key rotated in
    /// just after a fetch still verifies.
    pub async fn refetch(&self) -> Result<Arc<KeySet>, JwksError> {
        let asked = Instant::now();
        let mut last = self.fetch.lock().await;
        if let Some(at) = *last {
            if at >= asked
                && let Some((set, _)) = self.cached()
            {
                return Ok(set);
            }
            if let Some(rest) = self.min_refetch.checked_sub(at.elapsed()) {
                tokio::time::sleep(rest).await;
            }
        }
        *last = Some(Instant::now());
        let document: JwksDocument = async { self.http.get(&self.url).send().await?.error_for_status()?.json().await }
            .await
            .map_err(|e: reqwest::Error| JwksError::KeysUnavailable(format!("{}: {e}", self.url)))?;
        let set = Arc::new(KeySet::new(document.keys));
        if let Ok(mut keys) = self.keys.write() {
            *keys = Some((set.clone(), Instant::now()));
        }
        tracing::debug!(url = %self.url, keys = set.document().keys.len(), "fetched JWKS");
        Ok(set)
    }
}

/// base64url without padding, as JWKs and JWTs spell bytes.
fn b64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// RFC 7638 thumbprint of an Ed25519 public key: SHA-256 of the JWK's required members in
/// lexicographic order, base64url.
fn ed25519_thumbprint(x: &str) -> String {
    let canonical = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#);
    b64url(&Sha256::digest(canonical.as_bytes()))
}

fn decoding_key(jwk: &PublicJwk) -> Option<DecodingKey> {
    (jwk.kty == "OKP" && jwk.crv == "Ed25519").then(|| DecodingKey::from_ed_components(&jwk.x).ok()).flatten()
}
