//! Pushes through the notifier at the delivery benchmark's message rate, every recipient
//! offline. Run by `scripts/bench`.
//!
//! The whole path as deployed: messages committed to the outbox (as the gateway's writer
//! commits them, a statement per 10 ms tick), published by auth-api's relay to a tansu
//! broker, consumed by the release `notifier`, pushed to the FCM stand-in (in this process),
//! which checks each request's bearer token and message as FCM does and notes when it took
//! each. For each message: the time from its commit to the provider's acceptance. The
//! ceiling: the most pushes per second the stand-in takes on this machine from the
//! notifier's own FCM client, 256 at a time, with nothing else running.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    collections::{BTreeMap, HashMap},
    sync::Arc,
    time::{Duration, Instant, SystemTime},
};

use auth_api::tokens::SigningKey;
use chrono::Utc;
use futures_util::StreamExt;
use notifier::{
    providers::{Outcome, fcm::Fcm, fcm_auth::ServiceAccount},
    push::Push,
};
use sea_orm::{ActiveValue::Set, ConnectionTrait, Database, DatabaseConnection, EntityTrait};
use shared::{
    entities::{notification_outbox, users},
    outbox::{MessageRef, NotificationEvent},
};
use testkit::{
    bench::{self, CpuTimes, Latencies, Process, Profile, Report, Row, percent, setting},
    broker::Broker,
    push::fcm::FcmStandIn,
};
use uuid::Uuid;

const AUTH_PORT: u16 = 18481;
const NOTIFIER_PORT: u16 = 18484;
/// Recipients, each with one phone: at 2,000 messages a second each gets one a second, each
/// in a chat of its own, so no push collapses another.
const RECIPIENTS: u64 = 2000;
/// The goal: a push within a second of its message's commit.
const GOAL_P99: Duration = Duration::from_secs(1);
/// The generator's tick: the gateway's writer commits about this often under load.
const TICK: Duration = Duration::from_millis(10);
/// Rates of the sweep, messages (and pushes) per second.
const SWEEP: [u64; 5] = [2000, 3000, 4000, 6000, 8000];

/// What one load measured.
struct Measured {
    rate: u64,
    offered: usize,
    delivered: usize,
    latencies: Latencies,
    /// CPU time per push by program.
    cpu: Vec<(String, Duration)>,
}

impl Measured {
    fn share(&self) -> f64 {
        self.delivered as f64 / self.offered.max(1) as f64
    }

    fn held(&self) -> bool {
        self.share() >= 0.99 && self.latencies.p99() <= GOAL_P99
    }

    fn cpu_of(&self, program: &str) -> Duration {
        self.cpu.iter().find(|(name, _)| name == program).map_or(Duration::ZERO, |(_, t)| *t)
    }

    fn cpu_total(&self) -> Duration {
        self.cpu.iter().map(|(_, t)| *t).sum()
    }
}

