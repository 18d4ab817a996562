//! HTTP plumbing every service mounts the same way: the common routes (`/healthz`, `/readyz`,
//! `/metrics`, `/openapi.json`, `/docs`) and the middleware stack (request id and access log,
//! metrics, JSON errors, body limit).

mod bearer;
mod body_limit;
mod client_ip;
mod json_errors;
mod metrics;
mod probes;
mod request_id;
mod text;

use std::sync::Arc;

use poem::{Endpoint, EndpointExt, IntoEndpoint, Response, Route};
use poem_openapi::{OpenApi, OpenApiService};

pub use bearer::{BearerAuth, bearer_claims};
pub use client_ip::client_ip;
pub use metrics::Metrics;
pub use probes::Probes;
pub use text::Text;

use crate::readiness::Dependency;

/// Request bodies larger than this get a 413 before any handler reads them.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// What every service needs to assemble its routes: its dependencies for `/readyz` and the
/// metrics registry behind `/metrics`.
#[derive(Clone)]
pub struct Plumbing {
    pub metrics: Arc<Metrics>,
    pub dependencies: Vec<Dependency>,
}

impl Plumbing {
    pub fn new(dependencies: Vec<Dependency>) -> Self {
        Self { metrics: Arc::new(Metrics::new()), dependencies }
    }

    /// The service's API at the root, next to the common routes, wrapped in the middleware
    /// stack. `chat-suite` calls this once with every API joined in a tuple.
    pub fn app<T: OpenApi + 'static>(&self, api: OpenApiService<T, ()>) -> impl Endpoint<Output = Response> + use<T> {
        self.app_with(api, Route::new())
    }

    /// [`Plumbing::app`] with routes outside the OpenAPI document beside it (the WebSocket).
    pub fn app_with<T: OpenApi + 'static>(
        &self,
        api: OpenApiService<T, ()>,
        extra: Route,
    ) -> impl Endpoint<Output = Response> + use<T> {
        let spec = api.spec_endpoint();
        let docs = api.swagger_ui();
        let probes = Probes::new(self.dependencies.clone(), self.metrics.clone());
        let routes = extra
            .nest("/", api)
            .at("/healthz", probes.healthz())
            .at("/readyz", probes.readyz())
            .at("/metrics", probes.metrics())
            .at("/openapi.json", spec)
            .nest("/docs", docs);
        self.wrap(routes)
    }

    /// The middleware stack, outermost first: request id and access log, metrics, JSON errors,
    /// body limit.
    pub fn wrap<E: IntoEndpoint + 'static>(&self, routes: E) -> impl Endpoint<Output = Response> + use<E>
    where
        E::Endpoint: 'static,
    {
        let metrics = self.metrics.clone();
        routes
            .into_endpoint()
            .around(body_limit::limit_body)
            .around(json_errors::render_errors)
            .around(move |ep, req| metrics::record(metrics.clone(), ep, req))
            .around(request_id::trace_request)
    }
}
