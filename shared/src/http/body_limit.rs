//! Bodies over `MAX_BODY_BYTES` get a 413: at once when `Content-Length` says so, or as soon
//! as a chunked body passes the limit while it is read.

use poem::{Body, Endpoint, IntoResponse, Request, Response, Result, http::header::CONTENT_LENGTH};

use super::MAX_BODY_BYTES;
use crate::ApiError;

pub(super) async fn limit_body<E: Endpoint>(ep: std::sync::Arc<E>, mut req: Request) -> Result<Response> {
    let declared = req.headers().get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    match declared {
        Some(length) if length > MAX_BODY_BYTES as u64 => return Ok(too_large()),
        Some(_) => {}
        None if has_body(&req) => match req.take_body().into_bytes_limit(MAX_BODY_BYTES).await {
            Ok(bytes) => req.set_body(Body::from_bytes(bytes)),
            Err(poem::error::ReadBodyError::PayloadTooLarge) => return Ok(too_large()),
            Err(err) => return Err(err.into()),
        },
        None => {}
    }
    ep.call(req).await.map(IntoResponse::into_response)
}

fn has_body(req: &Request) -> bool {
    req.headers().contains_key(poem::http::header::TRANSFER_ENCODING)
}

fn too_large() -> Response {
    ApiError::payload_too_large().into_response()
}
