//! The APNs provider against the APNs stand-in: what arrives, what Apple's answers become,
//! and how the provider token is kept.
#![allow(clippy::unwrap_used)] // helpers outside #[test] fns, which clippy.toml covers

use std::{collections::BTreeMap, path::Path, sync::Arc, time::Duration};

use notifier::{
    providers::{
        Outcome,
        apns::{Apns, ApnsSettings, Clock},
    },
    push::Push,
};
use testkit::push::{
    Received,
    apns::{ApnsStandIn, new_signing_key_pem},
};

const MINUTE: i64 = 60;

/// A device token of the shape Apple issues: 32 bytes in hex.
fn device(n: u8) -> String {
    format!("{n:02x}").repeat(32)
}

fn push(title: &str) -> Push {
    Push {
        title: title.to_owned(),
        body: "see you at 6".to_owned(),
        data: BTreeMap::from([
            ("event_type".to_owned(), "message.created".to_owned()),
            ("chat_id".to_owned(), "chat-1".to_owned()),
        ]),
        collapse_key: Some("chat-1".to_owned()),
        ttl: Duration::from_secs(3600),
    }
}

/// The notifier's settings for `stand_in`, signing with `key_pem` (written to `dir`).
fn settings(stand_in: &ApnsStandIn, key_pem: &str, dir: &Path) -> ApnsSettings {
    let key_file = dir.join("AuthKey.p8");
    std::fs::write(&key_file, key_pem).unwrap();
    ApnsSettings {
        key_file,
        key_id: stand_in.key_id().to_owned(),
        team_id: stand_in.team_id().to_owned(),
        topic: stand_in.topic().to_owned(),
        url: stand_in.url(),
    }
}

fn apns(stand_in: &ApnsStandIn, dir: &Path, clock: &Clock) -> Apns {
    let settings = settings(stand_in, stand_in.key_pem(), dir);
    Apns::with_clock(&settings, Some(stand_in.ca_pem().as_bytes()), clock.clone()).unwrap()
}

#[tokio::test]
async fn a_push_arrives_with_its_title_body_data_and_collapse_id() {
    let stand_in = ApnsStandIn::start().await;
    let dir = tempfile::tempdir().unwrap();
    let apns =
        Apns::new(&settings(&stand_in, stand_in.key_pem(), dir.path()), Some(stand_in.ca_pem().as_bytes())).unwrap();

    assert_eq!(apns.send(&device(1), &push("alice")).await, Outcome::Sent);

    assert_eq!(
        stand_in.received(),
        vec![Received {
            device: device(1),
            title: "alice".to_owned(),
            body: "see you at 6".to_owned(),
            data: BTreeMap::from([
                ("event_type".to_owned(), "message.created".to_owned()),
                ("chat_id".to_owned(), "chat-1".to_owned()),
            ]),
            collapse: Some("chat-1".to_owned()),
        }]
    );
    assert_eq!(stand_in.refused(), Vec::<String>::new());
}

#[tokio::test]
async fn a_token_signed_by_another_key_is_refused_after_one_renewal() {
    let stand_in = ApnsStandIn::start().await;
    let dir = tempfile::tempdir().unwrap();
    let settings = settings(&stand_in, &new_signing_key_pem(), dir.path());
    let apns = Apns::new(&settings, Some(stand_in.ca_pem().as_bytes())).unwrap();

    let outcome = apns.send(&device(1), &push("alice")).await;

    assert_eq!(outcome, Outcome::Rejected { reason: "InvalidProviderToken".to_owned() });
    assert_eq!(stand_in.requests(), 2);
    let refused = stand_in.refused();
    assert_eq!(refused.len(), 2, "{refused:?}");
    assert!(refused.iter().all(|why| why.starts_with("InvalidProviderToken: does not verify")), "{refused:?}");
    assert!(stand_in.received().is_empty());
}

