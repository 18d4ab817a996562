//! A whole push pipeline of the test's own: Postgres, a real broker, auth-api registering
//! users and devices and relaying the outbox to the topic, the three providers' stand-ins, and
//! notifier processes (the real binary, so a test can SIGKILL one) pushing to them.

use std::{
    collections::{BTreeMap, HashMap},
    process::Stdio,
    sync::Arc,
    time::{Duration, Instant},
};

use chrono::Utc;
use sea_orm::{ConnectionTrait, DatabaseConnection, EntityTrait, Statement};
use serde_json::json;
use shared::{
    entities::users,
    outbox::{self, MessageRef, NotificationEvent},
    webpush::vapid::VapidKey,
};
use testkit::{
    Backend, Running, TestDatabase,
    broker::Broker,
    push::{Received, apns::ApnsStandIn, fcm::FcmStandIn, webpush::WebPushReceiver},
    test_ca::TestCa,
    unique_name,
};
use tokio::process::{Child, Command};
use uuid::Uuid;

pub const PATIENCE: Duration = Duration::from_secs(60);

pub struct Pipeline {
    pub database: Arc<TestDatabase>,
    pub db: DatabaseConnection,
    pub broker: Broker,
    pub topic: String,
    pub group: String,
    pub auth: Running,
    pub client: reqwest::Client,
    pub fcm: FcmStandIn,
    pub apns: ApnsStandIn,
    pub webpush: WebPushReceiver,
    files: tempfile::TempDir,
    vapid_public_key: String,
}

/// A registered user and their access token.
pub struct User {
    pub id: Uuid,
    pub name: String,
    pub token: String,
}

/// The devices a test gave a user, by what each stand-in calls them.
pub struct Devices {
    pub fcm: String,
    pub apns: String,
    pub webpush: String,
}

/// A notifier process; SIGKILLed when dropped.
pub struct Notifier {
    child: Child,
    pub metrics_url: String,
}

impl Pipeline {
    pub async fn start() -> Self {
        let database = Arc::new(TestDatabase::create(Backend::Postgres).await);
        let broker = tokio::task::spawn_blocking(Broker::start).await.unwrap();
        let topic = unique_name("pushes");
        let files = tempfile::tempdir().unwrap();
        let ca = TestCa::new("push test CA");
        let (fcm, apns, webpush) =
            tokio::join!(FcmStandIn::start(), ApnsStandIn::start(), WebPushReceiver::start_tls(&ca));
        // What the notifier trusts besides the system: the APNs stand-in's CA and the push
        // service's.
        std::fs::write(files.path().join("ca.pem"), format!("{}\n{}", apns.ca_pem(), ca.pem)).unwrap();
        std::fs::write(files.path().join("apns.p8"), apns.key_pem()).unwrap();
        let vapid = VapidKey::generate().unwrap();
        std::fs::write(files.path().join("vapid.pem"), vapid.to_pkcs8_pem().unwrap()).unwrap();
        let key = auth_api::tokens::SigningKey::generate().unwrap();
        let auth = testkit::auth::start([
            "auth-api".to_owned(),
            "--listen-addr=127.0.0.1:0".to_owned(),
            format!("--database-url={}", database.url),
            format!("--data-dir={}", files.path().display()),
            format!("--jwt-signing-key={}", key.to_pem()),
            "--rate-limit-per-ip-per-minute=0".to_owned(),
            "--rate-limit-per-username-per-minute=0".to_owned(),
            "--rate-limit-per-username-and-ip-per-minute=0".to_owned(),
            "--shutdown-grace-seconds=1".to_owned(),
            format!("--kafka-brokers={}", broker.address()),
            format!("--notifications-topic={topic}"),
            format!("--kafka-properties={}", broker.kafka_properties()),
            format!("--vapid-private-key-file={}", files.path().join("vapid.pem").display()),
            "--webpush-endpoint-hosts=127.0.0.1".to_owned(),
        ])
        .await;
        Self {
            db: database.connect().await,
            database,
            broker,
            topic,
            group: unique_name("notifier"),
            auth,
            client: shared::http_client::builder().timeout(PATIENCE).build().unwrap(),
            fcm,
            apns,
            webpush,
            vapid_public_key: vapid.public_key_b64url(),
            files,
        }
    }

