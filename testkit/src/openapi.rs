//! A service's OpenAPI document read back as a test states it: whether the committed copy is
//! current, what each operation answers, what it leaves undescribed, and the body
//! Swagger UI sends when "Try it out" is executed unchanged.

use std::path::Path;

use serde_json::{Map, Value};

/// The codes every bearer-protected operation's 401 may carry.
pub const BEARER_CODES: [&str; 3] = ["missing_token", "invalid_token", "token_expired"];

/// Fails when `openapi/<file>` as committed is not `generated`, the document the code makes now.
pub fn assert_committed(file: &str, generated: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../openapi").join(file);
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    assert!(committed.trim_end() == generated.trim_end(), "openapi/{file} is stale: run scripts/openapi");
}

/// Each operation (`"GET /me"`) with each status it lists and, for an error, the `code`s its
/// body may carry there: `{"GET /me": {"200": [], "401": ["missing_token", …], …}, …}`.
pub fn answers(document: &str) -> Value {
    let document: Value = serde_json::from_str(document).unwrap();
    let mut answers = Map::new();
    for (path, methods) in document["paths"].as_object().unwrap() {
        for (method, operation) in methods.as_object().unwrap() {
            let statuses = operation["responses"].as_object().unwrap();
            let statuses = statuses.iter().map(|(status, response)| (status.clone(), codes(response))).collect();
            answers.insert(format!("{} {path}", method.to_uppercase()), Value::Object(statuses));
        }
    }
    Value::Object(answers)
}

/// The `code`s an error response's schema allows (the `enum` `Refused<R>` puts beside the
/// contract's body); none for a success.
fn codes(response: &Value) -> Value {
    let schema = response["content"].as_object().and_then(|media| media.values().next()).map(|m| &m["schema"]);
    let allowed = schema
        .and_then(|s| s["allOf"].as_array())
        .and_then(|parts| parts.iter().find_map(|part| part.pointer("/properties/code/enum").cloned()));
    allowed.unwrap_or(Value::Array(Vec::new()))
}

/// Everything a reader of the document is left to guess at: each schema property, parameter
/// and response without a description, as `"schema Me.email"`, `"GET /chats parameter limit"`
/// and `"GET /me response 200"`.
pub fn undescribed(document: &str) -> Vec<String> {
    let document: Value = serde_json::from_str(document).unwrap();
    let described = |value: &Value| !value["description"].as_str().unwrap_or_default().trim().is_empty();
    let mut undescribed = Vec::new();
    for (name, schema) in document["components"]["schemas"].as_object().into_iter().flatten() {
        for (property, value) in schema["properties"].as_object().into_iter().flatten() {
            if !described(value) {
                undescribed.push(format!("schema {name}.{property}"));
            }
        }
    }
    for (path, methods) in document["paths"].as_object().unwrap() {
        for (method, operation) in methods.as_object().unwrap() {
            let operation_name = format!("{} {path}", method.to_uppercase());
            for parameter in operation["parameters"].as_array().into_iter().flatten() {
                if !described(parameter) {
                    undescribed.push(format!("{operation_name} parameter {}", parameter["name"].as_str().unwrap()));
                }
            }
            for (status, response) in operation["responses"].as_object().into_iter().flatten() {
                if !described(response) {
                    undescribed.push(format!("{operation_name} response {status}"));
                }
            }
        }
    }
    undescribed
}

/// The body Swagger UI fills in for the request schema `name`: each property's example.
pub fn example_body(document: &str, name: &str) -> Value {
    let document: Value = serde_json::from_str(document).unwrap();
    let properties = document["components"]["schemas"][name]["properties"].as_object().unwrap();
    let body = properties.iter().map(|(property, schema)| (property.clone(), schema["example"].clone()));
    Value::Object(body.collect())
}
