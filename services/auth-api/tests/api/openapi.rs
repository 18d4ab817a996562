//! The document tells the truth: the committed one is what the handlers generate (regenerate
//! it with `scripts/openapi`), and each operation lists exactly what it can answer
//! (schemathesis checks the handlers against it: `scripts/schemathesis`).

use serde_json::json;
use testkit::openapi::answers;

fn document() -> String {
    shared::http::openapi_document(&auth_api::startup::openapi())
}

#[test]
fn the_committed_openapi_document_is_current() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../openapi/auth-api.json");
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    assert!(committed.trim_end() == document().trim_end(), "openapi/auth-api.json is stale: run scripts/openapi");
}

#[test]
fn each_operation_lists_exactly_the_statuses_and_codes_it_can_answer() {
    let bearer = ["missing_token", "invalid_token", "token_expired"];
    assert_eq!(
        answers(&document()),
        json!({
            "POST /register": {
                "201": [],
                "400": ["invalid_request", "invalid_field"],
                "409": ["username_taken", "email_taken"],
                "413": ["payload_too_large"],
                "415": ["invalid_request"],
                "429": ["rate_limited"],
                "500": ["internal"],
                "503": ["overloaded", "unavailable"],
            },
            "POST /login": {
                "200": [],
                "400": ["invalid_request", "invalid_field"],
                "401": ["invalid_credentials"],
                "413": ["payload_too_large"],
                "415": ["invalid_request"],
                "429": ["rate_limited"],
                "500": ["internal"],
                "503": ["overloaded", "unavailable"],
            },
            "POST /token/refresh": {
                "200": [],
                "400": ["invalid_request"],
                "401": ["invalid_refresh_token", "refresh_token_reused", "refresh_token_expired"],
                "413": ["payload_too_large"],
                "415": ["invalid_request"],
                "500": ["internal"],
                "503": ["unavailable"],
            },
            "POST /logout": {
                "204": [],
                "400": ["invalid_request"],
                "413": ["payload_too_large"],
                "415": ["invalid_request"],
                "500": ["internal"],
                "503": ["unavailable"],
            },
            "GET /me": {"200": [], "401": bearer, "500": ["internal"], "503": ["unavailable"]},
            "PUT /me/device": {
                "204": [],
                "400": ["invalid_request", "invalid_field"],
                "401": bearer,
                "413": ["payload_too_large"],
                "415": ["invalid_request"],
                "500": ["internal"],
                "503": ["unavailable"],
            },
            "DELETE /me/device": {"204": [], "401": bearer, "500": ["internal"], "503": ["unavailable"]},
            "GET /.well-known/jwks.json": {"200": []},
        })
    );
}

#[test]
fn the_bearer_scheme_asks_for_the_bare_token() {
    let document: serde_json::Value = serde_json::from_str(&document()).unwrap();
    let scheme = &document["components"]["securitySchemes"]["BearerAuth"];
    assert_eq!((&scheme["type"], &scheme["scheme"]), (&json!("http"), &json!("bearer")));
    assert!(scheme["description"].as_str().unwrap().contains("paste the token alone"), "{scheme}");
}
