//! The document against the code it describes: every variant is in it with its words, what it
//! says a client may send is what the parser takes, and what it says the server writes is what
//! a connection writes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::{Map, Value, json};
use strum::{EnumMessage, IntoEnumIterator};
use uuid::Uuid;

use super::{Binary, document, wire_name};
use crate::{
    protocol::{
        Ack, ChatCreated, ChatRenamed, ErrorCode, GroupCreated, MemberRemoved, MemberRoleChanged, MembersAdded,
        MessageDeleted, MessageEdited, MessageReceipt, MessageView, ReactionChange, RequestKind, RoleName, ServerEvent,
        ServerEventKind, TokenRefreshed, Typing, UserRef, WsError, parse,
    },
    session::CloseReason,
};

fn doc() -> Value {
    serde_json::from_str(&document(Binary::Gateway)).unwrap()
}

fn message<'a>(doc: &'a Value, key: &str) -> &'a Value {
    &doc["channels"]["chat"]["messages"][key]
}

/// The schema itself, or the one its `$ref` names.
fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str() {
        Some(reference) => doc.pointer(&reference.replacen('#', "", 1)).unwrap_or_else(|| panic!("{reference}")),
        None => schema,
    }
}

/// Each binary's copy names it and the address it listens on by default; chat-suite's used to
/// be the gateway's, sending readers to `localhost:8083` where nothing listens. Apart from
/// that the two are the same document.
#[test]
fn each_binary_s_document_names_it_and_its_default_port() {
    let names = |binary| {
        let doc: Value = serde_json::from_str(&document(binary)).unwrap();
        let servers = &doc["servers"];
        (
            doc["info"]["title"].clone(),
            servers["gateway"]["variables"]["host"]["default"].clone(),
            servers["socketio"]["variables"]["host"]["default"].clone(),
            servers["gateway"]["description"].clone(),
            servers["socketio"]["description"].clone(),
        )
    };
    assert_eq!(
        names(Binary::Gateway),
        (
            json!("chat-gateway: /chat over WebSocket and over Socket.IO"),
            json!("localhost:8083"),
            json!("localhost:8083"),
            json!("chat-gateway, or chat-suite (every service on one port); `wss` behind a TLS ingress."),
            json!("chat-gateway, or chat-suite; behind the ingress, long-polling needs its cookie affinity."),
        )
    );
    assert_eq!(
        names(Binary::Suite),
        (
            json!("chat-suite: /chat over WebSocket and over Socket.IO"),
            json!("localhost:8080"),
            json!("localhost:8080"),
            json!("chat-suite: every service in one process on one port."),
            json!("chat-suite, on the port of `/chat`."),
        )
    );
    let suite: Value = serde_json::from_str(&document(Binary::Suite)).unwrap();
    let (mut gateway, mut suite) = (doc(), suite);
    for doc in [&mut gateway, &mut suite] {
        doc["info"]["title"] = Value::Null;
        doc["servers"] = Value::Null;
    }
    assert_eq!(gateway, suite, "the documents differ only in their title and servers");
}

