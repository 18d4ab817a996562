//! Building auth-api: its state and dependencies from the configuration (`AuthService`, which
//! `chat-suite` mounts too), and the application that serves it alone.

use std::sync::Arc;

use poem::{Endpoint, EndpointExt, Response};
use poem_openapi::{OpenApi, OpenApiService};
use sea_orm::DatabaseConnection;
use shared::redis_conn::{RedisConn, RedisTarget};
use shared::{
    config::CommonConfig,
    http::{Metrics, Plumbing},
    outbox::relay::{self, LocalConsumer, RelaySettings},
    readiness::Dependency,
    server::{Application, Listener},
};

use crate::{
    config::{AuthSettings, Cli},
    routes, signing_key,
    state::AuthState,
};

/// auth-api, built and connected, not yet mounted.
pub struct AuthService {
    pub state: Arc<AuthState>,
    pub dependencies: Vec<Dependency>,
}

impl AuthService {
    pub async fn build(common: &CommonConfig, auth: &AuthSettings) -> anyhow::Result<Self> {
        // Configuration first: a bad key is a one-line error before any connection is tried.
        let (key, published) = signing_key::load_key_set(common, auth)?;
        let vapid_public_key = auth.webpush.vapid_key()?.map(|key| key.public_key_b64url());
        let redis = common.redis()?;
        let db = shared::db::prepare(common).await?;
        let redis = connect_redis(redis.as_ref()).await?;
        let state =
            Arc::new(AuthState::build(common, auth, key, published, vapid_public_key, db.clone(), redis.as_ref())?);
        Ok(Self { state, dependencies: dependencies(db, redis) })
    }

    /// Puts what the handlers read from the request data onto `ep`: the state, and a verifier
    /// of this process's own tokens (for `/me`).
    pub fn provide<E: Endpoint<Output = Response> + 'static>(
        &self,
        ep: E,
        common: &CommonConfig,
    ) -> impl Endpoint<Output = Response> + use<E> {
        ep.data(self.state.clone()).data(Arc::new(self.state.verifier(common)))
    }
}

impl AuthService {
    /// Starts the outbox relay and its gauges beside `app`; without a broker, `local` (a
    /// notifier in this process) takes the events.
    pub fn start_relay(
        &self,
        app: &mut Application,
        relay: &RelaySettings,
        metrics: &Metrics,
        local: Option<Arc<dyn LocalConsumer>>,
    ) -> anyhow::Result<()> {
        relay::start(app, relay, &self.state.db, metrics, &self.state.outbox, local)
    }
}

/// auth-api alone, on its own port.
pub async fn build(cli: &Cli) -> anyhow::Result<Application> {
    // The port first: a busy one must not leave a new DATA_DIR, key or database behind.
    let listener = Listener::bind("auth-api", cli.listen_addr).await?;
    let service = AuthService::build(&cli.common, &cli.auth).await?;
    let plumbing = Plumbing::new(service.dependencies.clone(), cli.common.cors_allowed_origins.clone());
    let app = service.provide(plumbing.app(openapi()), &cli.common);
    let mut app = listener.serve(app, (&cli.common).into());
    service.start_relay(&mut app, &cli.relay, &plumbing.metrics, None)?;
    Ok(app)
}

/// auth-api's routes as one OpenAPI service.
pub fn openapi() -> OpenApiService<impl OpenApi, ()> {
    OpenApiService::new(routes::apis(), "auth-api", env!("CARGO_PKG_VERSION"))
}

async fn connect_redis(target: Option<&RedisTarget>) -> anyhow::Result<Option<RedisConn>> {
    match target {
        Some(target) => Ok(Some(shared::redis_conn::connect(target).await?)),
        None => Ok(None),
    }
}

fn dependencies(db: DatabaseConnection, redis: Option<RedisConn>) -> Vec<Dependency> {
    std::iter::once(Dependency::Database(db)).chain(redis.map(Dependency::Redis)).collect()
}
