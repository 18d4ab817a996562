//! The Web Push provider against the stand-in push service and browser
//! (`testkit::push::webpush`), which decrypts with http_ece, not with our code.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{collections::BTreeMap, time::Duration};

use notifier::{
    providers::{
        Outcome,
        webpush::{Subscription, WebPush},
    },
    push::Push,
};
use serde_json::Value;
use shared::webpush::vapid::VapidKey;
use testkit::push::{Received, webpush::WebPushReceiver};

const SUBJECT: &str = "mailto:ops@chat-suite.test";

fn subscription(json: &Value) -> Subscription {
    Subscription {
        endpoint: json["endpoint"].as_str().unwrap().to_owned(),
        p256dh: json["keys"]["p256dh"].as_str().unwrap().to_owned(),
        auth: json["keys"]["auth"].as_str().unwrap().to_owned(),
    }
}

fn push(title: &str, body: &str, collapse_key: Option<&str>) -> Push {
    Push {
        title: title.into(),
        body: body.into(),
        data: BTreeMap::from([
            ("event_type".to_owned(), "message.created".to_owned()),
            ("message_id".to_owned(), format!("m-{title}")),
        ]),
        collapse_key: collapse_key.map(str::to_owned),
        ttl: Duration::from_secs(3600),
    }
}

fn provider(key: VapidKey) -> WebPush {
    WebPush::new(key, SUBJECT.into(), None).unwrap()
}

#[tokio::test]
async fn pushes_reach_the_browser_decrypted() {
    let receiver = WebPushReceiver::start().await;
    let key = VapidKey::generate().unwrap();
    let json = receiver.subscribe_for(&key.public_key_b64url()).await;
    let device = WebPushReceiver::device(&json);
    let mut sub = subscription(&json);
    sub.auth.push_str("=="); // some browsers pad it
    let web = provider(key);

    let chat = "6f1c7a52-3a5e-4b8e-9d57-0e1f2a3b4c5d";
    assert_eq!(web.send(&sub, &push("one", "first ✓", None)).await, Outcome::Sent);
    assert_eq!(web.send(&sub, &push("two", "second", Some(chat))).await, Outcome::Sent);
    assert_eq!(web.send(&sub, &push("three", &"long ".repeat(1000), None)).await, Outcome::Sent);

    assert_eq!(receiver.refused().await, Vec::<String>::new());
    let received = receiver.received().await;
    let data = |title: &str| {
        BTreeMap::from([
            ("event_type".to_owned(), "message.created".to_owned()),
            ("message_id".to_owned(), format!("m-{title}")),
        ])
    };
    assert_eq!(received.len(), 3);
    assert_eq!(
        received[..2],
        [
            Received {
                device: device.clone(),
                title: "one".into(),
                body: "first ✓".into(),
                data: data("one"),
                collapse: None
            },
            Received {
                device: device.clone(),
                title: "two".into(),
                body: "second".into(),
                data: data("two"),
                collapse: Some(chat.into())
            },
        ]
    );
    assert_eq!(received[2].title, "three");
    assert!(received[2].body.starts_with("long long") && received[2].body.ends_with('…'), "cut to fit one message");
    assert_eq!(received[2].data, data("three"));

    let deliveries = receiver.deliveries().await;
    let headers: Vec<_> = deliveries.iter().map(|d| (d.topic.as_deref(), d.ttl, d.urgency.as_deref())).collect();
    assert_eq!(
        headers,
        [
            (None, 3600, Some("high")),
            (Some("6f1c7a523a5e4b8e9d570e1f2a3b4c5d"), 3600, Some("high")),
            (None, 3600, Some("high"))
        ]
    );
    assert_eq!(receiver.requests().await, 3);
}

#[tokio::test]
async fn a_key_other_than_the_subscription_s_is_refused_with_403() {
    let receiver = WebPushReceiver::start().await;
    let ours = VapidKey::generate().unwrap();
    let sub = subscription(&receiver.subscribe_for(&ours.public_key_b64url()).await);
    let other = provider(VapidKey::generate().unwrap());

    let outcome = other.send(&sub, &push("x", "y", None)).await;
    let Outcome::Rejected { reason } = outcome else { panic!("{outcome:?}") };
    assert!(reason.starts_with("push service answered 403 Forbidden: {"), "{reason}");
    assert!(reason.contains("k is not the key the subscription was made for"), "{reason}");
    assert_eq!(receiver.refused().await, ["403: k is not the key the subscription was made for"]);
    assert_eq!(receiver.received().await, []);
}

#[tokio::test]
async fn an_audience_of_another_origin_is_refused_with_401() {
    let receiver = WebPushReceiver::start().await;
    let mut sub = subscription(&receiver.subscribe().await);
    // Same server, another origin: the token's aud is http://localhost:PORT.
    sub.endpoint = sub.endpoint.replace("127.0.0.1", "localhost");
    let web = provider(VapidKey::generate().unwrap());

    let outcome = web.send(&sub, &push("x", "y", None)).await;
    let Outcome::Rejected { reason } = outcome else { panic!("{outcome:?}") };
    assert!(reason.starts_with("push service answered 401 Unauthorized: "), "{reason}");
    let port = receiver.url().rsplit(':').next().unwrap().to_owned();
    assert_eq!(
        receiver.refused().await,
        [format!("401: JWT aud is \"http://localhost:{port}\", not http://127.0.0.1:{port}")]
    );
}

