//! The push providers, each a client of its protocol (`fcm.rs`, `apns.rs`, `webpush.rs`), and
//! what any of them answers about one push (`Outcome`). `Providers` holds the configured ones
//! and sends a push to a device by its platform.

pub mod apns;
mod apns_token;
mod ece;
pub mod fcm;
pub mod fcm_auth;
pub mod webpush;

use std::time::Duration;

use chrono::Utc;
use reqwest::header::{HeaderMap, RETRY_AFTER};
use shared::{
    entities::devices::{self, Platform},
    webpush::EndpointHosts,
};

use crate::push::Push;

/// What a provider answered about one push to one device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The provider accepted it.
    Sent,
    /// The provider says the device is gone for good: it is deleted.
    Gone { reason: String },
    /// Try again later: 429, 5xx, a connection error, a timeout; `after` from Retry-After.
    Retry { after: Option<Duration>, reason: String },
    /// Never going to work for this push (a bad request, a payload too large): dropped.
    Rejected { reason: String },
}

impl Outcome {
    /// The metric label.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Sent => "sent",
            Self::Gone { .. } => "gone",
            Self::Retry { .. } => "retry",
            Self::Rejected { .. } => "rejected",
        }
    }
}

/// Retry-After as seconds or an HTTP-date (RFC 9110 §10.2.3); None when absent or unreadable.
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    Some((at.with_timezone(&Utc) - Utc::now()).to_std().unwrap_or(Duration::ZERO))
}

/// The configured providers.
#[derive(Default)]
pub struct Providers {
    pub fcm: Option<fcm::Fcm>,
    pub apns: Option<apns::Apns>,
    pub webpush: Option<webpush::WebPush>,
    /// Where Web Push endpoints may be: checked again here, not only when auth-api took the
    /// subscription, since the list may have narrowed since.
    pub webpush_hosts: EndpointHosts,
}

impl Providers {
    /// Whether a device of `platform` can be reached here.
    pub fn serves(&self, platform: Platform) -> bool {
        match platform {
            Platform::Fcm => self.fcm.is_some(),
            Platform::Apns => self.apns.is_some(),
            Platform::Webpush => self.webpush.is_some(),
        }
    }

    /// Sends `push` to `device` through its platform's provider.
    pub async fn send(&self, device: &devices::Model, push: &Push) -> Outcome {
        let unserved = || Outcome::Rejected { reason: format!("no {} provider configured", device.platform.as_str()) };
        match device.platform {
            Platform::Fcm => match &self.fcm {
                Some(fcm) => fcm.send(&device.token, push).await,
                None => unserved(),
            },
            Platform::Apns => match &self.apns {
                Some(apns) => apns.send(&device.token, push).await,
                None => unserved(),
            },
            Platform::Webpush if let Err(why) = self.webpush_hosts.check(&device.token) => {
                // Kept, not deleted: a list narrowed by mistake must not cost every subscription.
                Outcome::Rejected { reason: format!("endpoint refused: {why}") }
            }
            Platform::Webpush => match (&self.webpush, subscription(device)) {
                (Some(webpush), Some(subscription)) => webpush.send(&subscription, push).await,
                (Some(_), None) => Outcome::Gone { reason: "a webpush device without its keys".into() },
                (None, _) => unserved(),
            },
        }
    }
}

/// A webpush device's subscription; None when its keys are missing.
fn subscription(device: &devices::Model) -> Option<webpush::Subscription> {
    Some(webpush::Subscription {
        endpoint: device.token.clone(),
        p256dh: device.p256dh.clone()?,
        auth: device.auth.clone()?,
    })
}

#[cfg(test)]
mod tests {
    use reqwest::header::HeaderValue;

    use super::*;

    #[test]
    fn retry_after_is_seconds_or_a_date() {
        let mut headers = HeaderMap::new();
        assert_eq!(retry_after(&headers), None);
        headers.insert(RETRY_AFTER, HeaderValue::from_static("7"));
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(7)));
        headers.insert(RETRY_AFTER, HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"));
        assert_eq!(retry_after(&headers), Some(Duration::ZERO), "a date in the past: at once");
        let soon = (Utc::now() + chrono::Duration::seconds(120)).to_rfc2822();
        headers.insert(RETRY_AFTER, HeaderValue::from_str(&soon).unwrap());
        let wait = retry_after(&headers).unwrap();
        assert!(wait > Duration::from_secs(100) && wait <= Duration::from_secs(120), "{wait:?}");
        headers.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&headers), None);
    }
}