#[tokio::test]
async fn a_forgotten_device_is_gone() {
    let stand_in = ApnsStandIn::start().await;
    let dir = tempfile::tempdir().unwrap();
    let apns = apns(&stand_in, dir.path(), &Clock::system());
    stand_in.forget_device(&device(1));

    assert_eq!(apns.send(&device(1), &push("alice")).await, Outcome::Gone { reason: "Unregistered".to_owned() });
    assert_eq!(apns.send(&device(2), &push("alice")).await, Outcome::Sent);
}

#[tokio::test]
async fn too_many_requests_is_retried_after_the_time_apns_gives() {
    let stand_in = ApnsStandIn::start().await;
    let dir = tempfile::tempdir().unwrap();
    let apns = apns(&stand_in, dir.path(), &Clock::system());
    stand_in.respond_next(1, 429, Some(2));

    assert_eq!(
        apns.send(&device(1), &push("alice")).await,
        Outcome::Retry { after: Some(Duration::from_secs(2)), reason: "TooManyRequests".to_owned() }
    );
    assert_eq!(apns.send(&device(1), &push("alice")).await, Outcome::Sent);
}

#[tokio::test]
async fn while_apns_is_down_sends_are_retried() {
    let stand_in = ApnsStandIn::start().await;
    let dir = tempfile::tempdir().unwrap();
    let apns = apns(&stand_in, dir.path(), &Clock::system());

    stand_in.set_down(true);
    assert_eq!(
        apns.send(&device(1), &push("alice")).await,
        Outcome::Retry { after: None, reason: "ServiceUnavailable".to_owned() }
    );
    stand_in.set_down(false);
    assert_eq!(apns.send(&device(1), &push("alice")).await, Outcome::Sent);
}

#[tokio::test]
async fn another_bad_request_is_rejected_with_apples_reason() {
    let stand_in = ApnsStandIn::start().await;
    let dir = tempfile::tempdir().unwrap();
    let apns = apns(&stand_in, dir.path(), &Clock::system());
    stand_in.respond_next(1, 400, None);

    assert_eq!(apns.send(&device(1), &push("alice")).await, Outcome::Rejected { reason: "BadMessageId".to_owned() });
}

#[tokio::test]
async fn a_topic_apns_does_not_allow_is_rejected() {
    let stand_in = ApnsStandIn::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut settings = settings(&stand_in, stand_in.key_pem(), dir.path());
    settings.topic = "com.example.other".to_owned();
    let apns = Apns::new(&settings, Some(stand_in.ca_pem().as_bytes())).unwrap();

    assert_eq!(apns.send(&device(1), &push("alice")).await, Outcome::Rejected { reason: "TopicDisallowed".to_owned() });
    assert_eq!(stand_in.refused(), vec!["TopicDisallowed: topic \"com.example.other\", not com.example.chatsuite"]);
}

#[tokio::test]
async fn what_apns_would_refuse_is_rejected_without_a_request() {
    let stand_in = ApnsStandIn::start().await;
    let dir = tempfile::tempdir().unwrap();
    let apns = apns(&stand_in, dir.path(), &Clock::system());
    let mut too_large = push("alice");
    too_large.body = "x".repeat(4096);
    let mut long_collapse_key = push("alice");
    long_collapse_key.collapse_key = Some("c".repeat(65));

    assert_eq!(
        apns.send("abc", &push("alice")).await,
        Outcome::Rejected { reason: "not an APNs device token (64 or more hex digits)".to_owned() }
    );
    assert!(
        matches!(apns.send(&device(1), &too_large).await, Outcome::Rejected { reason } if reason.contains("over APNs' 4096"))
    );
    assert_eq!(
        apns.send(&device(1), &long_collapse_key).await,
        Outcome::Rejected { reason: "collapse key longer than APNs' 64 bytes".to_owned() }
    );
    assert_eq!(stand_in.requests(), 0);
}