#[test]
fn every_event_error_and_close_code_is_in_the_document_with_its_words() {
    let doc = doc();
    for kind in RequestKind::iter() {
        let (name, key) = (<&str>::from(kind), format!("client_{}", <&str>::from(kind)));
        assert!(
            kind.get_documentation().is_some(),
            "Request::{kind:?} needs a doc comment: it is the event's description"
        );
        assert_eq!(message(&doc, &key)["name"], name);
        assert_eq!(message(&doc, &key)["payload"]["properties"]["event"]["const"], name);
        assert_eq!(doc["operations"][&key]["action"], "receive", "{key}");
    }
    for kind in ServerEventKind::iter() {
        let (name, key) = (<&str>::from(kind), format!("server_{}", <&str>::from(kind)));
        assert!(
            kind.get_documentation().is_some(),
            "ServerEvent::{kind:?} needs a doc comment: it is the event's description"
        );
        assert_eq!(message(&doc, &key)["name"], name);
        assert_eq!(message(&doc, &key)["payload"]["properties"]["event"]["const"], name);
        assert_eq!(doc["operations"][&key]["action"], "send", "{key}");
    }
    let codes = doc["components"]["schemas"]["ErrorCode"]["enum"].as_array().unwrap();
    let error_description = message(&doc, "server_error")["description"].as_str().unwrap();
    for code in ErrorCode::iter() {
        assert!(
            code.get_documentation().is_some(),
            "ErrorCode::{code:?} needs a doc comment: it is the code's meaning"
        );
        let name = wire_name(&code);
        assert!(codes.contains(&Value::from(name.as_str())), "{name} in {codes:?}");
        assert!(error_description.contains(&format!("| `{name}` |")), "{name} in {error_description}");
    }
    let closes = doc["channels"]["chat"]["x-close-codes"].as_array().unwrap();
    let close_description = doc["channels"]["chat"]["description"].as_str().unwrap();
    for reason in CloseReason::iter() {
        assert!(reason.get_documentation().is_some(), "CloseReason::{reason:?} needs a doc comment: it says when");
        assert!(
            closes.iter().any(|close| close["code"] == reason.code() && close["reason"] == reason.text()),
            "{reason:?}"
        );
        assert!(close_description.contains(&format!("| {} | {} |", reason.code(), reason.text())), "{reason:?}");
    }
}

/// A value the schema accepts: its default, else the shortest that fits.
fn sample(doc: &Value, schema: &Value) -> Value {
    let schema = resolve(doc, schema);
    if let Some(default) = schema.get("default") {
        return default.clone();
    }
    if let Some(example) = schema["examples"].as_array().and_then(|examples| examples.first()) {
        return example.clone();
    }
    if let Some(first) = schema["enum"].as_array().and_then(|values| values.first()) {
        return first.clone();
    }
    match (first_type(schema), schema["format"].as_str()) {
        ("string", Some("uuid")) => json!(Uuid::new_v4()),
        ("string", _) => json!("a".repeat(schema["minLength"].as_u64().unwrap_or(1).max(1) as usize)),
        ("integer", _) => json!(1),
        ("array", _) => json!([sample(doc, &schema["items"])]),
        _ => panic!("no sample for {schema}"),
    }
}

/// `type`, or the first of `[type, "null"]`.
fn first_type(schema: &Value) -> &str {
    match &schema["type"] {
        Value::Array(types) => types[0].as_str().unwrap(),
        other => other.as_str().unwrap_or_else(|| panic!("no type in {schema}")),
    }
}

fn refused(event: &str, data: &Map<String, Value>) -> Option<ErrorCode> {
    parse(&json!({"event": event, "data": data}).to_string()).err().map(|(_, err)| err.code)
}

#[test]
fn a_client_event_is_taken_exactly_as_documented() {
    let doc = doc();
    for kind in RequestKind::iter() {
        let name = <&str>::from(kind);
        let payload = &message(&doc, &format!("client_{name}"))["payload"];
        let schema = resolve(&doc, &payload["properties"]["data"]);
        let properties = schema["properties"].as_object().unwrap();
        let required: Vec<&str> = schema["required"].as_array().unwrap().iter().map(|r| r.as_str().unwrap()).collect();
        let minimal: Map<String, Value> =
            required.iter().map(|p| ((*p).to_owned(), sample(&doc, &properties[*p]))).collect();
        let parsed = parse(&json!({"event": name, "data": minimal, "id": 1}).to_string()).unwrap_or_else(|(_, e)| {
            panic!("{name} with its required fields {minimal:?}: {e:?}");
        });
        assert_eq!(parsed.request.event(), name);

        let full: Map<String, Value> = properties.iter().map(|(p, s)| (p.clone(), sample(&doc, s))).collect();
        assert_eq!(refused(name, &full), None, "{name} with every field: {full:?}");
        for missing in &required {
            let mut data = minimal.clone();
            data.remove(*missing);
            assert_eq!(refused(name, &data), Some(ErrorCode::InvalidData), "{name} without {missing}");
        }
        assert_eq!(schema["additionalProperties"], false, "{name}");
        let mut unknown = minimal.clone();
        unknown.insert("surprise".into(), json!(1));
        assert_eq!(refused(name, &unknown), Some(ErrorCode::InvalidData), "{name} with an unknown field");

        // A field of a format of its own (an emoji) is not a run of any character: its
        // lengths are probed by its own tests.
        for (property, rule) in properties.iter().filter(|(_, rule)| resolve(&doc, rule).get("format").is_none()) {
            let at = |len: u64| {
                let mut data = full.clone();
                data.insert(property.clone(), json!("a".repeat(len as usize)));
                refused(name, &data)
            };
            if let Some(max) = rule["maxLength"].as_u64() {
                assert_eq!(at(max), None, "{name}.{property} of {max} characters");
                assert!(at(max + 1).is_some(), "{name}.{property} of {} characters", max + 1);
            }
            if let Some(min) = rule["minLength"].as_u64().filter(|min| *min > 0) {
                assert!(at(min - 1).is_some(), "{name}.{property} of {} characters", min - 1);
            }
        }
    }
}

