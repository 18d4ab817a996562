//! The committed AsyncAPI document (`openapi/chat-gateway.asyncapi.json`) as a contract the
//! tests hold their own traffic to: every payload a Socket.IO test sends, and every example
//! the document gives, must be one its schemas accept. A test that means to send what the
//! document does not allow says so (`emit_unchecked`).

use std::{
    collections::HashMap,
    path::Path,
    sync::{Arc, Mutex, OnceLock},
};

use jsonschema::Validator;
use serde_json::{Value, json};

/// The document as committed (a test elsewhere fails when it is stale).
pub fn committed() -> &'static Value {
    static DOCUMENT: OnceLock<Value> = OnceLock::new();
    DOCUMENT.get_or_init(|| {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../openapi/chat-gateway.asyncapi.json");
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    })
}

/// Whether `data` is what the document says a Socket.IO client may send as `event`.
pub fn check_socketio_client(event: &str, data: &Value) -> Result<(), String> {
    let pointer = format!("/channels/socketio/messages/client_{event}/payload");
    if committed().pointer(&pointer).is_none() {
        return Err(format!("the document has no Socket.IO client event `{event}`"));
    }
    validate(&pointer, data).map_err(|why| shortened(format!("`{event}` {data}: {why}")))
}

/// A message a person can read even when the payload was a megabyte.
fn shortened(mut text: String) -> String {
    if let Some((cut, _)) = text.char_indices().nth(600) {
        text.truncate(cut);
        text.push('…');
    }
    text
}

/// Whether `value` is valid against the schema at `pointer` in the document (its `$ref`s
/// resolved within the document), checking formats too.
pub fn validate(pointer: &str, value: &Value) -> Result<(), String> {
    let validator = validator(pointer)?;
    let errors: Vec<String> =
        validator.iter_errors(value).map(|e| shortened(format!("{} at {}", e, e.instance_path()))).collect();
    if errors.is_empty() { Ok(()) } else { Err(errors.join("; ")) }
}

fn validator(pointer: &str) -> Result<Arc<Validator>, String> {
    static VALIDATORS: OnceLock<Mutex<HashMap<String, Arc<Validator>>>> = OnceLock::new();
    let mut validators = VALIDATORS.get_or_init(Default::default).lock().unwrap_or_else(|e| e.into_inner());
    if let Some(validator) = validators.get(pointer) {
        return Ok(validator.clone());
    }
    // The whole document as the root, so that `#/components/...` resolves; its other members
    // are not keywords and are ignored.
    let mut root = committed().clone();
    root["$ref"] = json!(format!("#{pointer}"));
    let validator = jsonschema::draft202012::options()
        .should_validate_formats(true)
        .build(&root)
        .map_err(|e| format!("the schema at {pointer} does not compile: {e}"))?;
    let validator = Arc::new(validator);
    validators.insert(pointer.to_owned(), validator.clone());
    Ok(validator)
}

/// Every example the document gives a message: where its payload schema is, its name, and
/// the example's payload.
pub fn examples() -> Vec<(String, String, Value)> {
    let mut found = Vec::new();
    for (channel, body) in committed()["channels"].as_object().into_iter().flatten() {
        for (key, message) in body["messages"].as_object().into_iter().flatten() {
            for example in message["examples"].as_array().into_iter().flatten() {
                let pointer = format!("/channels/{channel}/messages/{key}/payload");
                let name = example["name"].as_str().unwrap_or_default().to_owned();
                found.push((pointer, name, example["payload"].clone()));
            }
        }
    }
    found
}