#[tokio::test]
async fn the_provider_token_is_reused_for_40_minutes_and_never_renewed_before_20() {
    let stand_in = ApnsStandIn::start().await;
    let dir = tempfile::tempdir().unwrap();
    // Tokens dated in the past, so that 40 minutes later is not in the stand-in's future.
    let clock = Clock::system();
    clock.set_offset(-45 * MINUTE);
    let apns = apns(&stand_in, dir.path(), &clock);

    assert_eq!(apns.send(&device(1), &push("1")).await, Outcome::Sent);
    clock.set_offset(-26 * MINUTE);
    assert_eq!(apns.send(&device(1), &push("2")).await, Outcome::Sent);
    clock.set_offset(-45 * MINUTE + 39 * MINUTE);
    assert_eq!(apns.send(&device(1), &push("3")).await, Outcome::Sent);
    assert_eq!(stand_in.provider_tokens_seen(), 1);

    clock.set_offset(-45 * MINUTE + 40 * MINUTE);
    assert_eq!(apns.send(&device(1), &push("4")).await, Outcome::Sent);
    assert_eq!(apns.send(&device(1), &push("5")).await, Outcome::Sent);
    assert_eq!(stand_in.provider_tokens_seen(), 2);
    assert_eq!(stand_in.refused(), Vec::<String>::new());
}

#[tokio::test]
async fn an_expired_provider_token_is_renewed_and_the_push_sent_once_more() {
    let stand_in = ApnsStandIn::start().await;
    let dir = tempfile::tempdir().unwrap();
    let clock = Clock::system();
    clock.set_offset(-30 * MINUTE);
    let apns = apns(&stand_in, dir.path(), &clock);
    assert_eq!(apns.send(&device(1), &push("1")).await, Outcome::Sent);

    // 25 minutes on, the token is young by our clock, but APNs calls it expired.
    clock.set_offset(-5 * MINUTE);
    stand_in.respond_next(1, 403, None);
    assert_eq!(apns.send(&device(1), &push("2")).await, Outcome::Sent);

    assert_eq!(stand_in.requests(), 3);
    assert_eq!(stand_in.provider_tokens_seen(), 2);
    assert_eq!(stand_in.received().len(), 2);
}

#[tokio::test]
async fn the_stand_in_refuses_a_second_token_within_20_minutes_on_one_connection_as_apns_does() {
    let stand_in = ApnsStandIn::start().await;
    let dir = tempfile::tempdir().unwrap();
    let clock = Clock::system();
    clock.set_offset(-30 * MINUTE);
    let client = apns(&stand_in, dir.path(), &clock);
    assert_eq!(client.send(&device(1), &push("1")).await, Outcome::Sent);

    // Fifteen minutes on, APNs calls the token expired: the client makes a new one, on the
    // same connection, which APNs refuses as too soon after the first.
    clock.set_offset(-15 * MINUTE);
    stand_in.respond_next(1, 403, None);
    assert_eq!(
        client.send(&device(1), &push("2")).await,
        Outcome::Retry { after: None, reason: "TooManyProviderTokenUpdates".to_owned() }
    );
    assert_eq!(stand_in.provider_tokens_seen(), 1);
}

/// Two servers (two notifier replicas) each hold a token of their own, minutes apart.
#[tokio::test]
async fn each_connection_has_a_token_of_its_own() {
    let stand_in = ApnsStandIn::start().await;
    let dir = tempfile::tempdir().unwrap();
    let (earlier, later) = (Clock::system(), Clock::system());
    earlier.set_offset(-30 * MINUTE);
    later.set_offset(-11 * MINUTE);
    let first = apns(&stand_in, dir.path(), &earlier);
    let second = apns(&stand_in, dir.path(), &later);
    assert_eq!(first.send(&device(1), &push("1")).await, Outcome::Sent);
    assert_eq!(second.send(&device(1), &push("2")).await, Outcome::Sent);
    assert_eq!((stand_in.provider_tokens_seen(), stand_in.connections()), (2, 2));
}

