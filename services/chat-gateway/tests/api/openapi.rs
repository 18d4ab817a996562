//! The committed spec is what the handlers generate; `scripts/openapi` regenerates it.

#[test]
fn the_committed_openapi_document_is_current() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../openapi/chat-gateway.json");
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        committed.trim_end() == shared::http::openapi_document(&chat_gateway::startup::openapi()).trim_end(),
        "openapi/chat-gateway.json is stale: run scripts/openapi"
    );
}
