//! How the page is served: at `/` with a strict policy, its files with their types, an
//! unknown file a 404, nothing of it in the API's document.

use reqwest::{Client, StatusCode, header};

/// reqwest here has no crypto provider of its own: clients come from `shared::http_client`.
fn client() -> Client {
    shared::http_client::builder().build().unwrap()
}
use serde_json::{Value, json};

use crate::suite::Suite;

const INDEX: &str = include_str!("../../web/index.html");
/// What the page loads, with the type each must be served with.
const FILES: [(&str, &str, &str); 15] = [
    ("/web/actions.js", "text/javascript; charset=utf-8", include_str!("../../web/actions.js")),
    ("/web/app.js", "text/javascript; charset=utf-8", include_str!("../../web/app.js")),
    ("/web/chat.js", "text/javascript; charset=utf-8", include_str!("../../web/chat.js")),
    ("/web/dom.js", "text/javascript; charset=utf-8", include_str!("../../web/dom.js")),
    ("/web/groups.js", "text/javascript; charset=utf-8", include_str!("../../web/groups.js")),
    ("/web/people.js", "text/javascript; charset=utf-8", include_str!("../../web/people.js")),
    ("/web/push.js", "text/javascript; charset=utf-8", include_str!("../../web/push.js")),
    ("/web/sw.js", "text/javascript; charset=utf-8", include_str!("../../web/sw.js")),
    ("/web/state.js", "text/javascript; charset=utf-8", include_str!("../../web/state.js")),
    ("/web/sync.js", "text/javascript; charset=utf-8", include_str!("../../web/sync.js")),
    ("/web/view.js", "text/javascript; charset=utf-8", include_str!("../../web/view.js")),
    ("/web/session.js", "text/javascript; charset=utf-8", include_str!("../../web/session.js")),
    ("/web/socket.js", "text/javascript; charset=utf-8", include_str!("../../web/socket.js")),
    ("/web/style.css", "text/css; charset=utf-8", include_str!("../../web/style.css")),
    ("/web/icon.svg", "image/svg+xml", include_str!("../../../../shared/src/http/favicon.svg")),
];

fn policy(host: &str) -> String {
    format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
         connect-src 'self' ws://{host} wss://{host}; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )
}

fn header(resp: &reqwest::Response, name: header::HeaderName) -> &str {
    resp.headers().get(&name).unwrap_or_else(|| panic!("no {name}")).to_str().unwrap()
}

#[tokio::test]
async fn the_start_up_line_names_the_page_and_the_docs() {
    let suite = Suite::start();
    let base = &suite.base;
    assert_eq!(suite.ready, format!("chat-suite ready: open {base}/ (API docs: {base}/docs)"));
    let client = client();
    for url in [format!("{base}/"), format!("{base}/docs")] {
        let resp = client.get(&url).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "{url}");
        assert!(header(&resp, header::CONTENT_TYPE).starts_with("text/html"), "{url}");
    }
}

#[tokio::test]
async fn the_page_is_served_at_the_root_with_a_strict_policy() {
    let suite = Suite::start();
    let resp = client().get(format!("{}/", suite.base)).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(header(&resp, header::CONTENT_TYPE), "text/html; charset=utf-8");
    assert_eq!(header(&resp, header::CONTENT_SECURITY_POLICY), policy(suite.base.trim_start_matches("http://")));
    assert_eq!(header(&resp, header::X_CONTENT_TYPE_OPTIONS), "nosniff");
    assert_eq!(header(&resp, header::CACHE_CONTROL), "no-cache");
    assert_eq!(header(&resp, header::REFERRER_POLICY), "no-referrer");
    assert!(header(&resp, header::ETAG).starts_with('"'));
    assert_eq!(resp.text().await.unwrap(), INDEX);
}

