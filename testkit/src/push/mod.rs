//! Stand-ins for the push providers, which tests cannot reach: each speaks its provider's
//! protocol and checks what the real one checks (FCM's OAuth assertion and bearer token,
//! APNs' HTTP/2, TLS and ES256 provider token, Web Push's VAPID signature and encryption,
//! decrypted by an independent implementation), answers as it answers, and records what it
//! accepted.

pub mod apns;
pub mod fcm;
pub mod webpush;

use std::collections::BTreeMap;

/// A push a stand-in accepted, as the device would show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    /// The device token (FCM, APNs) or the subscription's id (Web Push).
    pub device: String,
    pub title: String,
    pub body: String,
    /// The push's data, as strings.
    pub data: BTreeMap<String, String>,
    /// What collapses a chat's pushes into one banner: FCM's tag, APNs' `apns-collapse-id`,
    /// Web Push's `tag`.
    pub collapse: Option<String>,
}
