//! The document tells the truth: the committed one is what the handlers generate (regenerate
//! it with `scripts/openapi`), and each operation lists exactly what it can answer
//! (schemathesis checks the handlers against it: `scripts/schemathesis`).

use serde_json::json;
use testkit::openapi::{BEARER_CODES, answers, assert_committed, undescribed};

fn document() -> String {
    shared::http::openapi_document(&chat_gateway::startup::openapi())
}

#[test]
fn the_committed_openapi_document_is_current() {
    assert_committed("chat-gateway.json", &document());
}

#[test]
fn each_operation_lists_exactly_the_statuses_and_codes_it_can_answer() {
    let bearer = BEARER_CODES;
    assert_eq!(
        answers(&document()),
        json!({
            "GET /chats": {
                "200": [],
                "400": ["invalid_request", "invalid_field"],
                "401": bearer,
                "500": ["internal"],
                "503": ["unavailable"],
            },
            "POST /chats": {
                "201": [],
                "400": ["invalid_request", "invalid_field", "too_many_members"],
                "401": bearer,
                "404": ["not_found"],
                "413": ["payload_too_large"],
                "415": ["invalid_request"],
                "500": ["internal"],
                "503": ["unavailable"],
            },
            "GET /chats/{chat_id}": {
                "200": [],
                "400": ["invalid_request", "invalid_field"],
                "401": bearer,
                "403": ["forbidden"],
                "500": ["internal"],
                "503": ["unavailable"],
            },
            "GET /chats/{chat_id}/messages": {
                "200": [],
                "400": ["invalid_request", "invalid_field"],
                "401": bearer,
                "403": ["forbidden"],
                "500": ["internal"],
                "503": ["unavailable"],
            },
            "PUT /me/blocks/{user_id}": {
                "204": [],
                "400": ["invalid_request", "invalid_field"],
                "401": bearer,
                "404": ["not_found"],
                "500": ["internal"],
                "503": ["unavailable"],
            },
            "DELETE /me/blocks/{user_id}": {
                "204": [],
                "400": ["invalid_request", "invalid_field"],
                "401": bearer,
                "500": ["internal"],
                "503": ["unavailable"],
            },
            "GET /me/blocks": {"200": [], "401": bearer, "500": ["internal"], "503": ["unavailable"]},
            "PUT /chats/{chat_id}/mute": {
                "200": [],
                "400": ["invalid_request", "invalid_field"],
                "401": bearer,
                "403": ["forbidden"],
                "413": ["payload_too_large"],
                "415": ["invalid_request"],
                "500": ["internal"],
                "503": ["unavailable"],
            },
            "DELETE /chats/{chat_id}/mute": {
                "204": [],
                "400": ["invalid_request", "invalid_field"],
                "401": bearer,
                "403": ["forbidden"],
                "500": ["internal"],
                "503": ["unavailable"],
            },
        })
    );
}

/// Every schema property, parameter and response says what it is (19 properties and every
/// `200` response did not).
#[test]
fn every_property_parameter_and_response_is_described() {
    assert_eq!(undescribed(&document()), Vec::<String>::new());
}
