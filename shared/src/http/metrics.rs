//! Prometheus metrics. Each application owns its registry (no global state, so tests can run
//! several apps in one process); services register their own metrics on it next to the
//! per-route request count and latency histogram recorded here.

use std::{sync::Arc, time::Instant};

use poem::{Endpoint, IntoResponse, Request, Response, Result, http::Method};
use poem_openapi::OperationId;
use prometheus::{Encoder, HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry, TextEncoder};

pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    #[allow(clippy::expect_used)] // the names and labels below are constant and valid
    pub fn new() -> Self {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new("chat_suite_http_requests_total", "HTTP requests answered, by route and status"),
            &["method", "route", "status"],
        )
        .expect("valid metric");
        let latency = HistogramVec::new(
            HistogramOpts::new("chat_suite_http_request_duration_seconds", "HTTP request latency, by route")
                .buckets(vec![0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0]),
            &["method", "route"],
        )
        .expect("valid metric");
        registry.register(Box::new(requests.clone())).expect("registered once");
        registry.register(Box::new(latency.clone())).expect("registered once");
        Self { registry, requests, latency }
    }

    /// Where services register their own metrics.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The Prometheus text exposition of everything registered.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        if let Err(err) = TextEncoder::new().encode(&self.registry.gather(), &mut out) {
            tracing::error!(error = %err, "metrics encoding failed");
        }
        String::from_utf8(out).unwrap_or_default()
    }

    fn observe(&self, method: &str, route: &str, status: u16, seconds: f64) {
        self.requests.with_label_values(&[method, route, &status.to_string()]).inc();
        self.latency.with_label_values(&[method, route]).observe(seconds);
    }
}

/// The method label: the methods HTTP defines, and `_OTHER` for any other token (as
/// OpenTelemetry's `http.request.method` does), or every made-up method a client sends would
/// be a new series.
fn method_label(method: &Method) -> &'static str {
    const KNOWN: [&str; 9] = ["GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"];
    KNOWN.iter().copied().find(|known| *known == method.as_str()).unwrap_or("_OTHER")
}

/// The route label is the OpenAPI operation id, or the fixed path of a common route; anything
/// else (unknown paths) is "unmatched" so that scanners cannot blow up the label set.
fn route_label(resp: &Response, path: &str) -> String {
    if let Some(op) = resp.data::<OperationId>() {
        return op.0.to_owned();
    }
    match path {
        "/healthz" | "/readyz" | "/metrics" | "/openapi.json" | "/asyncapi.json" => path.to_owned(),
        p if p.starts_with("/docs") => "/docs".to_owned(),
        _ => "unmatched".to_owned(),
    }
}

pub(super) async fn record<E: Endpoint>(metrics: Arc<Metrics>, ep: Arc<E>, req: Request) -> Result<Response> {
    let started = Instant::now();
    let method = method_label(req.method());
    let path = req.uri().path().to_owned();
    let resp = ep.call(req).await.map(IntoResponse::into_response).unwrap_or_else(|e| e.into_response());
    metrics.observe(method, &route_label(&resp, &path), resp.status().as_u16(), started.elapsed().as_secs_f64());
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn made_up_methods_share_one_label() {
        assert_eq!(method_label(&Method::GET), "GET");
        assert_eq!(method_label(&Method::PATCH), "PATCH");
        for made_up in ["XMETH1", "XMETH2", "get"] {
            assert_eq!(method_label(&Method::from_bytes(made_up.as_bytes()).unwrap()), "_OTHER");
        }
    }
}
