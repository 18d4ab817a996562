//! Building user-search: `SearchService` (which `chat-suite` mounts too, with its in-process
//! keys and its database) and the application that serves it alone.

use std::sync::Arc;

use poem::{Endpoint, EndpointExt, Response};
use poem_openapi::{OpenApi, OpenApiService};
use shared::{
    config::TokenSettings,
    http::Plumbing,
    jwks::JwksClient,
    read_replica::Reads,
    readiness::Dependency,
    server::{Application, Listener},
    tokens::{KeySource, TokenVerifier},
};

use crate::{
    config::{Cli, SearchSettings},
    lookup_cache::{self, LookupCache},
    routes,
};

pub struct SearchService {
    pub state: Arc<routes::SearchState>,
    pub verifier: Arc<TokenVerifier>,
    pub dependencies: Vec<Dependency>,
}

impl SearchService {
    pub fn new(reads: Reads, keys: KeySource, tokens: &TokenSettings, settings: &SearchSettings) -> Self {
        let mut dependencies = Dependency::databases(&reads);
        if let KeySource::Remote(client) = &keys {
            dependencies.push(Dependency::Jwks(client.clone()));
        }
        let cache = Arc::new(LookupCache::new(settings.lookup_cache_entries as usize));
        Self {
            state: Arc::new(routes::SearchState { reads, cache }),
            verifier: Arc::new(TokenVerifier::new(keys, tokens)),
            dependencies,
        }
    }

    /// Puts the state and the token verifier into the request data the handlers read.
    pub fn provide<E: Endpoint<Output = Response> + 'static>(
        &self,
        ep: E,
    ) -> impl Endpoint<Output = Response> + use<E> {
        ep.data(self.state.clone()).data(self.verifier.clone())
    }

    /// Registers the lookup cache's metrics and keeps the cache exact while `app` runs.
    pub fn start(&self, app: &mut Application, plumbing: &Plumbing) -> prometheus::Result<()> {
        self.state.cache.register(plumbing.metrics.registry())?;
        let (cache, primary) = (self.state.cache.clone(), self.state.reads.primary().clone());
        app.spawn_background(move |stopping| lookup_cache::watch(cache, primary, stopping));
        Ok(())
    }
}

/// user-search alone: keys from auth-api's JWKS.
pub async fn build(cli: &Cli) -> anyhow::Result<Application> {
    let jwks = JwksClient::required(cli.jwks_url.as_deref())?;
    cli.reads.validate(&cli.common)?;
    // The port before the database: a busy one must not leave a new DATA_DIR behind.
    let listener = Listener::bind("user-search", cli.listen_addr).await?;
    let db = shared::db::prepare(&cli.common).await?;
    let reads = Reads::new(db, &cli.reads, cli.common.database_max_connections).await?;
    let service = SearchService::new(reads.clone(), KeySource::Remote(jwks), &cli.common.tokens, &cli.search);
    let plumbing = Plumbing::new(service.dependencies.clone(), cli.common.cors_allowed_origins.clone());
    reads.register(plumbing.metrics.registry())?;
    let app = service.provide(plumbing.app(openapi()));
    let mut app = listener.serve(app, (&cli.common).into());
    service.start(&mut app, &plumbing)?;
    app.spawn_background(move |stopping| reads.watch(stopping));
    Ok(app)
}

pub fn openapi() -> OpenApiService<impl OpenApi, ()> {
    OpenApiService::new(routes::apis(), "user-search", env!("CARGO_PKG_VERSION"))
}
