//! The committed spec is what the handlers generate; `scripts/openapi` regenerates it.

#[test]
fn the_committed_openapi_document_is_current() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../openapi/user-search.json");
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        committed.trim_end() == shared::http::openapi_document(&user_search::startup::openapi()).trim_end(),
        "openapi/user-search.json is stale: run scripts/openapi"
    );
}
