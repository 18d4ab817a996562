//! Bodies over `MAX_BODY_BYTES` get a 413: at once when `Content-Length` says so, or as soon
//! as a body of no stated length (chunked, or HTTP/2) passes the limit while it is read.
//!
//! A client sending a body does not read the answer until it has sent the whole body, so a 413
//! followed by closing the connection reaches it as a reset ("broken pipe") instead of the
//! error. As nginx does (its "lingering close"), the rest of a refused body is read and
//! dropped after the 413 has gone out, up to `DRAIN_BYTES` and for at most `DRAIN_TIME`;
//! past either bound the connection is closed.

use std::time::Duration;

use futures_util::{Stream, StreamExt};
use poem::{
    Body, Endpoint, IntoResponse, Request, Response, Result,
    error::ReadBodyError,
    http::header::{CONTENT_LENGTH, EXPECT},
};

use super::MAX_BODY_BYTES;
use crate::ApiError;

const DRAIN_BYTES: u64 = 1024 * 1024;
const DRAIN_TIME: Duration = Duration::from_secs(5);

pub(super) async fn limit_body<E: Endpoint>(ep: std::sync::Arc<E>, mut req: Request) -> Result<Response> {
    let declared = req.headers().get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    match declared {
        Some(length) if length > MAX_BODY_BYTES as u64 => {
            // A client waiting for `100 Continue` has sent nothing yet and will send nothing:
            // reading would ask it for the body.
            if length <= DRAIN_BYTES && !req.headers().contains_key(EXPECT) {
                drain_in_background(req.take_body().into_bytes_stream(), 0);
            }
            return Ok(too_large());
        }
        Some(_) => {}
        // Chunked (HTTP/1.1), or HTTP/2 without a length: counted while read. A request with
        // no body at all (a GET, a WebSocket upgrade) is left as it came.
        None if !body_is_empty(&mut req) => {
            let mut stream = req.take_body().into_bytes_stream();
            let mut bytes = Vec::new();
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.map_err(ReadBodyError::Io)?;
                if bytes.len() + chunk.len() > MAX_BODY_BYTES {
                    drain_in_background(stream, (bytes.len() + chunk.len()) as u64);
                    return Ok(too_large());
                }
                bytes.extend_from_slice(&chunk);
            }
            req.set_body(Body::from_vec(bytes));
        }
        None => {}
    }
    ep.call(req).await.map(IntoResponse::into_response)
}

/// Reads the rest of a refused body, `read` bytes of it already read, and drops it; the
/// connection stays open while this runs, so the client can finish sending and read the 413.
fn drain_in_background<S, B>(mut stream: S, mut read: u64)
where
    S: Stream<Item = std::io::Result<B>> + Send + Unpin + 'static,
    B: AsRef<[u8]>,
{
    tokio::spawn(tokio::time::timeout(DRAIN_TIME, async move {
        while read <= DRAIN_BYTES {
            match stream.next().await {
                Some(Ok(chunk)) => read += chunk.as_ref().len() as u64,
                Some(Err(_)) | None => return,
            }
        }
    }));
}

fn body_is_empty(req: &mut Request) -> bool {
    let body = req.take_body();
    let empty = body.is_empty();
    req.set_body(body);
    empty
}

fn too_large() -> Response {
    ApiError::payload_too_large().into_response()
}
