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
    serde_json::to_string_pretty(&document).unwrap_or(spec)
}

/// Every operation object of the document.
fn operations(document: &mut Value) -> impl Iterator<Item = &mut Value> {
    document["paths"]
        .as_object_mut()
        .into_iter()
        .flat_map(|paths| paths.values_mut())
        .flat_map(|path| path.as_object_mut().into_iter().flat_map(|methods| methods.values_mut()))
}
