//! HTTP plumbing every service mounts the same way: the common routes (`/healthz`, `/readyz`,
//! `/metrics`, `/openapi.json`, `/docs` and its `/favicon.ico`) and the middleware stack
//! (request id and access log, metrics, CORS, JSON errors, body limit).

mod allow;
mod bearer;
mod body_limit;
mod client_ip;
mod cors;
mod favicon;
mod json_errors;
mod metrics;
mod openapi;
mod probes;
pub mod refusals;
mod request_id;
mod text;

use std::sync::Arc;

use poem::{
    Endpoint, EndpointExt, IntoEndpoint, IntoResponse, Request, Response, Route,
    endpoint::{BoxEndpoint, make_sync},
    get,
    web::Html,
};
use poem_openapi::{OpenApi, OpenApiService};

pub use allow::AllowedMethods;
pub use bearer::{BearerAuth, bearer_claims};
pub use client_ip::client_ip;
pub use favicon::ICON_SVG;
pub use metrics::Metrics;
pub use openapi::openapi_document;
pub use probes::Probes;
pub use refusals::{Refusal, Refusals, Refused};
pub use text::{Text, UuidText};

use crate::{origins::AllowedOrigins, readiness::Dependency};

/// Request bodies larger than this get a 413 before any handler reads them.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// What every service needs to assemble its routes: its dependencies for `/readyz`, the
/// metrics registry behind `/metrics`, and the origins whose pages may call it.
#[derive(Clone)]
pub struct Plumbing {
    pub metrics: Arc<Metrics>,
    pub dependencies: Vec<Dependency>,
    origins: Arc<AllowedOrigins>,
}

impl Plumbing {
    pub fn new(dependencies: Vec<Dependency>, origins: AllowedOrigins) -> Self {
        Self { metrics: Arc::new(Metrics::new()), dependencies, origins: Arc::new(origins) }
    }

    /// The service's API at the root, next to the common routes, wrapped in the middleware
    /// stack. `chat-suite` calls this once with every API joined in a tuple.
    pub fn app<T: OpenApi + 'static>(&self, api: OpenApiService<T, ()>) -> impl Endpoint<Output = Response> + use<T> {
        self.app_with(api, GetRoutes::default())
    }

    /// [`Plumbing::app`] with routes outside the OpenAPI document beside it (the WebSocket).
    pub fn app_with<T: OpenApi + 'static>(
        &self,
        api: OpenApiService<T, ()>,
        extra: GetRoutes,
    ) -> impl Endpoint<Output = Response> + use<T> {
        let (original, document) = (api.spec(), openapi_document(&api));
        let mut allowed = AllowedMethods::from_spec(&document);
        // Swagger UI embeds the document in its page: poem-openapi's, swapped for ours.
        let docs = Html(favicon::named_in(&api.swagger_ui_html().replacen(&original, &document, 1)));
        let spec = make_sync(move |_| document.clone().with_content_type("application/json"));
        let probes = Probes::new(self.dependencies.clone(), self.metrics.clone());
        let extra = extra
            .get("/healthz", probes.healthz())
            .get("/readyz", probes.readyz())
            .get("/metrics", probes.metrics())
            .get("/openapi.json", spec)
            .get("/docs", make_sync(move |_| docs.clone()))
            .get(favicon::PATH, favicon::endpoint());
        for path in &extra.paths {
            allowed.add(path, "GET");
        }
        let routes = RootFirst { root: extra.root, rest: extra.route.nest("/", api) };
        self.wrap(routes, allowed)
    }

    /// The middleware stack, outermost first: request id and access log, metrics, CORS (outside
    /// the JSON errors, so that errors carry its headers too), JSON errors, body limit.
    pub fn wrap<E: IntoEndpoint + 'static>(
        &self,
        routes: E,
        allowed: AllowedMethods,
    ) -> impl Endpoint<Output = Response> + use<E>
    where
        E::Endpoint: 'static,
    {
        let (metrics, origins) = (self.metrics.clone(), self.origins.clone());
        // Shared, not cloned per request: every request passes through here.
        let allowed = Arc::new(allowed);
        let preflights = allowed.clone();
        routes
            .into_endpoint()
            .around(body_limit::limit_body)
            .around(move |ep, req| json_errors::render_errors(allowed.clone(), ep, req))
            .around(move |ep, req| cors::apply(origins.clone(), preflights.clone(), ep, req))
            .around(move |ep, req| metrics::record(metrics.clone(), ep, req))
            .around(request_id::trace_request)
    }
}

