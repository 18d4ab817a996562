//! Access tokens: short-lived JWTs signed with Ed25519 (EdDSA). auth-api signs; every service
//! verifies with the algorithm pinned and `exp`, `iss` and `aud` required, choosing the key by
//! the token's `kid` from a key set (in-process in `chat-suite`, fetched from JWKS elsewhere).

use std::{sync::Arc, time::Duration};

use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey, spki::der::pem::LineEnding};
use jsonwebtoken::{Algorithm, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{
    config::TokenSettings,
    jwks::{JwksClient, JwksError, KeySet, PublicJwk},
};

/// The claims of an access token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    /// The user id.
    pub sub: Uuid,
    /// The username at the time of issue (for display; `sub` is the identity).
    pub preferred_username: String,
    pub iss: String,
    pub aud: String,
    pub iat: i64,
    pub exp: i64,
    pub jti: Uuid,
}

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("the token is not a well-formed JWT")]
    Malformed,
    #[error("the token is signed with an algorithm other than EdDSA")]
    WrongAlgorithm,
    #[error("the token names no key, or a key this service does not know")]
    UnknownKey,
    #[error("the token has expired")]
    Expired,
    #[error("the token is invalid: {0}")]
    Invalid(String),
    #[error("verification keys are unavailable: {0}")]
    KeysUnavailable(String),
    #[error("the signing key is unusable: {0}")]
    BadKey(String),
}

impl From<JwksError> for TokenError {
    fn from(err: JwksError) -> Self {
        match err {
            JwksError::UnknownKey => Self::UnknownKey,
            JwksError::KeysUnavailable(why) => Self::KeysUnavailable(why),
        }
    }
}

/// The Ed25519 key auth-api signs with, and its public half as a JWK whose `kid` is the
/// RFC 7638 thumbprint, so the same key always has the same id on every replica.
pub struct SigningKey {
    encoding: EncodingKey,
    public: PublicJwk,
    pem: String,
}

impl SigningKey {
    /// Reads a PKCS#8 PEM Ed25519 private key (`openssl genpkey -algorithm ed25519`).
    pub fn from_pem(pem: &str) -> Result<Self, TokenError> {
        let key = ed25519_dalek::SigningKey::from_pkcs8_pem(pem)
            .map_err(|e| TokenError::BadKey(format!("not a PKCS#8 PEM Ed25519 private key ({e})")))?;
        Self::from_dalek(&key)
    }

    /// A fresh random key, for the embedded default (which keeps it in DATA_DIR).
    pub fn generate() -> Result<Self, TokenError> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| TokenError::BadKey(e.to_string()))?;
        Self::from_dalek(&ed25519_dalek::SigningKey::from_bytes(&seed))
    }

    fn from_dalek(key: &ed25519_dalek::SigningKey) -> Result<Self, TokenError> {
        // PKCS#8 v1 (the private key alone), as `openssl genpkey` writes it: ed25519-dalek's own
        // encoding is v2 with the public key beside it, which OpenSSL 3.0 cannot read, so an
        // operator could not derive the public key to publish when rotating.
        let bytes = ed25519_dalek::pkcs8::KeypairBytes { secret_key: key.to_bytes(), public_key: None };
        let pem = bytes.to_pkcs8_pem(LineEnding::LF).map_err(|e| TokenError::BadKey(e.to_string()))?.to_string();
        let encoding = EncodingKey::from_ed_pem(pem.as_bytes()).map_err(|e| TokenError::BadKey(e.to_string()))?;
        let public = PublicJwk::ed25519(&key.verifying_key().to_bytes());
        Ok(Self { encoding, public, pem })
    }

    pub fn kid(&self) -> &str {
        &self.public.kid
    }

    pub fn public_jwk(&self) -> &PublicJwk {
        &self.public
    }

    /// The private key as PKCS#8 PEM, to persist it.
    pub fn to_pem(&self) -> &str {
        &self.pem
    }
}

/// Public keys in PEM (SubjectPublicKeyInfo, `openssl pkey -pubout`), as many blocks as given,
/// as JWKs: the retired keys a key set keeps publishing while their tokens may still be live.
pub fn public_jwks_from_pem(pems: &str) -> Result<Vec<PublicJwk>, TokenError> {
    use ed25519_dalek::pkcs8::DecodePublicKey;
    const END: &str = "-----END PUBLIC KEY-----";
    pems.split_inclusive(END)
        .map(str::trim)
        .filter(|block| !block.is_empty())
        .map(|block| {
            ed25519_dalek::VerifyingKey::from_public_key_pem(block)
                .map(|key| PublicJwk::ed25519(&key.to_bytes()))
                .map_err(|e| TokenError::BadKey(format!("not a PEM Ed25519 public key ({e})")))
        })
        .collect()
}

/// Signs access tokens.
pub struct TokenIssuer {
    key: SigningKey,
    settings: TokenSettings,
    ttl: Duration,
}