#[test]
fn the_envelope_is_taken_exactly_as_documented() {
    let doc = doc();
    let payload = &message(&doc, "client_typing")["payload"];
    assert_eq!(payload["additionalProperties"], false);
    let data = json!({"chat_id": Uuid::new_v4()});
    let with = |extra: Value| {
        let mut frame = json!({"event": "typing", "data": data});
        frame.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        parse(&frame.to_string()).err().map(|(_, err)| err.code)
    };
    assert_eq!(with(json!({"surprise": 1})), Some(ErrorCode::InvalidFrame));
    let max = doc["components"]["schemas"]["FrameId"]["oneOf"][0]["maxLength"].as_u64().unwrap() as usize;
    assert_eq!(with(json!({"id": "i".repeat(max)})), None);
    assert_eq!(with(json!({"id": "i".repeat(max + 1)})), Some(ErrorCode::InvalidFrame));
    assert_eq!(with(json!({"id": 7.5})), None);
    assert_eq!(with(json!({"id": true})), Some(ErrorCode::InvalidFrame));
}

/// One event of each kind, as a connection would write it.
fn an_event(kind: ServerEventKind) -> ServerEvent {
    let (chat_id, user_id) = (Uuid::new_v4(), Uuid::new_v4());
    match kind {
        ServerEventKind::Connected => ServerEvent::Connected(UserRef { user_id }),
        ServerEventKind::PrivateChatRoomCreated => {
            ServerEvent::PrivateChatRoomCreated(ChatCreated { chat_id, user_ids: vec![user_id, Uuid::new_v4()] })
        }
        ServerEventKind::ReceiveMessage => ServerEvent::ReceiveMessage(MessageView {
            message_id: 41,
            chat_id,
            sender_id: user_id,
            content: Some("hello".into()),
            kind: "text".into(),
            sent_at: shared::timestamp::timestamp(chrono::Utc::now()),
            client_msg_id: None,
            reply_to: Some(40),
            edited_at: Some(shared::timestamp::timestamp(chrono::Utc::now())),
            deleted: false,
            reactions: None,
        }),
        ServerEventKind::MessageEdited => ServerEvent::MessageEdited(MessageEdited {
            chat_id,
            message_id: 41,
            content: "hello again".into(),
            edited_at: shared::timestamp::timestamp(chrono::Utc::now()),
        }),
        ServerEventKind::MessageDeleted => {
            ServerEvent::MessageDeleted(MessageDeleted { chat_id, message_id: 41, by: user_id })
        }
        ServerEventKind::ReactionAdded => {
            ServerEvent::ReactionAdded(ReactionChange { chat_id, message_id: 41, emoji: "👍".into(), user_id })
        }
        ServerEventKind::ReactionRemoved => {
            ServerEvent::ReactionRemoved(ReactionChange { chat_id, message_id: 41, emoji: "👍".into(), user_id })
        }
        ServerEventKind::MessageReceived => {
            ServerEvent::MessageReceived(MessageReceipt { chat_id, message_id: 41, user_id })
        }
        ServerEventKind::MessageSeen => ServerEvent::MessageSeen(MessageReceipt { chat_id, message_id: 41, user_id }),
        ServerEventKind::Typing => ServerEvent::Typing(Typing { chat_id, user_id }),
        ServerEventKind::Online => ServerEvent::Online(UserRef { user_id }),
        ServerEventKind::Offline => ServerEvent::Offline(UserRef { user_id }),
        ServerEventKind::GroupCreated => ServerEvent::GroupCreated(GroupCreated {
            chat_id,
            title: "Weekend hike".into(),
            owner_id: user_id,
            user_ids: vec![user_id, Uuid::new_v4()],
        }),
        ServerEventKind::MembersAdded => {
            ServerEvent::MembersAdded(MembersAdded { chat_id, user_ids: vec![Uuid::new_v4()], by: user_id })
        }
        ServerEventKind::MemberRemoved => {
            ServerEvent::MemberRemoved(MemberRemoved { chat_id, user_id: Uuid::new_v4(), by: user_id })
        }
        ServerEventKind::MemberRoleChanged => ServerEvent::MemberRoleChanged(MemberRoleChanged {
            chat_id,
            user_id: Uuid::new_v4(),
            role: RoleName::Admin,
            by: user_id,
        }),
        ServerEventKind::ChatRenamed => {
            ServerEvent::ChatRenamed(ChatRenamed { chat_id, title: "Weekend hike".into(), by: user_id })
        }
        ServerEventKind::TokenRefreshed => ServerEvent::TokenRefreshed(TokenRefreshed { expires_at: 1_900_000_000 }),
        ServerEventKind::Ack => ServerEvent::Ack(Ack {}),
        ServerEventKind::Error => ServerEvent::Error(WsError::forbidden()),
    }
}

