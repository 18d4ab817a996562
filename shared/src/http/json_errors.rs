//! Errors that never reached a typed handler (unknown route, wrong method, a refused bearer
//! token) become the contract's JSON error too.

use poem::{Endpoint, IntoResponse, Request, Response, Result};
use poem_openapi::OperationId;

use crate::ApiError;

pub(super) async fn render_errors<E: Endpoint>(ep: std::sync::Arc<E>, req: Request) -> Result<Response> {
    match ep.call(req).await {
        Ok(resp) => Ok(resp.into_response()),
        Err(err) => {
            let operation = err.data::<OperationId>().copied();
            let mut resp = if err.is_from_response() { err.into_response() } else { ApiError::from_poem(&err) };
            if let Some(operation) = operation {
                resp.set_data(operation);
            }
            Ok(resp)
        }
    }
}
