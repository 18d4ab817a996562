//! The OpenAPI document a service serves at `/openapi.json` and in Swagger UI, and commits
//! under `openapi/`: poem-openapi's, with what its derive macros cannot say added. Which
//! statuses and codes each operation answers comes from its handler's type (`Refused<R>`).

use poem_openapi::{OpenApi, OpenApiService};
use serde_json::Value;

/// The document of `api`.
pub fn openapi_document<T: OpenApi>(api: &OpenApiService<T, ()>) -> String {
    let spec = api.spec();
    let Ok(mut document) = serde_json::from_str::<Value>(&spec) else { return spec };
    let mut body_schemas = Vec::new();
    for operation in operations(&mut document) {
        let Some(content) = operation.pointer("/requestBody/content").and_then(Value::as_object) else { continue };
        body_schemas
            .extend(content.values().filter_map(|media| media.pointer("/schema/$ref")?.as_str().map(str::to_owned)));
    }
    // Request bodies refuse unknown fields (`deny_unknown_fields`), which poem-openapi does not say.
    for reference in body_schemas {
        if let Some(schema) = document.pointer_mut(&reference.replacen('#', "", 1)) {
            schema["additionalProperties"] = Value::Bool(false);
        }
    }
    describe_bare_answers(&mut document);
    serde_json::to_string_pretty(&document).unwrap_or(spec)
}

/// A handler answering `Json<T>` rather than an `ApiResponse` leaves its response's
/// description empty: it is then its body's, the doc comment of `T`.
fn describe_bare_answers(document: &mut Value) {
    let schemas = document["components"]["schemas"].clone();
    for operation in operations(document) {
        let Some(responses) = operation["responses"].as_object_mut() else { continue };
        for response in responses.values_mut() {
            if response["description"].as_str().is_some_and(|d| !d.is_empty()) {
                continue;
            }
            let body = response["content"].as_object().and_then(|media| media.values().next()).map(|m| &m["schema"]);
            let body = match body.and_then(|schema| schema["$ref"].as_str()) {
                Some(reference) => reference.rsplit('/').next().map(|name| &schemas[name]),
                None => body,
            };
            if let Some(description) = body.and_then(|schema| schema["description"].as_str()) {
                response["description"] = Value::from(description);
            }
        }
    }
}

/// Every operation object of the document.
fn operations(document: &mut Value) -> impl Iterator<Item = &mut Value> {
    document["paths"]
        .as_object_mut()
        .into_iter()
        .flat_map(|paths| paths.values_mut())
        .flat_map(|path| path.as_object_mut().into_iter().flat_map(|methods| methods.values_mut()))
}
