//! The AsyncAPI document of `/chat`: committed as generated, served over HTTP, linked from
//! `/docs`, and shaped as AsyncAPI 3.0 says (`src/transport/asyncapi/tests.rs` holds it against
//! the protocol's code).

use serde_json::Value;
use testkit::openapi::assert_committed;

use crate::helpers::{Backend, Bus, spawn};

fn document() -> Value {
    serde_json::from_str(&chat_gateway::startup::asyncapi()).unwrap()
}

#[test]
fn the_committed_asyncapi_document_is_current() {
    assert_committed("chat-gateway.asyncapi.json", &chat_gateway::startup::asyncapi());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_document_is_served_and_linked_from_the_docs() {
    let suite = spawn(Backend::Postgres, Bus::InProcess, 1).await;
    let served = suite.get(0, "/asyncapi.json", None).await;
    assert_eq!(served.status, 200, "{}", served.body);
    assert_eq!(served.headers["content-type"], "application/json");
    assert_eq!(served.body["asyncapi"], "3.0.0");
    assert_eq!(served.body, document());

    let link = "[/asyncapi.json](/asyncapi.json)";
    let spec = suite.get(0, "/openapi.json", None).await;
    assert!(spec.body["info"]["description"].as_str().unwrap().contains(link), "{}", spec.body["info"]);
    let docs = suite.get(0, "/docs", None).await;
    assert_eq!(docs.status, 200);
    assert!(docs.body.as_str().unwrap().contains("/asyncapi.json"), "Swagger UI's page embeds the link");
}

/// Every `$ref` of `value`, wherever it is.
fn references<'a>(value: &'a Value, found: &mut Vec<&'a str>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(reference)) = map.get("$ref") {
                found.push(reference);
            }
            map.values().for_each(|v| references(v, found));
        }
        Value::Array(items) => items.iter().for_each(|v| references(v, found)),
        _ => {}
    }
}

/// What an AsyncAPI 3.0 reader relies on: channels with addresses and messages; operations
/// that `send` or `receive` messages of their channel (a `reply` likewise); messages whose
/// payload is a frame `{event, data, id?}`; references that resolve; JSON Schema, not the
/// OpenAPI dialect poem-openapi writes.
#[test]
fn the_document_has_the_shape_of_asyncapi_3() {
    let doc = document();
    assert_eq!(doc["asyncapi"], "3.0.0");
    assert!(doc["info"]["title"].is_string() && doc["info"]["version"].is_string(), "{}", doc["info"]);

    let mut found = Vec::new();
    references(&doc, &mut found);
    for reference in &found {
        let pointer = reference.strip_prefix('#').unwrap_or_else(|| panic!("{reference} is not local"));
        assert!(doc.pointer(pointer).is_some(), "{reference} does not resolve");
    }
    let text = doc.to_string();
    for openapi_only in ["\"nullable\"", "\"example\""] {
        assert!(!text.contains(openapi_only), "{openapi_only} is OpenAPI's, not JSON Schema's");
    }

    let channels = doc["channels"].as_object().unwrap();
    for (name, channel) in channels {
        assert!(channel["address"].as_str().is_some_and(|a| a.starts_with('/')), "{name}");
        for (key, message) in channel["messages"].as_object().unwrap() {
            let payload = &message["payload"];
            if name == "socketio" {
                // An event's one argument: `/chat`'s data, one of its forms, or `closing`'s
                // own object.
                let forms = payload["oneOf"].as_array().is_some_and(|forms| forms.len() >= 2);
                assert!(payload["$ref"].is_string() || payload["type"] == "object" || forms, "{key}: {payload}");
                continue;
            }
            assert_eq!(payload["type"], "object", "{key}");
            assert_eq!(payload["required"], serde_json::json!(["event", "data"]), "{key}");
            assert_eq!(payload["properties"]["event"]["const"], message["name"], "{key}");
            assert!(payload["properties"]["data"]["$ref"].is_string(), "{key}: data is a named schema");
            assert_eq!(payload["properties"]["id"]["$ref"], "#/components/schemas/FrameId", "{key}");
        }
    }
    // Socket.IO has every event /chat has, with the same data (as one of its forms, where the
    // original's clients send or read others), and `closing`.
    let (chat, sio) = (&channels["chat"]["messages"], &channels["socketio"]["messages"]);
    for (key, message) in chat.as_object().unwrap() {
        let data = &message["payload"]["properties"]["data"];
        match sio[key]["payload"]["oneOf"].as_array() {
            None => assert_eq!(&sio[key]["payload"], data, "{key}"),
            Some(forms) if key.starts_with("server_") => assert_eq!(&forms[0], data, "{key}"),
            Some(forms) => {
                let mut ours = doc.pointer(&data["$ref"].as_str().unwrap()[1..]).unwrap().clone();
                ours.as_object_mut().unwrap().remove("title");
                let mut first = forms[0].clone();
                first.as_object_mut().unwrap().remove("title");
                first["properties"].as_object_mut().unwrap().remove("sender_id");
                assert_eq!(first, ours, "{key}: the first form is /chat's data");
            }
        }
    }
    assert_eq!(sio.as_object().unwrap().len(), chat.as_object().unwrap().len() + 1);
    let operations = doc["operations"].as_object().unwrap();
    let messages: usize = channels.values().map(|c| c["messages"].as_object().unwrap().len()).sum();
    assert_eq!(operations.len(), messages, "one operation per message");
    for (name, operation) in operations {
        let action = operation["action"].as_str().unwrap();
        assert!(["send", "receive"].contains(&action), "{name}: {action}");
        let channel = operation["channel"]["$ref"].as_str().unwrap();
        let of_channel = |refs: &Value| {
            for message in refs.as_array().unwrap() {
                let reference = message["$ref"].as_str().unwrap();
                assert!(
                    reference.starts_with(&format!("{channel}/messages/")),
                    "{name}: {reference} is not of {channel}"
                );
            }
        };
        of_channel(&operation["messages"]);
        // Every client event is answered: its result or an error, carrying the frame's id.
        if action == "receive" {
            assert_eq!(operation["reply"]["channel"]["$ref"], channel, "{name}");
            of_channel(&operation["reply"]["messages"]);
            let replies = operation["reply"]["messages"].to_string();
            assert!(replies.contains("/messages/server_error"), "{name}: {replies}");
        }
    }
    let query = &channels["chat"]["bindings"]["ws"]["query"];
    assert_eq!(query["type"], "object");
    for parameter in ["access_token", "since", "last_message_ids"] {
        assert!(query["properties"][parameter].is_object(), "{parameter} in {query}");
    }
}

