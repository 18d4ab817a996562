//! The web client at `/`: a page, its scripts and its style, embedded in the binary so that
//! `cargo run --release` serves it with nothing to build or fetch. chat-suite alone serves it,
//! beside the API as `/docs` is and outside the OpenAPI document: it is no part of the API,
//! and schemathesis tests every route the document lists.

use std::{
    hash::{DefaultHasher, Hasher},
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
    sync::Arc,
};

use poem::{
    IntoResponse, Request, Response,
    endpoint::make_sync,
    error::NotFoundError,
    http::{
        StatusCode,
        header::{
            CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, ETAG, IF_NONE_MATCH, REFERRER_POLICY,
            X_CONTENT_TYPE_OPTIONS,
        },
    },
};
use poem_openapi::OperationId;
use shared::http::GetRoutes;

/// The files under `web/` and their types, and the icon, which every service serves as its
/// `/favicon.ico` too (shared's). A file the page names must be listed here, and a test checks
/// that it is.
const FILES: [(&str, &str, &[u8]); 16] = [
    ("index.html", "text/html; charset=utf-8", include_bytes!("../web/index.html")),
    ("actions.js", "text/javascript; charset=utf-8", include_bytes!("../web/actions.js")),
    ("app.js", "text/javascript; charset=utf-8", include_bytes!("../web/app.js")),
    ("chat.js", "text/javascript; charset=utf-8", include_bytes!("../web/chat.js")),
    ("dom.js", "text/javascript; charset=utf-8", include_bytes!("../web/dom.js")),
    ("groups.js", "text/javascript; charset=utf-8", include_bytes!("../web/groups.js")),
    ("people.js", "text/javascript; charset=utf-8", include_bytes!("../web/people.js")),
    ("push.js", "text/javascript; charset=utf-8", include_bytes!("../web/push.js")),
    ("sw.js", "text/javascript; charset=utf-8", include_bytes!("../web/sw.js")),
    ("state.js", "text/javascript; charset=utf-8", include_bytes!("../web/state.js")),
    ("sync.js", "text/javascript; charset=utf-8", include_bytes!("../web/sync.js")),
    ("view.js", "text/javascript; charset=utf-8", include_bytes!("../web/view.js")),
    ("session.js", "text/javascript; charset=utf-8", include_bytes!("../web/session.js")),
    ("socket.js", "text/javascript; charset=utf-8", include_bytes!("../web/socket.js")),
    ("style.css", "text/css; charset=utf-8", include_bytes!("../web/style.css")),
    ("icon.svg", "image/svg+xml", shared::http::ICON_SVG),
];

/// The page at `/`; every other file under `/web/`.
const PAGE: &str = "index.html";

struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
    /// Quoted, as the header carries it.
    etag: String,
}

/// `/` and `/web/{file}`, added to the routes outside the document.
pub fn routes(routes: GetRoutes) -> GetRoutes {
    let assets: Arc<Vec<Asset>> = Arc::new(FILES.iter().map(|&(name, ty, body)| Asset::new(name, ty, body)).collect());
    let page = assets.clone();
    routes.get("/", make_sync(move |req| serve(&page, PAGE, &req))).get(
        "/web/:file",
        make_sync(move |req| match req.raw_path_param("file") {
            // The page has one address only: `/`.
            Some(PAGE) | None => Err(NotFoundError.into()),
            Some(file) => serve(&assets, file, &req),
        }),
    )
}

/// Where a person opens the page when the suite listens on `bound`: an unspecified address
/// (`0.0.0.0`, `::`) is not one a browser can open, its loopback is.
pub fn page_url(bound: SocketAddr) -> String {
    let host = match bound.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    format!("http://{}/", SocketAddr::new(host, bound.port()))
}

