//! Errors that never reached a typed handler (unknown route, wrong method, a refused bearer
//! token) become the contract's JSON error too; a 405 carries `Allow`.

use poem::{
    Endpoint, IntoResponse, Request, Response, Result,
    http::{HeaderValue, StatusCode, header::ALLOW},
};
use poem_openapi::OperationId;

use super::AllowedMethods;
use crate::ApiError;

pub(super) async fn render_errors<E: Endpoint>(
    allowed: std::sync::Arc<AllowedMethods>,
    ep: std::sync::Arc<E>,
    req: Request,
) -> Result<Response> {
    let path = req.uri().path().to_owned();
    match ep.call(req).await {
        Ok(resp) => Ok(resp.into_response()),
        Err(err) => {
            let operation = err.data::<OperationId>().copied();
            let mut resp = if err.is_from_response() { err.into_response() } else { ApiError::from_poem(&err) };
            if let Some(operation) = operation {
                resp.set_data(operation);
            }
            if resp.status() == StatusCode::METHOD_NOT_ALLOWED
                && let Some(methods) = allowed.header_for(&path).and_then(|m| HeaderValue::from_str(&m).ok())
            {
                resp.headers_mut().insert(ALLOW, methods);
            }
            Ok(resp)
        }
    }
}
