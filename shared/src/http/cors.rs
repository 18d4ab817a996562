//! CORS for browser pages of the origins in `CORS_ALLOWED_ORIGINS`.
//!
//! A listed origin gets `Access-Control-Allow-Origin` on every answer, errors included (a page
//! must be able to read a 401 or a 429 and its `Retry-After`), and its preflight (`OPTIONS`
//! with `Access-Control-Request-Method`, on any path) is answered here, before routing. Any
//! other origin gets no CORS header, so the browser keeps the answer from the page, and its
//! preflight a 403. A request without `Origin`, or an unlisted one that needs no preflight,
//! reaches the routes as before: a same-origin `POST` from chat-suite's own page carries an
//! `Origin` too, and must work without being listed.
//!
//! Not poem's `Cors`: it answers 403 to every request of an unlisted origin (same-origin ones
//! included), allows every origin when none is listed, leaves `Vary: Origin` off exact
//! matches, and its refusals are not the contract's JSON errors. No
//! `Access-Control-Allow-Credentials`: tokens travel in `Authorization`, not in cookies.

use std::sync::Arc;

use poem::{
    Endpoint, IntoResponse, Request, Response, Result,
    http::{
        HeaderValue, Method, StatusCode,
        header::{
            ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS, ACCESS_CONTROL_ALLOW_ORIGIN,
            ACCESS_CONTROL_EXPOSE_HEADERS, ACCESS_CONTROL_MAX_AGE, ACCESS_CONTROL_REQUEST_METHOD, ORIGIN, VARY,
        },
    },
};

use super::AllowedMethods;
use crate::{ApiError, origins::AllowedOrigins};

/// What a page may send besides the safelisted headers: the bearer token, a JSON body's
/// type, its own request id.
const ALLOW_HEADERS: &str = "authorization, content-type, x-request-id";
/// What a page may read besides the safelisted headers.
const EXPOSE_HEADERS: &str = "retry-after, x-request-id";
/// How long a browser may reuse a preflight's answer: Chromium's ceiling (Firefox allows a
/// day), so a page does not pay a preflight before every call. An origin taken off the list
/// loses nothing by it: the answers themselves stop carrying `Access-Control-Allow-Origin`.
const MAX_AGE_SECONDS: &str = "7200";

pub(super) async fn apply<E: Endpoint>(
    origins: Arc<AllowedOrigins>,
    allowed: Arc<AllowedMethods>,
    ep: Arc<E>,
    req: Request,
) -> Result<Response> {
    let Some(origin) = req.headers().get(ORIGIN).cloned() else {
        return Ok(vary(&origins, ep.get_response(req).await));
    };
    let listed = origin.to_str().is_ok_and(|o| origins.allows(o));
    let resp = match (is_preflight(&req), listed) {
        (true, true) => preflight(origin, allowed.header_for(req.uri().path())),
        (true, false) => ApiError::origin_not_allowed(origin.to_str().unwrap_or_default()).into_response(),
        (false, listed) => {
            let mut resp = ep.get_response(req).await;
            if listed {
                resp.headers_mut().insert(ACCESS_CONTROL_ALLOW_ORIGIN, origin);
                resp.headers_mut().insert(ACCESS_CONTROL_EXPOSE_HEADERS, HeaderValue::from_static(EXPOSE_HEADERS));
            }
            resp
        }
    };
    Ok(vary(&origins, resp))
}

/// Which origin asked decides the answer's headers, so a shared cache must key on it too
/// (with no origin listed, nothing depends on it).
fn vary(origins: &AllowedOrigins, mut resp: Response) -> Response {
    if !origins.is_empty() {
        resp.headers_mut().append(VARY, HeaderValue::from_static("Origin"));
    }
    resp
}

/// An `OPTIONS` without `Access-Control-Request-Method` is no preflight: it is routed, and
/// gets the 405 with `Allow` that any other method a route does not take gets.
fn is_preflight(req: &Request) -> bool {
    req.method() == Method::OPTIONS && req.headers().contains_key(ACCESS_CONTROL_REQUEST_METHOD)
}

/// The answer to a listed origin's preflight: the methods the path takes (none named for a
/// path no route has; the request itself then gets the 404), the headers a page may send.
fn preflight(origin: HeaderValue, methods: Option<String>) -> Response {
    let mut resp = Response::builder()
        .status(StatusCode::NO_CONTENT)
        .header(ACCESS_CONTROL_ALLOW_ORIGIN, origin)
        .header(ACCESS_CONTROL_ALLOW_HEADERS, ALLOW_HEADERS)
        .header(ACCESS_CONTROL_MAX_AGE, MAX_AGE_SECONDS)
        .finish();
    if let Some(methods) = methods.and_then(|m| HeaderValue::from_str(&m).ok()) {
        resp.headers_mut().insert(ACCESS_CONTROL_ALLOW_METHODS, methods);
    }
    resp
}