#[tokio::main]
async fn main() {
    if !bench::invoked_by_cargo_bench() {
        println!("the push benchmark runs with scripts/bench");
        return;
    }
    let rate = setting("BENCH_RATE", 2000);
    let seconds = setting("BENCH_SECONDS", 20);
    let warmup = setting("BENCH_WARMUP", 5);

    let fcm = Arc::new(FcmStandIn::start().await);
    let ceiling = ceiling(&fcm, Duration::from_secs(5)).await;
    eprintln!("ceiling: the stand-in takes {ceiling:.0} pushes/s from the FCM client");

    let url = bench::fresh_database("chat_suite_bench_push").await;
    let db = Database::connect(&url).await.unwrap();
    bench::insert_users(&db, RECIPIENTS).await;
    db.execute_unprepared(
        "INSERT INTO devices (id, user_id, platform, token, token_key, legacy, created_at) \
         SELECT gen_random_uuid(), id, 'fcm', 'phone-' || username_key, \
         encode(sha256(('fcm:phone-' || username_key)::bytea), 'hex'), false, now() FROM users",
    )
    .await
    .unwrap();
    let recipients = users::Entity::find().all(&db).await.unwrap();
    let broker = Broker::start();
    let topic = "bench_pushes".to_owned();
    let key = SigningKey::generate().unwrap();
    let kafka = [
        ("DATABASE_URL", url.clone()),
        ("DATA_DIR", std::env::temp_dir().display().to_string()),
        ("KAFKA_BROKERS", broker.address()),
        ("KAFKA_PROPERTIES", broker.kafka_properties()),
        ("NOTIFICATIONS_TOPIC", topic),
    ];
    let mut auth_env = kafka.to_vec();
    auth_env.push(("JWT_SIGNING_KEY", key.to_pem().to_owned()));
    let auth = Process::start(&bench::env("AUTH_API_BIN"), AUTH_PORT, &auth_env);
    let mut notifier_env = kafka.to_vec();
    notifier_env.push(("FCM_SERVICE_ACCOUNT_FILE", fcm.service_account_file().display().to_string()));
    notifier_env.push(("FCM_API_URL", fcm.url()));
    let notifier = Process::start(&bench::env("NOTIFIER_BIN"), NOTIFIER_PORT, &notifier_env);
    let programs = Programs { notifier: notifier.pid(), relay: auth.pid() };

    // The consumer group joins, the topic's partitions are assigned, the first token fetched.
    let first = load(&db, &recipients, &fcm, &programs, 200, 2, 0).await;
    assert!(first.delivered > 0, "no push arrived: is the notifier consuming?");

    let main = load(&db, &recipients, &fcm, &programs, rate, seconds, warmup).await;
    eprintln!("{rate}/s: {} of {} pushed, p99 {:?}", main.delivered, main.offered, main.latencies.p99());
    let mut sweep = Vec::new();
    for step in SWEEP {
        let measured = load(&db, &recipients, &fcm, &programs, step, 8, 3).await;
        eprintln!("{step}/s: {:.1} % pushed, p99 {:?}", 100.0 * measured.share(), measured.latencies.p99());
        let held = measured.held();
        sweep.push(measured);
        if !held {
            break;
        }
    }
    let knee = sweep.iter().filter(|m| m.held()).map(|m| m.rate).max().unwrap_or(0);

    let mut report = Report::new(
        "6-push",
        "notifier: pushes at the delivery benchmark's rate, every recipient offline",
        format!(
            "`scripts/bench` → `services/notifier/benches/push.rs`. A fresh `chat_suite_bench_push` database with \
             {RECIPIENTS} users, one FCM device each; a tansu broker; the release `auth-api` running the outbox relay \
             and the release `notifier`, every setting as shipped; the FCM stand-in (`testkit::push::fcm`) in the \
             benchmark's process, checking each request's bearer token and message as FCM does. The generator commits \
             `message.created` events to the outbox as the gateway does for a recipient with no live connection, a \
             statement per 10 ms tick, each message to another recipient in a chat of its own (none collapses); the \
             latency is from the commit to the stand-in's acceptance of the push. Main load: {rate} messages/s (the \
             delivery benchmark's), {warmup} s of warm-up, {seconds} s measured; then a sweep of {SWEEP:?} messages/s \
             (3 s + 8 s each) until p99 passes 1 s or fewer than 99 % are pushed. CPU: user and system time of each \
             process from `/proc` over the measured window, divided by the pushes in it. Ceiling: the notifier's own \
             FCM client sending straight to the stand-in, 256 at a time, for 5 s before anything else starts."
        ),
    );
    let p99 = main.latencies.p99();
    report
        .row(Row {
            measure: format!("pushed within the run at {rate} messages/s (every recipient offline)"),
            figure: percent(main.share()),
            ceiling: format!("{} messages", main.offered),
            ratio: percent(main.share()),
            goal: "100 %".into(),
            met: Some(main.delivered >= main.offered),
        })
        .row(Row {
            measure: "p99 from a message's commit to the provider's acceptance".into(),
            figure: ms(p99),
            ceiling: ms(GOAL_P99),
            ratio: percent(p99.as_secs_f64() / GOAL_P99.as_secs_f64()),
            goal: "< 1 s".into(),
            met: Some(p99 < GOAL_P99),
        })
        .row(Row::info("p50 from commit to provider", ms(main.latencies.p50())))
        .row(Row {
            measure: "highest rate with p99 ≤ 1 s and 99 % pushed".into(),
            figure: format!("{knee} /s"),
            ceiling: format!("{ceiling:.0} /s (the stand-in, from the client alone)"),
            ratio: percent(knee as f64 / ceiling),
            goal: format!("≥ {rate} /s"),
            met: Some(knee >= rate),
        })
        .row(Row::info(
            "CPU per push: notifier, relay (auth-api), PostgreSQL, broker, stand-in and generator",
            format!(
                "{} µs, {} µs, {} µs, {} µs, {} µs",
                main.cpu_of("notifier").as_micros(),
                main.cpu_of("relay").as_micros(),
                main.cpu_of("postgres").as_micros(),
                main.cpu_of("tansu").as_micros(),
                main.cpu_of("stand-in and generator").as_micros()
            ),
        ))
        .row(Row::info("CPU per push, all of them", format!("{} µs", main.cpu_total().as_micros())));
    let mut table =
        String::from("| messages/s | pushed | p50 | p99 | notifier CPU per push |\n| --- | --- | --- | --- | --- |\n");
    for m in &sweep {
        table.push_str(&format!(
            "| {} | {} | {} | {} | {} µs |\n",
            m.rate,
            percent(m.share()),
            ms(m.latencies.p50()),
            ms(m.latencies.p99()),
            m.cpu_of("notifier").as_micros()
        ));
    }
    // What bounds the figures matters whether or not a goal is missed.
    report.extra(format!("The sweep (8 s measured per rate):\n\n{table}")).extra(include_str!("push.md"));
    if report.missed() {
        let load = load(&db, &recipients, &fcm, &programs, rate, 10, 0);
        report.profile(Profile::during(Duration::from_secs(2), Duration::from_secs(6), load).await);
    }
    report.write();
    drop((notifier, auth, broker));
}