/// The stand-in itself: a token signed by one key but claiming another as `k` is refused.
#[tokio::test]
async fn a_token_not_signed_by_its_k_is_refused_with_401() {
    let receiver = WebPushReceiver::start().await;
    let endpoint = receiver.subscribe().await["endpoint"].as_str().unwrap().to_owned();
    let signer = VapidKey::generate().unwrap();
    let claimed = VapidKey::generate().unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    let genuine = signer.authorization(&endpoint, SUBJECT, now).unwrap();
    let forged = genuine.replace(&signer.public_key_b64url(), &claimed.public_key_b64url());

    let response = shared::http_client::builder()
        .build()
        .unwrap()
        .post(&endpoint)
        .header("TTL", "60")
        .header("Content-Encoding", "aes128gcm")
        .header("Authorization", forged)
        .body(vec![0u8; 200])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body,
        serde_json::json!({"code": 401, "errno": 109, "error": "Unauthorized",
                           "message": "the JWT signature does not verify with k"})
    );
    assert_eq!(receiver.refused().await, ["401: the JWT signature does not verify with k"]);
}

#[tokio::test]
async fn a_forgotten_subscription_is_gone() {
    let receiver = WebPushReceiver::start().await;
    let json = receiver.subscribe().await;
    let sub = subscription(&json);
    let web = provider(VapidKey::generate().unwrap());
    receiver.forget_device(&WebPushReceiver::device(&json)).await;

    let outcome = web.send(&sub, &push("x", "y", None)).await;
    let Outcome::Gone { reason } = outcome else { panic!("{outcome:?}") };
    assert!(reason.starts_with("push service answered 410 Gone: "), "{reason}");
}

#[tokio::test]
async fn throttling_and_outages_are_retried() {
    let receiver = WebPushReceiver::start().await;
    let sub = subscription(&receiver.subscribe().await);
    let web = provider(VapidKey::generate().unwrap());

    receiver.respond_next(1, 429, Some(3)).await;
    let outcome = web.send(&sub, &push("x", "y", None)).await;
    let Outcome::Retry { after, reason } = outcome else { panic!("{outcome:?}") };
    assert_eq!(after, Some(Duration::from_secs(3)));
    assert!(reason.starts_with("push service answered 429 Too Many Requests"), "{reason}");

    receiver.set_down(true).await;
    let outcome = web.send(&sub, &push("x", "y", None)).await;
    assert!(matches!(outcome, Outcome::Retry { after: None, .. }), "{outcome:?}");
    receiver.set_down(false).await;

    receiver.respond_next(1, 413, None).await;
    assert!(matches!(web.send(&sub, &push("x", "y", None)).await, Outcome::Rejected { .. }));

    assert_eq!(web.send(&sub, &push("x", "y", None)).await, Outcome::Sent);
    assert_eq!(receiver.requests().await, 4);
    assert_eq!(receiver.refused().await, Vec::<String>::new());
}

#[tokio::test]
async fn an_unreachable_push_service_is_retried() {
    let receiver = WebPushReceiver::start().await;
    let mut sub = subscription(&receiver.subscribe().await);
    let port = receiver.url().rsplit(':').next().unwrap().to_owned();
    drop(receiver);
    sub.endpoint = sub.endpoint.replace(&format!(":{port}/"), ":1/");
    let web = provider(VapidKey::generate().unwrap());

    let outcome = web.send(&sub, &push("x", "y", None)).await;
    let Outcome::Retry { after: None, reason } = outcome else { panic!("{outcome:?}") };
    assert!(reason.starts_with("push service unreachable: "), "{reason}");
    assert!(!reason.contains("/push/"), "the endpoint's path stays out of logs: {reason}");
}

#[tokio::test]
async fn a_subscription_that_cannot_work_is_rejected_without_a_request() {
    let receiver = WebPushReceiver::start().await;
    let good = subscription(&receiver.subscribe().await);
    let web = provider(VapidKey::generate().unwrap());

    let bad_key = Subscription { p256dh: "BAAA".into(), ..good.clone() };
    let outcome = web.send(&bad_key, &push("x", "y", None)).await;
    assert!(matches!(&outcome, Outcome::Rejected { reason } if reason.starts_with("p256dh is not")), "{outcome:?}");

    let plain_http = Subscription { endpoint: "http://push.example.com/x".into(), ..good.clone() };
    assert!(matches!(web.send(&plain_http, &push("x", "y", None)).await, Outcome::Rejected { .. }));

    let mut huge = push("x", "y", None);
    huge.data.insert("blob".into(), "z".repeat(5000));
    let outcome = web.send(&good, &huge).await;
    assert!(matches!(&outcome, Outcome::Rejected { reason } if reason.contains("without its body")), "{outcome:?}");
    assert_eq!(receiver.requests().await, 0);
}