#[tokio::test]
async fn an_http1_only_client_is_refused() {
    let stand_in = ApnsStandIn::start().await;
    let ca = reqwest::Certificate::from_pem(stand_in.ca_pem().as_bytes()).unwrap();
    let client = shared::http_client::builder().http1_only().tls_certs_merge([ca]).build().unwrap();

    let sent = client.post(format!("{}/3/device/{}", stand_in.url(), device(1))).body("{}").send().await;

    assert!(sent.is_err(), "{sent:?}");
    assert_eq!(stand_in.requests(), 0);
    let refused = stand_in.refused();
    assert!(refused.iter().any(|why| why.contains("TLS handshake")), "{refused:?}");
}

#[tokio::test]
async fn fifty_concurrent_sends_share_one_http2_connection() {
    let stand_in = ApnsStandIn::start().await;
    let dir = tempfile::tempdir().unwrap();
    let apns = Arc::new(apns(&stand_in, dir.path(), &Clock::system()));

    let sends: Vec<_> = (0..50)
        .map(|n| {
            let apns = apns.clone();
            tokio::spawn(async move { apns.send(&device(n), &push(&n.to_string())).await })
        })
        .collect();
    for send in sends {
        assert_eq!(send.await.unwrap(), Outcome::Sent);
    }

    let mut devices: Vec<_> = stand_in.received().into_iter().map(|received| received.device).collect();
    devices.sort();
    assert_eq!(devices, (0..50).map(device).collect::<Vec<_>>());
    assert_eq!(stand_in.connections(), 1);
    assert_eq!(stand_in.provider_tokens_seen(), 1);
}

#[tokio::test]
async fn bad_settings_say_which_variable_and_why() {
    let stand_in = ApnsStandIn::start().await;
    let dir = tempfile::tempdir().unwrap();
    let good = settings(&stand_in, stand_in.key_pem(), dir.path());
    let error = |settings: &ApnsSettings, ca: Option<&[u8]>| Apns::new(settings, ca).unwrap_err().to_string();

    let missing = ApnsSettings { key_file: dir.path().join("missing.p8"), ..good.clone() };
    assert_eq!(
        error(&missing, None),
        format!("APNS_KEY_FILE: cannot read {}: No such file or directory (os error 2)", missing.key_file.display())
    );
    let p384 = dir.path().join("p384.p8");
    std::fs::write(&p384, rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384).unwrap().serialize_pem())
        .unwrap();
    let not_p256 = ApnsSettings { key_file: p384.clone(), ..good.clone() };
    assert!(
        error(&not_p256, None)
            .starts_with(&format!("APNS_KEY_FILE: {} is not a P-256 private key in PKCS#8 PEM", p384.display())),
        "{}",
        error(&not_p256, None)
    );
    let key_id = ApnsSettings { key_id: "ABC".to_owned(), ..good.clone() };
    assert_eq!(error(&key_id, None), "APNS_KEY_ID: expected Apple's 10-character id (letters and digits), got \"ABC\"");
    let team_id = ApnsSettings { team_id: "TEAM-00001".to_owned(), ..good.clone() };
    assert_eq!(
        error(&team_id, None),
        "APNS_TEAM_ID: expected Apple's 10-character id (letters and digits), got \"TEAM-00001\""
    );
    let topic = ApnsSettings { topic: String::new(), ..good.clone() };
    assert_eq!(error(&topic, None), "APNS_TOPIC: expected the app's bundle id (like com.example.chat), got \"\"");
    let url = ApnsSettings { url: "http://api.push.apple.com".to_owned(), ..good.clone() };
    assert_eq!(error(&url, None), "APNS_URL: expected https://host[:port], got \"http://api.push.apple.com\"");
    assert_eq!(error(&good, Some(b"not a certificate")), "PUSH_CA_FILE: no certificate in it");
}
