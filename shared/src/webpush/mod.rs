//! Web Push settings two services read: auth-api publishes the VAPID key's public half and
//! checks the endpoints browsers register, the notifier signs with the key and pushes to
//! those endpoints. `chat-suite` reads them once for both.

mod endpoint;
pub mod vapid;

use std::path::PathBuf;

pub use self::endpoint::{DEFAULT_HOSTS, EndpointHosts, MAX_ENDPOINT_CHARS};
use self::{endpoint::parse_hosts, vapid::VapidKey};
use crate::config::ConfigError;

#[derive(Debug, Clone, clap::Args)]
pub struct WebPushSettings {
    /// The VAPID key (RFC 8292) of Web Push: a P-256 private key, PEM (PKCS#8 or SEC1, as
    /// `openssl ecparam -name prime256v1 -genkey` writes). Unset: no Web Push.
    #[arg(long, env = "VAPID_PRIVATE_KEY_FILE")]
    pub vapid_private_key_file: Option<PathBuf>,

    /// Hosts that Web Push endpoints may be on (each with its subdomains), comma separated:
    /// browsers' push services. An endpoint elsewhere is refused when registered.
    #[arg(long, env = "WEBPUSH_ENDPOINT_HOSTS", default_value = DEFAULT_HOSTS, value_parser = parse_hosts)]
    pub webpush_endpoint_hosts: EndpointHosts,
}

impl WebPushSettings {
    /// The VAPID key, read once; a key that cannot be read is a configuration error.
    pub fn vapid_key(&self) -> Result<Option<VapidKey>, ConfigError> {
        let Some(path) = &self.vapid_private_key_file else { return Ok(None) };
        VapidKey::load(path).map(Some).map_err(|why| ConfigError::new("VAPID_PRIVATE_KEY_FILE", why))
    }
}
