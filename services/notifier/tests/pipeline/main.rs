//! The notifier end to end: events written to the outbox, relayed to a real broker, consumed
//! by notifier processes, pushed to the providers' stand-ins. Each event reaches each device
//! of its recipient once, whatever fails on the way.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod helpers;

use std::{collections::HashSet, time::Duration};

use serde_json::json;
use uuid::Uuid;

use crate::helpers::{PATIENCE, Pipeline, eventually};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_offline_recipient_gets_one_push_on_each_device() {
    let pipeline = Pipeline::start().await;
    let _notifier = pipeline.spawn_notifier().await;
    let (alice, bob, carol) = (pipeline.user("alice").await, pipeline.user("bob").await, pipeline.user("carol").await);
    let devices = pipeline.devices(&bob).await;
    let chat = Uuid::new_v4();
    let event = pipeline.message(&alice, &bob, chat, 1, "see you at 6").await;
    // Carol has no device: her event pushes nothing.
    pipeline.message(&alice, &carol, Uuid::new_v4(), 1, "hello").await;

    let received = pipeline.await_pushes(3).await;
    assert_eq!(received.len(), 3, "{received:?}");
    for device in [&devices.fcm, &devices.apns, &devices.webpush] {
        let pushes = &received[device.as_str()];
        assert_eq!(pushes.len(), 1, "{device}: {pushes:?}");
        let push = &pushes[0];
        assert_eq!(push.title, format!("New message from: {}", alice.name));
        assert_eq!(push.body, "see you at 6");
        assert_eq!(push.data["event_type"], "message.created");
        assert_eq!(push.data["event_id"], event.to_string());
        assert_eq!(push.data["chat_id"], chat.to_string());
        assert_eq!(push.data["message_id"], "1");
    }
    assert_eq!(received[&devices.fcm][0].collapse.as_deref(), Some(chat.to_string().as_str()));
    assert_eq!(received[&devices.apns][0].collapse.as_deref(), Some(chat.to_string().as_str()));
    assert!(pipeline.fcm.refused().is_empty() && pipeline.apns.refused().is_empty());
    assert!(pipeline.webpush.refused().await.is_empty());
    assert_eq!(pipeline.deliveries().await, [("sent".to_owned(), 3)].into());
}

/// The welcome of the original service reaches the device given at registration.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_account_is_welcomed_on_the_device_it_registered_with() {
    let pipeline = Pipeline::start().await;
    let _notifier = pipeline.spawn_notifier().await;
    let name = testkit::unique_name("dana");
    let resp = testkit::read(pipeline.client.post(format!("{}/register", pipeline.auth.address)).json(&json!({
        "username": name, "password": testkit::auth::PASSWORD, "email": format!("{name}@example.com"),
        "fcm_token": "phone-of-dana",
    })))
    .await;
    assert_eq!(resp.status, 201, "{}", resp.body);
    let received = pipeline.await_pushes(1).await;
    let push = &received["phone-of-dana"][0];
    assert_eq!(
        (push.title.as_str(), push.body.as_str()),
        (format!("Welcome to chat application: {name}").as_str(), "Good to see you!")
    );
    assert_eq!(push.data["event_type"], "user.registered");
    assert_eq!(push.collapse, None);
}

/// Twenty messages of one chat waiting for a phone are one banner, not twenty.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_one_chat_collapses() {
    let pipeline = Pipeline::start().await;
    let (alice, bob) = (pipeline.user("alice").await, pipeline.user("bob").await);
    let devices = pipeline.devices(&bob).await;
    let chat = Uuid::new_v4();
    for i in 1..=20 {
        pipeline.message(&alice, &bob, chat, i, &format!("line {i}")).await;
    }
    // All twenty are on the topic before a notifier reads any.
    let relayed = eventually(PATIENCE, || async { pipeline.relayed().await >= 20 }).await;
    assert!(relayed, "the relay published {} events", pipeline.relayed().await);
    let _notifier = pipeline.spawn_notifier().await;
    let settled = eventually(PATIENCE, || async {
        let states = pipeline.deliveries().await;
        states.get("sent").copied().unwrap_or(0) + states.get("collapsed").copied().unwrap_or(0) == 60
    })
    .await;
    assert!(settled, "{:?}", pipeline.deliveries().await);
    let received = pipeline.received().await;
    for device in [&devices.fcm, &devices.apns, &devices.webpush] {
        let pushes = &received[device.as_str()];
        assert!(pushes.len() <= 2, "{device}: {} pushes for one chat's burst", pushes.len());
        let last = pushes.last().unwrap();
        assert_eq!(last.data["message_id"], "20");
        assert!(last.body.starts_with("line 20"), "{}", last.body);
    }
}