impl TokenIssuer {
    pub fn new(key: SigningKey, settings: TokenSettings, ttl: Duration) -> Self {
        Self { key, settings, ttl }
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    pub fn issue(&self, user_id: Uuid, username: &str) -> Result<String, TokenError> {
        let now = chrono::Utc::now().timestamp();
        let claims = AccessClaims {
            sub: user_id,
            preferred_username: username.to_owned(),
            iss: self.settings.issuer.clone(),
            aud: self.settings.audience.clone(),
            iat: now,
            exp: now.saturating_add(i64::try_from(self.ttl.as_secs()).unwrap_or(i64::MAX)),
            jti: Uuid::new_v4(),
        };
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.key.kid().to_owned());
        jsonwebtoken::encode(&header, &claims, &self.key.encoding).map_err(|e| TokenError::BadKey(e.to_string()))
    }
}

/// Where a verifier finds public keys.
#[derive(Clone)]
pub enum KeySource {
    /// Keys held by this process (auth-api itself, or `chat-suite`).
    Local(Arc<KeySet>),
    /// Keys fetched from auth-api's JWKS, cached and refetched on an unknown `kid`.
    Remote(Arc<JwksClient>),
}

/// Verifies access tokens: EdDSA only, a known `kid`, signature, `exp`, `iss` and `aud`.
///
/// A client sends the same token with every request until it expires, so tokens that
/// verified are remembered (until their `exp`, and only while their key is still in the key
/// set): the signature check, the costliest step of an authenticated lookup, runs once per
/// token instead of once per request.
#[derive(Clone)]
pub struct TokenVerifier {
    keys: KeySource,
    validation: Validation,
    verified: Arc<std::sync::Mutex<std::collections::HashMap<String, Remembered>>>,
}

#[derive(Clone)]
struct Remembered {
    claims: AccessClaims,
    kid: String,
}

/// Remembered tokens at most; past that the memory starts over (a cold cache costs one
/// signature check per token, nothing else).
const VERIFIED_CAPACITY: usize = 100_000;

/// Seconds of clock difference between pods that a token's `exp` tolerates.
const LEEWAY_SECONDS: u64 = 5;

