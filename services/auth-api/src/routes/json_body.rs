//! `JsonBody<T>`: poem-openapi's `Json<T>` for request bodies, except that the 400 for a field
//! of the wrong type, or a required field left out, names the field. `Json<T>`'s reason names
//! only the object (`… (occurred while parsing "LoginRequest")`), which a client cannot act on.
//! The document is the same as with `Json<T>`: same media type, same schema.

use std::ops::Deref;

use poem::{FromRequest, Request, RequestBody, Result};
use poem_openapi::{
    error::ParseRequestPayloadError,
    impl_apirequest_for_payload,
    payload::{Json, ParsePayload, Payload},
    registry::{MetaSchema, MetaSchemaRef, Registry},
    types::{ParseFromJSON, Type},
};
use serde_json::Value;

#[derive(Debug)]
pub struct JsonBody<T>(pub T);

impl<T> Deref for JsonBody<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: Type> Payload for JsonBody<T> {
    const CONTENT_TYPE: &'static str = Json::<T>::CONTENT_TYPE;

    fn check_content_type(content_type: &str) -> bool {
        Json::<T>::check_content_type(content_type)
    }

    fn schema_ref() -> MetaSchemaRef {
        T::schema_ref()
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}

impl<T: ParseFromJSON> ParsePayload for JsonBody<T> {
    const IS_REQUIRED: bool = T::IS_REQUIRED;

    async fn from_request(request: &Request, body: &mut RequestBody) -> Result<Self> {
        let data = Vec::<u8>::from_request(request, body).await?;
        let value = if data.is_empty() { Value::Null } else { serde_json::from_slice(&data).map_err(rejected)? };
        match T::parse_from_json(Some(value)) {
            Ok(parsed) => Ok(Self(parsed)),
            Err(err) => {
                // Parsed again rather than cloned up front: only a refused body pays for it.
                let value = serde_json::from_slice(&data).unwrap_or(Value::Null);
                Err(match misfit_field::<T>(&value) {
                    Some(reason) => rejected(reason),
                    None => rejected(err.into_message()),
                })
            }
        }
    }
}

impl_apirequest_for_payload!(JsonBody<T>, T: ParseFromJSON);

fn rejected(reason: impl ToString) -> poem::Error {
    ParseRequestPayloadError { reason: reason.to_string() }.into()
}

/// The first property of `T`'s schema that `value` leaves out while required, or gives a JSON
/// type the schema does not allow, said as "field `name`: …" (the form `ApiError` reads the
/// field from).
fn misfit_field<T: Type>(value: &Value) -> Option<String> {
    let Value::Object(object) = value else { return None };
    let mut registry = Registry::new();
    T::register(&mut registry);
    let schema = registry.schemas.get(&*T::name())?;
    schema.properties.iter().find_map(|(name, property)| {
        let expected = inline(property, &registry)?;
        match object.get(*name) {
            None if schema.required.contains(name) => Some(format!("field `{name}`: required, not given")),
            Some(Value::Null) if !schema.required.contains(name) || expected.nullable => None,
            Some(found) if !allows(expected, found) => {
                Some(format!("field `{name}`: expected {}, found {}", expected.ty, json_type(found)))
            }
            Some(found) if !expected.enum_items.is_empty() && !expected.enum_items.contains(found) => {
                let names: Vec<String> = expected.enum_items.iter().map(Value::to_string).collect();
                Some(format!("field `{name}`: expected one of {}, found {found}", names.join(", ")))
            }
            _ => None,
        }
    })
}

fn inline<'a>(property: &'a MetaSchemaRef, registry: &'a Registry) -> Option<&'a MetaSchema> {
    match property {
        // A described field of a named type is `allOf: [its $ref, {description}]`.
        MetaSchemaRef::Inline(schema) if schema.ty.is_empty() && !schema.all_of.is_empty() => {
            inline(&schema.all_of[0], registry)
        }
        MetaSchemaRef::Inline(schema) => Some(schema),
        MetaSchemaRef::Reference(name) => registry.schemas.get(name),
    }
}

fn allows(schema: &MetaSchema, found: &Value) -> bool {
    match (schema.ty, found) {
        ("string", Value::String(_))
        | ("boolean", Value::Bool(_))
        | ("array", Value::Array(_))
        | ("object", Value::Object(_))
        | ("number", Value::Number(_)) => true,
        ("integer", Value::Number(n)) => n.is_i64() || n.is_u64(),
        // A type this check does not know (a union, say) is left to the parser's own reason.
        (other, _) => !matches!(other, "string" | "boolean" | "array" | "object" | "number" | "integer"),
    }
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use poem_openapi::Object;
    use serde_json::json;
    use shared::http::Text;

    use super::*;

    #[derive(Debug, Object)]
    struct Sample {
        name: Text,
        count: i64,
        tags: Vec<String>,
        note: Option<Text>,
    }

    fn misfit(value: Value) -> Option<String> {
        misfit_field::<Sample>(&value)
    }

    #[test]
    fn names_the_first_field_of_a_wrong_type_or_missing() {
        let good = json!({"name": "a", "count": 1, "tags": [], "note": null});
        assert_eq!(misfit(good), None);
        assert_eq!(
            misfit(json!({"name": 5, "count": 1, "tags": []})).as_deref(),
            Some("field `name`: expected string, found a number")
        );
        assert_eq!(
            misfit(json!({"name": "a", "count": 1.5, "tags": []})).as_deref(),
            Some("field `count`: expected integer, found a number")
        );
        assert_eq!(
            misfit(json!({"name": "a", "count": 1, "tags": "x"})).as_deref(),
            Some("field `tags`: expected array, found a string")
        );
        assert_eq!(misfit(json!({"name": "a", "tags": []})).as_deref(), Some("field `count`: required, not given"));
        assert_eq!(
            misfit(json!({"name": null, "count": 1, "tags": []})).as_deref(),
            Some("field `name`: expected string, found null")
        );
        assert_eq!(
            misfit(json!({"name": "a", "count": 1, "tags": [], "note": true})).as_deref(),
            Some("field `note`: expected string, found a boolean")
        );
    }

    #[derive(Debug, poem_openapi::Enum)]
    #[oai(rename_all = "lowercase")]
    enum Colour {
        Red,
        Blue,
    }

    #[derive(Debug, Object)]
    struct Painted {
        /// Described, so the schema wraps the enum's reference.
        colour: Colour,
    }

    #[test]
    fn names_a_field_whose_value_is_not_one_of_its_enums() {
        assert_eq!(misfit_field::<Painted>(&json!({"colour": "red"})), None);
        assert_eq!(
            misfit_field::<Painted>(&json!({"colour": "green"})).as_deref(),
            Some(r#"field `colour`: expected one of "red", "blue", found "green""#)
        );
    }

    #[test]
    fn says_nothing_of_what_is_not_an_object() {
        assert_eq!(misfit(json!(["a"])), None);
        assert_eq!(misfit(json!("a")), None);
    }
}
