//! The document tells the truth: the committed one is what the handlers generate (regenerate
//! it with `scripts/openapi`), each operation lists exactly what it can answer (schemathesis
//! checks the handlers against it: `scripts/schemathesis`), and its examples work.

use serde_json::json;
use testkit::openapi::{BEARER_CODES, answers, assert_committed, example_body, undescribed};

use crate::helpers::{Backend, spawn_app};

fn document() -> String {
    shared::http::openapi_document(&auth_api::startup::openapi())
}

#[test]
fn the_committed_openapi_document_is_current() {
    assert_committed("auth-api.json", &document());
}

#[test]
fn each_operation_lists_exactly_the_statuses_and_codes_it_can_answer() {
    let bearer = BEARER_CODES;
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
            "DELETE /me": {
                "204": [],
                "400": ["invalid_request", "invalid_field"],
                "401": bearer,
                "403": ["invalid_credentials"],
                "413": ["payload_too_large"],
                "415": ["invalid_request"],
                "429": ["rate_limited"],
                "500": ["internal"],
                "503": ["overloaded", "unavailable"],
            },
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
            "POST /me/devices": {
                "201": [],
                "400": ["invalid_request", "invalid_field"],
                "401": bearer,
                "413": ["payload_too_large"],
                "415": ["invalid_request"],
                "500": ["internal"],
                "503": ["unavailable"],
            },
            "GET /me/devices": {"200": [], "401": bearer, "500": ["internal"], "503": ["unavailable"]},
            "DELETE /me/devices/{device_id}": {
                "204": [],
                "400": ["invalid_request"],
                "401": bearer,
                "404": ["not_found"],
                "500": ["internal"],
                "503": ["unavailable"],
            },
            "GET /push/vapid-public-key": {"200": [], "204": []},
            "GET /.well-known/jwks.json": {"200": []},
        })
    );
}

/// Every schema property, parameter and response says what it is (seven properties and the
/// `200`s of `/me`, `/login` and `/token/refresh` did not).
#[test]
fn every_property_parameter_and_response_is_described() {
    assert_eq!(undescribed(&document()), Vec::<String>::new());
}

#[test]
fn the_bearer_scheme_asks_for_the_bare_token() {
    let document: serde_json::Value = serde_json::from_str(&document()).unwrap();
    let scheme = &document["components"]["securitySchemes"]["BearerAuth"];
    assert_eq!((&scheme["type"], &scheme["scheme"]), (&json!("http"), &json!("bearer")));
    assert!(scheme["description"].as_str().unwrap().contains("paste the token alone"), "{scheme}");
}

/// Swagger UI's "Try it out", executed unchanged, registers, logs in and reads `/me`.
async fn the_documented_examples_register_and_log_in(backend: Backend) {
    let app = spawn_app(backend).await;
    let document = document();

    let register = example_body(&document, "RegisterRequest");
    let registered = app.post("/register", register.clone()).await;
    assert_eq!(registered.status, 201, "{register} → {}", registered.body);
    assert_eq!(registered.body["username"], register["username"]);

    let login = example_body(&document, "LoginRequest");
    let logged_in = app.post("/login", login.clone()).await;
    assert_eq!(logged_in.status, 200, "{login} → {}", logged_in.body);

    let me = app.get("/me", logged_in.body["access_token"].as_str()).await;
    assert_eq!(me.status, 200, "{}", me.body);
    assert_eq!((&me.body["username"], &me.body["email"]), (&register["username"], &register["email"]));
}

testkit::on_both_backends!(the_documented_examples_register_and_log_in);
