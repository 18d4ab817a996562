//! The event shapes the original service's server emitted, for connections of its clients
//! (see the README's Socket.IO section for when a connection gets them): those clients store
//! `private_chat_room_created`'s data as the chat id itself, and the original server's own
//! app reads a message's text as `message`. Everything else is as on `/chat`.

use serde_json::{Map, Value, value::RawValue};

/// `data` of `event` as the original server shaped it, or `None` where the shape is ours.
pub(super) fn data(event: &str, data: &RawValue) -> Option<Box<RawValue>> {
    let original = match event {
        // The bare chat id.
        "private_chat_room_created" => {
            serde_json::from_str::<Map<String, Value>>(data.get()).ok()?.remove("chat_id")?
        }
        // `/chat`'s message with its text as `message` too.
        "receive_message" => {
            let mut message = serde_json::from_str::<Map<String, Value>>(data.get()).ok()?;
            let content = message.get("content")?.clone();
            message.insert("message".into(), content);
            Value::Object(message)
        }
        _ => return None,
    };
    serde_json::value::to_raw_value(&original).ok()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn raw(value: Value) -> Box<RawValue> {
        serde_json::value::to_raw_value(&value).unwrap()
    }

    fn shaped(event: &str, value: Value) -> Option<Value> {
        data(event, &raw(value)).map(|raw| serde_json::from_str(raw.get()).unwrap())
    }

    #[test]
    fn a_new_chat_is_its_bare_id() {
        let created = json!({"chat_id": "5d1c8e2f-3a4b-4c6d-9e7f-0a1b2c3d4e5f", "user_ids": ["a", "b"]});
        assert_eq!(shaped("private_chat_room_created", created), Some(json!("5d1c8e2f-3a4b-4c6d-9e7f-0a1b2c3d4e5f")));
    }

    #[test]
    fn a_message_carries_its_text_as_message_too() {
        let message = json!({"message_id": 1, "content": "hi", "sender_id": "a"});
        assert_eq!(
            shaped("receive_message", message),
            Some(json!({"message_id": 1, "content": "hi", "message": "hi", "sender_id": "a"}))
        );
    }

    #[test]
    fn every_other_event_keeps_our_shape() {
        assert_eq!(shaped("message_received", json!({"chat_id": "c", "message_id": 1, "user_id": "u"})), None);
        assert_eq!(shaped("error", json!({"code": "forbidden", "message": "no"})), None);
    }
}