    /// What every notifier of this pipeline is started with.
    pub fn notifier_env(&self) -> BTreeMap<String, String> {
        let path = |name: &str| self.files.path().join(name).display().to_string();
        [
            ("DATABASE_URL", self.database.url.clone()),
            ("DATA_DIR", path("data")),
            ("KAFKA_BROKERS", self.broker.address()),
            ("KAFKA_PROPERTIES", self.broker.kafka_properties()),
            ("NOTIFICATIONS_TOPIC", self.topic.clone()),
            ("NOTIFIER_GROUP_ID", self.group.clone()),
            ("NOTIFIER_LEASE_SECONDS", "5".to_owned()),
            ("FCM_SERVICE_ACCOUNT_FILE", self.fcm.service_account_file().display().to_string()),
            ("FCM_API_URL", self.fcm.url()),
            ("APNS_KEY_FILE", path("apns.p8")),
            ("APNS_KEY_ID", self.apns.key_id().to_owned()),
            ("APNS_TEAM_ID", self.apns.team_id().to_owned()),
            ("APNS_TOPIC", self.apns.topic().to_owned()),
            ("APNS_URL", self.apns.url()),
            ("VAPID_PRIVATE_KEY_FILE", path("vapid.pem")),
            ("VAPID_SUBJECT", "mailto:ops@chat-suite.test".to_owned()),
            ("WEBPUSH_ENDPOINT_HOSTS", "127.0.0.1".to_owned()),
            ("PUSH_CA_FILE", path("ca.pem")),
            ("SHUTDOWN_GRACE_SECONDS", "1".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }

    pub async fn spawn_notifier(&self) -> Notifier {
        self.spawn_notifier_with(&[]).await
    }

    /// A notifier with this pipeline's settings and `extra` over them; ready when this returns.
    pub async fn spawn_notifier_with(&self, extra: &[(&str, &str)]) -> Notifier {
        let port = testkit::free_port();
        let mut env = self.notifier_env();
        env.insert("LISTEN_ADDR".into(), format!("127.0.0.1:{port}"));
        env.extend(extra.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
        let child = Command::new(env!("CARGO_BIN_EXE_notifier"))
            .env_clear()
            .envs(&env)
            // librdkafka warns of the tests' broker settings (testkit::broker) at every start.
            .env("RUST_LOG", std::env::var("RUST_LOG").unwrap_or_else(|_| "warn,librdkafka=error".into()))
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let base = format!("http://127.0.0.1:{port}");
        let ready = eventually(PATIENCE, || async {
            self.client.get(format!("{base}/readyz")).send().await.is_ok_and(|r| r.status() == 200)
        })
        .await;
        assert!(ready, "the notifier on port {port} did not get ready");
        Notifier { child, metrics_url: format!("{base}/metrics") }
    }

    pub async fn user(&self, prefix: &str) -> User {
        let name = unique_name(prefix);
        let body = testkit::auth::register(&self.client, &self.auth.address, &name).await;
        User {
            id: body["user_id"].as_str().unwrap().parse().unwrap(),
            name,
            token: body["access_token"].as_str().unwrap().to_owned(),
        }
    }

    /// Registers a device of each platform for `user`, as their apps and browser would.
    pub async fn devices(&self, user: &User) -> Devices {
        let fcm = format!("fcm-{}", Uuid::new_v4().simple());
        let apns = hex(Uuid::new_v4().as_bytes()).repeat(2);
        let subscription = self.webpush.subscribe_for(&self.vapid_public_key).await;
        for body in [
            json!({"platform": "fcm", "token": fcm}),
            json!({"platform": "apns", "token": apns}),
            json!({"platform": "webpush", "subscription": subscription}),
        ] {
            let resp = testkit::read(
                self.client.post(format!("{}/me/devices", self.auth.address)).bearer_auth(&user.token).json(&body),
            )
            .await;
            assert_eq!(resp.status, 201, "{body} → {}", resp.body);
        }
        Devices { fcm, apns, webpush: WebPushReceiver::device(&subscription) }
    }

    /// Registers an FCM device for `user`; answers its token.
    pub async fn fcm_device(&self, user: &User) -> String {
        let token = format!("fcm-{}", Uuid::new_v4().simple());
        let body = json!({"platform": "fcm", "token": token});
        let resp = testkit::read(
            self.client.post(format!("{}/me/devices", self.auth.address)).bearer_auth(&user.token).json(&body),
        )
        .await;
        assert_eq!(resp.status, 201, "{}", resp.body);
        token
    }

    /// A record written to the topic by hand, as a faulty producer might.
    pub async fn produce(&self, key: &str, value: &[u8]) {
        let mut config = rdkafka::ClientConfig::new();
        for (k, v) in self.broker.client_properties() {
            config.set(k, v);
        }
        let producer: rdkafka::producer::FutureProducer =
            config.set("bootstrap.servers", self.broker.address()).create().unwrap();
        let record = rdkafka::producer::FutureRecord::to(&self.topic).key(key).payload(value);
        producer.send(record, PATIENCE).await.map_err(|(e, _)| e).unwrap();
    }

    /// Seconds between a push's refusal and the retry it was scheduled for.
    pub async fn retry_wait(&self, event: Uuid) -> f64 {
        let sql = format!(
            "SELECT EXTRACT(EPOCH FROM next_attempt_at - updated_at)::float8 FROM push_deliveries \
             WHERE event_id = '{event}' AND state = 'retry'"
        );
        let row = self.db.query_one_raw(Statement::from_string(self.db.get_database_backend(), sql)).await.unwrap();
        row.unwrap().try_get_by_index::<f64>(0).unwrap()
    }

    /// A message from `from` to `to` in `chat`, written into the outbox as the gateway writes
    /// it for a recipient with no live connection (in its own transaction: the relay picks
    /// it up at once). Answers the event's id.
    pub async fn message(&self, from: &User, to: &User, chat: Uuid, id: i64, text: &str) -> Uuid {
        let recipient = users::Entity::find_by_id(to.id).one(&self.db).await.unwrap().unwrap();
        let message = MessageRef { chat_id: chat, message_id: id, sender_id: from.id };
        let event = NotificationEvent::message_created(&recipient, &from.name, text, message, Utc::now());
        outbox::enqueue(&self.db, &event).await.unwrap();
        event.event_id
    }

    /// Every push the three stand-ins accepted, by device.
    pub async fn received(&self) -> HashMap<String, Vec<Received>> {
        let mut all: HashMap<String, Vec<Received>> = HashMap::new();
        let pushes = self.fcm.received().into_iter().chain(self.apns.received());
        for push in pushes.chain(self.webpush.received().await) {
            all.entry(push.device.clone()).or_default().push(push);
        }
        all
    }

    /// Waits until `wanted` pushes have arrived in all, and a little longer for any extra.
    pub async fn await_pushes(&self, wanted: usize) -> HashMap<String, Vec<Received>> {
        let arrived = eventually(PATIENCE, || async { self.count().await >= wanted }).await;
        assert!(arrived, "{} of {wanted} pushes arrived: {:?}", self.count().await, self.received().await);
        // Duplicates would come on the heels of the first.
        tokio::time::sleep(Duration::from_millis(500)).await;
        self.received().await
    }

    pub async fn count(&self) -> usize {
        self.fcm.received().len() + self.apns.received().len() + self.webpush.received().await.len()
    }

    /// The rows of `push_deliveries` by state.
    pub async fn deliveries(&self) -> BTreeMap<String, i64> {
        let sql = "SELECT state, count(*) FROM push_deliveries GROUP BY state";
        let rows = self.db.query_all_raw(Statement::from_string(self.db.get_database_backend(), sql)).await.unwrap();
        rows.iter().map(|r| (r.try_get_by_index::<String>(0).unwrap(), r.try_get_by_index::<i64>(1).unwrap())).collect()
    }

    /// Events the relay has published to the topic.
    pub async fn relayed(&self) -> i64 {
        self.scalar("SELECT count(*) FROM notification_outbox WHERE delivered_at IS NOT NULL").await
    }

    async fn scalar(&self, sql: &str) -> i64 {
        let row = self.db.query_one_raw(Statement::from_string(self.db.get_database_backend(), sql)).await.unwrap();
        row.unwrap().try_get_by_index::<i64>(0).unwrap()
    }

    pub async fn device_count(&self, user: &User) -> i64 {
        self.scalar(&format!("SELECT count(*) FROM devices WHERE user_id = '{}'", user.id)).await
    }
}

impl Notifier {
    /// A series' value on this notifier's /metrics (0 when absent).
    pub async fn metric(&self, client: &reqwest::Client, series: &str) -> f64 {
        let text = client.get(&self.metrics_url).send().await.unwrap().text().await.unwrap();
        text.lines()
            .find_map(|line| line.strip_prefix(series).and_then(|rest| rest.strip_prefix(' ')))
            .map_or(0.0, |value| value.trim().parse().unwrap())
    }

    /// SIGKILL: no shutdown, no commit, no settling.
    pub async fn kill(mut self) {
        self.child.kill().await.unwrap();
    }
}

/// Polls `check` every 100 ms until it holds or `patience` passes; whether it held.
pub async fn eventually<F, Fut>(patience: Duration, check: F) -> bool
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + patience;
    loop {
        if check().await {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
