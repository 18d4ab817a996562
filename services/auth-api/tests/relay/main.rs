//! The outbox relay against a real Kafka-protocol broker.
//!
//! A test target of its own, each test run by `scripts/test` in a process of its own:
//! librdkafka 2.12 (the newest the `rdkafka` crate bundles) can die of a SIGSEGV in its
//! leader-discovery code on tansu's replies, taking the whole test process with it. Seen with a
//! consumer that lived through a broker restart (the tests now close their consumers before
//! killing a broker, and it has not happened since); isolated, such a crash would cost a rerun
//! of one test, never a wrong verdict (assertion failures are not rerun).
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../api/helpers.rs"]
mod helpers;

use std::{collections::HashSet, sync::Arc, time::Duration};

use chrono::Utc;
use sea_orm::{ActiveValue::Set, EntityTrait};
use serde_json::{Value, json};
use shared::entities::notification_outbox;
use uuid::Uuid;

use testkit::broker::{Broker, Reader};

use crate::helpers::{Backend, TestApp, TestDatabase, spawn_app_with, spawn_on, unique_name};

const PATIENCE: Duration = Duration::from_secs(60);

fn relay_args(broker: &Broker, topic: &str) -> Vec<String> {
    vec![
        "--kafka-brokers".into(),
        broker.address(),
        "--notifications-topic".into(),
        topic.into(),
        format!("--kafka-properties={}", broker.kafka_properties()),
    ]
}

async fn spawn_relaying(backend: Backend, broker: &Broker, topic: &str) -> TestApp {
    let args = relay_args(broker, topic);
    spawn_app_with(backend, &args.iter().map(String::as_str).collect::<Vec<_>>()).await
}

/// A second replica on `app`'s database, relaying to `broker`.
async fn spawn_relay_beside(app: &TestApp, broker: &Broker, topic: &str) -> TestApp {
    let args = relay_args(broker, topic);
    spawn_on(app.database.clone(), app.signing_key.clone(), &args.iter().map(String::as_str).collect::<Vec<_>>()).await
}

/// The user ids of the first `count` events a new consumer reads from `topic`.
async fn users_read(broker: &Broker, topic: &str, count: usize) -> HashSet<String> {
    let reader = Arc::new(Reader::new(&broker, topic));
    reader
        .read_async(count, PATIENCE)
        .await
        .into_iter()
        .map(|r| r.value["user_id"].as_str().unwrap().to_owned())
        .collect()
}

async fn register_many(app: &TestApp, prefix: &str, count: usize) -> Vec<String> {
    let mut ids = Vec::new();
    for chunk in (0..count).collect::<Vec<_>>().chunks(20) {
        let names: Vec<String> = chunk.iter().map(|i| format!("{prefix}{i}")).collect();
        ids.extend(futures_util::future::join_all(names.iter().map(|name| app.register_quietly(name))).await);
    }
    ids
}

async fn metric(app: &TestApp, name: &str) -> f64 {
    let text = app.get("/metrics", None).await.body.as_str().unwrap().to_owned();
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("{name} not in /metrics"))
}

