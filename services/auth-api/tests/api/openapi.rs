//! The committed spec is what the handlers generate; regenerate it with
//! `cargo run -p auth-api -- openapi > openapi/auth-api.json`.

#[test]
fn the_committed_openapi_document_is_current() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../openapi/auth-api.json");
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    let generated = shared::http::openapi_document(&auth_api::startup::openapi());
    assert!(
        committed.trim_end() == generated.trim_end(),
        "openapi/auth-api.json is stale: run `cargo run -p auth-api -- openapi > openapi/auth-api.json`"
    );
}

#[test]
fn the_spec_lists_every_contract_route_and_its_error_statuses() {
    let spec: serde_json::Value =
        serde_json::from_str(&shared::http::openapi_document(&auth_api::startup::openapi())).unwrap();
    for (path, method) in [
        ("/register", "post"),
        ("/login", "post"),
        ("/token/refresh", "post"),
        ("/logout", "post"),
        ("/me", "get"),
        ("/.well-known/jwks.json", "get"),
    ] {
        assert!(spec["paths"][path][method].is_object(), "{method} {path} missing");
    }
    let register = &spec["paths"]["/register"]["post"]["responses"];
    for status in ["201", "400", "409", "413", "429", "503"] {
        assert!(register[status].is_object(), "register lacks {status}");
    }
    assert!(spec["paths"]["/me"]["get"]["security"].is_array());
}

#[test]
fn the_bearer_scheme_asks_for_the_bare_token() {
    let spec: serde_json::Value =
        serde_json::from_str(&shared::http::openapi_document(&auth_api::startup::openapi())).unwrap();
    let scheme = &spec["components"]["securitySchemes"]["BearerAuth"];
    assert_eq!((&scheme["type"], &scheme["scheme"]), (&serde_json::json!("http"), &serde_json::json!("bearer")));
    assert!(scheme["description"].as_str().unwrap().contains("paste the token alone"), "{scheme}");
}