/// Every example the document gives is a payload its own schema takes, and each alternative
/// form of a Socket.IO client event has one. The document used to refuse what the server takes
/// and the README shows (`{sender_id, receiver_id}` for `start_private_chat`).
#[test]
fn every_documented_example_is_valid_against_its_message() {
    let examples = testkit::asyncapi::examples();
    for (pointer, name, payload) in &examples {
        if let Err(why) = testkit::asyncapi::validate(pointer, payload) {
            panic!("{pointer} example {name:?}: {why}");
        }
    }
    let doc = testkit::asyncapi::committed();
    for (key, message) in doc["channels"]["socketio"]["messages"].as_object().unwrap() {
        let forms = message["payload"]["oneOf"].as_array().map_or(0, Vec::len);
        let given = examples.iter().filter(|(p, ..)| p.contains(&format!("/{key}/"))).count();
        assert!(!key.starts_with("client_") || given >= forms.min(3), "{key}: {forms} forms, {given} examples");
    }
    // The original clients' payloads, and ours, each taken by exactly one form.
    for (event, data) in [
        ("start_private_chat", serde_json::json!({"sender_id": uuid::Uuid::nil(), "receiver_id": uuid::Uuid::max()})),
        ("receive_message", serde_json::json!({"sender_id": uuid::Uuid::nil(), "receiver_id": uuid::Uuid::max()})),
        ("send_message", serde_json::json!({"receiver_id": uuid::Uuid::nil(), "message": "hi"})),
    ] {
        testkit::asyncapi::check_socketio_client(event, &data).unwrap();
    }
    // And what the server refuses, the document refuses too.
    for (event, data) in [
        ("start_private_chat", serde_json::json!({"user_id": uuid::Uuid::nil(), "receiver_id": uuid::Uuid::max()})),
        ("send_message", serde_json::json!({"chat_id": uuid::Uuid::nil(), "content": "x", "message": "y"})),
        ("send_message", serde_json::json!({"chat_id": "not a uuid", "content": "x"})),
        ("receive_message", serde_json::json!({"receiver_id": uuid::Uuid::nil()})),
        ("typing", serde_json::json!({"chat_id": uuid::Uuid::nil(), "surprise": 1})),
    ] {
        assert!(testkit::asyncapi::check_socketio_client(event, &data).is_err(), "{event} {data}");
    }
}