/// The processes whose CPU time is counted, by what they are.
struct Programs {
    notifier: u32,
    relay: u32,
}

impl Programs {
    fn group(&self, pid: u32, name: &str) -> Option<String> {
        match (pid, name) {
            (pid, _) if pid == self.notifier => Some("notifier".into()),
            (pid, _) if pid == self.relay => Some("relay".into()),
            (pid, _) if pid == std::process::id() => Some("stand-in and generator".into()),
            (_, "postgres") => Some("postgres".into()),
            (_, "tansu") => Some("tansu".into()),
            _ => None,
        }
    }
}

/// `rate` messages a second for `warmup` + `seconds`, each to an offline recipient; what the
/// measured window's messages became.
async fn load(
    db: &DatabaseConnection,
    recipients: &[users::Model],
    fcm: &FcmStandIn,
    programs: &Programs,
    rate: u64,
    seconds: u64,
    warmup: u64,
) -> Measured {
    let already = fcm.received().len();
    let per_tick = (rate as f64 * TICK.as_secs_f64()).round().max(1.0) as usize;
    let ticks = (warmup + seconds) * 1000 / TICK.as_millis() as u64;
    let measured_from = warmup * 1000 / TICK.as_millis() as u64;
    // event id → when its commit returned, for the measured window's events.
    let mut committed: HashMap<String, SystemTime> = HashMap::new();
    let mut offered = 0;
    let mut next = Instant::now();
    let mut cpu_before = None;
    let sender = Uuid::new_v4();
    let mut n = 0usize;
    for tick in 0..ticks {
        if tick == measured_from {
            cpu_before = Some(CpuTimes::read());
        }
        let at = Utc::now();
        let events: Vec<NotificationEvent> = (0..per_tick)
            .map(|_| {
                n += 1;
                let recipient = &recipients[n % recipients.len()];
                let message = MessageRef { chat_id: Uuid::new_v4(), message_id: n as i64, sender_id: sender };
                NotificationEvent::message_created(recipient, "bench", "a message to an offline phone", message, at)
            })
            .collect();
        let rows = events.iter().map(|event| notification_outbox::ActiveModel {
            event_id: Set(event.event_id),
            event_type: Set(event.event_type.into()),
            key: Set(event.user_id.to_string()),
            payload: Set(serde_json::to_value(event).unwrap()),
            created_at: Set(at),
            attempts: Set(0),
            ..Default::default()
        });
        notification_outbox::Entity::insert_many(rows).exec_without_returning(db).await.unwrap();
        db.execute_unprepared(&format!("NOTIFY {}", shared::outbox::WAKEUP_CHANNEL)).await.unwrap();
        let done = SystemTime::now();
        if tick >= measured_from {
            offered += events.len();
            committed.extend(events.iter().map(|e| (e.event_id.to_string(), done)));
        }
        next += TICK;
        tokio::time::sleep_until(next.into()).await;
    }
    let cpu_after = CpuTimes::read();
    // What is still on its way has a few seconds more than the goal to arrive.
    let deadline = Instant::now() + GOAL_P99 * 5;
    while Instant::now() < deadline && arrived(fcm, already, &committed) < offered {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (received, accepted) = (fcm.received(), fcm.accepted_at());
    let mut latencies = Vec::new();
    for (push, at) in received.iter().zip(&accepted).skip(already) {
        if let Some(commit) = push.data.get("event_id").and_then(|id| committed.get(id)) {
            latencies.push(at.duration_since(*commit).unwrap_or_default());
        }
    }
    let delivered = latencies.len();
    let spent =
        cpu_after.spent_since(&cpu_before.unwrap_or_else(CpuTimes::read), |pid, name| programs.group(pid, name));
    let cpu = spent.into_iter().map(|(name, time)| (name, time / delivered.max(1) as u32)).collect();
    Measured { rate, offered, delivered, latencies: Latencies::new(latencies), cpu }
}

fn arrived(fcm: &FcmStandIn, already: usize, committed: &HashMap<String, SystemTime>) -> usize {
    fcm.received()
        .iter()
        .skip(already)
        .filter(|p| p.data.get("event_id").is_some_and(|id| committed.contains_key(id)))
        .count()
}

/// Pushes per second the stand-in takes from the notifier's FCM client, 256 at a time.
async fn ceiling(fcm: &FcmStandIn, window: Duration) -> f64 {
    let account = ServiceAccount::load(&fcm.service_account_file()).unwrap();
    let client = Arc::new(Fcm::new(account, fcm.url(), None).unwrap());
    let push = Push {
        title: "New message from: bench".into(),
        body: "a message to an offline phone".into(),
        data: BTreeMap::from([("event_type".to_owned(), "message.created".to_owned())]),
        collapse_key: Some(Uuid::new_v4().to_string()),
        ttl: Duration::from_secs(86_400),
    };
    assert_eq!(client.send("warm-up", &push).await, Outcome::Sent);
    let started = Instant::now();
    let sent = futures_util::stream::iter(0..)
        .take_while(|_| std::future::ready(started.elapsed() < window))
        .map(|i| {
            let (client, push) = (client.clone(), push.clone());
            async move { client.send(&format!("phone-{i}"), &push).await == Outcome::Sent }
        })
        .buffer_unordered(256)
        .filter(|sent| std::future::ready(*sent))
        .count()
        .await;
    sent as f64 / started.elapsed().as_secs_f64()
}

fn ms(duration: Duration) -> String {
    format!("{:.1} ms", duration.as_secs_f64() * 1000.0)
}