#[tokio::test]
async fn every_file_the_page_loads_is_served_with_its_type() {
    // What the page and its scripts name is what FILES lists, so a file named but not
    // embedded fails here.
    let mut named: Vec<String> =
        INDEX.split("\"/web/").skip(1).map(|rest| format!("/web/{}", until_quote(rest))).collect();
    for (_, _, source) in FILES {
        named.extend(source.split("from \"./").skip(1).map(|rest| format!("/web/{}", until_quote(rest))));
        // Files a script names by path: the service worker, the icon.
        named.extend(
            source.split("\"/web/").skip(1).map(until_quote).filter(|f| f.contains('.')).map(|f| format!("/web/{f}")),
        );
    }
    named.sort();
    named.dedup();
    let mut listed: Vec<&str> = FILES.iter().map(|(path, _, _)| *path).collect();
    listed.sort();
    assert_eq!(named, listed);

    let suite = Suite::start();
    let client = client();
    for (path, content_type, body) in FILES {
        let resp = client.get(format!("{}{path}", suite.base)).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "{path}");
        assert_eq!(header(&resp, header::CONTENT_TYPE), content_type, "{path}");
        assert_eq!(header(&resp, header::X_CONTENT_TYPE_OPTIONS), "nosniff", "{path}");
        assert_eq!(header(&resp, header::CACHE_CONTROL), "no-cache", "{path}");
        assert_eq!(resp.text().await.unwrap(), body, "{path}");
    }
}

fn until_quote(text: &str) -> &str {
    text.split('"').next().unwrap()
}

#[tokio::test]
async fn an_unknown_file_is_a_404_and_the_page_has_one_address() {
    let suite = Suite::start();
    let client = client();
    for path in ["/web/nope.js", "/web/index.html", "/web/", "/index.html", "/web/app.js/x"] {
        let resp = client.get(format!("{}{path}", suite.base)).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::NOT_FOUND, "{path}");
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body, json!({"error": "no such route", "code": "not_found"}), "{path}");
    }
}

#[tokio::test]
async fn an_unchanged_file_is_not_sent_again() {
    let suite = Suite::start();
    let client = client();
    for path in ["/", "/web/app.js"] {
        let url = format!("{}{path}", suite.base);
        let first = client.get(&url).send().await.unwrap();
        let etag = header(&first, header::ETAG).to_owned();
        let again = client.get(&url).header(header::IF_NONE_MATCH, &etag).send().await.unwrap();
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED, "{path}");
        assert_eq!(header(&again, header::ETAG), etag, "{path}");
        assert_eq!(again.text().await.unwrap(), "", "{path}");
        let other = client.get(&url).header(header::IF_NONE_MATCH, "\"something-else\"").send().await.unwrap();
        assert_eq!(other.status(), StatusCode::OK, "{path}");
    }
}

#[tokio::test]
async fn the_page_is_not_part_of_the_api_or_its_document() {
    let suite = Suite::start();
    let client = client();
    let spec: Value = client.get(format!("{}/openapi.json", suite.base)).send().await.unwrap().json().await.unwrap();
    let paths: Vec<&String> = spec["paths"].as_object().unwrap().keys().collect();
    assert!(paths.iter().all(|p| *p != "/" && !p.starts_with("/web")), "{paths:?}");
    assert!(paths.contains(&&"/register".to_owned()), "{paths:?}");

    let resp = client.post(format!("{}/", suite.base)).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(header(&resp, header::ALLOW), "GET, HEAD");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body, json!({"error": "method not allowed on this route", "code": "method_not_allowed"}));
}

/// A Host header is the client's to choose: one that could end the `connect-src` directive
/// and start another is left out of the policy, which then allows this origin only.
#[tokio::test]
async fn a_host_that_could_smuggle_a_directive_is_left_out_of_the_policy() {
    let suite = Suite::start();
    let resp =
        client().get(format!("{}/", suite.base)).header(header::HOST, "evil; script-src *").send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        header(&resp, header::CONTENT_SECURITY_POLICY),
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; \
         base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    );
}