/// Routes outside the OpenAPI document (the WebSocket endpoint, pages). Each answers GET (and
/// HEAD) only, and a 405 on their paths names those.
#[derive(Default)]
pub struct GetRoutes {
    route: Route,
    paths: Vec<&'static str>,
    /// The route at `/` (chat-suite's page), kept apart: see [`RootFirst`].
    root: Option<BoxEndpoint<'static>>,
}

impl GetRoutes {
    #[must_use]
    pub fn get<E: IntoEndpoint>(mut self, path: &'static str, ep: E) -> Self
    where
        E::Endpoint: 'static,
    {
        match path {
            "/" => self.root = Some(get(ep).map_to_response().boxed()),
            _ => self.route = self.route.at(path, get(ep)),
        }
        self.paths.push(path);
        self
    }
}

/// `/` to its own route, everything else to the router. poem's router hands a path to an
/// endpoint nested there (the API, nested at `/`) before a route at the same path, so a route
/// at `/` in the router would never be reached: `GET /` was the API's 404.
struct RootFirst<E> {
    root: Option<BoxEndpoint<'static>>,
    rest: E,
}

impl<E: Endpoint> Endpoint for RootFirst<E> {
    type Output = Response;

    async fn call(&self, req: Request) -> poem::Result<Response> {
        match &self.root {
            Some(root) if req.uri().path() == "/" => root.call(req).await,
            _ => self.rest.call(req).await.map(IntoResponse::into_response),
        }
    }
}

#[cfg(test)]
mod tests {
    use poem::http::{Method, StatusCode};
    use poem_openapi::payload::PlainText;

    use super::*;

    struct Api;

    #[poem_openapi::OpenApi]
    impl Api {
        #[oai(path = "/hello", method = "get")]
        async fn hello(&self) -> PlainText<&'static str> {
            PlainText("from the API")
        }
    }

    async fn get(app: &impl Endpoint<Output = Response>, path: &str) -> (StatusCode, String) {
        let resp = app.get_response(Request::builder().uri(path.parse().unwrap()).finish()).await;
        (resp.status(), resp.into_body().into_string().await.unwrap())
    }

    #[tokio::test]
    async fn a_route_at_the_root_is_reached_beside_the_api() {
        let page = GetRoutes::default().get("/", make_sync(|_| "the page"));
        let app = Plumbing::new(Vec::new(), crate::origins::AllowedOrigins::default())
            .app_with(OpenApiService::new(Api, "test", "1"), page);
        assert_eq!(get(&app, "/").await, (StatusCode::OK, "the page".to_owned()));
        assert_eq!(get(&app, "/hello").await, (StatusCode::OK, "from the API".to_owned()));
        let (status, body) = get(&app, "/nowhere").await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
        let resp = app.get_response(Request::builder().method(Method::POST).uri_str("/").finish()).await;
        assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(resp.headers()["allow"], "GET, HEAD");
    }

    /// A browser opening `/docs` asks for the icon the page names, or else for `/favicon.ico`:
    /// both were a 404 on every service.
    #[tokio::test]
    async fn the_docs_page_names_an_icon_that_is_served() {
        let app = Plumbing::new(Vec::new(), crate::origins::AllowedOrigins::default())
            .app(OpenApiService::new(Api, "test", "1"));
        let (status, page) = get(&app, "/docs").await;
        assert_eq!(status, StatusCode::OK);
        let head = &page[..page.find("</head>").unwrap()];
        let link = r#"<link rel="icon" href="/favicon.ico" type="image/svg+xml">"#;
        assert_eq!(head.matches("<link").collect::<Vec<_>>(), ["<link"], "one link, the icon's: {head:.300}");
        assert!(head.contains(link), "{head:.300}");
        let resp = app.get_response(Request::builder().uri_str("/favicon.ico").finish()).await;
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(resp.headers()["content-type"], "image/svg+xml");
        assert_eq!(resp.into_body().into_bytes().await.unwrap(), ICON_SVG);
        let resp = app.get_response(Request::builder().method(Method::POST).uri_str("/favicon.ico").finish()).await;
        assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);
    }

    #[tokio::test]
    async fn without_a_route_at_the_root_the_api_answers_it() {
        let app = Plumbing::new(Vec::new(), crate::origins::AllowedOrigins::default())
            .app(OpenApiService::new(Api, "test", "1"));
        let (status, body) = get(&app, "/").await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    }
}
