//! chat-suite's document is its services' documents joined: each operation is documented
//! there exactly as in its own service (whose tests pin what it answers).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

use serde_json::{Map, Value};

fn paths(document: &str) -> Map<String, Value> {
    let document: Value = serde_json::from_str(document).unwrap();
    document["paths"].as_object().unwrap().clone()
}

#[test]
fn each_operation_is_documented_as_in_its_own_service() {
    let output = Command::new(env!("CARGO_BIN_EXE_chat-suite")).arg("openapi").env_clear().output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let suite = paths(&String::from_utf8(output.stdout).unwrap());

    let mut services = paths(&shared::http::openapi_document(&auth_api::startup::openapi()));
    services.extend(paths(&shared::http::openapi_document(&user_search::startup::openapi())));
    services.extend(paths(&shared::http::openapi_document(&chat_gateway::startup::openapi())));
    assert_eq!(suite.keys().collect::<Vec<_>>(), services.keys().collect::<Vec<_>>());
    for (path, operations) in &services {
        assert_eq!(&suite[path], operations, "{path}");
    }
}
