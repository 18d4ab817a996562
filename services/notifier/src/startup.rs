//! Building the notifier: its providers from their settings (`NotifierService`, which
//! `chat-suite` runs too when a provider is configured), and the application that serves it
//! alone: health, readiness and metrics on LISTEN_ADDR, the consumer and the retry worker
//! beside them.

use std::sync::Arc;

use poem_openapi::{OpenApi, OpenApiService};
use sea_orm::DatabaseConnection;
use shared::{
    config::ConfigError,
    http::{Metrics, Plumbing},
    kafka::KafkaSettings,
    outbox::relay::LocalConsumer,
    readiness::Dependency,
    server::{Application, Listener},
    webpush::WebPushSettings,
};
use uuid::Uuid;

use crate::{
    config::{Cli, NotifierSettings},
    consumer::EventConsumer,
    deliveries::Deliveries,
    dispatch::Dispatcher,
    local::InProcess,
    metrics::NotifierMetrics,
    providers::{
        Providers,
        apns::{Apns, ApnsSettings},
        fcm::Fcm,
        fcm_auth::ServiceAccount,
        webpush::WebPush,
    },
    retry,
};

/// The configured providers, read and checked before anything connects.
pub fn providers(settings: &NotifierSettings, webpush: &WebPushSettings) -> anyhow::Result<Providers> {
    settings.validate(webpush)?;
    let extra_ca = match &settings.push_ca_file {
        Some(path) => Some(
            std::fs::read(path)
                .map_err(|e| ConfigError::new("PUSH_CA_FILE", format!("cannot read {}: {e}", path.display())))?,
        ),
        None => None,
    };
    let extra_ca = extra_ca.as_deref();
    let fcm = match &settings.fcm_service_account_file {
        Some(path) => {
            let account = ServiceAccount::load(path).map_err(|why| ConfigError::stated(&why))?;
            Some(Fcm::new(account, settings.fcm_api_url.clone(), extra_ca).map_err(stated)?)
        }
        None => None,
    };
    let apns = match (&settings.apns_key_file, &settings.apns_key_id, &settings.apns_team_id, &settings.apns_topic) {
        (Some(key_file), Some(key_id), Some(team_id), Some(topic)) => {
            let apns = ApnsSettings {
                key_file: key_file.clone(),
                key_id: key_id.clone(),
                team_id: team_id.clone(),
                topic: topic.clone(),
                url: settings.apns_url.clone(),
            };
            Some(Apns::new(&apns, extra_ca).map_err(stated)?)
        }
        _ => None,
    };
    let webpush_hosts = webpush.webpush_endpoint_hosts.clone();
    let webpush = match (webpush.vapid_key()?, &settings.vapid_subject) {
        (Some(key), Some(subject)) => Some(WebPush::new(key, subject.clone(), extra_ca).map_err(stated)?),
        _ => None,
    };
    Ok(Providers { fcm, apns, webpush, webpush_hosts })
}

/// A provider's refusal of its settings, which names the variable first, as the one-line
/// configuration error.
fn stated(err: anyhow::Error) -> ConfigError {
    ConfigError::stated(&format!("{err:#}"))
}

/// The notifier's working parts, built, not yet started.
pub struct NotifierService {
    dispatcher: Arc<Dispatcher>,
}

impl NotifierService {
    pub fn new(
        providers: Providers,
        settings: &NotifierSettings,
        db: DatabaseConnection,
        metrics: &Metrics,
    ) -> anyhow::Result<Self> {
        let metrics = Arc::new(NotifierMetrics::register(metrics.registry())?);
        let replica = format!("{}-{}", std::env::var("HOSTNAME").unwrap_or_else(|_| "notifier".into()), Uuid::new_v4());
        let dispatcher = Arc::new(Dispatcher {
            deliveries: Deliveries::new(db.clone(), settings.lease(), replica),
            db,
            providers: Arc::new(providers),
            metrics,
            preview: settings.push_preview,
            ttl: settings.ttl(),
        });
        Ok(Self { dispatcher })
    }

    /// Starts the consumer of `brokers` and the retry worker beside `app`.
    pub fn start(
        &self,
        app: &mut Application,
        brokers: &str,
        kafka: &KafkaSettings,
        settings: &NotifierSettings,
    ) -> anyhow::Result<()> {
        let consumer = EventConsumer::new(
            brokers,
            kafka,
            &settings.notifier_group_id,
            settings.notifier_instance_id.as_deref(),
            self.dispatcher.clone(),
        )?;
        app.spawn_background(move |stopping| consumer.run(stopping));
        self.start_retries(app);
        tracing::info!(brokers, topic = %kafka.notifications_topic, group = %settings.notifier_group_id, "notifier started");
        Ok(())
    }

    /// Starts the retry worker beside `app`, and answers what the outbox relay of this
    /// process hands its events to instead of a broker.
    pub fn start_in_process(&self, app: &mut Application) -> Arc<dyn LocalConsumer> {
        self.start_retries(app);
        tracing::info!("notifier started, fed by this process's outbox relay");
        Arc::new(InProcess(self.dispatcher.clone()))
    }

    fn start_retries(&self, app: &mut Application) {
        let dispatcher = self.dispatcher.clone();
        app.spawn_background(move |stopping| retry::run(dispatcher, stopping));
    }
}

/// The notifier alone, on its own port.
pub async fn build(cli: &Cli) -> anyhow::Result<Application> {
    let Some(brokers) = cli.kafka.kafka_brokers.clone() else {
        return Err(ConfigError::new(
            "KAFKA_BROKERS",
            "required: the notifier reads the notification events from Kafka",
        )
        .into());
    };
    let providers = providers(&cli.notifier, &cli.webpush)?;
    if !cli.notifier.any_provider(&cli.webpush) {
        return Err(ConfigError::new(
            "FCM_SERVICE_ACCOUNT_FILE",
            "no push provider is configured: set it, APNS_KEY_FILE (with APNS_KEY_ID, APNS_TEAM_ID, APNS_TOPIC) \
             or VAPID_PRIVATE_KEY_FILE (with VAPID_SUBJECT)",
        )
        .into());
    }
    // The port before the database: a busy one must not leave a new DATA_DIR behind.
    let listener = Listener::bind("notifier", cli.listen_addr).await?;
    let db = shared::db::prepare(&cli.common).await?;
    let plumbing = Plumbing::new(vec![Dependency::Database(db.clone())], cli.common.cors_allowed_origins.clone());
    let service = NotifierService::new(providers, &cli.notifier, db, &plumbing.metrics)?;
    let mut app = listener.serve(plumbing.app(openapi()), (&cli.common).into());
    service.start(&mut app, &brokers, &cli.kafka, &cli.notifier)?;
    Ok(app)
}

/// The notifier serves no API of its own: its document lists the common routes alone.
pub fn openapi() -> OpenApiService<impl OpenApi, ()> {
    OpenApiService::new((), "notifier", env!("CARGO_PKG_VERSION"))
}
