//! `/healthz` (the process answers), `/readyz` (every dependency answers) and `/metrics`.

use std::sync::Arc;

use futures_util::future::join_all;
use poem::{IntoResponse, Response, endpoint::make, web::Json};
use serde_json::json;

use super::Metrics;
use crate::{ApiError, readiness::Dependency};

#[derive(Clone)]
pub struct Probes {
    dependencies: Arc<Vec<Dependency>>,
    metrics: Arc<Metrics>,
}

impl Probes {
    pub fn new(dependencies: Vec<Dependency>, metrics: Arc<Metrics>) -> Self {
        Self { dependencies: Arc::new(dependencies), metrics }
    }

    pub fn healthz(&self) -> impl poem::Endpoint<Output = Response> + use<> {
        make(|_| async { Json(json!({"status": "ok"})).into_response() })
    }

    pub fn readyz(&self) -> impl poem::Endpoint<Output = Response> + use<> {
        let dependencies = self.dependencies.clone();
        make(move |_| {
            let dependencies = dependencies.clone();
            async move { readiness(&dependencies).await }
        })
    }

    pub fn metrics(&self) -> impl poem::Endpoint<Output = Response> + use<> {
        let metrics = self.metrics.clone();
        make(move |_| {
            let metrics = metrics.clone();
            async move { metrics.render().with_content_type("text/plain; version=0.0.4; charset=utf-8").into_response() }
        })
    }
}

async fn readiness(dependencies: &[Dependency]) -> Response {
    let results = join_all(dependencies.iter().map(|d| async move { (d.name(), d.check().await) })).await;
    let failed: Vec<String> =
        results.iter().filter_map(|(name, result)| result.as_ref().err().map(|why| format!("{name}: {why}"))).collect();
    if failed.is_empty() {
        let checks: serde_json::Map<_, _> =
            results.into_iter().map(|(name, result)| (name.to_owned(), json!(result.unwrap_or_default()))).collect();
        return Json(json!({"status": "ready", "checks": checks})).into_response();
    }
    tracing::warn!(failed = ?failed, "not ready");
    ApiError::unavailable(format!("not ready: {}", failed.join("; "))).into_response()
}
