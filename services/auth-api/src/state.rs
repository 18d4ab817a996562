//! What auth-api's handlers share, built once from the configuration.

use std::{net::IpAddr, sync::Arc, time::Duration};

use sea_orm::DatabaseConnection;
use shared::redis_conn::RedisConn;
use shared::{
    config::CommonConfig,
    jwks::{KeySet, PublicJwk},
    outbox::Wakeup,
    tokens::{KeySource, TokenVerifier},
    webpush::EndpointHosts,
};

use crate::{
    config::AuthSettings,
    passwords::Hasher,
    rate_limit::{PerMinute, RateLimits},
    refresh_tokens::RefreshTokens,
    tokens::{SigningKey, TokenIssuer},
};

pub struct AuthState {
    pub db: DatabaseConnection,
    pub hasher: Hasher,
    pub issuer: TokenIssuer,
    pub keys: Arc<KeySet>,
    pub refresh: RefreshTokens,
    pub limits: RateLimits,
    pub trusted_proxy_hops: usize,
    /// Poked after a commit that wrote outbox events, so the relay publishes them at once.
    pub outbox: Wakeup,
    /// Where browsers' Web Push endpoints may be.
    pub webpush_hosts: EndpointHosts,
    /// The VAPID key's public half, base64url; None without Web Push.
    pub vapid_public_key: Option<String>,
}

impl AuthState {
    pub fn build(
        common: &CommonConfig,
        auth: &AuthSettings,
        key: SigningKey,
        published: Vec<PublicJwk>,
        vapid_public_key: Option<String>,
        db: DatabaseConnection,
        redis: Option<&RedisConn>,
    ) -> anyhow::Result<Self> {
        let keys = Arc::new(KeySet::new(published));
        let hasher = Hasher::new(
            auth.argon2_memory_kib,
            auth.argon2_iterations,
            auth.argon2_parallelism,
            auth.password_hash_queue as usize,
        )?;
        Ok(Self {
            db,
            hasher,
            issuer: TokenIssuer::new(key, common.tokens.clone(), Duration::from_secs(auth.access_token_ttl_seconds)),
            keys,
            refresh: RefreshTokens::new(
                Duration::from_secs(auth.refresh_token_ttl_seconds),
                Duration::from_secs(auth.refresh_reuse_grace_seconds),
            ),
            limits: RateLimits::new(
                PerMinute {
                    ip: auth.rate_limit_per_ip_per_minute,
                    username_and_ip: auth.rate_limit_per_username_and_ip_per_minute,
                    username: auth.rate_limit_per_username_per_minute,
                },
                redis,
            ),
            trusted_proxy_hops: common.trusted_proxy_hops,
            outbox: Wakeup::default(),
            webpush_hosts: auth.webpush.webpush_endpoint_hosts.clone(),
            vapid_public_key,
        })
    }

    /// A verifier of this process's own tokens, with the keys in memory.
    pub fn verifier(&self, common: &CommonConfig) -> TokenVerifier {
        TokenVerifier::new(KeySource::Local(self.keys.clone()), &common.tokens)
    }
}

/// The rate-limit key of a client address ("unknown" when the peer has none, e.g. a socket).
pub fn ip_key(ip: Option<IpAddr>) -> String {
    ip.map_or_else(|| "unknown".to_owned(), |ip| ip.to_string())
}
