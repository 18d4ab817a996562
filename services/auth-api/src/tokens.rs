//! Signing access tokens, which only auth-api does: the Ed25519 key it signs with, the public
//! keys it publishes, and the issuer. Verifying them is every service's, in `shared::tokens`.

use std::time::Duration;

use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey, spki::der::pem::LineEnding};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use shared::{
    config::TokenSettings,
    jwks::PublicJwk,
    tokens::{AccessClaims, TokenError},
};
use uuid::Uuid;

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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use shared::{
        jwks::KeySet,
        tokens::{KeySource, TokenVerifier},
    };

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
