//! What FCM checks of a `messages:send` body before it accepts it, each failure as the message of
//! its 400 INVALID_ARGUMENT; what passes becomes the push a test reads back.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::Received;

/// FCM's limit on a message's notification and data together.
const MAX_PAYLOAD_BYTES: usize = 4096;
/// Data keys FCM keeps for itself.
const RESERVED_DATA_KEYS: [&str; 4] = ["from", "notification", "message_type", "collapse_key"];

/// What FCM checks of a message, each failure as its INVALID_ARGUMENT message.
pub(super) fn check(json: &Value) -> Result<Received, String> {
    let message = json.get("message").and_then(Value::as_object).ok_or("Invalid JSON payload: no message")?;
    const KNOWN: [&str; 10] =
        ["name", "data", "notification", "android", "webpush", "apns", "fcm_options", "token", "topic", "condition"];
    if let Some(unknown) = message.keys().find(|k| !KNOWN.contains(&k.as_str())) {
        return Err(format!(
            "Invalid JSON payload received. Unknown name \"{unknown}\" at 'message': Cannot find field."
        ));
    }
    let device = match message.get("token") {
        Some(Value::String(token)) if !token.is_empty() => token.clone(),
        Some(_) => return Err("Invalid value at 'message.token' (TYPE_STRING)".into()),
        None => return Err("Recipient of the message is not set.".into()),
    };
    let notification = object_at(message, "notification")?;
    let title = string_at(notification, "notification.title")?;
    let body = string_at(notification, "notification.body")?;
    let data = string_map(message, "data")?;
    if let Some(key) = data
        .keys()
        .find(|k| RESERVED_DATA_KEYS.contains(&k.as_str()) || k.starts_with("google") || k.starts_with("gcm"))
    {
        return Err(format!("Invalid data payload key: {key}"));
    }
    let payload = serde_json::to_vec(&json!({"notification": notification, "data": data})).unwrap_or_default();
    if payload.len() > MAX_PAYLOAD_BYTES {
        return Err("Message is too big".into());
    }
    let android = object_at(message, "android")?;
    if let Some(priority) = android.and_then(|a| a.get("priority"))
        && !matches!(priority.as_str(), Some("normal" | "high" | "NORMAL" | "HIGH"))
    {
        return Err(format!("Invalid value at 'message.android.priority', {priority}"));
    }
    if let Some(ttl) = android.and_then(|a| a.get("ttl"))
        && !ttl.as_str().is_some_and(is_duration)
    {
        return Err(format!(
            "Invalid value at 'message.android.ttl' (type.googleapis.com/google.protobuf.Duration), {ttl}"
        ));
    }
    let android_notification = android.map(|a| object_at(a, "android.notification")).transpose()?.flatten();
    let collapse = string_at(android_notification, "android.notification.tag")?;
    if let Some(apns) = object_at(message, "apns")? {
        let headers = string_map(apns, "apns.headers")?;
        if headers.get("apns-collapse-id").is_some_and(|id| id.len() > 64) {
            return Err("Invalid value at 'message.apns.headers[apns-collapse-id]': longer than 64 bytes".into());
        }
    }
    if let Some(webpush) = object_at(message, "webpush")? {
        string_map(webpush, "webpush.headers")?;
    }
    Ok(Received { device, title: title.unwrap_or_default(), body: body.unwrap_or_default(), data, collapse })
}

type Object = serde_json::Map<String, Value>;

/// An object field of `parent`; `path` is its dotted name under `message`, last part the field.
fn object_at<'a>(parent: impl Into<Option<&'a Object>>, path: &str) -> Result<Option<&'a Object>, String> {
    let field = path.rsplit('.').next().unwrap_or(path);
    match parent.into().and_then(|p| p.get(field)) {
        None => Ok(None),
        Some(Value::Object(object)) => Ok(Some(object)),
        Some(other) => Err(format!("Invalid value at 'message.{path}', {other}")),
    }
}

/// A string field of `parent`; `path` is its dotted name under `message`, last part the field.
fn string_at(parent: Option<&Object>, path: &str) -> Result<Option<String>, String> {
    let field = path.rsplit('.').next().unwrap_or(path);
    match parent.and_then(|p| p.get(field)) {
        None => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.clone())),
        Some(other) => Err(format!("Invalid value at 'message.{path}' (TYPE_STRING), {other}")),
    }
}

/// A map<string, string> field, as `data` and the platform headers are.
fn string_map(parent: &Object, path: &str) -> Result<BTreeMap<String, String>, String> {
    let field = path.rsplit('.').next().unwrap_or(path);
    let Some(value) = parent.get(field) else { return Ok(BTreeMap::new()) };
    let object = value.as_object().ok_or_else(|| format!("Invalid value at 'message.{path}', {value}"))?;
    object
        .iter()
        .enumerate()
        .map(|(i, (key, value))| match value {
            Value::String(text) => Ok((key.clone(), text.clone())),
            other => Err(format!("Invalid value at 'message.{path}[{i}].value' (TYPE_STRING), {other}")),
        })
        .collect()
}

/// A protobuf Duration in JSON: seconds with up to nine fractional digits, then `s`.
fn is_duration(text: &str) -> bool {
    let Some(number) = text.strip_suffix('s') else { return false };
    let (whole, fraction) = number.split_once('.').unwrap_or((number, "0"));
    !whole.is_empty()
        && whole.chars().all(|c| c.is_ascii_digit())
        && (1..=9).contains(&fraction.len())
        && fraction.chars().all(|c| c.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(fields: Value) -> Result<Received, String> {
        let mut message = json!({"token": "device-a", "notification": {"title": "t", "body": "b"}});
        message.as_object_mut().unwrap().extend(fields.as_object().unwrap().clone());
        check(&json!({ "message": message }))
    }

    #[test]
    fn the_send_endpoint_checks_the_message_shape() {
        assert_eq!(
            message(json!({"data": {"a": "1"}, "android": {"ttl": "3600s", "notification": {"tag": "c"}}})),
            Ok(Received {
                device: "device-a".into(),
                title: "t".into(),
                body: "b".into(),
                data: BTreeMap::from([("a".into(), "1".into())]),
                collapse: Some("c".into()),
            })
        );
        assert_eq!(
            message(json!({"data": {"a": "1", "b": 2}})),
            Err("Invalid value at 'message.data[1].value' (TYPE_STRING), 2".into())
        );
        assert_eq!(message(json!({"token": null})), Err("Invalid value at 'message.token' (TYPE_STRING)".into()));
        assert_eq!(
            check(&json!({"message": {"notification": {"title": "t"}}})),
            Err("Recipient of the message is not set.".into())
        );
        assert_eq!(
            message(json!({"notification": {"title": 5}})),
            Err("Invalid value at 'message.notification.title' (TYPE_STRING), 5".into())
        );
        assert_eq!(message(json!({"data": {"from": "x"}})), Err("Invalid data payload key: from".into()));
        assert_eq!(
            message(json!({"android": {"ttl": "1h"}})),
            Err("Invalid value at 'message.android.ttl' (type.googleapis.com/google.protobuf.Duration), \"1h\"".into())
        );
        assert_eq!(
            message(json!({"collapse_key": "c"})),
            Err("Invalid JSON payload received. Unknown name \"collapse_key\" at 'message': Cannot find field.".into())
        );
        assert_eq!(message(json!({"data": {"a": "x".repeat(5000)}})), Err("Message is too big".into()));
    }
}