/// A device the provider says is gone is forgotten; the others keep getting pushes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_the_provider_says_is_gone_is_deleted() {
    let pipeline = Pipeline::start().await;
    let _notifier = pipeline.spawn_notifier().await;
    let (alice, bob) = (pipeline.user("alice").await, pipeline.user("bob").await);
    let devices = pipeline.devices(&bob).await;
    pipeline.fcm.forget_device(&devices.fcm);
    pipeline.apns.forget_device(&devices.apns);
    pipeline.webpush.forget_device(&devices.webpush).await;
    pipeline.message(&alice, &bob, Uuid::new_v4(), 1, "anyone there?").await;
    let forgotten = eventually(PATIENCE, || async { pipeline.device_count(&bob).await == 0 }).await;
    assert!(forgotten, "{} devices left", pipeline.device_count(&bob).await);
    assert_eq!(pipeline.deliveries().await, [("gone".to_owned(), 3)].into());
    assert_eq!(pipeline.count().await, 0);
}

/// A 429 with Retry-After: the push waits that long, then goes, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_after_is_honoured() {
    let pipeline = Pipeline::start().await;
    let _notifier = pipeline.spawn_notifier().await;
    let (alice, bob) = (pipeline.user("alice").await, pipeline.user("bob").await);
    let devices = pipeline.devices(&bob).await;
    pipeline.fcm.respond_next(1, 429, Some(3));
    let event = pipeline.message(&alice, &bob, Uuid::new_v4(), 1, "slow down").await;
    // The refused push waits in the table until its time, which Retry-After set.
    let scheduled = eventually(PATIENCE, || async { pipeline.deliveries().await.contains_key("retry") }).await;
    assert!(scheduled, "{:?}", pipeline.deliveries().await);
    let wait = pipeline.retry_wait(event).await;
    assert!((2.9..=3.5).contains(&wait), "scheduled {wait} s after the refusal, not 3");
    let received = pipeline.await_pushes(3).await;
    assert_eq!(received[&devices.fcm].len(), 1);
    assert_eq!(pipeline.fcm.requests(), 2, "one refused, one accepted");
    assert_eq!(pipeline.deliveries().await, [("sent".to_owned(), 3)].into());
}

/// FCM down for a minute: the other providers' pushes go meanwhile, and when FCM is back each
/// of its pushes goes once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_down_for_a_minute_loses_nothing_and_holds_up_no_other() {
    let pipeline = Pipeline::start().await;
    let _notifier = pipeline.spawn_notifier().await;
    let alice = pipeline.user("alice").await;
    let mut recipients = Vec::new();
    for _ in 0..5 {
        let user = pipeline.user("bob").await;
        let devices = pipeline.devices(&user).await;
        recipients.push((user, devices));
    }
    pipeline.fcm.set_down(true);
    let down_since = std::time::Instant::now();
    let mut events = Vec::new();
    for (i, (user, _)) in recipients.iter().enumerate() {
        events.push(pipeline.message(&alice, user, Uuid::new_v4(), 1, &format!("hello {i}")).await);
    }
    // APNs and Web Push are not held up by FCM.
    let others = eventually(PATIENCE, || async {
        pipeline.apns.received().len() == 5 && pipeline.webpush.received().await.len() == 5
    })
    .await;
    assert!(others, "apns {}, webpush {}", pipeline.apns.received().len(), pipeline.webpush.received().await.len());
    assert!(pipeline.fcm.received().is_empty());
    tokio::time::sleep(Duration::from_secs(60).saturating_sub(down_since.elapsed())).await;
    assert!(pipeline.fcm.requests() > 5, "FCM was tried again while down");
    pipeline.fcm.set_down(false);

    let received = pipeline.await_pushes(15).await;
    for (user, devices) in &recipients {
        for device in [&devices.fcm, &devices.apns, &devices.webpush] {
            assert_eq!(received[device.as_str()].len(), 1, "{} {device}", user.name);
        }
    }
    let pushed: HashSet<String> = pipeline.fcm.received().iter().map(|p| p.data["event_id"].clone()).collect();
    assert_eq!(pushed, events.iter().map(Uuid::to_string).collect());
    assert_eq!(pipeline.deliveries().await, [("sent".to_owned(), 15)].into());
}