/// Polls `/metrics` until `name` satisfies `ok` (the gauges refresh every 2 s).
async fn eventually_metric(app: &TestApp, name: &str, ok: impl Fn(f64) -> bool) -> f64 {
    for _ in 0..100 {
        let value = metric(app, name).await;
        if ok(value) {
            return value;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    metric(app, name).await
}

async fn a_consumer_reads_exactly_the_contract_event(backend: Backend) {
    let broker = Broker::start();
    let topic = unique_name("notifications-");
    let app = spawn_relaying(backend, &broker, &topic).await;
    let reader = Arc::new(Reader::new(&broker, &topic));
    let resp = app
        .post(
            "/register",
            json!({"username": "uma", "password": "correct horse battery", "email": "uma@example.com", "fcm_token": "fcm-1"}),
        )
        .await;
    assert_eq!(resp.status, 201);
    let user_id = resp.body["user_id"].as_str().unwrap();

    let records = reader.read_async(1, PATIENCE).await;
    assert_eq!(records.len(), 1, "no event reached the topic");
    let record = &records[0];
    assert_eq!(record.key, user_id);
    let value = &record.value;
    assert_eq!(value["header"], "Welcome to chat application: uma");
    assert_eq!(value["body"], "Good to see you!");
    assert_eq!(value["event_type"], "user.registered");
    assert_eq!(value["schema_version"], 1);
    assert_eq!(value["user_id"], user_id);
    assert_eq!(value["username"], "uma");
    assert_eq!(value["fcm_token"], "fcm-1");
    assert!(chrono::DateTime::parse_from_rfc3339(value["occurred_at"].as_str().unwrap()).is_ok());
    assert_eq!(value.as_object().unwrap().len(), 9, "{value}");
    assert_eq!(record.headers["event_type"], "user.registered");
    assert_eq!(record.headers["event_id"], value["event_id"].as_str().unwrap());

    // Marked delivered once acknowledged, and counted.
    assert_eq!(eventually_metric(&app, "chat_suite_outbox_pending", |v| v == 0.0).await, 0.0);
    assert_eq!(metric(&app, "chat_suite_outbox_published_total").await, 1.0);
    let row = notification_outbox::Entity::find().one(&app.db).await.unwrap().unwrap();
    assert!(row.delivered_at.is_some());
    assert_eq!(row.attempts, 1);
}

async fn events_written_while_the_broker_is_down_all_arrive_once_it_is_back(backend: Backend) {
    let mut broker = Broker::start();
    let topic = unique_name("notifications-");
    let app = spawn_relaying(backend, &broker, &topic).await;
    let reader = Arc::new(Reader::new(&broker, &topic));

    // The stream starts with the broker up: these are consumed before it goes.
    let mut expected: Vec<String> = register_many(&app, "before", 20).await;
    let mut seen: Vec<Value> = reader.read_async(20, PATIENCE).await.into_iter().map(|r| r.value).collect();
    assert_eq!(seen.len(), 20);
    // Done with this consumer: closed while its broker is still there to say goodbye to.
    drop(reader);

    broker.kill();
    let started = std::time::Instant::now();
    expected.extend(register_many(&app, "during", 200).await);
    let took = started.elapsed();
    eprintln!("200 registrations with the broker down took {took:?}");
    // Registration did not need the broker: the service stays ready and shows the backlog.
    assert_eq!(app.get("/readyz", None).await.status, 200);
    assert!(eventually_metric(&app, "chat_suite_outbox_pending", |v| v >= 200.0).await >= 200.0);
    assert!(metric(&app, "chat_suite_outbox_oldest_pending_age_seconds").await > 0.0);

    broker.resume();
    expected.extend(register_many(&app, "after", 20).await);
    // The broker lost its memory with its process; the new one starts empty.
    let reader = Arc::new(Reader::new(&broker, &topic));
    seen.extend(reader.read_async(220, PATIENCE).await.into_iter().map(|r| r.value));

    let ids: Vec<&str> = seen.iter().map(|v| v["event_id"].as_str().unwrap()).collect();
    let unique: HashSet<&str> = ids.iter().copied().collect();
    assert_eq!(unique.len(), ids.len(), "an event arrived twice");
    let users: HashSet<&str> = seen.iter().map(|v| v["user_id"].as_str().unwrap()).collect();
    let wanted: HashSet<&str> = expected.iter().map(String::as_str).collect();
    let missing = wanted.difference(&users).count();
    assert_eq!((missing, users.len()), (0, wanted.len()), "{missing} of {} events never arrived", wanted.len());
    assert_eq!(eventually_metric(&app, "chat_suite_outbox_pending", |v| v == 0.0).await, 0.0);
}

async fn a_payload_the_broker_refuses_is_parked_and_does_not_hold_back_its_key(backend: Backend) {
    let broker = Broker::start();
    let topic = unique_name("notifications-");
    // No relay yet: the rows are written first, as a burst of events of one key would be.
    let app = spawn_app_with(backend, &[]).await;
    let key = Uuid::new_v4().to_string();
    let row = |payload: Value| notification_outbox::ActiveModel {
        event_id: Set(Uuid::new_v4()),
        event_type: Set("test.event".into()),
        key: Set(key.clone()),
        payload: Set(payload),
        created_at: Set(Utc::now()),
        attempts: Set(0),
        ..Default::default()
    };
    // 2 MB: over the 1 MB a Kafka record may have by default.
    notification_outbox::Entity::insert(row(json!({"seq": 0, "blob": "x".repeat(2_000_000)})))
        .exec_without_returning(&app.db)
        .await
        .unwrap();
    for seq in 1..=10 {
        notification_outbox::Entity::insert(row(json!({"seq": seq}))).exec_without_returning(&app.db).await.unwrap();
    }
    let relaying = spawn_relay_beside(&app, &broker, &topic).await;
    let reader = Arc::new(Reader::new(&broker, &topic));
    let records = reader.read_async(10, PATIENCE).await;
    let sequence: Vec<i64> = records.iter().map(|r| r.value["seq"].as_i64().unwrap()).collect();
    assert_eq!(sequence, (1..=10).collect::<Vec<_>>(), "the events of one key arrive in write order");
    assert!(records.iter().all(|r| r.key == key));

    let parked = notification_outbox::Entity::find()
        .all(&app.db)
        .await
        .unwrap()
        .into_iter()
        .find(|r| r.payload["seq"] == 0)
        .unwrap();
    assert!(parked.parked_at.is_some(), "the refused event is kept, parked");
    assert!(parked.delivered_at.is_none());
    assert!(
        parked.last_error.as_deref().unwrap_or_default().to_lowercase().contains("size"),
        "{:?}",
        parked.last_error
    );
    assert_eq!(eventually_metric(&relaying, "chat_suite_outbox_parked", |v| v == 1.0).await, 1.0);
    assert_eq!(metric(&relaying, "chat_suite_outbox_parked_total").await, 1.0);
}

async fn events_wait_without_a_broker_and_go_once_one_is_configured(backend: Backend) {
    let app = spawn_app_with(backend, &[]).await;
    let ids = register_many(&app, "waiting", 5).await;
    assert_eq!(eventually_metric(&app, "chat_suite_outbox_pending", |v| v == 5.0).await, 5.0);

    let broker = Broker::start();
    let topic = unique_name("notifications-");
    let _relaying = spawn_relay_beside(&app, &broker, &topic).await;
    let users = users_read(&broker, &topic, 5).await;
    assert_eq!(users.len(), 5);
    assert_eq!(users, ids.into_iter().collect::<HashSet<_>>());
}

testkit::on_both_backends!(
    a_consumer_reads_exactly_the_contract_event,
    events_written_while_the_broker_is_down_all_arrive_once_it_is_back,
    a_payload_the_broker_refuses_is_parked_and_does_not_hold_back_its_key,
    events_wait_without_a_broker_and_go_once_one_is_configured,
);

/// Two replicas relaying from one Postgres: every event arrives, none twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_relays_on_one_postgres_publish_every_event_once() {
    let broker = Broker::start();
    let topic = unique_name("notifications-");
    let database = Arc::new(TestDatabase::create(Backend::Postgres).await);
    let key = auth_api::tokens::SigningKey::generate().unwrap().to_pem().to_owned();
    let args = relay_args(&broker, &topic);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let a = spawn_on(database.clone(), key.clone(), &args).await;
    let b = spawn_on(database, key, &args).await;
    let reader = Arc::new(Reader::new(&broker, &topic));

    let (from_a, from_b) = tokio::join!(register_many(&a, "relay-a", 60), register_many(&b, "relay-b", 60));
    let expected: HashSet<String> = from_a.into_iter().chain(from_b).collect();
    // Read past the 120 expected, to see any duplicate that would follow.
    let records = reader.read_async(121, Duration::from_secs(20)).await;
    let ids: Vec<&str> = records.iter().map(|r| r.value["event_id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 120, "expected each of the 120 events exactly once");
    assert_eq!(ids.iter().collect::<HashSet<_>>().len(), 120);
    let users: HashSet<String> = records.iter().map(|r| r.value["user_id"].as_str().unwrap().to_owned()).collect();
    assert!(users == expected, "the events are not those of the 120 registrations");
    let published =
        metric(&a, "chat_suite_outbox_published_total").await + metric(&b, "chat_suite_outbox_published_total").await;
    assert_eq!(published, 120.0);
}

/// A replica that died holding claims delays its events by the rest of its lease, no more.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claims_of_a_dead_replica_expire_and_are_taken_over() {
    use sea_orm::{ConnectionTrait, Statement};
    let broker = Broker::start();
    let topic = unique_name("notifications-");
    let app = spawn_app_with(Backend::Postgres, &[]).await;
    let ids = register_many(&app, "orphan", 5).await;
    // What a replica leaves behind when it is killed between claiming and publishing.
    app.db
        .execute_raw(Statement::from_string(
            sea_orm::DatabaseBackend::Postgres,
            "UPDATE notification_outbox SET claimed_by = 'relay-dead', claimed_until = now() + interval '3 seconds'",
        ))
        .await
        .unwrap();
    let _survivor = spawn_relay_beside(&app, &broker, &topic).await;
    assert_eq!(users_read(&broker, &topic, 5).await, ids.into_iter().collect::<HashSet<_>>());
}

/// A broker behind TLS, as managed Kafka services are: the relay gets through with
/// `KAFKA_PROPERTIES` (`security.protocol=SSL`), checking the broker's certificate against
/// the CA given.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_reach_a_broker_behind_tls() {
    let broker = Broker::start_tls();
    let topic = unique_name("notifications-");
    let app = spawn_relaying(Backend::Postgres, &broker, &topic).await;
    let ids = register_many(&app, "secure", 3).await;
    assert_eq!(users_read(&broker, &topic, 3).await, ids.into_iter().collect::<HashSet<_>>());
    assert_eq!(broker.refused_handshakes(), 0);
}

/// A relay that does not trust the broker's certificate sends it nothing: its events wait, and
/// go once a relay that trusts the CA runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_that_does_not_trust_the_certificate_sends_nothing_and_loses_nothing() {
    let broker = Broker::start_tls();
    let topic = unique_name("notifications-");
    let mut untrusting = broker.client_properties();
    untrusting.retain(|(key, _)| key != "ssl.ca.location");
    let untrusting = testkit::broker::as_kafka_properties(&untrusting);
    let brokers = broker.address();
    let untrusting = [
        "--kafka-brokers",
        &brokers,
        "--notifications-topic",
        &topic,
        &format!("--kafka-properties={untrusting}"),
        // Its claims, left behind when it stops, hold the events back this long at most.
        "--outbox-lease-seconds",
        "5",
    ];
    let app = spawn_app_with(Backend::Postgres, &untrusting).await;
    let ids = register_many(&app, "untrusting", 3).await;
    for _ in 0..600 {
        if broker.refused_handshakes() > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(broker.refused_handshakes() > 0, "the relay never tried the broker");
    assert_eq!(metric(&app, "chat_suite_outbox_published_total").await, 0.0);
    assert_eq!(eventually_metric(&app, "chat_suite_outbox_pending", |v| v == 3.0).await, 3.0);

    let trusting = spawn_relay_beside(&app, &broker, &topic).await;
    drop(app);
    assert_eq!(users_read(&broker, &topic, 3).await, ids.into_iter().collect::<HashSet<_>>());
    assert_eq!(metric(&trusting, "chat_suite_outbox_published_total").await, 3.0);
}
