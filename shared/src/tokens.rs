//! Access tokens: short-lived JWTs signed with Ed25519 (EdDSA). auth-api signs (its `tokens`
//! module); every service verifies with the algorithm pinned and `exp`, `iss` and `aud` required, choosing the key by
//! the token's `kid` from a key set (in-process in `chat-suite`, fetched from JWKS elsewhere).

use std::sync::Arc;

use jsonwebtoken::{Algorithm, Validation};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{
    config::TokenSettings,
    jwks::{JwksClient, JwksError, KeySet},
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
    /// Signing's only (auth-api's): verification never meets it.
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
    use std::time::Duration;

    use ed25519_dalek::pkcs8::EncodePrivateKey;
    use jsonwebtoken::{EncodingKey, Header};

    use super::*;
    use crate::jwks::PublicJwk;

    /// A key that signs as auth-api's `TokenIssuer` does, which lives in auth-api, out of reach
    /// of shared's own tests.
    struct SigningKey {
        encoding: EncodingKey,
        public: PublicJwk,
    }

    impl SigningKey {
        fn generate() -> Result<Self, getrandom::Error> {
            let mut seed = [0u8; 32];
            getrandom::fill(&mut seed)?;
            let key = ed25519_dalek::SigningKey::from_bytes(&seed);
            let der = key.to_pkcs8_der().unwrap();
            let public = PublicJwk::ed25519(&key.verifying_key().to_bytes());
            Ok(Self { encoding: EncodingKey::from_ed_der(der.as_bytes()), public })
        }

        fn public_jwk(&self) -> &PublicJwk {
            &self.public
        }
    }

    struct TokenIssuer {
        key: SigningKey,
        settings: TokenSettings,
        ttl: Duration,
    }

    impl TokenIssuer {
        fn new(key: SigningKey, settings: TokenSettings, ttl: Duration) -> Self {
            Self { key, settings, ttl }
        }

        fn issue(&self, user_id: Uuid, username: &str) -> Result<String, jsonwebtoken::errors::Error> {
            let now = chrono::Utc::now().timestamp();
            let claims = AccessClaims {
                sub: user_id,
                preferred_username: username.to_owned(),
                iss: self.settings.issuer.clone(),
                aud: self.settings.audience.clone(),
                iat: now,
                exp: now + self.ttl.as_secs() as i64,
                jti: Uuid::new_v4(),
            };
            let mut header = Header::new(Algorithm::EdDSA);
            header.kid = Some(self.key.public.kid.clone());
            jsonwebtoken::encode(&header, &claims, &self.key.encoding)
        }
    }

    fn settings() -> TokenSettings {
        TokenSettings { issuer: "chat-suite".into(), audience: "chat-suite".into() }
    }

    fn verifier_for(key: &SigningKey, settings: &TokenSettings) -> TokenVerifier {
        TokenVerifier::new(KeySource::Local(Arc::new(KeySet::new(vec![key.public_jwk().clone()]))), settings)
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
}
