//! Every request gets an id (the caller's `X-Request-Id` when it is sane, a fresh UUID
//! otherwise), a tracing span carrying it, one access-log line, and the id in the response.

use std::time::Instant;

use poem::{Endpoint, IntoResponse, Request, Response, Result, http::HeaderValue};
use tracing::Instrument;

const HEADER: &str = "x-request-id";

pub(super) async fn trace_request<E: Endpoint>(ep: std::sync::Arc<E>, req: Request) -> Result<Response> {
    let id = req
        .headers()
        .get(HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_graphic()))
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let span = tracing::info_span!("request", request_id = %id, method = %req.method(), path = %req.uri().path());
    let started = Instant::now();
    async move {
        let mut resp = ep.call(req).await.map(IntoResponse::into_response).unwrap_or_else(|e| e.into_response());
        tracing::info!(status = resp.status().as_u16(), elapsed_ms = started.elapsed().as_secs_f64() * 1e3, "served");
        if let Ok(value) = HeaderValue::from_str(&id) {
            resp.headers_mut().insert(HEADER, value);
        }
        Ok(resp)
    }
    .instrument(span)
    .await
}