impl TokenVerifier {
    pub fn new(keys: KeySource, settings: &TokenSettings) -> Self {
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_issuer(&[&settings.issuer]);
        validation.set_audience(&[&settings.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = LEEWAY_SECONDS;
        validation.validate_exp = true;
        Self { keys, validation, verified: Arc::default() }
    }

    #[tracing::instrument(name = "verify_token", skip_all, err(level = "debug"))]
    pub async fn verify(&self, token: &str) -> Result<AccessClaims, TokenError> {
        let now = chrono::Utc::now().timestamp();
        if let Some(claims) = self.remembered(token, now) {
            return Ok(claims);
        }
        let (claims, kid) = self.verify_signature(token).await?;
        if let Ok(mut verified) = self.verified.lock() {
            if verified.len() >= VERIFIED_CAPACITY {
                verified.clear();
            }
            verified.insert(token.to_owned(), Remembered { claims: claims.clone(), kid });
        }
        Ok(claims)
    }

    fn remembered(&self, token: &str, now: i64) -> Option<AccessClaims> {
        let mut verified = self.verified.lock().ok()?;
        let entry = verified.get(token)?;
        if entry.claims.exp > now && self.holds_key(&entry.kid) {
            return Some(entry.claims.clone());
        }
        verified.remove(token);
        None
    }

    /// Whether `kid` is in the key set as last fetched (no fetch here).
    fn holds_key(&self, kid: &str) -> bool {
        match &self.keys {
            KeySource::Local(set) => set.decoding_key(kid).is_some(),
            KeySource::Remote(client) => client.holds(kid),
        }
    }

    async fn verify_signature(&self, token: &str) -> Result<(AccessClaims, String), TokenError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Malformed)?;
        if header.alg != Algorithm::EdDSA {
            return Err(TokenError::WrongAlgorithm);
        }
        let kid = header.kid.ok_or(TokenError::UnknownKey)?;
        let key = match &self.keys {
            KeySource::Local(set) => set.decoding_key(&kid).ok_or(TokenError::UnknownKey)?,
            KeySource::Remote(client) => client.decoding_key(&kid).await?,
        };
        jsonwebtoken::decode::<AccessClaims>(token, &key, &self.validation).map(|data| (data.claims, kid)).map_err(
            |e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => TokenError::Expired,
                jsonwebtoken::errors::ErrorKind::InvalidAlgorithm => TokenError::WrongAlgorithm,
                _ => TokenError::Invalid(e.to_string()),
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> TokenSettings {
        TokenSettings { issuer: "chat-suite".into(), audience: "chat-suite".into() }
    }

    fn verifier_for(key: &SigningKey, settings: &TokenSettings) -> TokenVerifier {
        TokenVerifier::new(KeySource::Local(Arc::new(KeySet::new(vec![key.public_jwk().clone()]))), settings)
    }

    #[tokio::test]
    async fn a_token_verifies_with_its_key_and_carries_its_claims() {
        let key = SigningKey::generate().unwrap();
        let verifier = verifier_for(&key, &settings());
        let issuer = TokenIssuer::new(key, settings(), Duration::from_secs(60));
        let user = Uuid::new_v4();
        let claims = verifier.verify(&issuer.issue(user, "alice").unwrap()).await.unwrap();
        assert_eq!((claims.sub, claims.preferred_username.as_str()), (user, "alice"));
        assert_eq!(claims.exp - claims.iat, 60);
    }

    #[tokio::test]
    async fn another_key_with_the_same_kid_is_refused() {
        let key = SigningKey::generate().unwrap();
        let impostor = SigningKey::generate().unwrap();
        let mut forged_jwk = key.public_jwk().clone();
        forged_jwk.x = impostor.public_jwk().x.clone();
        let verifier = TokenVerifier::new(KeySource::Local(Arc::new(KeySet::new(vec![forged_jwk]))), &settings());
        let token = TokenIssuer::new(key, settings(), Duration::from_secs(60)).issue(Uuid::new_v4(), "a").unwrap();
        assert!(matches!(verifier.verify(&token).await, Err(TokenError::Invalid(_))));
    }

    #[tokio::test]
    async fn a_foreign_issuer_or_audience_is_refused() {
        let key = SigningKey::generate().unwrap();
        let verifier = verifier_for(&key, &settings());
        let foreign = TokenSettings { issuer: "elsewhere".into(), audience: "chat-suite".into() };
        let token = TokenIssuer::new(key, foreign, Duration::from_secs(60)).issue(Uuid::new_v4(), "a").unwrap();
        assert!(matches!(verifier.verify(&token).await, Err(TokenError::Invalid(_))));
    }

    #[tokio::test]
    async fn a_remembered_token_still_expires() {
        let key = SigningKey::generate().unwrap();
        let verifier = verifier_for(&key, &settings());
        let issuer = TokenIssuer::new(key, settings(), Duration::from_secs(60));
        let token = issuer.issue(Uuid::new_v4(), "a").unwrap();
        let first = verifier.verify(&token).await.unwrap();
        assert_eq!(verifier.verify(&token).await.unwrap(), first);
        // Seen from a minute later (past exp, and past the leeway the signature check allows).
        assert_eq!(verifier.remembered(&token, first.exp + 1), None);
        assert_eq!(verifier.remembered(&token, first.exp - 1), None, "forgotten once seen expired");
    }

    #[test]
    fn retired_public_keys_read_from_concatenated_pem() {
        use ed25519_dalek::pkcs8::{EncodePublicKey, spki::der::pem::LineEnding};
        let keys = [SigningKey::generate().unwrap(), SigningKey::generate().unwrap()];
        let pem: String = keys
            .iter()
            .map(|k| {
                let dalek = ed25519_dalek::SigningKey::from_pkcs8_pem(k.to_pem()).unwrap();
                dalek.verifying_key().to_public_key_pem(LineEnding::LF).unwrap()
            })
            .collect();
        let jwks = public_jwks_from_pem(&pem).unwrap();
        assert_eq!(jwks.iter().map(|j| j.kid.as_str()).collect::<Vec<_>>(), [keys[0].kid(), keys[1].kid()]);
        assert!(public_jwks_from_pem("").unwrap().is_empty());
        assert!(public_jwks_from_pem("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----").is_err());
    }

    /// The README's rotation step, `openssl pkey -pubout`, works on a key we generate, and
    /// gives the public key we publish.
    #[test]
    fn openssl_reads_a_generated_key() {
        use ed25519_dalek::pkcs8::{EncodePublicKey, spki::der::pem::LineEnding};
        let key = SigningKey::generate().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key.pem");
        std::fs::write(&path, key.to_pem()).unwrap();
        let out = std::process::Command::new("openssl").args(["pkey", "-pubout", "-in"]).arg(&path).output().unwrap();
        assert!(out.status.success(), "openssl: {}", String::from_utf8_lossy(&out.stderr));
        let dalek = ed25519_dalek::SigningKey::from_pkcs8_pem(key.to_pem()).unwrap();
        let public = dalek.verifying_key().to_public_key_pem(LineEnding::LF).unwrap();
        assert_eq!(String::from_utf8(out.stdout).unwrap(), public);
        assert!(key.to_pem().starts_with("-----BEGIN PRIVATE KEY-----\n"), "{}", key.to_pem());
    }

    #[test]
    fn the_pem_round_trips_to_the_same_kid() {
        let key = SigningKey::generate().unwrap();
        let again = SigningKey::from_pem(key.to_pem()).unwrap();
        assert_eq!(key.kid(), again.kid());
        assert!(matches!(SigningKey::from_pem("not a key"), Err(TokenError::BadKey(_))));
    }
}