/// As much of JSON Schema as these payloads use: types, formats, enums, required and known
/// properties.
fn assert_conforms(doc: &Value, value: &Value, schema: &Value, at: &str) {
    let schema = resolve(doc, schema);
    if let Some(values) = schema["enum"].as_array() {
        assert!(values.contains(value), "{at}: {value} not in {values:?}");
        return;
    }
    let types: Vec<&str> = match &schema["type"] {
        Value::Array(types) => types.iter().filter_map(Value::as_str).collect(),
        other => vec![other.as_str().unwrap_or_else(|| panic!("{at}: no type in {schema}"))],
    };
    let actual = match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    };
    assert!(types.contains(&actual), "{at}: a {actual}, documented as {types:?}");
    match value {
        Value::Object(fields) => {
            for required in schema["required"].as_array().into_iter().flatten() {
                assert!(fields.contains_key(required.as_str().unwrap()), "{at}: {required} missing");
            }
            for (name, field) in fields {
                let documented = &schema["properties"][name];
                assert!(!documented.is_null(), "{at}: {name} is not documented");
                assert_conforms(doc, field, documented, &format!("{at}.{name}"));
            }
        }
        Value::Array(items) => items.iter().for_each(|item| assert_conforms(doc, item, &schema["items"], at)),
        Value::String(text) => match schema["format"].as_str() {
            Some("uuid") => assert!(Uuid::parse_str(text).is_ok(), "{at}: {text}"),
            Some("date-time") => assert!(chrono::DateTime::parse_from_rfc3339(text).is_ok(), "{at}: {text}"),
            _ => {}
        },
        _ => {}
    }
}

#[test]
fn a_server_event_is_written_as_documented() {
    let doc = doc();
    for kind in ServerEventKind::iter() {
        let name = <&str>::from(kind);
        let frame: Value = serde_json::from_str(&an_event(kind).to_text(Some(&json!("q1")))).unwrap();
        let payload = &message(&doc, &format!("server_{name}"))["payload"];
        let fields: Vec<&String> = frame.as_object().unwrap().keys().collect();
        assert_eq!(fields, ["event", "data", "id"]);
        assert_eq!(frame["event"], payload["properties"]["event"]["const"]);
        assert_conforms(&doc, &frame["data"], &payload["properties"]["data"], name);
        assert_eq!(frame["id"], "q1");
    }
}
