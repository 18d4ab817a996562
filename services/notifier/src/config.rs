//! The notifier's settings: the common ones, the Kafka topic it consumes, and each provider's.
//! `NotifierSettings` is flattened into `chat-suite`'s command line too, which reads the Kafka
//! and Web Push settings once for every service it runs.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use clap::{Parser, ValueEnum};
use shared::{
    config::{CommonConfig, ConfigError, ServiceCommand},
    kafka::KafkaSettings,
    webpush::WebPushSettings,
};

#[derive(Debug, Parser)]
#[command(
    name = "notifier",
    version,
    about = "chat-suite push notifications: Kafka events to FCM, APNs and Web Push",
    args_override_self = true
)]
pub struct Cli {
    /// host:port to bind (health, readiness, metrics).
    #[arg(long, env = "LISTEN_ADDR", default_value = "0.0.0.0:8084")]
    pub listen_addr: SocketAddr,

    #[command(flatten)]
    pub common: CommonConfig,

    #[command(flatten)]
    pub kafka: KafkaSettings,

    #[command(flatten)]
    pub webpush: WebPushSettings,

    #[command(flatten)]
    pub notifier: NotifierSettings,

    #[command(subcommand)]
    pub command: Option<ServiceCommand>,
}

#[derive(Debug, Clone, clap::Args)]
pub struct NotifierSettings {
    /// The Kafka consumer group the notifier's replicas share the topic's partitions in.
    #[arg(long, env = "NOTIFIER_GROUP_ID", default_value = "chat-suite-notifier")]
    pub notifier_group_id: String,

    /// This replica's lasting name in the group (Kafka's static membership, `group.instance.id`):
    /// a replica that restarts under the same name (a StatefulSet's pod) takes its partitions
    /// back at once, instead of after the broker gives up on the old one. Unset: dynamic
    /// membership.
    #[arg(long, env = "NOTIFIER_INSTANCE_ID")]
    pub notifier_instance_id: Option<String>,

    /// A Google service-account JSON key (`project_id`, `client_email`, `private_key`,
    /// `token_uri`) allowed to send with Firebase Cloud Messaging. Unset: no FCM.
    #[arg(long, env = "FCM_SERVICE_ACCOUNT_FILE")]
    pub fcm_service_account_file: Option<PathBuf>,

    /// FCM's API root; messages go to `{FCM_API_URL}/v1/projects/{project_id}/messages:send`.
    #[arg(long, env = "FCM_API_URL", default_value = "https://fcm.googleapis.com", value_parser = shared::config::parse_http_url)]
    pub fcm_api_url: String,

    /// The APNs auth key (`AuthKey_XXXXXXXXXX.p8`, a P-256 key, PKCS#8 PEM). Unset: no APNs.
    #[arg(long, env = "APNS_KEY_FILE")]
    pub apns_key_file: Option<PathBuf>,

    /// The APNs key's id (10 characters, from the developer account).
    #[arg(long, env = "APNS_KEY_ID")]
    pub apns_key_id: Option<String>,

    /// The Apple developer team id (10 characters).
    #[arg(long, env = "APNS_TEAM_ID")]
    pub apns_team_id: Option<String>,

    /// The app's bundle id, the `apns-topic` of every push.
    #[arg(long, env = "APNS_TOPIC")]
    pub apns_topic: Option<String>,

    /// APNs' HTTP/2 server: production by default, `https://api.sandbox.push.apple.com` for
    /// development builds of the app.
    #[arg(long, env = "APNS_URL", default_value = "https://api.push.apple.com", value_parser = shared::config::parse_http_url)]
    pub apns_url: String,

    /// Who runs this server, for browsers' push services (RFC 8292): a `mailto:` or `https:`
    /// URI. Needed with VAPID_PRIVATE_KEY_FILE.
    #[arg(long, env = "VAPID_SUBJECT", value_parser = parse_vapid_subject)]
    pub vapid_subject: Option<String>,

    /// `full`: the sender and the text in the notification; `none`: a generic text, ids in
    /// the data only, for who keeps message text off third-party servers.
    #[arg(long, env = "PUSH_PREVIEW", value_enum, default_value_t = Preview::Full)]
    pub push_preview: Preview,

    /// How long a push stays worth delivering, in seconds: what providers are told to keep
    /// it for an offline device, how long a failing push is retried, and how old an event
    /// may be and still push.
    #[arg(long, env = "PUSH_TTL_SECONDS", default_value_t = 86_400, value_parser = clap::value_parser!(u64).range(60..=2_419_200))]
    pub push_ttl_seconds: u64,

    /// A PEM bundle of CAs trusted besides the system's for the providers' servers (a
    /// company proxy, a test stand-in). Unset: the system's roots only.
    #[arg(long, env = "PUSH_CA_FILE")]
    pub push_ca_file: Option<PathBuf>,

    /// How long a replica holds the pushes it is sending; a replica that dies holding some
    /// leaves them to another after this long.
    #[arg(long, env = "NOTIFIER_LEASE_SECONDS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(5..=3600))]
    pub notifier_lease_seconds: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Preview {
    Full,
    None,
}

impl NotifierSettings {
    pub fn ttl(&self) -> Duration {
        Duration::from_secs(self.push_ttl_seconds)
    }

    pub fn lease(&self) -> Duration {
        Duration::from_secs(self.notifier_lease_seconds)
    }

    /// Whether any provider is configured: `chat-suite` runs a notifier only then.
    pub fn any_provider(&self, webpush: &WebPushSettings) -> bool {
        self.fcm_service_account_file.is_some()
            || self.apns_key_file.is_some()
            || webpush.vapid_private_key_file.is_some()
    }

    /// What clap cannot say of the settings together, in the one line of a configuration error.
    pub fn validate(&self, webpush: &WebPushSettings) -> Result<(), ConfigError> {
        if self.apns_key_file.is_some() {
            let needed = [
                ("APNS_KEY_ID", &self.apns_key_id),
                ("APNS_TEAM_ID", &self.apns_team_id),
                ("APNS_TOPIC", &self.apns_topic),
            ];
            if let Some((variable, _)) = needed.iter().find(|(_, value)| value.is_none()) {
                return Err(ConfigError::new(
                    variable,
                    "required with APNS_KEY_FILE (the key's id, the team id, the app's bundle id)",
                ));
            }
        }
        if webpush.vapid_private_key_file.is_some() && self.vapid_subject.is_none() {
            return Err(ConfigError::new(
                "VAPID_SUBJECT",
                "required with VAPID_PRIVATE_KEY_FILE: a mailto: or https: contact push services can reach",
            ));
        }
        Ok(())
    }
}

fn parse_vapid_subject(raw: &str) -> Result<String, String> {
    shared::webpush::vapid::check_subject(raw).map(|()| raw.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_vapid_subject_is_a_contact() {
        assert!(parse_vapid_subject("mailto:ops@example.com").is_ok());
        assert!(parse_vapid_subject("https://example.com/contact").is_ok());
        for bad in ["", "ops@example.com", "mailto:", "http://example.com", "mailto:a b"] {
            assert!(parse_vapid_subject(bad).is_err(), "{bad:?}");
        }
    }
}
