//! Browser pages (CORS): a listed origin reads every answer and gets its preflights answered,
//! on every route, those with path parameters too; any other origin gets no CORS header and a
//! refused preflight; a request without `Origin` is served as it always was.

use serde_json::{Value, json};

use crate::helpers::{Backend, spawn, spawn_with};

const APP: &str = "https://app.example.com";
const LISTED: &str = "--cors-allowed-origins=https://app.example.com,http://localhost:5173";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listed_origin_gets_its_preflights_answered_and_reads_the_answers() {
    let suite = spawn_with(Backend::Postgres, &[LISTED]).await;
    let (token, zoe) = suite.register("zoe").await;
    let url = format!("{}/users/username/zoe", suite.search.address);

    let preflight = testkit::preflight(&suite.client, &url, APP, "GET", "authorization").await;
    assert_eq!((preflight.status, &preflight.body), (204, &Value::Null));
    assert_eq!(
        preflight.cors_headers(),
        [
            ("access-control-allow-headers", "authorization, content-type, x-request-id"),
            ("access-control-allow-methods", "GET, HEAD"),
            ("access-control-allow-origin", APP),
            ("access-control-max-age", "7200"),
            ("vary", "Origin"),
        ]
    );

    let found = testkit::read(suite.client.get(&url).bearer_auth(&token).header("origin", APP)).await;
    assert_eq!((found.status, found.body.clone()), (200, json!({"username": "zoe", "user_id": zoe})));
    let readable = [
        ("access-control-allow-origin", APP),
        ("access-control-expose-headers", "retry-after, x-request-id"),
        ("vary", "Origin"),
    ];
    assert_eq!(found.cors_headers(), readable);

    // Errors are readable too, or a page could not tell a stale token from a network fault.
    let refused = testkit::read(suite.client.get(&url).header("origin", APP)).await;
    assert_eq!(refused.status, 401);
    assert_eq!(refused.body["code"], "missing_token");
    assert_eq!(refused.cors_headers(), readable);

    // Every origin on the list, each answered with its own.
    let other = testkit::preflight(&suite.client, &url, "http://localhost:5173", "GET", "authorization").await;
    assert_eq!(other.status, 204);
    assert_eq!(other.headers["access-control-allow-origin"], "http://localhost:5173");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_origin_gets_no_cors_headers_and_its_preflight_is_refused() {
    let suite = spawn_with(Backend::Postgres, &[LISTED]).await;
    let (token, zoe) = suite.register("zoe").await;
    let url = format!("{}/users/username/zoe", suite.search.address);

    // Near misses of a listed origin are other origins.
    for origin in ["https://evil.example", "http://app.example.com", "https://app.example.com:8443", "null"] {
        let preflight = testkit::preflight(&suite.client, &url, origin, "GET", "authorization").await;
        assert_eq!(
            (preflight.status, &preflight.body),
            (
                403,
                &json!({
                    "error": format!("pages of origin {origin:?} may not call this API from a browser"),
                    "code": "origin_not_allowed"
                })
            ),
            "{origin}"
        );
        assert_eq!(preflight.cors_headers(), [("vary", "Origin")], "{origin}");
    }

    // A request that needs no preflight is served, but without the header that would let
    // the browser show the answer to the page.
    let found =
        testkit::read(suite.client.get(&url).bearer_auth(&token).header("origin", "https://evil.example")).await;
    assert_eq!((found.status, &found.body), (200, &json!({"username": "zoe", "user_id": zoe})));
    assert_eq!(found.cors_headers(), [("vary", "Origin")]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_origin_or_without_a_list_nothing_changes() {
    let (listed, unlisted) = (spawn_with(Backend::Postgres, &[LISTED]).await, spawn(Backend::Postgres).await);
    for (suite, vary) in [(&listed, vec![("vary", "Origin")]), (&unlisted, vec![])] {
        let (token, zoe) = suite.register("zoe").await;
        let found = suite.get("/users/username/zoe", Some(&token)).await;
        assert_eq!((found.status, found.body.clone()), (200, json!({"username": "zoe", "user_id": zoe})));
        assert_eq!(found.cors_headers(), vary);

        // An OPTIONS that is no preflight still gets the 405 naming what the route takes.
        let url = format!("{}/users/username/zoe", suite.search.address);
        let options = testkit::read(suite.client.request(reqwest::Method::OPTIONS, &url)).await;
        assert_eq!(
            (options.status, options.body),
            (405, json!({"error": "method not allowed on this route", "code": "method_not_allowed"}))
        );
        assert_eq!(options.headers["allow"], "GET, HEAD");

        // The documents schemathesis reads describe the routes, not the preflights.
        let document = suite.get("/openapi.json", None).await.body;
        let methods = document["paths"].as_object().unwrap().values().flat_map(|p| p.as_object().unwrap().keys());
        assert!(methods.clone().all(|m| m != "options"), "{:?}", methods.collect::<Vec<_>>());
    }

    // With no origin listed, no browser page of another origin is let in.
    let url = format!("{}/users/username/zoe", unlisted.search.address);
    let preflight = testkit::preflight(&unlisted.client, &url, APP, "GET", "authorization").await;
    assert_eq!((preflight.status, &preflight.body["code"]), (403, &json!("origin_not_allowed")));
    assert_eq!(preflight.cors_headers(), Vec::<(&str, &str)>::new());
}