impl Asset {
    fn new(name: &'static str, content_type: &'static str, body: &'static [u8]) -> Self {
        // Any hash that changes with the content does: the files are fixed for the life of the
        // process, and a new build with other files gets other tags.
        let mut hasher = DefaultHasher::new();
        hasher.write(body);
        Self { name, content_type, body, etag: format!("\"{:016x}\"", hasher.finish()) }
    }
}

fn serve(assets: &[Asset], name: &str, req: &Request) -> poem::Result<Response> {
    let asset = assets.iter().find(|a| a.name == name).ok_or(NotFoundError)?;
    // `no-cache` is "ask every time": a new build's page is never mixed with an old script,
    // and the ETag makes the asking cheap.
    let unchanged = req.header(IF_NONE_MATCH).is_some_and(|tags| {
        tags.split(',').map(str::trim).any(|tag| tag == "*" || tag.trim_start_matches("W/") == asset.etag)
    });
    let builder = Response::builder()
        .header(ETAG, asset.etag.as_str())
        .header(CACHE_CONTROL, "no-cache")
        .header(CONTENT_SECURITY_POLICY, content_security_policy(host(req)))
        .header(X_CONTENT_TYPE_OPTIONS, "nosniff")
        // The page's links carry nothing secret, but nothing of it has to leave either.
        .header(REFERRER_POLICY, "no-referrer");
    let mut resp = match unchanged {
        true => builder.status(StatusCode::NOT_MODIFIED).finish(),
        false => builder.header(CONTENT_TYPE, asset.content_type).body(asset.body),
    };
    // The label of the request in `/metrics` (else "unmatched", as for unknown paths).
    resp.set_data(OperationId(if name == PAGE { "web_page" } else { "web_asset" }));
    Ok(resp.into_response())
}

/// The host the browser asked for, when it is one a policy can name.
fn host(req: &Request) -> Option<&str> {
    let host = req.header("host").or_else(|| req.uri().authority().map(|a| a.as_str()))?;
    // Letters, digits, dots, dashes, a port and IPv6 brackets: nothing that could end the
    // directive and start another.
    let plain = host.bytes().all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b));
    (plain && !host.is_empty()).then_some(host)
}

/// Scripts, style, images and connections from this origin only; nothing inline, no frames,
/// no form posting anywhere (the page's forms are handled by its script, so a password never
/// lands in a URL if the script fails to load).
///
/// CSP 3 lets `'self'` match `ws:`/`wss:` on the same host, but browsers before it (Safari
/// before 15.4) do not, so the socket's origin is named too when the host is known.
fn content_security_policy(host: Option<&str>) -> String {
    let sockets = host.map(|h| format!(" ws://{h} wss://{h}")).unwrap_or_default();
    format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
         connect-src 'self'{sockets}; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_url_is_one_a_browser_can_open() {
        let url = |addr: &str| page_url(addr.parse().unwrap_or_else(|e| panic!("{addr}: {e}")));
        assert_eq!(url("0.0.0.0:8080"), "http://127.0.0.1:8080/");
        assert_eq!(url("[::]:8080"), "http://[::1]:8080/");
        assert_eq!(url("127.0.0.1:41234"), "http://127.0.0.1:41234/");
        assert_eq!(url("192.0.2.7:80"), "http://192.0.2.7:80/");
        assert_eq!(url("[2001:db8::1]:8080"), "http://[2001:db8::1]:8080/");
    }

    #[test]
    fn only_a_plain_host_is_named_in_the_policy() {
        let policy = content_security_policy(Some("127.0.0.1:8080"));
        assert!(policy.contains("connect-src 'self' ws://127.0.0.1:8080 wss://127.0.0.1:8080;"), "{policy}");
        let req = |host: &str| Request::builder().header("host", host).finish();
        assert_eq!(host(&req("[::1]:8080")), Some("[::1]:8080"));
        assert_eq!(host(&req("chat.example.com")), Some("chat.example.com"));
        assert_eq!(host(&req("evil; script-src *")), None);
        assert_eq!(host(&req("")), None);
    }
}