/// A notifier SIGKILLed mid-stream, with pushes claimed and events read but not committed:
/// its successor pushes every event once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notifier_killed_mid_stream_loses_nothing_and_pushes_nothing_twice() {
    let pipeline = Pipeline::start().await;
    // The successor comes back under the same name, as a StatefulSet's pod does.
    let same_name = [("NOTIFIER_INSTANCE_ID", "notifier-0")];
    let notifier = pipeline.spawn_notifier_with(&same_name).await;
    let alice = pipeline.user("alice").await;
    let mut recipients = Vec::new();
    for _ in 0..6 {
        let user = pipeline.user("bob").await;
        let devices = pipeline.devices(&user).await;
        recipients.push((user, devices));
    }
    let mut sent = 0;
    let message = async |sent: &mut usize| {
        let (user, _) = &recipients[*sent % recipients.len()];
        pipeline.message(&alice, user, Uuid::new_v4(), 1, &format!("message {sent}")).await;
        *sent += 1;
    };
    // A stream of messages, pushed as they come...
    for _ in 0..30 {
        message(&mut sent).await;
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    // ...until the providers stop answering: what is in flight now is refused, so no push is
    // both accepted and not yet recorded when the notifier dies.
    pipeline.fcm.set_down(true);
    pipeline.apns.set_down(true);
    pipeline.webpush.set_down(true).await;
    for _ in 0..30 {
        message(&mut sent).await;
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    notifier.kill().await;
    for _ in 0..30 {
        message(&mut sent).await;
    }
    pipeline.fcm.set_down(false);
    pipeline.apns.set_down(false);
    pipeline.webpush.set_down(false).await;
    let _successor = pipeline.spawn_notifier_with(&same_name).await;

    // Each message is its own chat: 90 events, 3 devices each, none collapsed.
    let received = pipeline.await_pushes(3 * sent).await;
    let mut seen = HashSet::new();
    for pushes in received.values() {
        for push in pushes {
            assert!(seen.insert((push.device.clone(), push.data["event_id"].clone())), "pushed twice: {push:?}");
        }
    }
    assert_eq!(seen.len(), 3 * sent);
}

/// Two replicas share the topic's partitions; each event is pushed once, by one of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_share_the_work() {
    let pipeline = Pipeline::start().await;
    let (first, second) = tokio::join!(pipeline.spawn_notifier(), pipeline.spawn_notifier());
    let alice = pipeline.user("alice").await;
    let mut recipients = Vec::new();
    for _ in 0..12 {
        let user = pipeline.user("bob").await;
        pipeline.fcm_device(&user).await;
        recipients.push(user);
    }
    // Until both have joined the group one may hold every partition: rounds of messages to
    // users whose keys spread over the partitions, until each replica has pushed some.
    let series = "chat_suite_notifier_pushes_total{outcome=\"sent\",platform=\"fcm\"}";
    let mut sent = 0;
    for _ in 0..30 {
        for user in &recipients {
            pipeline.message(&alice, user, Uuid::new_v4(), 1, "hi").await;
            sent += 1;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        let (a, b) = (first.metric(&pipeline.client, series).await, second.metric(&pipeline.client, series).await);
        if a > 0.0 && b > 0.0 {
            break;
        }
    }
    let received = pipeline.await_pushes(sent).await;
    let (a, b) = (first.metric(&pipeline.client, series).await, second.metric(&pipeline.client, series).await);
    assert!(a > 0.0 && b > 0.0, "one replica did all the work: {a} and {b}");
    assert_eq!(a + b, sent as f64);
    let events: HashSet<String> = received.values().flatten().map(|p| p.data["event_id"].clone()).collect();
    assert_eq!((events.len(), pipeline.count().await), (sent, sent), "each event pushed once");
}

/// A record that is not an event is counted and skipped; the events after it are pushed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poison_event_is_skipped() {
    let pipeline = Pipeline::start().await;
    let notifier = pipeline.spawn_notifier().await;
    let (alice, bob) = (pipeline.user("alice").await, pipeline.user("bob").await);
    let devices = pipeline.fcm_device(&bob).await;
    pipeline.produce(&bob.id.to_string(), b"{\"event_type\": \"message.created\", \"oops\": true}").await;
    pipeline.produce(&bob.id.to_string(), b"\xff not even JSON").await;
    pipeline.message(&alice, &bob, Uuid::new_v4(), 1, "after the poison").await;
    let received = pipeline.await_pushes(1).await;
    assert_eq!(received[&devices][0].body, "after the poison");
    let poison = notifier.metric(&pipeline.client, "chat_suite_notifier_events_total{outcome=\"poison\"}").await;
    assert_eq!(poison, 2.0);
}

/// PUSH_PREVIEW=none: neither the text nor the sender leaves for the provider.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_preview_no_text_reaches_the_provider() {
    let pipeline = Pipeline::start().await;
    let _notifier = pipeline.spawn_notifier_with(&[("PUSH_PREVIEW", "none")]).await;
    let (alice, bob) = (pipeline.user("alice").await, pipeline.user("bob").await);
    pipeline.devices(&bob).await;
    let chat = Uuid::new_v4();
    pipeline.message(&alice, &bob, chat, 7, "the secret plan").await;
    let received = pipeline.await_pushes(3).await;
    for push in received.values().flatten() {
        let shown = format!("{push:?}");
        assert!(!shown.contains("secret") && !shown.contains(&alice.name), "{shown}");
        assert_eq!(push.title, "New message");
        assert_eq!((push.data["chat_id"].as_str(), push.data["message_id"].as_str()), (chat.to_string().as_str(), "7"));
    }
}
